#!/bin/bash
# The NUMA suite. Runs inside the VM that tests/vm/run-vm boots (tests/vm/
# vm-test starts it): node 0 = CPUs + DRAM, node 1 = CPU-less "CXL" memory,
# node 2 = a farther CPU-less node used as "PMEM as memory"; nodes 1 and 2
# were soft-reserved and onlined through dax_hmem + kmem, so the kernel put
# them in a lower memory tier. Checks:
#   1. tier discovery: sysfs memory tiers, `tiermem tiers` on the real topology
#   2. placement per tier (dram/cxl/pmem/nvme under budgets): move_pages
#      status queries and /proc/self/numa_maps, bytes per node vs the policy
#   3. spill DRAM -> CXL -> NVMe under budgets with `tiermem run`, data intact
#   4. tests/integration/cxl_tier.sh, unchanged
#   5. python3 + numpy under the preload: arrays' pages where the policy says
#   6. kernel page moves with tiermem_move: dram -> cxl -> pmem -> dram, pages
#      on the destination's node (move_pages, numa_maps of the dram memfd),
#      live bytes moved between the tiers, data intact; ENOTSUP, ENOMEM
# TIERMEM_VM_MISBIND=1 writes policies that rotate the nodes: dram on node 2,
# cxl on node 0, pmem on node 1 (valid policies, wrong on purpose: a node may
# belong to one tier only) while the checks still expect 0, 1 and 2: the
# placement checks must then fail (vm-test --misbind checks that they do).
. "$TIERMEM_SOURCE/tests/integration/lib.sh"
# This suite checks where first-touch placement and explicit tiermem_move()
# put pages, node by node: the tiering loop, which moves extents by heat,
# would move them meanwhile.
export TIERMEM_TIERING=off
require_preload
require_cli

DRAM_NODE=0 CXL_NODE=1 PMEM_NODE=2          # run-vm --nodes 1024,512,512
MISBIND=${TIERMEM_VM_MISBIND:-0}
dram_bind=$DRAM_NODE cxl_bind=$CXL_NODE pmem_bind=$PMEM_NODE
if [[ $MISBIND == 1 ]]; then
  dram_bind=$PMEM_NODE cxl_bind=$DRAM_NODE pmem_bind=$CXL_NODE
  log "TIERMEM_VM_MISBIND=1: policies bind dram to node $dram_bind, cxl to node $cxl_bind, pmem to node $pmem_bind; the checks still expect $DRAM_NODE, $CXL_NODE, $PMEM_NODE"
fi
VM_PROGS=${TIERMEM_VM_PROGS:-$TIERMEM_BUILD/tests/vm-progs}
MiB=1048576
T_SUITE=$SECONDS
section() { printf '\n== %s (t=%ds)\n' "$*" $((SECONDS - T_SUITE)); }

# ---------------------------------------------------------------- 1. discovery
section "1. tier discovery"
sysfs_tier() { # NODE -> kernel memory tier id holding it
  local t n
  for t in /sys/devices/virtual/memory_tiering/memory_tier*; do
    for n in $(awk -F, '{for (i = 1; i <= NF; i++) { split($i, r, "-"); if (r[2] == "") r[2] = r[1]; for (j = r[1]; j <= r[2]; j++) print j } }' "$t/nodelist"); do
      [[ $n == "$1" ]] && { echo "${t##*memory_tier}"; return; }
    done
  done
}
k0=$(sysfs_tier 0) k1=$(sysfs_tier 1) k2=$(sysfs_tier 2)
info "kernel memory tiers: node0=$k0 node1=$k1 node2=$k2; has_cpu=$(cat /sys/devices/system/node/has_cpu)"
assert_eq "only node 0 has CPUs (sysfs has_cpu)" 0 "$(cat /sys/devices/system/node/has_cpu)"
assert_match "the kernel put node 0 in a memory tier" '^[0-9]+$' "$k0"
assert_ge "kmem node 1 is in a lower (higher-numbered) memory tier than DRAM" $((k0 + 1)) "${k1:-0}"
assert_ge "kmem node 2 is in a lower memory tier than DRAM" $((k0 + 1)) "${k2:-0}"

