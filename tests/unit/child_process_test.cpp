#include <gtest/gtest.h>
#include <nettool/child_process.hpp>
#include <poll.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace nettool;

TEST(ChildProcess, SplitCommandOnWhitespace) {
    EXPECT_EQ(split_command("  cat   -n\tfile "), (std::vector<std::string>{"cat", "-n", "file"}));
    EXPECT_TRUE(split_command("   ").empty());
}

TEST(ChildProcess, FindProgram) {
    EXPECT_TRUE(find_program("sh"));
    auto missing = find_program("no-such-program-nettool");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::usage);
}

TEST(ChildProcess, PipesEnvironmentAndReapWithoutBlocking) {
    ChildProcess::Spec spec;
    spec.argv = {"/bin/sh", "-c", "read line; echo \"$line $NETTOOL_TEST_VAR\""};
    spec.extra_env = {{"NETTOOL_TEST_VAR", "from-env"}};
    auto child = ChildProcess::spawn(spec);
    ASSERT_TRUE(child) << child.error().message;
    ASSERT_EQ(::write(child->stdin_pipe().get(), "hello\n", 6), 6);
    child->stdin_pipe().reset();
    std::string out;
    char buffer[256];
    for (int i = 0; i < 200; ++i) {
        pollfd p{child->stdout_pipe().get(), POLLIN, 0};
        ASSERT_GE(::poll(&p, 1, 5000), 0);
        const ssize_t n = ::read(child->stdout_pipe().get(), buffer, sizeof buffer);
        if (n == 0) break;
        if (n > 0) out.append(buffer, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(out, "hello from-env\n");
    ASSERT_GE(child->exit_fd(), 0);
    pollfd p{child->exit_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    EXPECT_TRUE(child->reap());
    EXPECT_TRUE(WIFEXITED(child->wait_status()));
}
