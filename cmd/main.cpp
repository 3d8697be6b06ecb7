#include "run.hpp"
#include "version.hpp"

// --version is answered before the command line is built (version.hpp); the rest forwards.
int main(int argc, char** argv) {
    if (auto code = nettool::cli::run_version_only(argc, argv)) return *code;
    return nettool::cli::run(argc, argv);
}
