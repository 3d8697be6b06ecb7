#include "scratch_dir.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <nettool/directory_sync.hpp>
#include <thread>
#include <unistd.h>
#include <vector>

using nettool::DirectorySyncs;

TEST(DirectorySyncs, ManyCallersAtOnceAllSucceed) {
    nettool::test::ScratchDir dir;
    const int fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    DirectorySyncs syncs;
    std::vector<std::thread> threads;
    std::vector<int> ok(16, 0);
    for (std::size_t i = 0; i < ok.size(); ++i)
        threads.emplace_back([&, i] { ok[i] = syncs.sync(fd, dir.path()) ? 1 : 0; });
    for (auto& thread : threads)
        thread.join();
    for (const int result : ok)
        EXPECT_EQ(result, 1);
    ::close(fd);
}

TEST(DirectorySyncs, AnUnusableDescriptorIsAFileError) {
    DirectorySyncs syncs;
    const auto synced = syncs.sync(-1, "/nowhere/x");
    ASSERT_FALSE(synced);
    EXPECT_EQ(synced.error().kind, nettool::ErrorKind::file_io);
    EXPECT_NE(synced.error().message.find("/nowhere/x"), std::string::npos);
}
