#!/bin/bash
# The NVMe tier's directory is on a small filesystem (a loop-mounted ~48 MiB
# ext4 image) and the program allocates far more than fits. Expected:
# allocations that do not fit fail cleanly (malloc returns NULL with ENOMEM,
# or the data goes to another tier), the program is never killed by SIGBUS
# (a write through a MAP_SHARED file mapping whose page the filesystem
# cannot allocate), and every block it did get reads back intact, also after
# freed blocks were punched and reused.
#
# Needs root (mount -o loop); skips with 77 otherwise.
. "$(dirname "$0")/lib.sh"
require_preload
require_cmd mkfs.ext4 mount umount
((EUID == 0)) || skip "needs root to loop-mount an ext4 image"

P=$(prog fill_blocks)
IMG=$TM_TMP/nvme.img
MNT=$TM_TMP/mnt
mkdir -p "$MNT"
truncate -s 48M "$IMG" && mkfs.ext4 -q -F "$IMG" > "$TM_TMP/mkfs.log" 2>&1 ||
  skip "mkfs.ext4 of a 48 MiB image failed: $(head -1 "$TM_TMP/mkfs.log")"
mount -o loop "$IMG" "$MNT" 2> "$TM_TMP/mount.err" ||
  skip "cannot loop-mount an ext4 image here: $(head -1 "$TM_TMP/mount.err")"
on_exit "umount '$MNT' 2>/dev/null || umount -l '$MNT'"
mkdir "$MNT/tier"
avail_kib() { df -k --output=avail "$MNT" | tail -1 | tr -d ' '; }
used_kib() { df -k --output=used "$MNT" | tail -1 | tr -d ' '; }
AVAIL0=$(avail_kib)
USED0=$(used_kib)
info "small filesystem: $MNT, $((AVAIL0 / 1024)) MiB available"

# describe_crash NAME: where a run died, for the failure message.
describe_crash() {
  local last
  last=$(grep -E '^(wrote|rewrote) block' "$OUT" | tail -1)
  info "$1: killed by signal $((RC - 128)) ($(kill -l $((RC - 128)) 2>/dev/null)); last progress line: '${last:-none}'"
}

# ---- 1: unlimited NVMe tier on a too-small disk -----------------------------
log "== 1: DRAM budget 16 MiB, unlimited NVMe tier on a $((AVAIL0 / 1024)) MiB filesystem, 64 x 8 MiB wanted"
capture unlimited -- run_with_preload --budget 16MiB --nvme-dir "$MNT/tier" -- "$P" 64 0 reuse
((RC > 128)) && describe_crash unlimited
# The assertion that matters: a full disk must never be a SIGBUS. (Before
# a54b138, which reserves a file tier's blocks with fallocate when jemalloc
# commits an extent, this run died of SIGBUS after 6 blocks.)
assert_ne "no SIGBUS when the NVMe filesystem fills up" 135 "$RC"
assert_status "program exits normally (NULL handled, every block verified)" 0 "$RC" "$ERR"
if ((RC > 128)); then
  fail "no result to check: the program was killed (the blocks it had written are lost with it)"
else
  got=$(sed -n 's/^allocated: //p' "$OUT")
  assert_ge "got the DRAM blocks and some NVMe blocks (>= 2 + 2)" 4 "${got:-0}"
  assert_le "did not get more than DRAM budget + filesystem can hold" $((2 + AVAIL0 / 8192 + 1)) "${got:-999}"
  assert_file_contains "malloc returned NULL with ENOMEM once the disk was full" "$OUT" "first NULL: errno=12"
  assert_file_contains "no data lost in the blocks it got (also after free + reuse)" "$OUT" "bad words: 0"
  nvme_blocks=$(sed -n 's/^tier 1 (nvme): \([0-9]*\) blocks$/\1/p' "$OUT")
  info "blocks on nvme at exit: ${nvme_blocks:-?}; reallocated after frees: $(sed -n 's/^reallocated: //p' "$OUT")"
fi
assert_le "stderr has at most one line" 1 "$(wc -l < "$ERR")"
[[ -s $ERR ]] && show_file stderr "$ERR" 5

# ---- 2: the documented guard, a budget on the NVMe tier below the free space -
log "== 2: same, with the NVMe tier's budget (24 MiB) below the free space"
cat > "$TM_TMP/bounded.toml" <<EOF
[policy]
name = "bounded-nvme"

[[tiers]]
name = "dram"
kind = "dram"
budget = "16MiB"

[[tiers]]
name = "nvme"
kind = "nvme"
path = "$MNT/tier"
budget = "24MiB"
EOF
capture bounded -- run_with_preload --policy "$TM_TMP/bounded.toml" -- "$P" 64 0 reuse
((RC > 128)) && describe_crash bounded
assert_status "bounded NVMe tier: program exits normally" 0 "$RC" "$ERR"
assert_eq "bounded NVMe tier: 2 DRAM + 3 NVMe blocks" "allocated: 5" "$(grep '^allocated:' "$OUT")"
assert_file_contains "bounded NVMe tier: NULL with ENOMEM past the budgets" "$OUT" "first NULL: errno=12"
assert_file_contains "bounded NVMe tier: reused blocks after frees" "$OUT" "reallocated: 3"
assert_file_contains "bounded NVMe tier: no data lost" "$OUT" "bad words: 0"

# ---- 3: the disk space comes back ------------------------------------------
used=$(used_kib)
for _ in 1 2 3 4 5 6 7 8 9 10; do
  ((used <= USED0 + 1024)) && break
  sleep 0.2; used=$(used_kib)
done
assert_le "filesystem usage back to where it started (KiB, +1 MiB slack)" $((USED0 + 1024)) "$used"
assert_eq "no visible file left in the tier directory" "" "$(ls -A "$MNT/tier")"

summary
