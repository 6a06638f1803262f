#include "config/policy.h"

namespace tiermem::config {

const char* TierKindName(TierKind kind) {
  switch (kind) {
    case TierKind::kDram:
      return "dram";
    case TierKind::kCxl:
      return "cxl";
    case TierKind::kPmem:
      return "pmem";
    case TierKind::kNvme:
      return "nvme";
  }
  return "unknown";  // unreachable for valid enum values; keeps -Wreturn-type quiet
}

}  // namespace tiermem::config
