// `tiermem stat PID`: the live stats of a process running under tiermem,
// as a table, JSON or Prometheus text, once or every SECS seconds.
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "commands.h"
#include "stats_print.h"
#include "stats_reader.h"

namespace tiermem::cli {
namespace {

struct StatOptions {
  std::string pid_text;
  bool json = false;
  bool prometheus = false;
  double watch_seconds = 0;
};

bool ParsePid(const std::string& text, pid_t* pid) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *pid);
  return error == std::errc() && end == text.data() + text.size() && *pid > 0;
}

std::string Render(const StatOptions& options, const StatsSnapshot& stats) {
  if (options.json) return StatsJson(stats);
  if (options.prometheus) return StatsPrometheus(stats);
  return StatsTable(stats);
}

// Opens the page of `pid`, or prints why not and returns -1.
int OpenOrExplain(pid_t pid) {
  int fd = -1;
  std::string who = "process " + std::to_string(pid);
  switch (OpenProcessStats(pid, &fd)) {
    case FindStatus::kFound:
      return fd;
    case FindStatus::kNoProcess:
      std::cerr << "tiermem stat: no " << who << "\n";
      break;
    case FindStatus::kPermissionDenied:
      std::cerr << "tiermem stat: permission denied: " << who << " belongs to another user\n";
      break;
    case FindStatus::kNotTiermem:
      std::cerr << "tiermem stat: " << who << " is not running under tiermem\n";
      break;
  }
  return -1;
}

int RunStat(const StatOptions& options) {
  pid_t pid = 0;
  if (!ParsePid(options.pid_text, &pid)) {
    std::cerr << "tiermem stat: PID must be a positive integer, got \"" << options.pid_text << "\"\n";
    return kExitUsage;
  }
  int fd = OpenOrExplain(pid);
  if (fd < 0) return kExitFailure;

  // Clearing the screen between refreshes only makes sense on a terminal
  // showing the table; piped output stays an append-only stream.
  bool clear_screen = options.watch_seconds > 0 && !options.json && !options.prometheus && isatty(STDOUT_FILENO);
  int exit_code = 0;
  while (true) {
    StatsSnapshot stats;
    std::string error;
    PageStatus status = ReadStatsPage(fd, &stats, &error);
    if (status == PageStatus::kNotStarted) {
      std::cerr << "tiermem stat: process " << pid << " has not started its tiermem runtime yet\n";
      exit_code = kExitFailure;
    } else if (status == PageStatus::kUnreadable) {
      std::cerr << "tiermem stat: process " << pid << ": " << error << "\n";
      exit_code = kExitFailure;
    } else {
      std::cout << (clear_screen ? "\033[H\033[2J" : "") << Render(options, stats) << std::flush;
      exit_code = 0;
    }
    if (options.watch_seconds <= 0) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(options.watch_seconds));
    // Our descriptor keeps the page alive after the process exits.
    if (!ProcessExists(pid)) {
      std::cerr << "tiermem stat: process " << pid << " exited\n";
      break;
    }
    if (!clear_screen && !options.json) std::cout << "\n";
  }
  close(fd);
  return exit_code;
}

}  // namespace

void AddStatCommand(CLI::App& app, Runner* run) {
  auto options = std::make_shared<StatOptions>();
  CLI::App* sub = app.add_subcommand("stat", "Show the tier stats of a process running under tiermem");
  sub->add_option("PID", options->pid_text, "Process id (same user, or root)")->required();
  auto* json = sub->add_flag("--json", options->json, "Print JSON (one object per line)");
  auto* prometheus = sub->add_flag("--prometheus", options->prometheus, "Print Prometheus text format");
  json->excludes(prometheus);
  sub->add_option("--watch", options->watch_seconds, "Refresh every SECS seconds until the process exits")
      ->type_name("SECS")
      ->check(CLI::PositiveNumber);
  sub->callback([run, options] { *run = [options] { return RunStat(*options); }; });
}

}  // namespace tiermem::cli
