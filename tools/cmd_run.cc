// `tiermem run [options] -- CMD ARGS...`: run a program under the tiermem
// preload, then report from its stats page what went where.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.h"
#include "config/policy_parser.h"
#include "preload_path.h"
#include "runtime/stats_page.h"
#include "stats_print.h"
#include "stats_reader.h"

extern char** environ;

namespace tiermem::cli {
namespace {

struct RunOptions {
  std::string policy_path;
  std::string dram_budget;
  std::string nvme_dir;
  bool quiet = false;
  std::vector<std::string> command;
};

// What the child gets in its environment besides ours.
struct ChildSettings {
  std::string preload;
  std::string policy_path;  // absolute, or empty
  std::string dram_budget;  // decimal bytes, or empty
  std::string nvme_dir;     // absolute, or empty
  int stats_fd = -1;
};

volatile sig_atomic_t g_child_pid = 0;

// Forwards a signal sent to us with kill() (a supervisor, `timeout`) to the
// child. A terminal's ^C is not forwarded: the kernel already sent it to
// the whole foreground process group, child included, and a second SIGINT
// would be a different event to a program that counts them.
void ForwardSignal(int signal_number, siginfo_t* info, void*) {
  if (g_child_pid > 0 && info->si_code != SI_KERNEL) kill(g_child_pid, signal_number);
}

void InstallForwarding() {
  struct sigaction action = {};
  action.sa_sigaction = ForwardSignal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(signal_number, &action, nullptr);
}

std::string Absolute(const std::string& path) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  return ec ? path : absolute.lexically_normal().string();
}

// Checks the options and fills *settings; on a problem prints one line and
// returns false.
bool PrepareSettings(const RunOptions& options, ChildSettings* settings) {
  if (!options.policy_path.empty()) {
    config::ParseResult result = config::LoadPolicyFile(options.policy_path);
    if (auto* error = std::get_if<config::PolicyError>(&result)) {
      std::cerr << error->ToString() << "\n";
      return false;
    }
    settings->policy_path = Absolute(options.policy_path);
  }
  if (!options.dram_budget.empty()) {
    uint64_t bytes = 0;
    if (!config::ParseSize(options.dram_budget, &bytes) || bytes == 0) {
      std::cerr << "tiermem run: --dram-budget: expected a size such as \"4GiB\", got \"" << options.dram_budget
                << "\"\n";
      return false;
    }
    settings->dram_budget = std::to_string(bytes);
  }
  if (!options.nvme_dir.empty()) {
    struct stat st;
    int error = stat(options.nvme_dir.c_str(), &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (error != 0) {
      std::cerr << "tiermem run: --nvme-dir: " << options.nvme_dir << ": " << std::strerror(error) << "\n";
      return false;
    }
    settings->nvme_dir = Absolute(options.nvme_dir);
  }
  return true;
}

// Our environment with the tiermem variables set; an existing LD_PRELOAD
// is kept, after ours, so the preload interposes first.
std::vector<std::string> ChildEnvironment(const ChildSettings& settings) {
  std::vector<std::string> env;
  std::string preload = settings.preload;
  auto named = [](const char* entry, std::string_view name) {
    return std::string_view(entry).starts_with(name) && entry[name.size()] == '=';
  };
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (named(*entry, "LD_PRELOAD")) {
      std::string existing = *entry + sizeof("LD_PRELOAD");
      if (!existing.empty()) preload += ":" + existing;
      continue;
    }
    if (named(*entry, "TIERMEM_STATS_FD") || (!settings.policy_path.empty() && named(*entry, "TIERMEM_POLICY")) ||
        (!settings.dram_budget.empty() && named(*entry, "TIERMEM_DRAM_BUDGET")) ||
        (!settings.nvme_dir.empty() && named(*entry, "TIERMEM_NVME_DIR"))) {
      continue;
    }
    env.push_back(*entry);
  }
  env.push_back("LD_PRELOAD=" + preload);
  env.push_back("TIERMEM_STATS_FD=" + std::to_string(settings.stats_fd));
  if (!settings.policy_path.empty()) env.push_back("TIERMEM_POLICY=" + settings.policy_path);
  if (!settings.dram_budget.empty()) env.push_back("TIERMEM_DRAM_BUDGET=" + settings.dram_budget);
  if (!settings.nvme_dir.empty()) env.push_back("TIERMEM_NVME_DIR=" + settings.nvme_dir);
  return env;
}

std::vector<char*> PointerArray(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Exits like a shell does: the child's status, or 128+N if signal N killed it.
int ExitCodeOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return kExitFailure;
}

void ReportStats(int stats_fd, const std::string& command) {
  StatsSnapshot stats;
  std::string error;
  switch (ReadStatsPage(stats_fd, &stats, &error)) {
    case PageStatus::kOk:
      std::cerr << StatsTable(stats);
      break;
    case PageStatus::kNotStarted:
      std::cerr << "tiermem run: no tiermem runtime started in " << command << " (statically linked? setuid?)\n";
      break;
    case PageStatus::kUnreadable:
      std::cerr << "tiermem run: " << error << "\n";
      break;
  }
}

int RunCommand(RunOptions options) {
  ChildSettings settings;
  if (!PrepareSettings(options, &settings)) return kExitUsage;
  std::vector<std::string> tried;
  settings.preload = FindPreload(&tried);
  if (settings.preload.empty()) {
    std::string places;
    for (const std::string& place : tried) places += (places.empty() ? "" : ", ") + place;
    std::cerr << "tiermem run: libtiermem-preload.so not found (tried " << places << ")\n";
    return kExitFailure;
  }

  // The stats page the child's runtime fills: inherited across exec (no
  // MFD_CLOEXEC), so the runtime finds it through TIERMEM_STATS_FD; we keep
  // our end to read it after the child is gone.
  settings.stats_fd = memfd_create(runtime::kStatsMemfdName, 0);
  if (settings.stats_fd < 0 || ftruncate(settings.stats_fd, sizeof(runtime::StatsPage)) != 0) {
    std::cerr << "tiermem run: cannot create the stats page: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }

  std::vector<std::string> env = ChildEnvironment(settings);
  std::vector<char*> envp = PointerArray(env);
  std::vector<char*> argv = PointerArray(options.command);

  // Closed by a successful exec; carries errno if exec fails, so a failed
  // exec is not mistaken for a program that ran without the runtime.
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
    std::cerr << "tiermem run: pipe: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  InstallForwarding();
  pid_t child = fork();
  if (child < 0) {
    std::cerr << "tiermem run: fork: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  if (child == 0) {
    close(exec_pipe[0]);
    execvpe(argv[0], argv.data(), envp.data());
    int error = errno;
    if (write(exec_pipe[1], &error, sizeof error) < 0) { /* the parent then just sees no page */ }
    std::cerr << "tiermem run: " << argv[0] << ": " << std::strerror(error) << "\n";
    _exit(error == ENOENT ? 127 : 126);  // like a shell: not found, or found but not runnable
  }
  g_child_pid = child;
  close(exec_pipe[1]);
  int exec_error = 0;
  ssize_t got;
  while ((got = read(exec_pipe[0], &exec_error, sizeof exec_error)) < 0 && errno == EINTR) {
  }
  close(exec_pipe[0]);
  bool exec_failed = got == sizeof exec_error;

  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) {
      std::cerr << "tiermem run: waitpid: " << std::strerror(errno) << "\n";
      return kExitFailure;
    }
  }
  g_child_pid = 0;
  if (!options.quiet && !exec_failed) ReportStats(settings.stats_fd, options.command[0]);
  close(settings.stats_fd);
  return ExitCodeOf(status);
}

}  // namespace

