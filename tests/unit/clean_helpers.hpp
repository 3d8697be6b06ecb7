#pragma once
// What the clean and registry unit tests share: an observer that keeps what clean reports, and
// a download made the way retrieve makes one in the temp area.
#include "scratch_dir.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <gtest/gtest.h>
#include <nettool/clean.hpp>
#include <nettool/registry.hpp>
#include <nettool/temp_area.hpp>
#include <span>
#include <string>
#include <unistd.h>
#include <vector>

namespace nettool::test {

struct Collector : nettool::CleanObserver {
    std::vector<CleanItem> items;
    std::vector<std::string> warnings;
    void on_item(const CleanItem& item) override { items.push_back(item); }
    void on_warning(const std::string& message) override { warnings.push_back(message); }
    const CleanItem* find(const std::string& path, CleanAction action) const {
        for (const auto& item : items)
            if (item.path == path && item.action == action) return &item;
        return nullptr;
    }
};

inline RegistryEntry entry_for(const AtomicOutput& out, std::int64_t time = std::time(nullptr)) {
    return RegistryEntry::for_download(out, "http://h/page.html", time);
}

// What retrieve does: create the .part unnamed, record it (in progress) and publish it under
// the registry's lock, write, rename, mark complete. Returns the output still open (its lock
// held) so the caller decides when the "process" ends.
inline AtomicOutput download(const TempArea& area, Registry& registry, const std::string& body,
                             bool finish = true, std::int64_t time = std::time(nullptr)) {
    auto out = area.create_output("page.html", [&](AtomicOutput& created) {
        return registry.add(entry_for(created, time), [&created] { return created.publish(); });
    });
    EXPECT_TRUE(out) << out.error().message;
    EXPECT_TRUE(out->write(std::span<const char>(body.data(), body.size())));
    if (finish) {
        EXPECT_TRUE(out->commit());
        EXPECT_TRUE(registry.mark_complete(out->name()));
    }
    return std::move(*out);
}

inline std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

inline nettool::CleanOptions options_for(const TempArea& area) {
    nettool::CleanOptions options;
    options.area = area.path();
    return options;
}

} // namespace nettool::test
