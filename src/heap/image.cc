#include "heap/image.h"

#include <sys/mman.h>

#include <new>

#include "os/vm.h"

namespace tiermem::heap {

bool HeapImage::Reserve(uint64_t size, uint64_t extent_size) {
  void* base = os::ReserveAligned(size, extent_size);
  if (base == nullptr) return false;
  const size_t slots = size / extent_size;
  // The table is touched sparsely: MAP_NORESERVE pages appear on first use.
  // Per slot: ledger word (8), pins (2), home (1), state (1), owner (1).
  const size_t table_bytes = slots * (sizeof(uint64_t) + sizeof(uint16_t) + 3);
  void* table = mmap(nullptr, table_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
  if (table == MAP_FAILED) {
    munmap(base, size);
    return false;
  }
  char* cursor = static_cast<char*>(table);
  ledger_ = reinterpret_cast<std::atomic<uint64_t>*>(cursor);
  cursor += slots * sizeof(uint64_t);
  pins_ = reinterpret_cast<std::atomic<uint16_t>*>(cursor);
  cursor += slots * sizeof(uint16_t);
  homes_ = reinterpret_cast<std::atomic<uint8_t>*>(cursor);
  cursor += slots;
  states_ = reinterpret_cast<std::atomic<SlotState>*>(cursor);
  cursor += slots;
  owners_ = reinterpret_cast<std::atomic<uint8_t>*>(cursor);
  // Zero pages read as kUnused with no live bytes.
  base_ = reinterpret_cast<uintptr_t>(base);
  size_ = size;
  extent_size_ = extent_size;
  extent_shift_ = static_cast<unsigned>(__builtin_ctzll(extent_size));
  slot_count_ = slots;
  return true;
}

size_t HeapImage::Carve(size_t count, size_t alignment) {
  size_t align_slots = alignment > extent_size_ ? alignment >> extent_shift_ : 1;
  size_t first = next_slot_.load(std::memory_order_relaxed);
  first = (first + align_slots - 1) / align_slots * align_slots;
  if (first + count > slot_count_ || first + count < first) return SIZE_MAX;
  // Slots skipped for alignment stay unused forever; the waste is virtual only.
  next_slot_.store(first + count, std::memory_order_release);
  return first;
}

}  // namespace tiermem::heap
