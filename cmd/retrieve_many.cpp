#include "retrieve_many.hpp"

#include "messages.hpp"
#include "progress_block.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <memory>
#include <nettool/http/url.hpp>
#include <nettool/retrieve_list.hpp>
#include <nettool/retrieve_many.hpp>
#include <nettool/stop.hpp>
#include <nettool/temp_area.hpp>
#include <unistd.h>

namespace nettool::cli {
namespace {

// A list larger than this is refused rather than read into memory.
constexpr std::size_t k_max_list_size = 64UL * 1024 * 1024;

// "Most severe" (nettool-retrieve(1), MANY URLS): what most needs a person, first. An
// interruption means the run is unfinished; a checksum mismatch means wrong data; a local
// file error usually concerns every download; then the causes that a retry later will not
// fix (TLS, auth, protocol), then those it may (network, server), then the list's own lines.
int severity(int code) {
    constexpr std::array<int, 10> order = {130, 9, 3, 5, 6, 7, 4, 8, 2, 1};
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (order[i] == code) return static_cast<int>(order.size() - i);
    }
    return 0;
}

Result<std::string> read_list(const std::string& name) {
    std::FILE* file = name == "-" ? stdin : std::fopen(name.c_str(), "rb");
    if (file == nullptr) {
        return fail(ErrorKind::file_io, fmt::format("cannot read the list {}: {}; check the "
                                                    "name given to -i",
                                                    name, errno_text(errno)));
    }
    std::string text;
    char buffer[65536];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
        text.append(buffer, n);
        if (text.size() > k_max_list_size) break;
    }
    const bool failed = std::ferror(file) != 0;
    const int err = errno;
    if (file != stdin) std::fclose(file);
    if (failed) {
        return fail(ErrorKind::file_io,
                    fmt::format("cannot read the list {}: {}", name, errno_text(err)));
    }
    if (text.size() > k_max_list_size) {
        return fail(ErrorKind::usage, fmt::format("the list {} is larger than {} MiB; split it",
                                                  name, k_max_list_size >> 20));
    }
    return text;
}

bool leaves_directory(const std::filesystem::path& file) {
    if (file.is_absolute()) return true;
    for (const auto& part : file) {
        if (part == "..") return true;
    }
    return false;
}

// One line that made it into a download, or that is reported without one.
struct Line {
    std::size_t number = 0;
    std::string url; // as shown
};

class ManyReporter final : public RetrieveManyObserver {
  public:
    ManyReporter(const RetrieveManyCli& options, std::vector<Line> lines)
        : m_options(options), m_output(*options.output), m_lines(std::move(lines)),
          m_style(choose_progress_style(options.progress, m_output)),
          m_stdout_on_terminal(::isatty(STDOUT_FILENO) != 0), m_displays(m_lines.size()) {
        if (m_style == ProgressStyle::bar)
            m_block = std::make_unique<ProgressBlock>(m_lines.size(), m_output, stderr_terminal());
    }

    RetrieveObserver& observer_for(std::size_t index) override {
        if (m_block) return m_block->observer_for(index);
        auto& display = m_displays[index];
        if (!display) {
            display = std::make_unique<ProgressDisplay>(m_style, m_output, m_lines[index].url,
                                                        m_lines[index].number);
        }
        return *display;
    }

    void on_done(std::size_t index, const Result<RetrieveResult>& result) override {
        m_displays[index].reset();
        const Line& line = m_lines[index];
        if (!result) {
            problem(line.number, line.url, result.error());
            if (m_block) {
                m_block->ended(index, result.error().kind == ErrorKind::interrupted
                                          ? ProgressBlock::Ended::interrupted
                                          : ProgressBlock::Ended::failed);
            }
            return;
        }
        // On stdout: the block makes way only when stdout is a terminal too (it may be the
        // same one); --json goes there, and a note to stderr.
        print(m_stdout_on_terminal || (result->not_modified && m_output.verbose), [&] {
            if (m_output.json) {
                Json j = saved_json(*result);
                j["line"] = line.number;
                if (!write_json_line(stdout, j)) stdout_failed();
            } else {
                // As with one URL: the path as it is, for scripts; --headers after it.
                std::string text = result->path + "\n";
                if (m_options.headers) text += result->head.raw;
                if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() ||
                    std::fflush(stdout) != 0) {
                    stdout_failed();
                }
            }
            if (result->not_modified && m_output.verbose)
                print_note(fmt::format("{} is up to date; not downloaded", result->path));
        });
        if (m_block) m_block->ended(index, ProgressBlock::Ended::saved);
    }

    // A line that failed: its own error line (or object), and the exit code it weighs.
    void problem(std::size_t number, const std::string& url, const Error& error) {
        const bool stopped = error.kind == ErrorKind::interrupted || stop_signal() == SIGINT;
        const int code = stopped ? exit_code(ErrorKind::interrupted) : exit_code(error.kind);
        note_exit(code);
        const std::string message =
            stopped && error.kind == ErrorKind::interrupted
                ? std::string("interrupted (SIGINT)")
                : fmt::format("{}:{}: {}", m_options.list, number, error.message);
        if (m_output.json) {
            print(m_stdout_on_terminal, [&] {
                Json j = {{"event", "error"}, {"exit", code}, {"message", message}};
                if (!url.empty()) j["url"] = url;
                j["line"] = number;
                if (!write_json_line(stdout, j)) stdout_failed();
            });
            return;
        }
        // An interruption is the user's own doing: one line would say nothing new.
        if (!(stopped && error.kind == ErrorKind::interrupted))
            print(true, [&] { print_error(message); });
    }

    // The end of the run: the block leaves its total line.
    void finish() {
        if (m_block) m_block->finish();
    }

    void note_exit(int code) {
        if (severity(code) > severity(m_exit)) m_exit = code;
    }
    int exit() const { return m_exit; }

  private:
    // Prints past the block (on_terminal: what `write` prints shares its terminal). A failure
    // to write stdout is reported after, with the block out of the way.
    void print(bool on_terminal, const std::function<void()>& write) {
        if (m_block)
            m_block->print_above(on_terminal, write);
        else
            write();
        if (std::exchange(m_stdout_failure_unreported, false)) {
            const auto say = [] { print_error("cannot write the results to standard output"); };
            if (m_block)
                m_block->print_above(true, say);
            else
                say();
        }
    }

    void stdout_failed() {
        if (!m_stdout_failed) m_stdout_failure_unreported = true;
        m_stdout_failed = true;
        note_exit(exit_code(ErrorKind::file_io));
    }

    const RetrieveManyCli& m_options;
    const OutputOptions& m_output;
    std::vector<Line> m_lines;
    ProgressStyle m_style;
    bool m_stdout_on_terminal;
    std::vector<std::unique_ptr<ProgressDisplay>> m_displays;
    std::unique_ptr<ProgressBlock> m_block; // the terminal's display (else m_displays)
    int m_exit = 0;
    bool m_stdout_failed = false;
    bool m_stdout_failure_unreported = false;
};

} // namespace

