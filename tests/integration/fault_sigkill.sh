#!/bin/bash
# SIGKILL at random points while a program spills to the NVMe tier and
# extents move between the tiers (TIERMEM_FORCE_MOVES): 6 runs
# of spill_budget and 4 of a numpy job, each killed 50-500 ms into its work.
# Afterwards: no file left in the NVMe dir (the tier file is O_TMPFILE), no
# tiermem* leftovers in /dev/shm or /tmp, and (where the NVMe dir is on a
# loop-mounted filesystem of its own, i.e. as root) the disk space is back.
. "$(dirname "$0")/lib.sh"
require_preload
# Kill during moves: the runtime moves random extents between the tiers
# every 50 ms, so every kill lands with moves in flight or just done.
export TIERMEM_FORCE_MOVES=1
P=$(prog spill_budget)

NVME=$TM_NVME
DF_CHECK=0
if ((EUID == 0)) && command -v mkfs.ext4 > /dev/null; then
  truncate -s 640M "$TM_TMP/nvme.img"
  mkdir -p "$TM_TMP/mnt"
  if mkfs.ext4 -q -F "$TM_TMP/nvme.img" > /dev/null 2>&1 && mount -o loop "$TM_TMP/nvme.img" "$TM_TMP/mnt" 2> /dev/null; then
    on_exit "umount '$TM_TMP/mnt' 2>/dev/null || umount -l '$TM_TMP/mnt'"
    NVME=$TM_TMP/mnt/tier
    mkdir "$NVME"
    DF_CHECK=1
  fi
fi
((DF_CHECK)) || info "NVMe dir not on a filesystem of its own: disk space not checked"
used_kib() { df -k --output=used "$NVME" | tail -1 | tr -d ' '; }
USED0=$(((DF_CHECK)) && used_kib || echo 0)

HAVE_NUMPY=0
"$PYTHON" -c 'import numpy' 2> /dev/null && HAVE_NUMPY=1
((HAVE_NUMPY)) || info "numpy not available for $PYTHON: spill_budget only"
cat > "$TM_TMP/job.py" <<'PY'
import sys, numpy as np
print("start", flush=True)
arrays = []
for i in range(48):                      # 48 x 8 MiB = 384 MiB
    a = np.empty(1 << 20, dtype=np.float64)
    a[:] = i
    arrays.append(a)
print(sum(float(a.sum()) for a in arrays), flush=True)
PY

marker=$TM_TMP/marker
touch "$marker"
sleep 0.01
killed=0 spilled=0
for i in 1 2 3 4 5 6 7 8 9 10; do
  delay_ms=$((50 + RANDOM % 451))
  out=$TM_TMP/run$i.out
  if ((i > 6 && HAVE_NUMPY)); then
    what="numpy job"
    env LD_PRELOAD="$TIERMEM_PRELOAD" TIERMEM_DRAM_BUDGET=16MiB TIERMEM_NVME_DIR="$NVME" \
      "$PYTHON" "$TM_TMP/job.py" > "$out" 2> "$TM_TMP/run$i.err" &
    pid=$!
    # count the delay from the end of the imports
    for _ in $(seq 100); do grep -q start "$out" 2> /dev/null && break; sleep 0.05; done
  else
    what="spill_budget 128"
    env LD_PRELOAD="$TIERMEM_PRELOAD" TIERMEM_DRAM_BUDGET=16MiB TIERMEM_NVME_DIR="$NVME" \
      "$P" 128 > "$out" 2> "$TM_TMP/run$i.err" &
    pid=$!
  fi
  sleep "$(printf '0.%03d' "$delay_ms")"
  # how much the tier file held at the moment of the kill
  held=0
  for f in /proc/"$pid"/fd/*; do
    [[ $(readlink "$f" 2> /dev/null) == "$NVME"/* ]] && held=$(stat -L -c %b "$f" 2> /dev/null || echo 0)
  done
  kill -KILL "$pid" 2> /dev/null
  { wait "$pid"; } 2> /dev/null
  rc=$?
  ((rc == 137)) && killed=$((killed + 1))
  ((held > 0)) && spilled=$((spilled + 1))
  left=$(ls -A "$NVME" | grep -v '^lost+found$' || true)
  used=0
  if ((DF_CHECK)); then
    used=$(used_kib)
    for _ in $(seq 20); do ((used <= USED0 + 1024)) && break; sleep 0.1; used=$(used_kib); done
  fi
  info "run $i ($what): killed after ${delay_ms} ms (exit $rc), NVMe tier file held $((held / 2048)) MiB, dir after: '${left}', fs used $((used / 1024)) MiB"
  assert_eq "run $i: NVMe dir empty after SIGKILL" "" "$left"
  ((DF_CHECK)) && assert_le "run $i: NVMe filesystem space back (KiB used, +1 MiB)" $((USED0 + 1024)) "$used"
done
assert_ge "runs killed by SIGKILL (the others finished first)" 7 "$killed"
assert_ge "runs that had spilled to the NVMe tier when killed" 5 "$spilled"

# (temp dirs of test suites running at the same time are not leftovers)
leftovers=$(find /dev/shm /tmp /var/tmp -maxdepth 1 -name 'tiermem*' ! -name 'tiermem-it-*' ! -name '*-test-*' \
  -newer "$marker" 2> /dev/null)
assert_eq "no tiermem* leftovers in /dev/shm, /tmp or /var/tmp" "" "$leftovers"
summary
