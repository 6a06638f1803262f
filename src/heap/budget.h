// Per-tier budgets. A placement reserves the allocation's real size on a
// tier before jemalloc is asked for it, so concurrent threads can never
// together overshoot a budget: the reservation is an atomic add that is
// undone when it would cross the limit.
#pragma once

#include <atomic>
#include <cstdint>

namespace tiermem::heap {

class TierBudget {
 public:
  static constexpr uint64_t kUnlimited = UINT64_MAX;

  void set_limit(uint64_t limit) { limit_.store(limit, std::memory_order_relaxed); }
  uint64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }

  bool TryReserve(uint64_t bytes) {
    const uint64_t limit = this->limit();
    const uint64_t after = used_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    if (limit != kUnlimited && (after > limit || after < bytes)) {
      used_.fetch_sub(bytes, std::memory_order_relaxed);
      return false;
    }
    // The high-water mark: what the tier held at most, for reports.
    uint64_t peak = peak_.load(std::memory_order_relaxed);
    while (after > peak && !peak_.compare_exchange_weak(peak, after, std::memory_order_relaxed)) {
    }
    return true;
  }
  void Release(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }
  // Counts bytes that are already here (a slot that moved in while a block
  // was being placed in it): the budget may not refuse what already exists.
  void Add(uint64_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> limit_{kUnlimited};
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> peak_{0};
};

}  // namespace tiermem::heap
