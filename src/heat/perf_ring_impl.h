// Template body of ReadPerfRing (perf_ring.h).
#pragma once

#include <cstring>

namespace tiermem::heat {
namespace perf_ring_detail {

inline void CopyOut(const unsigned char* data, uint64_t size, uint64_t pos, void* out, size_t len) {
  const uint64_t at = pos & (size - 1);
  const uint64_t first = len < size - at ? len : size - at;
  memcpy(out, data + at, first);
  if (first < len) memcpy(static_cast<unsigned char*>(out) + first, data, len - first);
}

struct Header {
  uint32_t type;
  uint16_t misc;
  uint16_t size;
};

constexpr uint32_t kRecordLost = 2;    // PERF_RECORD_LOST: {id, lost}
constexpr uint32_t kRecordSample = 9;  // PERF_RECORD_SAMPLE

}  // namespace perf_ring_detail

template <class OnAddr>
uint64_t ReadPerfRing(const unsigned char* data, uint64_t size, uint64_t tail, uint64_t head, PerfRingCounts* counts,
                      OnAddr on_addr) {
  using namespace perf_ring_detail;
  while (head - tail >= sizeof(Header)) {
    Header h;
    CopyOut(data, size, tail, &h, sizeof h);
    if (h.size < sizeof(Header) || h.size > head - tail) break;  // cut or corrupt: stop here
    if (h.type == kRecordSample && h.size >= sizeof(Header) + 16) {
      uint64_t fields[2];  // ip, addr
      CopyOut(data, size, tail + sizeof(Header), fields, sizeof fields);
      counts->samples++;
      on_addr(fields[1]);
    } else if (h.type == kRecordLost && h.size >= sizeof(Header) + 16) {
      uint64_t fields[2];  // id, lost
      CopyOut(data, size, tail + sizeof(Header), fields, sizeof fields);
      counts->lost += fields[1];
    } else {
      counts->other++;
    }
    tail += h.size;
  }
  return tail;
}

}  // namespace tiermem::heat
