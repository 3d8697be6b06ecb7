#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <gtest/gtest.h>
#include <nettool/child_process.hpp>
#include <poll.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace nettool;
using namespace std::chrono_literals;

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

namespace {

// Alive: in /proc and not a zombie (a reparented zombie may wait for a slow init).
bool alive(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) return false;
    const auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= end) return false;
        ::poll(nullptr, 0, 10);
    }
    return true;
}

// Spawns `script` under sh and reads the first line it prints (a pid, say).
std::pair<ChildProcess, std::string> spawn_and_read_line(const std::string& script) {
    ChildProcess::Spec spec;
    spec.argv = {"/bin/sh", "-c", script};
    auto child = ChildProcess::spawn(spec);
    EXPECT_TRUE(child);
    std::string line;
    char c = 0;
    for (int i = 0; i < 64 && line.find('\n') == std::string::npos; ++i) {
        pollfd p{child->stdout_pipe().get(), POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) break;
        while (::read(child->stdout_pipe().get(), &c, 1) == 1) {
            line += c;
            if (c == '\n') break;
        }
    }
    return {std::move(*child), line};
}

} // namespace

TEST(ChildProcess, LeadsItsOwnGroupAndTheGroupSignalReachesGrandchildren) {
    auto [child, line] = spawn_and_read_line("sleep 30 & echo $!; wait");
    const pid_t grandchild = std::stoi(line);
    EXPECT_EQ(::getpgid(child.pid()), child.pid());
    EXPECT_EQ(::getpgid(grandchild), child.pid());
    EXPECT_NE(::getpgid(child.pid()), ::getpgrp());
    child.terminate();
    EXPECT_TRUE(wait_for([&] { return child.exited(); }, 5000ms));
    EXPECT_TRUE(wait_for([&] { return !alive(grandchild); }, 5000ms));
    EXPECT_TRUE(child.reap());
}

TEST(ChildProcess, ExitedDoesNotCollectAndGroupMembersAreSeen) {
    auto [child, line] = spawn_and_read_line("sleep 30 </dev/null >/dev/null & echo $!");
    const pid_t grandchild = std::stoi(line);
    EXPECT_TRUE(wait_for([&] { return child.exited(); }, 5000ms));
    EXPECT_TRUE(child.exited()); // still there to ask: not collected
    EXPECT_TRUE(child.group_has_members());
    child.signal_group(SIGKILL);
    EXPECT_TRUE(wait_for([&] { return !child.group_has_members(); }, 5000ms));
    EXPECT_TRUE(wait_for([&] { return !alive(grandchild); }, 2000ms));
    EXPECT_TRUE(child.reap());
    EXPECT_TRUE(child.reaped());
}

TEST(GroupReaper, TermAtOnceKillAfterTheGrace) {
    auto [child, line] = spawn_and_read_line("trap '' TERM; sleep 30 & echo $!; wait");
    const pid_t grandchild = std::stoi(line);
    const pid_t leader = child.pid();
    GroupReaper reaper;
    const auto start = std::chrono::steady_clock::now();
    reaper.add(std::move(child), 300ms);
    EXPECT_EQ(reaper.size(), 1u);
    ASSERT_TRUE(wait_for(
        [&] {
            (void)reaper.poll();
            return reaper.empty();
        },
        5000ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms); // TERM was not enough
    EXPECT_FALSE(alive(leader));
    // SIGKILL is sent to the group at once, but a member takes a moment to die.
    EXPECT_TRUE(wait_for([&] { return !alive(grandchild); }, 2000ms));
}

TEST(GroupReaper, AnEmptyGroupIsReapedAtOnce) {
    ChildProcess::Spec spec;
    spec.argv = {"true"};
    auto child = ChildProcess::spawn(spec);
    ASSERT_TRUE(child);
    ASSERT_TRUE(wait_for([&] { return child->exited(); }, 5000ms));
    GroupReaper reaper;
    reaper.add(std::move(*child), 60s);
    ASSERT_TRUE(wait_for(
        [&] {
            (void)reaper.poll();
            return reaper.empty();
        },
        2000ms)); // long before the grace
}

TEST(GroupReaper, EndAllKillsWhatIgnoresTerm) {
    auto [child, line] = spawn_and_read_line("trap '' TERM; sleep 30 & echo $!; wait");
    const pid_t grandchild = std::stoi(line);
    GroupReaper reaper;
    reaper.add(std::move(child), 60s);
    const auto start = std::chrono::steady_clock::now();
    reaper.end_all(200ms);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_TRUE(reaper.empty());
    EXPECT_TRUE(wait_for([&] { return !alive(grandchild); }, 2000ms));
}

TEST(ChildProcess, SignalChildGroupsReachesEveryUnreapedGroup) {
    auto [child, line] = spawn_and_read_line("trap '' TERM; sleep 30 & echo $!; wait");
    const pid_t grandchild = std::stoi(line);
    signal_child_groups(SIGKILL);
    EXPECT_TRUE(wait_for([&] { return child.exited(); }, 5000ms));
    EXPECT_TRUE(wait_for([&] { return !alive(grandchild); }, 5000ms));
    EXPECT_TRUE(child.reap());
}
