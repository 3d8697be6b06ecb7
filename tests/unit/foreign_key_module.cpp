// A stand-in for an HTTP module from another build of nettool: it has the entry symbols but a
// key no build makes, so the loader must refuse it before calling anything (module_loader_test).
extern "C" {
__attribute__((visibility("default"))) extern const char nettool_http_module_key[];
const char nettool_http_module_key[] = "another-build";
__attribute__((visibility("default"))) const void* nettool_http_module_open(const void*) noexcept;
const void* nettool_http_module_open(const void*) noexcept {
    return nullptr;
}
}
