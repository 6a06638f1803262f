// tiermem C++ API: an allocator for std containers that places their
// storage on one tier, and small RAII helpers over the C API.
#pragma once

#include <cstddef>
#include <new>
#include <string_view>
#include <string>

#include "tiermem/tiermem.h"

namespace tiermem {

inline int TierIndex(std::string_view name) { return tiermem_tier_index(std::string(name).c_str()); }

// std::vector<double, tiermem::TierAllocator<double>> v(tiermem::TierAllocator<double>(1));
template <class T>
class TierAllocator {
 public:
  using value_type = T;

  explicit TierAllocator(int tier = 0) noexcept : tier_(tier) {}
  template <class U>
  TierAllocator(const TierAllocator<U>& other) noexcept : tier_(other.tier()) {}

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    void* p = alignof(T) > alignof(std::max_align_t)
                  ? tiermem_aligned_alloc_on(tier_, alignof(T), n * sizeof(T))
                  : tiermem_malloc_on(tier_, n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { tiermem_free(p); }

  int tier() const noexcept { return tier_; }

  template <class U>
  bool operator==(const TierAllocator<U>& o) const noexcept { return tier_ == o.tier(); }

 private:
  int tier_;
};

// Tier holding `p`, or -1 outside the tiered heap.
inline int TierOf(const void* p) { return tiermem_tier_of(p); }

}  // namespace tiermem