int run_retrieve_many(const RetrieveManyCli& options) {
    auto text = read_list(options.list);
    if (!text) return report(text.error());
    const ParsedList parsed = parse_retrieve_list(*text);
    if (parsed.entries.empty() && parsed.problems.empty()) {
        return report(Error{ErrorKind::usage,
                            fmt::format("the list {} holds no URL; write one URL (and optionally "
                                        "a FILE) per line",
                                        options.list)});
    }

    // Each line becomes a download, or a problem reported in line order before any starts.
    struct Reported {
        std::size_t number;
        std::string url;
        Error error;
    };
    std::vector<Reported> problems;
    for (const auto& problem : parsed.problems)
        problems.push_back({problem.line, {}, Error{ErrorKind::usage, problem.message}});
    std::vector<RetrieveOptions> downloads;
    std::vector<Line> lines;
    std::map<std::string, std::size_t> targets; // output path -> the line that claimed it
    std::optional<Status> output_dir_checked;   // --output-dir (or .), for the -O lines
    const RetrieveOptions& settings = options.settings;
    for (const auto& entry : parsed.entries) {
        auto url = http::parse_url(entry.url);
        if (!url) {
            problems.push_back({entry.line, {}, url.error()});
            continue;
        }
        // A line refused for how it asks (not for the server's answer): exit 2 for that line.
        const auto refuse = [&](std::string message) {
            problems.push_back(
                {entry.line, url->shown, Error{ErrorKind::usage, std::move(message)}});
        };
        RetrieveOptions download = settings;
        download.url = *url;
        if (entry.file) {
            std::filesystem::path file(*entry.file);
            if (settings.output_dir) {
                if (leaves_directory(file)) {
                    refuse(fmt::format("{} is outside --output-dir {}; name a file inside it, "
                                       "or leave out --output-dir",
                                       *entry.file, *settings.output_dir));
                    continue;
                }
                file = std::filesystem::path(*settings.output_dir) / file;
            }
            download.file = file.string();
            download.remote_name = false;
            const std::string key = std::filesystem::absolute(file).lexically_normal().string();
            if (auto [claimed, fresh] = targets.emplace(key, entry.line); !fresh) {
                refuse(fmt::format("{} is also the FILE of line {}; give each line its own FILE",
                                   *entry.file, claimed->second));
                continue;
            }
        } else if (!settings.remote_name && (settings.resume || settings.timestamping)) {
            refuse(fmt::format("{} needs a FILE on the line, or -O: a temp-area download has "
                               "no local copy",
                               settings.resume ? "--continue" : "--timestamping"));
            continue;
        }
        // Every -O line saves into the same directory: checked once, not once per line.
        const bool into_output_dir = !download.file && download.remote_name;
        Status checked = into_output_dir && output_dir_checked
                             ? *output_dir_checked
                             : check_retrieve_target(download.file, download.remote_name,
                                                     download.output_dir);
        if (into_output_dir) output_dir_checked = checked;
        if (!checked) {
            problems.push_back({entry.line, url->shown, checked.error()});
            continue;
        }
        lines.push_back({entry.line, url->shown});
        downloads.push_back(std::move(download));
    }

    ManyReporter reporter(options, lines);
    std::sort(problems.begin(), problems.end(),
              [](const Reported& a, const Reported& b) { return a.number < b.number; });
    for (const auto& problem : problems)
        reporter.problem(problem.number, problem.url, problem.error);

    RetrieveManyOptions many;
    many.jobs = options.jobs;
    many.total_rate = settings.transfer.limit_rate;
    for (auto& download : downloads)
        download.transfer.limit_rate.reset(); // the total is kept across all of them
    if (!downloads.empty()) {
        auto engine = make_retrieve_engine(many);
        retrieve_many(downloads, many, *engine, reporter);
    }
    reporter.finish();
    if (stop_signal() == SIGINT) reporter.note_exit(exit_code(ErrorKind::interrupted));
    return reporter.exit();
}

} // namespace nettool::cli
