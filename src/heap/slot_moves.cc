// Moving one slot of the heap image to another tier: the primitives the
// migration engine (src/migrate) builds on. The engine decides what moves
// and, for copies, holds every thread that could write the slot; these
// functions only keep the books and the mappings right.
//
// Two ways to move:
//  - memory tier to memory tier: the slot stays mapped from its home memfd
//    and the kernel moves its pages to the other tier's NUMA nodes
//    (mbind MPOL_MF_MOVE). Same address, same file, no pause.
//  - anything involving a file tier: the data is written into the
//    destination tier's file at the slot's offset (every tier file has the
//    image's shape), the slot is mapped from there (MAP_FIXED over the old
//    mapping) and the old copy is punched. The slot's home changes.
#include <fcntl.h>
#include <sys/mman.h>

#include <cerrno>
#include <ctime>

#include "heap/tiered_heap.h"
#include "os/files.h"
#include "os/userfault.h"
#include "os/vm.h"

namespace tiermem::heap {

int TieredHeap::PlanMove(size_t s, int to, MoveHow* how) const {
  if (to < 0 || to >= tier_count_ || s >= image_.carved()) return -EINVAL;
  if (image_.state(s) == SlotState::kUnused) return -EINVAL;
  if (image_.pinned(s)) return -EBUSY;
  if (image_.tier(s) == to) {
    *how = MoveHow::kStay;
    return 0;
  }
  if (tiers_[to].closed.load(std::memory_order_acquire)) return -ENOMEM;
  // A fork left the slot a copy-on-write view of a file the child may still
  // read: its pages cannot move, but its data can be copied into the
  // destination's current file, which makes it this process's own again.
  const bool home_is_file = tiers_[image_.home(s)].backing.is_file_tier();
  const bool private_view = image_.state(s) == SlotState::kPrivate;
  *how = private_view || home_is_file || tiers_[to].backing.is_file_tier() ? MoveHow::kCopy : MoveHow::kPages;
  return 0;
}

int TieredHeap::TakeOverLedger(size_t s, int to, uint64_t reserved) {
  std::atomic<uint64_t>& ledger = image_.ledger(s);
  uint64_t word = ledger.load(std::memory_order_acquire);
  uint64_t bytes = reserved;
  for (;;) {
    const uint64_t now = word & HeapImage::kBytesMask;
    if (now != bytes) {  // a free or placement raced with the move
      tiers_[to].budget.Release(bytes);
      tiers_[to].budget.Add(now);
      bytes = now;
    }
    const uint64_t moved = (static_cast<uint64_t>(to) << HeapImage::kTierShift) | bytes;
    if (ledger.compare_exchange_weak(word, moved, std::memory_order_acq_rel)) break;
  }
  const int from = static_cast<int>(word >> HeapImage::kTierShift);
  tiers_[from].budget.Release(bytes);
  tiers_[from].counters.extents.fetch_sub(1, std::memory_order_relaxed);
  tiers_[to].counters.extents.fetch_add(1, std::memory_order_relaxed);
  return from;
}

int TieredHeap::MovePagesLocked(size_t s, int to) {
  Tier& dest = tiers_[to];
  // Room first, then pages, then books: a refused budget moves nothing,
  // and a refused mbind gives the room back.
  const uint64_t bytes = image_.ledger(s).load(std::memory_order_acquire) & HeapImage::kBytesMask;
  if (!dest.budget.TryReserve(bytes)) return -ENOMEM;
  const int rc = os::MoveToNodes(image_.SlotAddress(s), image_.extent_size(), dest.backing.nodes());
  if (rc != 0) {
    dest.budget.Release(bytes);
    return rc;
  }
  TakeOverLedger(s, to, bytes);
  moves_.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

namespace {

// Reads memory the program may be writing (the mover's first copy): a race
// by design, which the copy under the pause makes good.
__attribute__((no_sanitize("thread"))) bool AllZero(const char* p, size_t len) {
  const auto* words = reinterpret_cast<const uint64_t*>(p);
  for (size_t i = 0; i < len / sizeof(uint64_t); ++i) {
    if (words[i] != 0) return false;
  }
  return true;
}

// Writes the pages of [addr, addr+len) that hold anything but zeros to fd
// at `offset`, runs of them in one write each.
int CopyNonZeroPages(const char* addr, uint64_t len, int fd, uint64_t offset, uint64_t* copied, bool racy) {
  const size_t page = os::PageSize();
  uint64_t run_start = 0, run_len = 0;
  for (uint64_t at = 0; at <= len; at += page) {
    const bool data = at < len && !AllZero(addr + at, page);
    if (data) {
      if (run_len == 0) run_start = at;
      run_len += page;
      continue;
    }
    if (run_len != 0) {
      const int rc = racy ? os::WriteFullyRacy(fd, addr + run_start, run_len, offset + run_start)
                          : os::WriteFully(fd, addr + run_start, run_len, offset + run_start);
      if (rc != 0) return rc;
      *copied += run_len;
      run_len = 0;
    }
  }
  return 0;
}

// Calls place(start, len) for each data range of fd in [*from, end),
// advancing *from past each range placed, so that a caller can go on after
// a failure. A failed lseek takes the rest for data: zeros copied cost a
// page each, a range skipped would lose data.
template <typename Place>
int ForEachDataRange(int fd, uint64_t* from, uint64_t end, Place place) {
  while (*from < end) {
    uint64_t start = 0, len = 0;
    const int found = os::FindDataRange(fd, *from, end, &start, &len);
    if (found == 0) break;
    if (found < 0) start = *from, len = end - *from;
    *from = start;
    const int rc = place(start, len);
    if (rc != 0) return rc;
    *from = start + len;
  }
  return 0;
}

}  // namespace

// Copies what slot s holds into `to`'s file at the slot's offset. Only the
// data: holes of the source read as zeros, and so does the destination's
// range (a fresh or punched hole, or zeroed blocks).
int TieredHeap::CopySlotData(size_t s, int to, uint64_t* copied, bool racy) {
  *copied = 0;
  const TierBacking& source = tiers_[image_.home(s)].backing;
  const TierBacking& dest = tiers_[to].backing;
  const uint64_t extent = image_.extent_size();
  const uint64_t offset = image_.SlotOffset(s);
  const char* const addr = static_cast<const char*>(image_.SlotAddress(s));
  if (image_.state(s) == SlotState::kPrivate) {
    // The file behind a private view is the previous generation, whose fd
    // is gone: copy every page that is not all zeros, through the view.
    // A page the first copy wrote that the program has zeroed since must
    // read zero in the destination too.
    const size_t page = os::PageSize();
    uint64_t at = offset;
    const int rc = ForEachDataRange(dest.fd(), &at, offset + extent, [&](uint64_t start, uint64_t len) {
      for (uint64_t p = start; p < start + len; p += page) {
        if (AllZero(addr + (p - offset), page)) {
          const int rc = dest.Zero(p, page);
          if (rc != 0) return rc;
        }
      }
      return 0;
    });
    return rc != 0 ? rc : CopyNonZeroPages(addr, extent, dest.fd(), offset, copied, racy);
  }
  uint64_t at = offset;
  return ForEachDataRange(source.fd(), &at, offset + extent, [&](uint64_t start, uint64_t len) {
    const int rc = racy ? os::WriteFullyRacy(dest.fd(), addr + (start - offset), len, start)
                        : os::WriteFully(dest.fd(), addr + (start - offset), len, start);
    if (rc == 0) *copied += len;
    return rc;
  });
}

int TieredHeap::PrepareCopyLocked(SlotCopy* c) {
  Tier& dest = tiers_[c->to];
  const uint64_t extent = image_.extent_size();
  const uint64_t offset = image_.SlotOffset(c->slot);
  c->reserved = image_.ledger(c->slot).load(std::memory_order_acquire) & HeapImage::kBytesMask;
  if (!dest.budget.TryReserve(c->reserved)) return -ENOMEM;
  // A file destination gets the whole extent's blocks now: the slot's arena
  // may write anywhere in it later without committing first.
  int rc = dest.backing.is_file_tier() ? dest.backing.Commit(offset, extent) : dest.backing.BindRange(offset, extent);
  // The first copy, with the program running: it reads a file-tier source
  // from disk and allocates the destination's pages and blocks, so the
  // copy in the pause is memory to memory. What changes meanwhile is copied
  // again then.
  if (rc == 0) rc = CopySlotData(c->slot, c->to, &c->copied, /*racy=*/true);
  if (rc != 0) {
    AbortCopyLocked(c);
    return rc;
  }
  // Moving down to a file: start writing the copy back now, so that it is
  // clean (droppable) soon after the switch. Dirty page cache cannot be
  // reclaimed quickly, and a memory cgroup (v1 above all) kills the program
  // rather than wait for it.
  if (dest.backing.is_file_tier()) os::StartWriteBack(dest.backing.fd(), offset, extent);
  c->prepared = true;
  return 0;
}

void TieredHeap::AbortCopyLocked(SlotCopy* c) {
  DropSourceView(c);
  tiers_[c->to].backing.Release(image_.SlotOffset(c->slot), image_.extent_size());
  tiers_[c->to].budget.Release(c->reserved);
  c->prepared = false;
}

int TieredHeap::FinishCopyLocked(SlotCopy* c, bool racy) {
  const size_t s = c->slot;
  Tier& dest = tiers_[c->to];
  const uint64_t extent = image_.extent_size();
  const uint64_t offset = image_.SlotOffset(s);
  char* const addr = static_cast<char*>(image_.SlotAddress(s));
  int rc = CopySlotData(s, c->to, &c->copied, racy);
  if (rc == 0) rc = dest.backing.MapMoved(addr, extent, offset);
  if (rc != 0) {
    AbortCopyLocked(c);
    return rc;
  }
  BookSwitchLocked(c);
  return 0;
}

void TieredHeap::BookSwitchLocked(SlotCopy* c) {
  const size_t s = c->slot;
  c->old_home = image_.home(s);
  c->old_private = image_.state(s) == SlotState::kPrivate;
  c->from = TakeOverLedger(s, c->to, c->reserved);
  moves_.fetch_add(1, std::memory_order_relaxed);
  image_.set_state(s, SlotState::kShared);
  image_.set_home(s, static_cast<uint8_t>(c->to));
}

bool TieredHeap::CanMoveByFaults(size_t s, int to) const {
  if (to < 0 || to >= tier_count_ || s >= image_.carved()) return false;
  if (image_.state(s) != SlotState::kShared) return false;
  const bool from_file = tiers_[image_.home(s)].backing.is_file_tier();
  return from_file != tiers_[to].backing.is_file_tier();
}

int TieredHeap::PrepareFillLocked(SlotCopy* c, void** view) {
  Tier& dest = tiers_[c->to];
  const uint64_t extent = image_.extent_size();
  const uint64_t offset = image_.SlotOffset(c->slot);
  c->reserved = image_.ledger(c->slot).load(std::memory_order_acquire) & HeapImage::kBytesMask;
  if (!dest.budget.TryReserve(c->reserved)) return -ENOMEM;
  // A fresh range (it was punched when the data left; this costs nothing
  // then), bound to the tier's nodes, and a view of it to remap.
  int rc = dest.backing.Release(offset, extent);
  if (rc == 0) rc = dest.backing.BindRange(offset, extent);
  if (rc == 0) {
    *view = dest.backing.MapView(extent, offset);
    if (*view == nullptr) rc = -errno;
  }
  const TierBacking& source = tiers_[image_.home(c->slot)].backing;
  if (rc == 0) {
    c->source_view = static_cast<const char*>(os::MapFileView(source.fd(), offset, extent, /*writable=*/false));
    if (c->source_view == nullptr) rc = -errno;
  }
  // The first copy, with the program running: it reads the old file from
  // disk and allocates the destination's pages (under a memory cgroup's
  // limit that means reclaim, tens of milliseconds), so that the copy after
  // the switch, while touching threads wait, is memory to memory into pages
  // that exist. Nothing maps the destination yet: its pages can be written
  // through the file. Racy: the program may be writing the source.
  if (rc == 0) {
    uint64_t at = offset;
    rc = ForEachDataRange(source.fd(), &at, offset + extent, [&](uint64_t start, uint64_t len) {
      return os::WriteFullyRacy(dest.backing.fd(), c->source_view + (start - offset), len, start);
    });
  }
  if (rc != 0) {
    DropSourceView(c);
    if (*view != nullptr) os::UnmapView(*view, extent);
    dest.backing.Release(offset, extent);
    dest.budget.Release(c->reserved);
    return rc;
  }
  c->prepared = true;
  return 0;
}

void TieredHeap::AdoptFilledLocked(SlotCopy* c) { BookSwitchLocked(c); }

int TieredHeap::FillLocked(SlotCopy* c) {
  const uint64_t offset = image_.SlotOffset(c->slot);
  const int dest_fd = tiers_[c->to].backing.fd();
  // Read through the view of the old file: nothing maps that range for the
  // program any more, so what it holds now is final. Every access to the
  // slot traps until the engine unregisters it (a page in the memfd's cache
  // is a minor fault, a hole a missing one), so writing through the file
  // is safe here; no thread sees a page before it holds its final data.
  c->copied = 0;
  uint64_t at = offset;  // a retry goes on from there
  int rc = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    rc = ForEachDataRange(tiers_[c->old_home].backing.fd(), &at, offset + image_.extent_size(),
                          [&](uint64_t start, uint64_t len) {
                            const int rc = os::WriteFully(dest_fd, c->source_view + (start - offset), len, start);
                            if (rc == 0) c->copied += len;
                            return rc;
                          });
    if (rc != -ENOMEM && rc != -EINTR && rc != -EAGAIN) break;
    const timespec pause{0, 1000000};  // no page just now: wait it out, 100 ms at most
    nanosleep(&pause, nullptr);
  }
  DropSourceView(c);
  return rc;
}

void TieredHeap::DropSourceView(SlotCopy* c) {
  if (c->source_view == nullptr) return;
  os::UnmapView(const_cast<char*>(c->source_view), image_.extent_size());
  c->source_view = nullptr;
}

int TieredHeap::MapBackLocked(const SlotCopy& c) {
  return tiers_[image_.home(c.slot)].backing.MapMoved(image_.SlotAddress(c.slot), image_.extent_size(),
                                                      image_.SlotOffset(c.slot));
}

void TieredHeap::ReleaseOldCopyLocked(const SlotCopy& c) {
  // Nothing maps the old copy any more. A private view's old file belongs
  // to the child too: never punched.
  if (!c.old_private) tiers_[c.old_home].backing.Release(image_.SlotOffset(c.slot), image_.extent_size());
}

void TieredHeap::PrefetchSlot(size_t s) {
  const TierBacking& home = tiers_[image_.home(s)].backing;
  if (home.is_file_tier()) os::Prefetch(home.fd(), image_.SlotOffset(s), image_.extent_size());
}

void TieredHeap::SettleSlot(size_t s) {
  const TierBacking& home = tiers_[image_.home(s)].backing;
  if (home.is_file_tier()) os::WriteBackAndDrop(home.fd(), image_.SlotOffset(s), image_.extent_size());
}

int TieredHeap::ReturnSlotHomeLocked(size_t s) {
  const uint8_t owner = image_.owner(s);
  const uint64_t extent = image_.extent_size();
  const uint64_t offset = image_.SlotOffset(s);
  const uint8_t home = image_.home(s);
  if (home != owner) {
    // The owner's range was punched when the data left: it reads zeros.
    const int rc = tiers_[owner].backing.Map(image_.SlotAddress(s), extent, offset, /*shared=*/true);
    if (rc != 0) return rc;
    tiers_[home].backing.Release(offset, extent);
    image_.set_home(s, owner);
  } else {
    // Moved between nodes only: punch, and bind the range to the owner's
    // nodes again (the move re-bound it), so new pages land there.
    tiers_[home].backing.Release(offset, extent);
    const int rc = os::BindToNodes(image_.SlotAddress(s), extent, tiers_[owner].backing.nodes());
    if (rc != 0) return rc;
  }
  // Nothing live is left to account, but a ledger word is changed only
  // with the budgets that go with it.
  TakeOverLedger(s, owner, 0);
  return 0;
}

}  // namespace tiermem::heap