auto=$TM_TMP/auto.toml
cat >"$auto" <<'TOML'
[policy]
name = "vm-auto"
[[tiers]]
name = "dram"
kind = "dram"
[[tiers]]
name = "cxl"
kind = "cxl"
TOML
capture tiers -- "$TIERMEM_CLI" tiers --policy "$auto"
assert_status "tiermem tiers runs" 0 "$RC" "$ERR"
sed 's/^/  | /' "$OUT"
node_row() { awk -v n="$2" '/^NUMA nodes/ {on = 1; next} on && NF == 0 {on = 0} on && $1 == n' "$1"; }
read -r _ cpus0 _ _ kt0 <<<"$(node_row "$OUT" 0)"
read -r _ cpus1 _ _ kt1 <<<"$(node_row "$OUT" 1)"
read -r _ cpus2 _ _ kt2 <<<"$(node_row "$OUT" 2)"
assert_eq "tiermem tiers: node 0 has CPUs (DRAM)" yes "${cpus0:-}"
assert_eq "tiermem tiers: node 1 is CPU-less (CXL)" no "${cpus1:-}"
assert_eq "tiermem tiers: node 2 is CPU-less" no "${cpus2:-}"
assert_eq "tiermem tiers: kernel tier of node 0 as in sysfs" "$k0" "${kt0:-}"
assert_eq "tiermem tiers: kernel tier of node 1 as in sysfs" "$k1" "${kt1:-}"
dram_row=$(awk '/^Policy / {on = 1; next} on && $1 == "dram"' "$OUT")
cxl_row=$(awk '/^Policy / {on = 1; next} on && $1 == "cxl"' "$OUT")
assert_match "the dram tier lands on node 0" '^dram +dram +node 0 .*available' "$dram_row"
assert_match "a cxl tier without nodes lands on the CPU-less nodes 1 and 2" '^cxl +cxl +nodes 1, 2 .*available' "$cxl_row"

# ---------------------------------------------------------------- 2. placement
section "2. placement on each tier: move_pages status queries and numa_maps"
# 16 buffers of 8 MiB = 128 MiB against budgets of 32 MiB per memory tier.
BUDGET_MIB=32
placement_policy=$TM_TMP/placement.toml
cat >"$placement_policy" <<TOML
[policy]
name = "vm-placement"
[[tiers]]
name = "dram"
kind = "dram"
nodes = [$dram_bind]
budget = "${BUDGET_MIB}MiB"
[[tiers]]
name = "cxl"
kind = "cxl"
nodes = [$cxl_bind]
budget = "${BUDGET_MIB}MiB"
[[tiers]]
name = "pmem"
kind = "pmem"
nodes = [$pmem_bind]
budget = "${BUDGET_MIB}MiB"
[[tiers]]
name = "nvme"
kind = "nvme"
path = "$TM_NVME"
TOML
capture placement -- run_with_preload --policy "$placement_policy" --env TIERMEM_STRICT=1 -- "$VM_PROGS/vm_placement" 16 8
assert_status "vm_placement under the preload (data intact)" 0 "$RC" "$ERR"
sed 's/^/  | /' "$OUT"
P=$OUT
val() { awk -v k="$1" -v t="$2" -v f="$3" -v v="$4" '$1 == k && $2 == t && $3 == f && $4 == v {print $NF; f = "-"}' "$P" | head -1; }
sum_other() { awk -v k="$1" -v t="$2" -v n="$3" '$1 == k && $2 == t && !($3 == "node" && $4 == n) {s += $NF} END {print s + 0}' "$P"; }
tier_bytes() { awk -v t="$1" '$1 == "tier" && $2 == t {print $6}' "$P"; }
PLACEMENT_SUMMARY=()
for spec in "dram $DRAM_NODE" "cxl $CXL_NODE" "pmem $PMEM_NODE"; do
  read -r t node <<<"$spec"
  bytes=$(tier_bytes "$t"); bytes=${bytes:-0}
  mp=$(val movepages "$t" node "$node"); mp=${mp:-0}
  nm=$(val numamaps "$t" node "$node"); nm=${nm:-0}
  mp_other=$(sum_other movepages "$t" "$node")
  nm_other=$(sum_other numamaps "$t" "$node")
  PLACEMENT_SUMMARY+=("$t: expected node $node, budget ${BUDGET_MIB} MiB; $((bytes / MiB)) MiB of buffers; move_pages: $((mp / MiB)) MiB on node $node, $((mp_other / MiB)) MiB elsewhere; numa_maps tiermem:$t: $((nm / MiB)) MiB on node $node, $((nm_other / MiB)) MiB elsewhere")
  assert_ge "$t tier holds buffers" $((8 * MiB)) "$bytes"
  assert_le "$t tier stays within its ${BUDGET_MIB} MiB budget" $((BUDGET_MIB * MiB)) "$bytes"
  assert_eq "$t: move_pages finds every page of its buffers on node $node" "$bytes" "$mp"
  assert_eq "$t: move_pages finds no page of its buffers on another node" 0 "$mp_other"
  assert_ge "$t: numa_maps shows the tiermem:$t memfd on node $node" "$bytes" "$nm"
  assert_eq "$t: numa_maps shows no page of tiermem:$t on another node" 0 "$nm_other"
