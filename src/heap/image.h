// The heap image: one large reserved virtual range, cut into fixed-size
// extents ("slots"). A slot lives in exactly one tier at a time and is
// mapped from that tier's backing file at the same offset as in the image,
// so neighbouring slots of one tier merge into one mapping (VMA).
//
// The slot table records, per slot, its tier and whether it is mapped from
// the current backing files (shared) or is a copy-on-write view left by a
// fork (private). It is the seam the migration engine works on.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tiermem::heap {

inline constexpr uint8_t kNoTier = 0xff;

enum class SlotState : uint8_t {
  kUnused = 0,   // never carved: reserved, inaccessible
  kShared = 1,   // MAP_SHARED from the tier's current backing file
  kPrivate = 2,  // MAP_PRIVATE view of a backing file shared with a forked child
};

class HeapImage {
 public:
  // Reserves `size` bytes aligned to `extent_size`. Returns false on failure.
  bool Reserve(uint64_t size, uint64_t extent_size);

  uintptr_t base() const { return base_; }
  uint64_t size() const { return size_; }
  uint64_t extent_size() const { return extent_size_; }
  size_t slot_count() const { return slot_count_; }

  bool Contains(const void* p) const { return reinterpret_cast<uintptr_t>(p) - base_ < size_; }
  size_t SlotOf(const void* p) const { return (reinterpret_cast<uintptr_t>(p) - base_) >> extent_shift_; }
  void* SlotAddress(size_t slot) const { return reinterpret_cast<void*>(base_ + (slot << extent_shift_)); }
  // Every tier file has the image's shape: slot i lives at the same offset.
  uint64_t SlotOffset(size_t slot) const { return static_cast<uint64_t>(slot) << extent_shift_; }

  // Hands out `count` never-used contiguous slots whose address is a
  // multiple of `alignment`; returns the first, or SIZE_MAX when the image
  // is exhausted. Caller holds the heap's map lock.
  size_t Carve(size_t count, size_t alignment);
  // Slots carved so far (all lower slots are in use).
  size_t carved() const { return next_slot_.load(std::memory_order_acquire); }

  // Where the slot's data is: the tier its bytes are accounted to, and whose
  // NUMA nodes hold its pages. Changes when a move crosses memory tiers.
  uint8_t tier(size_t slot) const { return static_cast<uint8_t>(ledger_[slot].load(std::memory_order_acquire) >> kTierShift); }
  // Whose backing file the slot is mapped from. Fixed for memory-to-memory
  // moves, which leave the file and the address alone.
  uint8_t home(size_t slot) const { return homes_[slot].load(std::memory_order_acquire); }
  // The tier whose jemalloc arena carved the slot. Fixed: the arena keeps
  // the slot whatever tier its data moves to, and its hooks (commit before
  // reuse or not) follow the owner's kind.
  uint8_t owner(size_t slot) const { return owners_[slot].load(std::memory_order_acquire); }
  void set_home(size_t slot, uint8_t tier) { homes_[slot].store(tier, std::memory_order_release); }
  // A freshly carved slot: home, owner and tier, no live bytes.
  void Assign(size_t slot, uint8_t tier) {
    owners_[slot].store(tier, std::memory_order_release);
    homes_[slot].store(tier, std::memory_order_release);
    ledger_[slot].store(static_cast<uint64_t>(tier) << kTierShift, std::memory_order_release);
  }
  // The slot's ledger word: tier in the top byte, live bytes below. Frees
  // and moves update it with one compare-and-swap, so every byte is released
  // from exactly the tier that counted it at that moment.
  std::atomic<uint64_t>& ledger(size_t slot) const { return ledger_[slot]; }
  static constexpr unsigned kTierShift = 56;
  static constexpr uint64_t kBytesMask = (uint64_t{1} << kTierShift) - 1;
  SlotState state(size_t slot) const { return states_[slot].load(std::memory_order_acquire); }
  void set_state(size_t slot, SlotState s) { states_[slot].store(s, std::memory_order_release); }
  // Pinned slots never move (tiermem_pin): buffers under DMA, latency-
  // critical data. A count, so nested pins of one extent compose.
  std::atomic<uint16_t>& pins(size_t slot) const { return pins_[slot]; }
  bool pinned(size_t slot) const { return pins_[slot].load(std::memory_order_acquire) != 0; }

 private:
  uintptr_t base_ = 0;
  uint64_t size_ = 0;
  uint64_t extent_size_ = 0;
  unsigned extent_shift_ = 0;
  size_t slot_count_ = 0;
  std::atomic<size_t> next_slot_{0};
  // mmap-ed, not malloc-ed: hooks run inside malloc.
  std::atomic<uint64_t>* ledger_ = nullptr;
  std::atomic<uint8_t>* homes_ = nullptr;
  std::atomic<SlotState>* states_ = nullptr;
  std::atomic<uint8_t>* owners_ = nullptr;
  std::atomic<uint16_t>* pins_ = nullptr;
};

}  // namespace tiermem::heap
