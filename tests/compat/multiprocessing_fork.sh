#!/bin/bash
# Python multiprocessing with the fork start method over a 256 MiB numpy
# array inherited by fork. Four Process children wait until the parent has
# rewritten the whole array after the fork, then sum their slice (they must
# see the values from before the fork), overwrite it, re-read it (they must
# see their own writes) and allocate 64 MiB of their own; results come back
# through a Queue. The parent checks that no child write reached it and that
# a Pool forked later sees the parent's new values (Pipe back-channel too).
# Under the preload the array lives on the NVMe tier, which the fork remaps
# copy-on-write; output must be identical without and with the preload.
. "$(dirname "$0")/compat_lib.sh"
require_preload
require_python_modules numpy multiprocessing

cat > "$TM_TMP/forkwork.py" <<'PY'
import hashlib, multiprocessing as mp, os, sys
import numpy as np

N = 32 * 1024 * 1024                      # int64: 256 MiB
NPROC = 4
a = (np.arange(N, dtype=np.int64) * 2654435761) % 1000003
step = N // NPROC
ranges = [(i * step, (i + 1) * step) for i in range(NPROC)]
before = [int(a[lo:hi].sum()) for lo, hi in ranges]
total_before = int(a.sum())
print("array", a.nbytes >> 20, "MiB, sum", total_before)

def child(i, go, q):
    lo, hi = ranges[i]
    go.wait()                              # parent has rewritten a[] by now
    s = int(a[lo:hi].sum())                # must still be the pre-fork data
    a[lo:hi] = -(i + 1)                    # private to this child
    mine = int(a[lo:hi].sum())
    other = int(a[(lo + step) % N:(lo + step) % N + 1000].sum())
    own = np.full(8 * 1024 * 1024, i + 7, dtype=np.int64)   # 64 MiB in the child
    own[::4096] += np.arange(own[::4096].size)
    q.put((i, s, mine, other, hashlib.sha256(own.tobytes()).hexdigest()[:16]))

def pool_sum(r):
    lo, hi = r
    return int(a[lo:hi].sum())

def pipe_child(conn):
    b = conn.recv()                        # 32 MiB through a Pipe
    conn.send((int(b.sum()), int(a[:1000].sum())))
    conn.close()

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    go, q = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=child, args=(i, go, q)) for i in range(NPROC)]
    for p in procs:
        p.start()
    a += 7                                 # parent writes every page after the fork
    go.set()
    res = sorted(q.get(timeout=300) for _ in procs)
    for p in procs:
        p.join()
        assert p.exitcode == 0, p.exitcode
    ok = True
    for (i, s, mine, other, hh), (lo, hi) in zip(res, ranges):
        exp_other = int((((np.arange((lo + step) % N, (lo + step) % N + 1000, dtype=np.int64) * 2654435761) % 1000003)).sum())
        good = s == before[i] and mine == -(i + 1) * step and other == exp_other
        ok &= good
        print("child", i, "slice_sum", s, "own_writes", mine, "neighbour", other, "alloc", hh, "ok" if good else "BAD")
    parent_sum = int(a.sum())
    print("parent sum after children", parent_sum, "expected", total_before + 7 * N,
          "ok" if parent_sum == total_before + 7 * N else "BAD")
    ok &= parent_sum == total_before + 7 * N
    with ctx.Pool(2) as pool:
        sums = pool.map(pool_sum, ranges)
    good = sums == [b + 7 * step for b in before]
    print("pool sums", sums, "ok" if good else "BAD")
    ok &= good
    parent_conn, child_conn = ctx.Pipe()
    p = ctx.Process(target=pipe_child, args=(child_conn,))
    p.start()
    big = np.arange(4 * 1024 * 1024, dtype=np.int64)
    parent_conn.send(big)
    got = parent_conn.recv()
    p.join()
    good = got == (int(big.sum()), int(a[:1000].sum())) and p.exitcode == 0
    print("pipe", got, "ok" if good else "BAD")
    ok &= good
    print("ALL OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)
PY

log "== multiprocessing (fork) over a 256 MiB numpy array"
without plain -- "$PYTHON" "$TM_TMP/forkwork.py"
assert_status "fork workload without the preload" 0 "$RC" "$ERR"
assert_file_contains "plain run: every check held" "$OUT" "ALL OK"

with tiered -- "$PYTHON" "$TM_TMP/forkwork.py"
assert_status "fork workload with the preload (budget $COMPAT_BUDGET)" 0 "$RC" "$ERR"
assert_file_contains "preload run: every check held" "$OUT" "ALL OK"
assert_files_eq "output: without vs with the preload" "$TM_TMP/plain.out" "$TM_TMP/tiered.out"
compat_tiers "$ERR" nvme

compat_summary