done
nvme_bytes=$(tier_bytes nvme)
PLACEMENT_SUMMARY+=("nvme: file tier in $TM_NVME (tmpfs in the VM): $(( ${nvme_bytes:-0} / MiB )) MiB of buffers")
assert_eq "what does not fit in dram+cxl+pmem spills to nvme" $(((128 - 3 * BUDGET_MIB) * MiB)) "${nvme_bytes:-0}"
assert_file_contains "vm_placement data check" "$P" "bad bytes: 0"

# ---------------------------------------------------------------- 3. spill
section "3. spill DRAM -> CXL -> NVMe under budgets (tiermem run)"
spill_policy=$TM_TMP/spill.toml
cat >"$spill_policy" <<TOML
[policy]
name = "vm-spill"
[[tiers]]
name = "dram"
kind = "dram"
nodes = [$dram_bind]
budget = "16MiB"
[[tiers]]
name = "cxl"
kind = "cxl"
nodes = [$cxl_bind]
budget = "16MiB"
[[tiers]]
name = "nvme"
kind = "nvme"
path = "$TM_NVME"
TOML
capture spill_plain -- "$(prog spill_budget)" 16
capture spill_tiered -- "$TIERMEM_CLI" run --policy "$spill_policy" -- "$(prog spill_budget)" 16 tiers
assert_status "spill_budget under tiermem run" 0 "$RC" "$ERR"
sed 's/^/  | /' "$OUT"; sed 's/^/  | /' "$ERR"
assert_eq "spill: checksum equals the run without tiermem" \
  "$(grep checksum "$TM_TMP/spill_plain.out")" "$(grep checksum "$TM_TMP/spill_tiered.out")"
for t in dram cxl nvme; do
  n=$(sed -n "s/^tier [0-9]* ($t): \([0-9]*\) buffers$/\1/p" "$TM_TMP/spill_tiered.out")
  assert_eq "spill: 8 MiB buffers on $t (16 MiB budgets, 48 MiB allocated)" 2 "${n:-0}"
done
assert_ge "spill: the cxl row of tiermem run's table counts spills in" 1 "$(tier_table_value "$ERR" '^cxl$' 'spills in')"
assert_ge "spill: the nvme row of tiermem run's table counts spills in" 1 "$(tier_table_value "$ERR" '^nvme$' 'spills in')"

# ---------------------------------------------------------------- 4. cxl_tier.sh
section "4. tests/integration/cxl_tier.sh, unchanged"
capture cxl_tier -- bash "$TIERMEM_SOURCE/tests/integration/cxl_tier.sh"
sed 's/^/  | /' "$OUT"
assert_status "integration test cxl_tier.sh passes on a machine with CPU-less nodes" 0 "$RC" "$ERR"

# ---------------------------------------------------------------- 5. numpy
section "5. python3 + numpy under the preload"
if ! "$PYTHON" -c 'import numpy, ctypes' 2>/dev/null; then
  fail "python3 with numpy and ctypes is not in the VM image (host lacks python3-numpy?)"
else
  np_policy=$TM_TMP/numpy.toml
  cat >"$np_policy" <<TOML
[policy]
name = "vm-numpy"
[[tiers]]
name = "dram"
kind = "dram"
nodes = [$dram_bind]
budget = "32MiB"
[[tiers]]
name = "cxl"
kind = "cxl"
nodes = [$cxl_bind]
TOML
  # a (16 MiB) fits the 32 MiB DRAM budget; b (64 MiB) does not: it goes to cxl.
  capture numpy --env TIERMEM_STRICT=1 -- run_with_preload --policy "$np_policy" -- "$PYTHON" - <<'PY'
