// What the mover did, for the stats page: moves and bytes each way, pauses
// (a histogram of how long the world was held), and its own CPU time.
#pragma once

#include <atomic>
#include <cstdint>

namespace tiermem::migrate {

// Pause histogram bucket upper bounds, in microseconds; the last bucket
// takes everything longer.
inline constexpr uint32_t kPauseBucketsUs[] = {100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000};
inline constexpr int kPauseBuckets = sizeof kPauseBucketsUs / sizeof kPauseBucketsUs[0] + 1;

struct MoveStats {
  std::atomic<uint64_t> promotions{0};      // extents moved to a faster tier (lower index)
  std::atomic<uint64_t> demotions{0};       // extents moved to a slower tier
  std::atomic<uint64_t> promoted_bytes{0};  // data bytes moved up
  std::atomic<uint64_t> demoted_bytes{0};   // data bytes moved down
  std::atomic<uint64_t> failed_moves{0};    // refused: budget full, disk full, pinned...
  std::atomic<uint64_t> aborted_stops{0};   // a thread did not stop in time: batch retried later
  std::atomic<uint64_t> pauses{0};
  std::atomic<uint64_t> pause_total_us{0};
  std::atomic<uint64_t> pause_max_us{0};
  std::atomic<uint64_t> pause_histogram[kPauseBuckets] = {};
  // The userfaultfd engine (fault_mover.h) holds only the threads that
  // touch the moving extent: no pause, but a hold window per extent.
  std::atomic<uint64_t> fault_moves{0};         // extents moved by it
  std::atomic<uint64_t> fault_waits{0};         // faults that waited for a move
  std::atomic<uint64_t> fault_hold_total_us{0};
  std::atomic<uint64_t> fault_hold_max_us{0};
  std::atomic<uint64_t> cpu_ns{0};          // CPU time of the threads while they moved extents
};

MoveStats& Stats();

}  // namespace tiermem::migrate
