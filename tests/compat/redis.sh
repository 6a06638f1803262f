#!/bin/bash
# redis-server on 127.0.0.1 at a free port, once without and once with the
# preload: redis-benchmark (-n 20000 -q, loopback) must complete every test
# without errors, then a data set of 96 MiB (160 strings of 600 KiB loaded by
# redis-cli --pipe, grown with APPEND and patched with SETRANGE, plus lists
# and hashes) is checked: DBSIZE, DEBUG DIGEST, STRLENs and sha256 of values
# read back with GET must match what was sent and be identical between the
# two servers. Values of 600 KiB are tiered allocations, 96 MiB is twice the
# DRAM budget, so the server's data spills to the NVMe tier.
. "$(dirname "$0")/compat_lib.sh"
require_preload
require_cmd redis-server redis-cli redis-benchmark
[[ -x $PYTHON ]] || skip "$PYTHON not found (generates the data set)"

# The data set as RESP commands, and the sha256 of each final value.
"$PYTHON" - "$TM_TMP/load.resp" "$TM_TMP/expected.txt" <<'PY'
import hashlib, sys
def cmd(*a):
    out = [b"*%d\r\n" % len(a)]
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(x), x))
    return b"".join(out)
K, SIZE = 160, 600 * 1024
with open(sys.argv[1], "wb") as f, open(sys.argv[2], "w") as e:
    for i in range(K):
        seed = hashlib.sha256(b"v%d" % i).digest()
        v = bytearray((seed * (SIZE // 32 + 1))[:SIZE])
        v[i * 997 % SIZE] = i & 0xFF
        f.write(cmd("SET", "big:%d" % i, bytes(v)))
        if i % 4 == 0:                       # grow (realloc) and patch in place
            tail = b"tail-%d-" % i * 5000
            f.write(cmd("APPEND", "big:%d" % i, tail)); v += tail
            f.write(cmd("SETRANGE", "big:%d" % i, 1000, b"PATCHED")); v[1000:1007] = b"PATCHED"
        e.write("big:%d %d %s\n" % (i, len(v), hashlib.sha256(bytes(v)).hexdigest()))
    for j in range(20):
        f.write(cmd("RPUSH", "list:%d" % j, *["item-%d-%d" % (j, n) for n in range(2000)]))
        f.write(cmd("HSET", "hash:%d" % j, *sum((["f%d" % n, "x" * (n % 50)] for n in range(1000)), [])))
PY
(( $(wc -l < "$TM_TMP/expected.txt") == 160 )) || { fail "data set generator"; compat_summary; }

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

SERVER_PID=
stop_server() { [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2> /dev/null; SERVER_PID=; }
on_exit stop_server

# session NAME without|with: start a server, benchmark, load, check, shut down.
# Leaves $TM_TMP/NAME.check (the data check) and NAME.bench; sets SRV_RC.
session() {
  local name=$1 mode=$2 port t0 cli i
  port=$(free_port)
  cli=(redis-cli -h 127.0.0.1 -p "$port")
  local server=(redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize no
                --protected-mode yes --enable-debug-command local --dir "$TM_TMP" --dbfilename "$name.rdb")
  t0=$(_compat_now)
  if [[ $mode == with ]]; then
    preloaded "${server[@]}" > "$TM_TMP/$name.server.out" 2> "$TM_TMP/$name.server.err" &
  else
    "${server[@]}" > "$TM_TMP/$name.server.out" 2> "$TM_TMP/$name.server.err" &
  fi
  SERVER_PID=$!
  for ((i = 0; i < 100; i++)); do
    [[ $("${cli[@]}" PING 2> /dev/null) == PONG ]] && break
    kill -0 "$SERVER_PID" 2> /dev/null || break
    sleep 0.1
  done
  info "$name: redis-server on 127.0.0.1:$port, pid $SERVER_PID ($mode the preload)"
  redis-benchmark -h 127.0.0.1 -p "$port" -n 20000 -c 20 -q \
    -t ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,mset > "$TM_TMP/$name.bench" 2>&1
  BENCH_RC=$?
  "${cli[@]}" FLUSHALL > /dev/null
  "${cli[@]}" --pipe < "$TM_TMP/load.resp" > "$TM_TMP/$name.pipe" 2>&1
  {
    echo "dbsize $("${cli[@]}" DBSIZE)"
    echo "digest $("${cli[@]}" DEBUG DIGEST)"
    echo "llen $("${cli[@]}" LLEN list:7) lindex $("${cli[@]}" LINDEX list:7 1234)"
    echo "hlen $("${cli[@]}" HLEN hash:3) hget $("${cli[@]}" HGET hash:3 f49)"
    while read -r key _ _; do
      "${cli[@]}" --raw GET "$key" > "$TM_TMP/$name.value"
      truncate -s -1 "$TM_TMP/$name.value"        # --raw adds a newline
      echo "$key $("${cli[@]}" STRLEN "$key") $(sha256sum < "$TM_TMP/$name.value" | cut -d' ' -f1)"
    done < "$TM_TMP/expected.txt"
  } > "$TM_TMP/$name.check" 2>&1
  "${cli[@]}" INFO memory > "$TM_TMP/$name.info" 2>&1
  "${cli[@]}" SHUTDOWN NOSAVE > /dev/null 2>&1
  wait "$SERVER_PID"; SRV_RC=$?
  SERVER_PID=
  compat_time "$mode" "$(awk -v a="$t0" -v b="$(_compat_now)" 'BEGIN { print b - a }')"
}

# bench_tests NAME: names of the benchmark tests that finished; bench_rps NAME: name rate
bench_tests() { tr '\r' '\n' < "$TM_TMP/$1.bench" | grep 'requests per second' | cut -d: -f1 | tr ' ' '_'; }
bench_rps() { tr '\r' '\n' < "$TM_TMP/$1.bench" | grep 'requests per second' | sed -E 's/^ *//; s/ /_/g; s/:_/ /; s/_requests.*//'; }

log "== $(redis-server --version | cut -d' ' -f1-3): benchmark + 96 MiB data check"
session plain without
assert_status "redis-benchmark against the plain server" 0 "$BENCH_RC" "$TM_TMP/plain.bench"
bench_tests plain > "$TM_TMP/plain.tests"
assert_ge "plain: benchmark tests that reported requests per second" 14 "$(wc -l < "$TM_TMP/plain.tests")"
assert_file_contains "plain: --pipe loaded the data set without errors" "$TM_TMP/plain.pipe" "errors: 0"
assert_eq "plain: 200 keys" "dbsize 200" "$(head -n 1 "$TM_TMP/plain.check")"
assert_match "plain: DEBUG DIGEST answered" '^digest [0-9a-f]{40}$' "$(sed -n 2p "$TM_TMP/plain.check")"
tail -n +5 "$TM_TMP/plain.check" > "$TM_TMP/plain.values"
assert_files_eq "plain: every value read back = what was sent" "$TM_TMP/expected.txt" "$TM_TMP/plain.values"
assert_status "plain server exits cleanly on SHUTDOWN" 0 "$SRV_RC" "$TM_TMP/plain.server.err"

session tiered with
assert_status "redis-benchmark against the server with the preload" 0 "$BENCH_RC" "$TM_TMP/tiered.bench"
bench_tests tiered > "$TM_TMP/tiered.tests"
assert_files_eq "benchmark tests completed: without vs with the preload" "$TM_TMP/plain.tests" "$TM_TMP/tiered.tests"
assert_file_contains "preload: --pipe loaded the data set without errors" "$TM_TMP/tiered.pipe" "errors: 0"
assert_files_eq "data check (DBSIZE, DEBUG DIGEST, values): without vs with the preload" \
  "$TM_TMP/plain.check" "$TM_TMP/tiered.check"
assert_status "server with the preload exits cleanly on SHUTDOWN" 0 "$SRV_RC" "$TM_TMP/tiered.server.err"
info "used_memory: plain $(grep -m1 '^used_memory_human' "$TM_TMP/plain.info" | tr -d '\r' | cut -d: -f2)," \
  "preload $(grep -m1 '^used_memory_human' "$TM_TMP/tiered.info" | tr -d '\r' | cut -d: -f2)"
paste -d' ' <(bench_rps plain) <(bench_rps tiered) | awk '{ printf "  | %-40s %12s rps without, %12s with\n", $1, $2, $4 }'
compat_tiers "$TM_TMP/tiered.server.err" nvme

compat_summary
