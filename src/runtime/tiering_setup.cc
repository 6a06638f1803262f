#include "runtime/tiering_setup.h"

#include <memory>
#include <new>

#include "heat/page_table_source.h"
#include "heat/perf_source.h"
#include "migrate/fault_mover.h"
#include "migrate/mover.h"
#include "migrate/world_stop.h"
#include "os/log.h"
#include "tiering/tiering_loop.h"

namespace tiermem::runtime {
namespace {

// Static storage, never destroyed: the background thread may still run
// while the process exits.
alignas(heat::HeatSampler) unsigned char g_sampler_storage[sizeof(heat::HeatSampler)];
alignas(tiering::TieringLoop) unsigned char g_loop_storage[sizeof(tiering::TieringLoop)];
heat::HeatSampler* g_sampler = nullptr;
tiering::TieringLoop* g_loop = nullptr;
bool g_force_moves = false;

}  // namespace

namespace {

std::unique_ptr<heat::AccessSource> OpenHeatSource(heap::TieredHeap* heap, bool perf_heat) {
  if (perf_heat) {
    auto perf = std::make_unique<heat::PerfSampleSource>();
    const char* why = "";
    if (perf->Open(heap, &why)) return perf;
    os::LogLine("TIERMEM_HEAT_SOURCE=perf: %s; sampling page tables instead", why);
  }
  auto source = std::make_unique<heat::PageTableSource>();
  if (!source->Open(heap)) return nullptr;
  return source;
}

}  // namespace

bool SetUpTiering(heap::TieredHeap* heap, const config::TieringSpec& spec, bool enabled, bool force_moves,
                  bool perf_heat, const std::string& move_engine) {
  migrate::MoverLimits limits;
  limits.max_pause_us = spec.max_pause_ms * 1000;
  migrate::SetMoverLimits(limits);
  // The policy's [tiering] move_engine, unless TIERMEM_MOVE_ENGINE says.
  migrate::MoveEngine engine = spec.move_engine == config::MoveEngineChoice::kUserfaultfd ? migrate::MoveEngine::kFaults
                               : spec.move_engine == config::MoveEngineChoice::kSignal    ? migrate::MoveEngine::kSignal
                                                                                           : migrate::MoveEngine::kAuto;
  if (move_engine == "auto") {
    engine = migrate::MoveEngine::kAuto;
  } else if (move_engine == "userfaultfd") {
    engine = migrate::MoveEngine::kFaults;
  } else if (move_engine == "signal") {
    engine = migrate::MoveEngine::kSignal;
  } else if (!move_engine.empty()) {
    os::LogLine("TIERMEM_MOVE_ENGINE=%s: expected auto, userfaultfd or signal; using the policy's", move_engine.c_str());
  }
  const char* why = "";
  if (!migrate::SetMoveEngine(engine, &why)) {
    os::LogLine("move engine userfaultfd: %s; moves stop the world instead", why);
  }
  if (!migrate::InstallStopHandler()) {
    os::LogLine("cannot install the handler of signal %d: extents will not move to or from file tiers",
                migrate::StopSignal());
  }
  if (!enabled || heap->tier_count() < 2) return true;

  std::unique_ptr<heat::AccessSource> source = OpenHeatSource(heap, perf_heat);
  if (source == nullptr) {
    os::LogLine("cannot read /proc/self/pagemap: no heat, no moves");
    return false;
  }
  heat::SamplerConfig sampler_config;
  sampler_config.aggregation_ms = spec.aggregation_ms;
  sampler_config.min_regions = spec.min_regions;
  sampler_config.max_regions = spec.max_regions;
  auto* sampler = new (g_sampler_storage) heat::HeatSampler();
  if (!sampler->Init(heap, std::move(source), sampler_config)) {
    os::LogLine("cannot map the heat tables: no heat, no moves");
    return false;
  }
  tiering::TieringConfig config;
  config.high_watermark_pct = spec.high_watermark_pct;
  config.low_watermark_pct = spec.low_watermark_pct;
  config.promote_bytes_per_s = spec.promote_rate;
  config.demote_bytes_per_s = spec.demote_rate;
  config.min_residency_ms = spec.min_residency_ms;
  config.hot_threshold = static_cast<uint16_t>(spec.hot_threshold);
  config.hysteresis = static_cast<uint16_t>(spec.hysteresis);
  auto* loop = new (g_loop_storage) tiering::TieringLoop();
  if (!loop->Init(heap, sampler, config)) {
    os::LogLine("cannot map the tiering tables: no moves");
    return false;
  }
  g_sampler = sampler;
  g_loop = loop;
  g_force_moves = force_moves;
  return true;
}

void StepTiering(uint64_t now_ms) {
  if (g_sampler == nullptr) return;
  if (g_sampler->Tick(now_ms)) g_loop->Step(now_ms);
  if (g_force_moves) g_loop->ForceMoves();
}

heat::HeatSampler* Sampler() { return g_sampler; }

void PauseTieringForFork() { migrate::LockMover(); }

void ResumeTieringAfterFork(bool child) {
  if (child) {
    migrate::ResetMoverAfterFork();
    if (g_sampler != nullptr) g_sampler->AfterFork();
  } else {
    migrate::UnlockMover();
  }
}

}  // namespace tiermem::runtime