import ctypes, re
import numpy as np

libc = ctypes.CDLL(None, use_errno=True)
SYS_move_pages = 279
PAGE = 4096

def nodes_of(arr):
    """bytes per node of arr's pages, from a move_pages status query"""
    base = arr.ctypes.data & ~(PAGE - 1)
    n = (arr.ctypes.data + arr.nbytes - base + PAGE - 1) // PAGE
    pages = (ctypes.c_void_p * n)(*[base + i * PAGE for i in range(n)])
    status = (ctypes.c_int * n)()
    if libc.syscall(SYS_move_pages, 0, ctypes.c_ulong(n), pages, None, status, 0) != 0:
        raise OSError(ctypes.get_errno(), "move_pages")
    out = {}
    for s in status:
        out[s] = out.get(s, 0) + PAGE
    return out

a = np.full((16 << 20) // 8, 1.5)       # 16 MiB of float64
b = np.arange((64 << 20) // 8, dtype=np.float64)   # 64 MiB
print("sum a", int(a.sum()), "sum b", int(b.sum()))
for name, arr in (("a", a), ("b", b)):
    print("array", name, " ".join(f"node{k}={v}" for k, v in sorted(nodes_of(arr).items())))
per = {}
for line in open("/proc/self/numa_maps"):
    m = re.search(r"tiermem:(\w+)", line)
    if m:
        for node, pages in re.findall(r"\bN(\d+)=(\d+)", line):
            key = (m.group(1), int(node))
            per[key] = per.get(key, 0) + int(pages) * PAGE
for (tier, node), v in sorted(per.items()):
    print("numamaps", tier, "node", node, "bytes", v)
PY
  assert_status "python3 + numpy under the preload" 0 "$RC" "$ERR"
  sed 's/^/  | /' "$OUT"
  assert_eq "numpy results" "sum a 3145728 sum b 35184367894528" "$(grep '^sum' "$OUT")"
  arr_node() { awk -v a="$1" -v n="node$2" '$1 == "array" && $2 == a {for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == n) print kv[2] } }' "$OUT"; }
  arr_other() { awk -v a="$1" -v n="node$2" '$1 == "array" && $2 == a {s = 0; for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] != n) s += kv[2] } print s}' "$OUT"; }
  a_on=$(arr_node a "$DRAM_NODE") b_on=$(arr_node b "$CXL_NODE")
  assert_ge "numpy: the 16 MiB array a (within the DRAM budget) is on node $DRAM_NODE (move_pages)" $((16 * MiB)) "${a_on:-0}"
  assert_eq "numpy: no page of array a on another node" 0 "$(arr_other a "$DRAM_NODE")"
  assert_ge "numpy: the 64 MiB array b (over the DRAM budget) is on CXL node $CXL_NODE (move_pages)" $((64 * MiB)) "${b_on:-0}"
  assert_eq "numpy: no page of array b on another node" 0 "$(arr_other b "$CXL_NODE")"
  nm_dram_other=$(awk -v n="$DRAM_NODE" '$1 == "numamaps" && $2 == "dram" && $4 != n {s += $6} END {print s + 0}' "$OUT")
  nm_cxl=$(awk -v n="$CXL_NODE" '$1 == "numamaps" && $2 == "cxl" && $4 == n {s += $6} END {print s + 0}' "$OUT")
  nm_cxl_other=$(awk -v n="$CXL_NODE" '$1 == "numamaps" && $2 == "cxl" && $4 != n {s += $6} END {print s + 0}' "$OUT")
  nm_dram=$(awk -v n="$DRAM_NODE" '$1 == "numamaps" && $2 == "dram" && $4 == n {s += $6} END {print s + 0}' "$OUT")
  assert_le "numpy: tiermem:dram pages within the 32 MiB budget (numa_maps)" $((32 * MiB)) "$nm_dram"
  assert_eq "numpy: no tiermem:dram page off node $DRAM_NODE (numa_maps)" 0 "$nm_dram_other"
  assert_ge "numpy: tiermem:cxl pages on node $CXL_NODE (numa_maps)" $((64 * MiB)) "$nm_cxl"
  assert_eq "numpy: no tiermem:cxl page off node $CXL_NODE (numa_maps)" 0 "$nm_cxl_other"
  PLACEMENT_SUMMARY+=("numpy: array a 16 MiB -> node0 $(( ${a_on:-0} / MiB )) MiB; array b 64 MiB -> node1 $(( ${b_on:-0} / MiB )) MiB; numa_maps tiermem:dram node0 $((nm_dram / MiB)) MiB, tiermem:cxl node1 $((nm_cxl / MiB)) MiB, elsewhere $(((nm_dram_other + nm_cxl_other) / MiB)) MiB")
fi

# ---------------------------------------------------------------- 6. moves
section "6. kernel page moves between memory tiers (tiermem_move)"
# 4 buffers of 8 MiB allocated on dram, moved as a whole to cxl, to pmem and
# back to dram. The pages stay in the dram tier's memfd (same file, same
# address): only their node changes, so numa_maps of tiermem:dram must show
# them on the destination's node.
MOVE_BUFS=4 MOVE_MIB=8 MOVE_BUDGET_MIB=64 MOVE_BIG_MIB=72
MOVE_BYTES=$((MOVE_BUFS * MOVE_MIB * MiB))
move_policy=$TM_TMP/move.toml
cat >"$move_policy" <<TOML
[policy]
name = "vm-move"
[[tiers]]
name = "dram"
kind = "dram"
nodes = [$dram_bind]
budget = "${MOVE_BUDGET_MIB}MiB"
[[tiers]]
name = "cxl"
kind = "cxl"
nodes = [$cxl_bind]
budget = "${MOVE_BUDGET_MIB}MiB"
[[tiers]]
name = "pmem"
kind = "pmem"
nodes = [$pmem_bind]
[[tiers]]
name = "nvme"
kind = "nvme"
path = "$TM_NVME"
TOML
capture move -- run_with_preload --policy "$move_policy" --env TIERMEM_STRICT=1 -- "$VM_PROGS/vm_move" "$MOVE_BUFS" "$MOVE_MIB" "$MOVE_BIG_MIB"
assert_status "vm_move under the preload runs to the end" 0 "$RC" "$ERR"
sed 's/^/  | /' "$OUT"
M=$OUT
mv_field() { awk -v k="$1" -v s="$2" -v f="$3" '$1 == k && $2 == s {for (i = 3; i < NF; i++) if ($i == f) {print $(i + 1); exit}}' "$M"; }
mv_result() { awk -v k="$1" -v s="$2" '$1 == k && $2 == s {print $3, $4, $5, $6; exit}' "$M"; }
mv_tierof() { awk -v s="$1" -v t="$2" '$1 == "tierof" && $2 == s && $3 == t {print $5}' "$M"; }
mv_pages() { awk -v s="$1" -v n="$2" '$1 == "movepages" && $2 == s && $3 == "node" && $4 == n {b = $6} END {print b + 0}' "$M"; }
mv_pages_other() { awk -v s="$1" -v n="$2" '$1 == "movepages" && $2 == s && !($3 == "node" && $4 == n) {b += $NF} END {print b + 0}' "$M"; }
mv_nm() { awk -v s="$1" -v m="$2" -v n="$3" '$1 == "numamaps" && $2 == s && $3 == m && $5 == n {b = $7} END {print b + 0}' "$M"; }
mv_nm_other() { awk -v s="$1" -v m="$2" -v n="$3" '$1 == "numamaps" && $2 == s && $3 == m && $5 != n {b += $7} END {print b + 0}' "$M"; }
mv_live() { awk -v s="$1" -v t="$2" '$1 == "live" && $2 == s && $3 == t {b = $4} END {print b + 0}' "$M"; }
mv_bad() { awk -v s="$1" '$1 == "bad" && $2 == s {print $3}' "$M"; }
mv_nodes() { # STAGE -> "node0 X MiB, node1 Y MiB" from the move_pages lines
  awk -v s="$1" -v M="$MiB" '$1 == "movepages" && $2 == s {printf "%snode%s %g MiB", sep, $4, $6 / M; sep = ", "} END {if (sep == "") printf "-"}' "$M"; }
mv_nm_nodes() { # STAGE MEMFD -> the same from numa_maps
  awk -v s="$1" -v m="$2" -v M="$MiB" '$1 == "numamaps" && $2 == s && $3 == m {printf "%snode%s %.2f MiB", sep, $5, $7 / M; sep = ", "} END {if (sep == "") printf "-"}' "$M"; }
mv_lives() { # STAGE -> "dram X, cxl Y, pmem Z MiB live"
  awk -v s="$1" -v M="$MiB" '$1 == "live" && $2 == s && $3 != "nvme" {printf "%s%s %.2f", sep, $3, $4 / M; sep = ", "} END {print " MiB live"}' "$M"; }

MOVE_SUMMARY=("start: ${MOVE_BUFS} x ${MOVE_MIB} MiB on dram; move_pages: $(mv_nodes start); numa_maps tiermem:dram: $(mv_nm_nodes start dram); $(mv_lives start)")
assert_eq "move: the ${MOVE_BUFS} x ${MOVE_MIB} MiB buffers start on dram (tiermem_tier_of)" "$MOVE_BYTES" "$(mv_tierof start dram)"
assert_eq "move: before the moves move_pages finds every page of the buffers on node $DRAM_NODE" "$MOVE_BYTES" "$(mv_pages start "$DRAM_NODE")"
assert_eq "move: before the moves move_pages finds no page of the buffers on another node" 0 "$(mv_pages_other start "$DRAM_NODE")"
assert_eq "move: data written on dram reads back" 0 "$(mv_bad start)"
prev=start from=dram
for spec in "cxl $CXL_NODE" "pmem $PMEM_NODE" "dram $DRAM_NODE"; do
  read -r to node <<<"$spec"
  gained=$(( $(mv_live "$to" "$to") - $(mv_live "$prev" "$to") ))
  lost=$(( $(mv_live "$prev" "$from") - $(mv_live "$to" "$from") ))
  assert_eq "move $from -> $to: tiermem_move returns 0 for every buffer" "rc 0 errno 0" "$(mv_result move "$to")"
  assert_eq "move $from -> $to: tiermem_tier_of says $to for every buffer" "$MOVE_BYTES" "$(mv_tierof "$to" "$to")"
  assert_eq "move $from -> $to: move_pages finds every page of the buffers on node $node" "$MOVE_BYTES" "$(mv_pages "$to" "$node")"
  assert_eq "move $from -> $to: move_pages finds no page of the buffers on another node" 0 "$(mv_pages_other "$to" "$node")"
  assert_ge "move $from -> $to: numa_maps shows the pages of the tiermem:dram memfd on node $node" "$MOVE_BYTES" "$(mv_nm "$to" dram "$node")"
  assert_ge "move $from -> $to: the pages stay in the tiermem:dram memfd (numa_maps, all nodes)" "$MOVE_BYTES" \
    $(( $(mv_nm "$to" dram "$node") + $(mv_nm_other "$to" dram "$node") ))
  assert_ge "move $from -> $to: $to's live bytes grow by the buffers (tiermem_get_stats)" "$MOVE_BYTES" "$gained"
  assert_le "move $from -> $to: and by at most one 2 MiB extent more than the buffers" $((MOVE_BYTES + 2 * MiB)) "$gained"
  assert_eq "move $from -> $to: $from's live bytes fall by what $to's grew" "$gained" "$lost"
  assert_eq "move $from -> $to: data intact" 0 "$(mv_bad "$to")"
  MOVE_SUMMARY+=("$from -> $to: move_pages: $(mv_nodes "$to"); numa_maps tiermem:dram: $(mv_nm_nodes "$to" dram); $(mv_lives "$to") ($((gained)) B moved)")
  prev=$to from=$to
done
assert_eq "move back to dram: numa_maps shows no page of tiermem:dram off node $DRAM_NODE" 0 "$(mv_nm_other dram dram "$DRAM_NODE")"
mv_blk() { awk -v s="$1" -v n="$2" '$1 == "blockpages" && $2 == s && $3 == "node" && $4 == n {b = $6} END {print b + 0}' "$M"; }
assert_eq "move: an nvme block moves to cxl (copy, tiermem_move 0)" "rc 0 errno 0" "$(mv_result filemove nvme-to-cxl)"
assert_eq "move: the nvme block is on cxl now" cxl "$(mv_field filemove nvme-to-cxl tierof)"
assert_eq "move: its data came along" 0 "$(mv_field filemove nvme-to-cxl bad)"
assert_eq "move: its pages are on CXL node $CXL_NODE (move_pages)" "$((MOVE_MIB << 20))" "$(mv_blk nvme-to-cxl "$CXL_NODE")"
assert_eq "move: a dram buffer moves to the nvme file tier (0)" "rc 0 errno 0" "$(mv_result filemove dram-to-nvme)"
assert_eq "move: the dram buffer is on nvme" nvme "$(mv_field filemove dram-to-nvme tierof)"
assert_eq "move: and back to dram (0)" "rc 0 errno 0" "$(mv_result filemove nvme-to-dram)"
assert_eq "move: back on dram, data intact" "dram 0" "$(mv_field filemove nvme-to-dram tierof) $(mv_field filemove nvme-to-dram bad)"
assert_eq "move: its pages are on DRAM node $DRAM_NODE again (move_pages)" "$((MOVE_MIB << 20))" "$(mv_blk nvme-to-dram "$DRAM_NODE")"
cxl_before=$(mv_field enomem pmem-to-cxl cxl_before) cxl_after=$(mv_field enomem pmem-to-cxl cxl_after)
assert_eq "move: ${MOVE_BIG_MIB} MiB of pmem into cxl's ${MOVE_BUDGET_MIB} MiB budget: -1, errno ENOMEM" "rc -1 errno ENOMEM" "$(mv_result enomem pmem-to-cxl)"
assert_eq "move: cxl's budget in the stats is ${MOVE_BUDGET_MIB} MiB" $((MOVE_BUDGET_MIB * MiB)) "$(mv_field enomem pmem-to-cxl cxl_budget)"
assert_le "move: cxl's live bytes stay within its budget after the refused move" $((MOVE_BUDGET_MIB * MiB)) "${cxl_after:-0}"
assert_ge "move: the extents that fitted did move (cxl's live bytes grew)" $(( ${cxl_before:-0} + 1 )) "${cxl_after:-0}"
# Pages and books agree: the refused extent's pages did not move either, and
# after the move back every page is on pmem's node again.
mv_block_on() { awk -v s="$1" -v n="$2" '$1 == "blockpages" && $2 == s && $3 == "node" && $4 == n {b = $6} END {print b + 0}' "$M"; }
assert_le "move: after the refused move the block has no more bytes on cxl's node $CXL_NODE than cxl's live bytes (+1 page)" \
  $(( ${cxl_after:-0} + 4096 )) "$(mv_block_on enomem "$CXL_NODE")"
assert_eq "move: the ${MOVE_BIG_MIB} MiB block moves back to pmem whole" "rc 0 errno 0" "$(mv_result enomem back)"
assert_eq "move: after the move back move_pages finds every page of the block on pmem's node $PMEM_NODE" $((MOVE_BIG_MIB * MiB)) "$(mv_block_on back "$PMEM_NODE")"
assert_eq "move: the ${MOVE_BIG_MIB} MiB block is on pmem again" pmem "$(mv_field enomem back tierof)"
assert_eq "move: the ${MOVE_BIG_MIB} MiB block's data intact after the partial move and back" 0 "$(mv_field enomem back bad)"
mv_block() { # STAGE -> the block's pages per node
  awk -v s="$1" -v M="$MiB" '$1 == "blockpages" && $2 == s {printf "%snode%s %g MiB", sep, $4, $6 / M; sep = ", "} END {if (sep == "") printf "-"}' "$M"; }
MOVE_SUMMARY+=("ENOMEM: ${MOVE_BIG_MIB} MiB on pmem ($(mv_block pmem)) -> cxl (budget ${MOVE_BUDGET_MIB} MiB): $(mv_result enomem pmem-to-cxl); cxl live ${cxl_before:-?} -> ${cxl_after:-?} B; block after: $(mv_block enomem); after the move back to pmem: $(mv_block back)")

# ---------------------------------------------------------------- 7. not tested
section "7. not tested"
log "NOT TESTED: automatic migration (hot pages up, cold pages down): tiermem moves pages only when asked (tiermem_move, section 6)"
log "NOT TESTED: PMEM app-direct (a DAX-mounted filesystem): the VM has no fsdax namespace; PMEM is covered as memory (pmem tier on node $PMEM_NODE)"

printf '\nplacement checked (bytes per node against the policy):\n'
printf '  %s\n' "${PLACEMENT_SUMMARY[@]}"
printf '\nmoves checked (bytes per node before and after each tiermem_move):\n'
printf '  %s\n' "${MOVE_SUMMARY[@]}"
log "suite time in the VM: $((SECONDS - T_SUITE)) s"
summary
