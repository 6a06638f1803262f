// fork() and the tiered heap.
//
// The image is MAP_SHARED over the tier files, so a plain fork would share
// every write between parent and child. Before the fork every shared slot is
// remapped MAP_PRIVATE over the same file range: both sides then see the
// same data and get copy-on-write, exactly as with anonymous memory. After
// the fork each side opens a new generation of tier files for the slots it
// maps from then on; the old files live on, unmodified, as long as a
// private view of them does (they are never punched: see ReleaseRange).
#include <pthread.h>

#include <cstring>

#include "heap/tiered_heap.h"
#include "os/log.h"

namespace tiermem::heap {

// Remaps every run of adjacent slots in state `from` that share a tier,
// in one mmap per run.
int TieredHeap::RemapRuns(SlotState from, bool shared) {
  const size_t carved = image_.carved();
  const uint64_t extent = image_.extent_size();
  int failures = 0;
  size_t s = 0;
  while (s < carved) {
    if (image_.state(s) != from) {
      ++s;
      continue;
    }
    const uint8_t t = image_.home(s);  // the file it is mapped from
    size_t run_end = s + 1;
    while (run_end < carved && image_.state(run_end) == from && image_.home(run_end) == t) ++run_end;
    if (tiers_[t].backing.Map(image_.SlotAddress(s), (run_end - s) * extent, image_.SlotOffset(s), shared) == 0) {
      for (size_t i = s; i < run_end; ++i) image_.set_state(i, shared ? SlotState::kShared : SlotState::kPrivate);
    } else {
      ++failures;
    }
    s = run_end;
  }
  return failures;
}

void TieredHeap::PrepareFork() {
  // Before map_lock_: a reclaimer holds the cache registry while it frees.
  PrepareForkCaches();
  pthread_mutex_lock(&map_lock_);
  forking_ = true;
  if (RemapRuns(SlotState::kShared, /*shared=*/false) != 0) {
    os::LogLine("fork: could not make every heap extent copy-on-write; parent and child may share writes");
  }
  pthread_mutex_unlock(&map_lock_);
}

void TieredHeap::AfterForkParent() {
  ReopenTierFiles();
  AfterForkCachesParent();
}

void TieredHeap::ReopenTierFiles() {
  pthread_mutex_lock(&map_lock_);
  for (int t = 0; t < tier_count_; ++t) {
    if (tiers_[t].closed.load(std::memory_order_relaxed)) continue;
    const int rc = tiers_[t].backing.Reopen();
    if (rc == 0) continue;
    tiers_[t].closed.store(true, std::memory_order_release);
    // As at start-up (policy_setup.cc): the last tier still open takes what
    // the closed ones would have, instead of its budget becoming a wall.
    int last_open = t - 1;
    while (last_open >= 0 && tiers_[last_open].closed.load(std::memory_order_relaxed)) --last_open;
    const bool lift = t == tier_count_ - 1 && last_open >= 0;
    if (lift) tiers_[last_open].budget.set_limit(TierBudget::kUnlimited);
    moves_.fetch_add(1, std::memory_order_relaxed);  // cached blocks are checked again
    os::LogLine("fork: cannot open a new backing file for tier '%s' (%s): %s; no new data goes to that tier%s%s%s",
                tiers_[t].spec.name.c_str(), tiers_[t].backing.is_file_tier() ? tiers_[t].spec.path.c_str() : "memfd",
                strerror(-rc), lift ? ", tier '" : "", lift ? tiers_[last_open].spec.name.c_str() : "",
                lift ? "' takes the rest" : "");
  }
  forking_ = false;
  pthread_mutex_unlock(&map_lock_);
}

void TieredHeap::AfterForkChild() {
  // Another thread of the parent may have held the lock at the moment of
  // the fork; in the child that thread does not exist.
  pthread_mutex_init(&map_lock_, nullptr);
  pthread_mutex_init(&arena_lock_, nullptr);
  pthread_mutex_init(&governor_lock_, nullptr);
  ReopenTierFiles();
  // Last: the lost threads' cached blocks are freed into the new files.
  AfterForkCachesChild();
}

}  // namespace tiermem::heap
