// A token bucket in bytes: at most `rate` bytes per second, with bursts of
// up to one second's worth.
#pragma once

#include <cstdint>

namespace tiermem::tiering {

class RateLimiter {
 public:
  void set_rate(uint64_t bytes_per_s) { rate_ = bytes_per_s; }
  uint64_t rate() const { return rate_; }
  void Refill(uint64_t now_ms) {
    if (last_ms_ != 0 && now_ms > last_ms_) {
      const uint64_t added = rate_ / 1000 * (now_ms - last_ms_);
      tokens_ = tokens_ + added > rate_ ? rate_ : tokens_ + added;
    } else if (last_ms_ == 0) {
      tokens_ = rate_;
    }
    last_ms_ = now_ms;
  }
  bool Take(uint64_t bytes) {
    if (bytes > tokens_) return false;
    tokens_ -= bytes;
    return true;
  }

 private:
  uint64_t rate_ = 0;
  uint64_t tokens_ = 0;
  uint64_t last_ms_ = 0;
};

}  // namespace tiermem::tiering
