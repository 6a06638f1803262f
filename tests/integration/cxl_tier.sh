#!/bin/bash
# The CXL tier: a memfd whose pages are bound to the machine's CPU-less NUMA
# nodes (CXL memory expanders, PMEM as memory). Where such a node exists, a
# policy dram(16 MiB) -> cxl places what does not fit in DRAM there, and
# /proc/PID/numa_maps shows those pages on the CPU-less nodes. Elsewhere the
# test skips, saying what is missing. (tests/vm/ runs it in a NUMA VM.)
. "$(dirname "$0")/lib.sh"
# Checks first-touch placement: no moves by heat meanwhile.
export TIERMEM_TIERING=off
require_preload
require_cli

cpuless=$("$TIERMEM_CLI" tiers | awk '/^NUMA nodes:/ {on = 1; next} on && NF == 0 {on = 0} on && $2 == "no" {print $1}')
[[ -n $cpuless ]] || skip "no CPU-less NUMA node (CXL or PMEM memory) on this machine: the CXL tier cannot be placed"

policy=$TM_TMP/cxl.toml
cat > "$policy" <<TOML
[policy]
name = "cxl-test"
[[tiers]]
name = "dram"
kind = "dram"
budget = "16MiB"
[[tiers]]
name = "cxl"
kind = "cxl"
TOML
"$TIERMEM_CLI" check "$policy" > /dev/null
assert_status "tiermem check accepts the CXL policy" 0 $?

capture plain -- "$(prog spill_budget)" 16
TIERMEM_POLICY=$policy capture tiered -- env LD_PRELOAD="$TIERMEM_PRELOAD" "$(prog spill_budget)" 16 tiers
assert_eq "checksum with the CXL tier equals plain" "$(grep checksum "$TM_TMP/plain.out")" "$(grep checksum "$TM_TMP/tiered.out")"
cxl_buffers=$(sed -n 's/^tier 1 (cxl): \([0-9]*\) buffers$/\1/p' "$TM_TMP/tiered.out")
assert_ge "buffers placed on the cxl tier" 1 "${cxl_buffers:-0}"

# Pages of the cxl memfd sit on CPU-less nodes: read from numa_maps while
# the memory is live.
nodes_re=$(echo "$cpuless" | paste -sd'|')
on_cxl=$(TIERMEM_POLICY=$policy LD_PRELOAD="$TIERMEM_PRELOAD" "$PYTHON" - "$nodes_re" <<'PY'
import re, sys
import numpy as np
a = np.ones(64 << 20, dtype=np.uint8)   # 64 MiB: over the 16 MiB DRAM budget
pages = 0
for line in open("/proc/self/numa_maps"):
    if "tiermem:cxl" in line:
        pages += sum(int(n) for node, n in re.findall(r"N(\d+)=(\d+)", line) if re.fullmatch(sys.argv[1], node))
print(pages * 4096 >> 20, int(a.sum()) >> 20)
PY
)
read -r cxl_mib sum_mib <<< "$on_cxl"
assert_ge "MiB of the cxl memfd on CPU-less nodes (numa_maps)" 60 "${cxl_mib:-0}"
assert_eq "numpy sum over the array on cxl" 64 "${sum_mib:-0}"
summary
