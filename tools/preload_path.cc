#include "preload_path.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

// Set by tools/CMakeLists.txt.
#ifndef TIERMEM_PRELOAD_BUILD_PATH
#error "TIERMEM_PRELOAD_BUILD_PATH must be defined"
#endif

namespace tiermem::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char kPreloadName[] = "libtiermem-preload.so";

fs::path ExecutableDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

bool Inside(const fs::path& path, const fs::path& dir) {
  auto [dir_end, unused] = std::mismatch(dir.begin(), dir.end(), path.begin(), path.end());
  return dir_end == dir.end();
}

}  // namespace

std::string FindPreload(std::vector<std::string>* tried) {
  if (const char* from_env = std::getenv("TIERMEM_PRELOAD"); from_env && *from_env) {
    // An explicit choice that is wrong is an error, not a reason to pick
    // another copy (ld.so would only warn and run without tiermem).
    std::error_code ec;
    fs::path explicit_path = fs::absolute(from_env, ec);
    if (!ec && fs::is_regular_file(explicit_path, ec)) return explicit_path.lexically_normal().string();
    tried->push_back(std::string(from_env) + " (from $TIERMEM_PRELOAD)");
    return "";
  }
  std::vector<fs::path> candidates;
  fs::path exe_dir = ExecutableDir();
  // The build tree's preload only for the build tree's tiermem: an
  // installed tiermem must not pick up a stale copy from an old build.
  std::error_code ec;
  fs::path build_dir = fs::weakly_canonical(TIERMEM_BUILD_DIR, ec);
  if (!exe_dir.empty() && !ec && Inside(exe_dir, build_dir)) candidates.push_back(TIERMEM_PRELOAD_BUILD_PATH);
  if (!exe_dir.empty()) {
    candidates.push_back(exe_dir / ".." / TIERMEM_INSTALL_LIBDIR / kPreloadName);
    candidates.push_back(exe_dir / ".." / "lib" / TIERMEM_MULTIARCH / kPreloadName);
    candidates.push_back(exe_dir / ".." / "lib" / kPreloadName);
  }
  candidates.push_back(TIERMEM_PRELOAD_INSTALL_PATH);

  for (fs::path candidate : candidates) {
    candidate = candidate.lexically_normal();
    if (std::find(tried->begin(), tried->end(), candidate.string()) != tried->end()) continue;
    if (fs::is_regular_file(candidate, ec)) {
      fs::path canonical = fs::weakly_canonical(candidate, ec);
      return (ec ? candidate : canonical).string();
    }
    tried->push_back(candidate.string());
  }
  return "";
}

}  // namespace tiermem::cli
