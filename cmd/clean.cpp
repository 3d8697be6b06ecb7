// nettool clean: urlcleanup. Parses the options, calls nettool::clean(), prints what happened.
#include "app.hpp"
#include "common_options.hpp"
#include "help.hpp"
#include "human_units.hpp"
#include "json_lines.hpp"
#include "messages.hpp"

#include <cstdio>
#include <ctime>
#include <fmt/format.h>
#include <nettool/clean.hpp>
#include <nettool/temp_area.hpp>

namespace nettool::cli {
namespace {

struct CleanCliOptions {
    bool list = false;
    bool dry_run = false;
    std::optional<std::chrono::milliseconds> older_than;
    OutputOptions output;
};

// The JSON event for an item: what happened to it.
const char* event_name(CleanAction action, bool dry_run) {
    switch (action) {
    case CleanAction::removed:
        return dry_run ? "would_remove" : "removed";
    case CleanAction::listed:
        return "listed";
    default:
        return "skipped";
    }
}

// One human line on stdout: the fields (paths and URLs from the registry, which anyone who can
// write the temp area may have written) escaped one by one, joined by tabs.
void print_fields(std::initializer_list<std::string_view> fields) {
    std::string line;
    for (const auto field : fields) {
        if (!line.empty()) line += '\t';
        line += escape_for_terminal(field);
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
}

std::string format_time(std::int64_t unix_seconds) {
    const std::time_t t = unix_seconds;
    std::tm local{};
    ::localtime_r(&t, &local);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
    return text;
}

class CleanPrinter : public CleanObserver {
  public:
    explicit CleanPrinter(const CleanCliOptions& options) : m_options(options) {}

    void on_item(const CleanItem& item) override {
        const char* state = item.alive                              ? "in_progress"
                            : item.state == DownloadState::complete ? "complete"
                                                                    : "interrupted";
        if (m_options.output.json) {
            Json j = {{"event", event_name(item.action, m_options.dry_run)},
                      {"path", item.path},
                      {"url", item.url},
                      {"bytes", item.bytes}};
            if (!item.reason.empty()) j["reason"] = item.reason;
            if (item.action == CleanAction::listed) {
                j["state"] = state;
                j["started"] = item.time;
                if (item.alive && item.pid > 0) j["pid"] = item.pid;
            }
            write_json_line(stdout, j);
            return;
        }
        if (m_options.output.quiet) return;
        switch (item.action) {
        case CleanAction::removed:
            print_fields(
                {fmt::format("{} {}", m_options.dry_run ? "would remove" : "removed", item.path)});
            break;
        case CleanAction::listed: {
            const std::string shown_state = item.alive ? "in progress" : state;
            print_fields({item.path, human_bytes(item.bytes), shown_state, format_time(item.time),
                          item.url});
            break;
        }
        case CleanAction::skipped:
            print_note(fmt::format("skipped {}: {}", item.path, item.reason));
            break;
        case CleanAction::too_new:
        case CleanAction::vanished:
            if (m_options.output.verbose)
                print_note(fmt::format("skipped {}: {}", item.path, item.reason));
            break;
        }
    }

    // Even with --quiet or --json: a registry set aside needs the user's eyes.
    void on_warning(const std::string& message) override {
        if (m_options.output.json) {
            write_json_line(stdout, Json{{"event", "warning"}, {"message", message}});
            return;
        }
        std::fflush(stdout);
        print_warning(message);
    }

  private:
    const CleanCliOptions& m_options;
};

int run_clean(const CleanCliOptions& options) {
    CleanOptions core;
    core.area = default_temp_area_path();
    core.list_only = options.list;
    core.dry_run = options.dry_run;
    core.older_than = options.older_than;
    CleanPrinter printer(options);
    auto summary = clean(core, printer);
    std::fflush(stdout);
    if (!summary) return report(summary.error());
    if (!options.output.json && !options.output.quiet) {
        if (summary->entries == 0) {
            print_note(options.list ? fmt::format("no downloads are recorded in {}", core.area)
                                    : fmt::format("nothing to clean in {}", core.area));
        } else if (!options.list) {
            print_fields({fmt::format(
                "{} {} in {} file{}", options.dry_run ? "would free" : "freed",
                human_bytes(summary->bytes), summary->files, summary->files == 1 ? "" : "s")});
        }
    }
    std::fflush(stdout);
    return exit_status({});
}

} // namespace

void add_clean(CLI::App& app, Action& action) {
    auto options = std::make_shared<CleanCliOptions>();
    auto* sub = app.add_subcommand("clean", "Remove the temporary downloads that retrieve recorded "
                                            "(urlcleanup), and nothing else.");
    // The sections of nettool-clean(1).
    constexpr const char* cleaning = "Cleaning";
    auto* list =
        sub->add_flag("--list", options->list, "Show the recorded downloads; remove nothing")
            ->group(cleaning);
    sub->add_flag("--dry-run", options->dry_run, "Show what would be removed; remove nothing")
        ->excludes(list)
        ->group(cleaning);
    add_duration_option(*sub, "--older-than", options->older_than,
                        "Only downloads started at least DURATION ago")
        ->group(cleaning);
    add_output_options(*sub, options->output, true);
    set_help_footer(*sub,
                    {{"Remove what retrieve left in the temp area", "nettool clean"},
                     {"See what would go among downloads older than a day",
                      "nettool clean --older-than 24h --dry-run"},
                     {"List the downloads as JSON", "nettool clean --list --json"}},
                    {"The temp area is $NETTOOL_TMPDIR, else ${TMPDIR:-/tmp}/nettool-UID. See "
                     "nettool-clean(1)."});
    sub->callback([options, &action] { action = [options] { return run_clean(*options); }; });
}

} // namespace nettool::cli