void AddRunCommand(CLI::App& app, Runner* run, std::vector<std::string> command_after_dash) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand(
      "run", "Run a program under tiermem, then show what went where (on stderr)");
  sub->footer(
      "Usage: tiermem run [OPTIONS] [--] CMD [ARGS...]\n"
      "Options end at CMD (or at --). Exits with CMD's status, 128+N if signal N killed it.");
  sub->add_option("--policy", options->policy_path, "Policy file (default: the built-in policy)")->type_name("FILE");
  sub->add_option("--dram-budget", options->dram_budget, "DRAM budget of the tiered heap, e.g. 4GiB")
      ->type_name("SIZE");
  sub->add_option("--nvme-dir", options->nvme_dir, "Directory for the NVMe tier's backing file")->type_name("DIR");
  sub->add_flag("-q,--quiet", options->quiet, "Do not print the stats table at exit");
  // The first argument that is not ours starts the command; the rest is its.
  sub->prefix_command();
  sub->callback([run, options, sub, after = std::move(command_after_dash)] {
    options->command = sub->remaining();
    if (!options->command.empty() && !after.empty()) options->command.push_back("--");
    options->command.insert(options->command.end(), after.begin(), after.end());
    *run = [options] {
      if (options->command.empty()) {
        std::cerr << "tiermem run: no command given (usage: tiermem run [OPTIONS] -- CMD [ARGS...])\n";
        return kExitUsage;
      }
      return RunCommand(*options);
    };
  });
}

}  // namespace tiermem::cli
