// Heat and moves in a running process: the sampler and the tiering loop,
// stepped by the runtime's background thread, and the stop-the-world
// handler the mover needs (also for tiermem_move when tiering is off).
#pragma once

#include <cstdint>

#include "config/policy.h"
#include "heap/tiered_heap.h"
#include <string>

#include "heat/sampler.h"

namespace tiermem::runtime {

// Installs the stop handler and, if `enabled` and the heap has a lower
// tier, starts sampling. Returns false (and says why) if sampling cannot.
// `force_moves` (TIERMEM_FORCE_MOVES=1, for tests) also moves random
// extents every interval.
// `perf_heat` (TIERMEM_HEAT_SOURCE=perf) samples heat with hardware
// address sampling where the machine has it, else says why and zaps.
// `move_engine` (TIERMEM_MOVE_ENGINE, over the policy's [tiering]
// move_engine): auto (userfaultfd where usable, the default), userfaultfd,
// or signal (always stop the world); empty: the policy's.
bool SetUpTiering(heap::TieredHeap* heap, const config::TieringSpec& spec, bool enabled, bool force_moves,
                  bool perf_heat, const std::string& move_engine);

// One background-thread iteration: sample, and after each heat window let
// the tiering loop move extents.
void StepTiering(uint64_t now_ms);

// The sampler, or nullptr when tiering is off.
heat::HeatSampler* Sampler();

// fork(): no move may be in flight while the image is remapped; the child
// reads its own page tables from then on.
void PauseTieringForFork();
void ResumeTieringAfterFork(bool child);

}  // namespace tiermem::runtime
