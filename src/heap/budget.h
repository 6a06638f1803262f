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

  bool TryReserve(uint64_t bytes) {
    uint64_t limit = this->limit();
    if (limit == kUnlimited) {
      used_.fetch_add(bytes, std::memory_order_relaxed);
      return true;
    }
    uint64_t before = used_.fetch_add(bytes, std::memory_order_relaxed);
    if (before + bytes <= limit && before + bytes >= before) return true;
    used_.fetch_sub(bytes, std::memory_order_relaxed);
    return false;
  }
  void Release(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> limit_{kUnlimited};
  std::atomic<uint64_t> used_{0};
};

}  // namespace tiermem::heap
