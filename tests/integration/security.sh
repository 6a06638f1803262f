#!/bin/bash
# Security properties of a process under the preload:
#  1. tier files are memfds or O_TMPFILE files ("(deleted)" links), mode 0600,
#     close-on-exec; children started with posix_spawn and fork+exec hold none
#     of them;
#  2. a freed block on the NVMe tier is punched after the purge delay: the
#     tier file's allocated blocks drop and its raw content (read through
#     /proc/PID/fd/N) no longer holds the secret written into the block;
#  3. `tiermem stat PID` of a root-owned process is refused for another user
#     (permission message, non-zero exit) and works for root;
#  4. a setuid-root program linked against libtiermem.so and run by nobody
#     ignores TIERMEM_POLICY and TIERMEM_NVME_DIR (secure_getenv), while the
#     same program without the setuid bit honours them.
# Needs root (for 3 and 4) and the `nobody` user; skips with 77 otherwise.
. "$(dirname "$0")/lib.sh"
require_preload
require_cli
require_cmd setpriv gcc
((EUID == 0)) || skip "needs root (runs processes as root and as nobody)"
id nobody > /dev/null 2>&1 || skip "no 'nobody' user"
NOBODY_GROUP=$(id -gn nobody)
as_nobody() { setpriv --reuid=nobody --regid="$NOBODY_GROUP" --clear-groups "$@"; }
[[ -x $PYTHON ]] || skip "$PYTHON not found (used to scan tier files)"

P=$(prog tier_secrets)
SECRET="TMSECRET-$RANDOM$RANDOM-$$-x"

# scan_file PATH STRING: "DATA_BYTES COUNT" — bytes in the data (non-hole)
# ranges of PATH and how often STRING occurs in them. Reads only the data
# ranges (SEEK_DATA/SEEK_HOLE): tier files are 1 TiB sparse files.
scan_file() {
  "$PYTHON" - "$1" "$2" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
needle = sys.argv[2].encode()
data = count = 0
off = 0
while True:
    try:
        off = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    end = os.lseek(fd, off, os.SEEK_HOLE)
    tail = b""
    while off < end:
        chunk = os.pread(fd, min(end - off, 4 << 20), off)
        if not chunk:
            break
        buf = tail + chunk
        count += buf.count(needle)
        tail = buf[-(len(needle) - 1):]
        data += len(chunk)
        off += len(chunk)
    off = end
print(data, count)
PY
}

# tier_fds PID: "FD LINK" for every tier/stats file the process holds.
tier_fds() {
  local f link
  for f in /proc/"$1"/fd/*; do
    link=$(readlink "$f" 2> /dev/null) || continue
    case $link in
      /memfd:tiermem*|memfd:tiermem*|"$TM_NVME"/*) echo "${f##*/} $link" ;;
    esac
  done
}

# ---- a root process under the preload with a secret on the NVMe tier ------
log "== a 32 MiB block with a secret on the NVMe tier (DRAM budget 4 MiB)"
coproc SECRETS { exec env LD_PRELOAD="$TIERMEM_PRELOAD" TIERMEM_DRAM_BUDGET=4MiB TIERMEM_NVME_DIR="$TM_NVME" \
  "$P" 32 "$SECRET" 2> "$TM_TMP/secrets.err"; }
SPID=$SECRETS_PID
on_exit "kill -9 $SPID 2>/dev/null"
block_line=''
while read -r -t 20 -u "${SECRETS[0]}" line; do
  case $line in
    block:*) block_line=$line ;;
    ready) break ;;
  esac
done
[[ $line == ready ]] || { show_file stderr "$TM_TMP/secrets.err"; fail "tier_secrets did not start"; summary; }
info "tier_secrets pid $SPID, $block_line"
assert_match "the block is on the NVMe tier" 'tier 1 \(nvme\)' "$block_line"

# ---- 1: what the tier fds are ---------------------------------------------
mapfile -t fds < <(tier_fds "$SPID")
for l in "${fds[@]}"; do info "fd $l"; done
assert_ge "the process holds tier files (dram memfd, nvme tmpfile, stats memfd)" 3 "${#fds[@]}"
nvme_fd=''
for l in "${fds[@]}"; do
  n=${l%% *} link=${l#* }
  case $link in
    "$TM_NVME"/*) nvme_fd=$n
       assert_match "fd $n: NVMe tier file is an unlinked O_TMPFILE" "^$TM_NVME/#[0-9]+ \(deleted\)$" "$link" ;;
    *) assert_match "fd $n: memory tier / stats file is a memfd" '^/?memfd:tiermem[-:][a-z0-9_-]+ \(deleted\)$' "$link" ;;
  esac
  assert_eq "fd $n ($link): mode" 600 "$(stat -L -c %a "/proc/$SPID/fd/$n")"
  flags=$(awk '/^flags:/ {print $2}' "/proc/$SPID/fdinfo/$n")
  if [[ -n $flags ]] && (( (8#$flags & 8#2000000) != 0 )); then pass "fd $n: close-on-exec (flags $flags)"
  else fail "fd $n ($link): not close-on-exec (flags '$flags')"; fi
done
[[ -n $nvme_fd ]] || fail "no NVMe tier fd found in /proc/$SPID/fd"
assert_eq "no visible file in the NVMe dir" "" "$(ls -A "$TM_NVME")"

# ---- 3: tiermem stat of a root-owned process -------------------------------
log "== tiermem stat $SPID (root-owned) as nobody and as root"
capture stat_nobody -- as_nobody "$TIERMEM_CLI" stat "$SPID"
assert_ne "tiermem stat as nobody: non-zero exit" 0 "$RC"
assert_file_contains "tiermem stat as nobody: permission message" "$ERR" "permission denied"
assert_file_lacks "tiermem stat as nobody: prints no stats" "$OUT" "nvme"
capture stat_root -- "$TIERMEM_CLI" stat "$SPID"
assert_status "tiermem stat as root" 0 "$RC" "$ERR"
assert_file_contains "tiermem stat as root: shows the process" "$OUT" "process $SPID"

# ---- 2: a freed block is punched ------------------------------------------
if [[ -n $nvme_fd ]]; then
  log "== free the block, wait 2.5 s (> purge_delay_ms 1000), look at the NVMe tier file"
  blocks_before=$(stat -L -c %b "/proc/$SPID/fd/$nvme_fd")
  read -r data_before found_before < <(scan_file "/proc/$SPID/fd/$nvme_fd" "$SECRET")
  info "before free: $((blocks_before / 2048)) MiB allocated, $((data_before >> 20)) MiB of data, secret found $found_before times"
  assert_ge "sanity: the secret is readable in the tier file before the free" 1 "$found_before"
  echo free >&"${SECRETS[1]}"
  read -r -t 10 -u "${SECRETS[0]}" line; assert_eq "block freed" freed "${line:-}"
  sleep 2.5
  blocks_after=$(stat -L -c %b "/proc/$SPID/fd/$nvme_fd")
  read -r data_after found_after < <(scan_file "/proc/$SPID/fd/$nvme_fd" "$SECRET")
  info "2.5 s after free: $((blocks_after / 2048)) MiB allocated, $((data_after >> 20)) MiB of data, secret found $found_after times"
  assert_le "allocated blocks of the tier file dropped by >= 30 MiB (512-byte units)" \
    $((blocks_before - 30 * 2048)) "$blocks_after"
  assert_eq "the secret is gone from the tier file" 0 "$found_after"
fi
# ---- 1b: children started with posix_spawn and fork+exec -------------------
log "== children: posix_spawn and fork+exec of sleep (LD_PRELOAD removed from their environment)"
# dev:inode of every tier file the parent holds before and after the fork
# (fork reopens the parent's tier files).
inodes() { local l; for l in $(tier_fds "$1" | cut -d' ' -f1); do stat -L -c '%d:%i' "/proc/$1/fd/$l"; done; }
parent_files=$(inodes "$SPID")
echo spawn >&"${SECRETS[1]}"
read -r -t 10 -u "${SECRETS[0]}" line
children=${line#children: }
parent_files="$parent_files $(inodes "$SPID")"
info "children (posix_spawn, fork+exec): $children; parent tier files (dev:inode): $(echo $parent_files)"
for child in $children; do
  ((child > 0)) || { fail "a child was not started ($line)"; continue; }
  for _ in 1 2 3 4 5 6 7 8 9 10; do [[ $(readlink /proc/"$child"/exe) == */sleep ]] && break; sleep 0.1; done
  held=''
  for f in /proc/"$child"/fd/*; do
    id=$(stat -L -c '%d:%i' "$f" 2> /dev/null) || continue
    for pf in $parent_files; do [[ $id == "$pf" ]] && held+=" ${f##*/}->$(readlink "$f")"; done
    case $(readlink "$f") in /memfd:tiermem*|"$TM_NVME"/*) held+=" ${f##*/}->$(readlink "$f")" ;; esac
  done
  assert_eq "child $child ($(readlink /proc/"$child"/exe)) holds none of the parent's tier files" "" "$held"
done

echo exit >&"${SECRETS[1]}"
wait "$SPID"; assert_status "tier_secrets exit" 0 "$?" "$TM_TMP/secrets.err"

# ---- 4: setuid program ignores the environment -----------------------------
log "== setuid-root program linked against libtiermem.so, run by nobody with TIERMEM_POLICY/TIERMEM_NVME_DIR set"
LIBDIR=$(dirname "$(find "$TIERMEM_BUILD" -name 'libtiermem.so' -print -quit)")
[[ -n $LIBDIR && -f $LIBDIR/libtiermem.so ]] || { fail "libtiermem.so not found under $TIERMEM_BUILD"; summary; }
chmod 755 "$TM_TMP"
SUID_DIR=$TM_TMP/suid ENVDIR=$TM_TMP/envdir
mkdir -m 755 "$SUID_DIR"
mkdir -m 1777 "$ENVDIR"
gcc -O2 -o "$SUID_DIR/probe" "$TIERMEM_SOURCE/tests/integration/progs/linked/suid_probe.c" \
  -L"$LIBDIR" -ltiermem -Wl,-rpath,"$LIBDIR" 2> "$TM_TMP/gcc.err" || {
  show_file gcc "$TM_TMP/gcc.err"; fail "cannot build suid_probe against $LIBDIR/libtiermem.so"; summary; }
cp "$SUID_DIR/probe" "$SUID_DIR/probe_suid"
chown root:root "$SUID_DIR/probe_suid" && chmod 4755 "$SUID_DIR/probe_suid"
cat > "$TM_TMP/env.toml" <<EOF
[policy]
name = "from-env"

[[tiers]]
name = "envdram"
kind = "dram"
budget = "64MiB"

[[tiers]]
name = "envdisk"
kind = "nvme"
path = "$ENVDIR"
EOF
chmod 644 "$TM_TMP/env.toml"

# probe_run NAME BINARY: runs BINARY as nobody with the env vars set; records
# its tier lines, `tiermem stat` as root, its euid and tier file links.
probe_run() {
  local name=$1 bin=$2 line
  coproc PROBE { exec setpriv --reuid=nobody --regid="$NOBODY_GROUP" --clear-groups \
    env TIERMEM_POLICY="$TM_TMP/env.toml" TIERMEM_NVME_DIR="$ENVDIR" "$bin" 2> "$TM_TMP/$name.err"; }
  local pid=$PROBE_PID
  : > "$TM_TMP/$name.tiers"
  while read -r -t 20 -u "${PROBE[0]}" line; do
    [[ $line == ready ]] && break
    echo "$line" >> "$TM_TMP/$name.tiers"
  done
  EUID_OF=$(awk '/^Uid:/ {print $3}' /proc/"$pid"/status 2> /dev/null)
  LINKS=$(for f in /proc/"$pid"/fd/*; do readlink "$f"; done 2> /dev/null | tr '\n' ' ')
  "$TIERMEM_CLI" stat "$pid" > "$TM_TMP/$name.stat" 2>&1
  STAT_RC=$?
  exec {PROBE[1]}>&-
  wait "$pid" 2> /dev/null
  info "$name: euid $EUID_OF, tiers: $(tr '\n' ' ' < "$TM_TMP/$name.tiers")"
  info "$name: $(head -1 "$TM_TMP/$name.stat")"
  info "$name: fds: $LINKS"
}

probe_run control "$SUID_DIR/probe"
assert_eq "control (no setuid bit) runs as nobody" 65534 "$EUID_OF"
assert_file_contains "control honours TIERMEM_POLICY (tier 0 is 'envdram')" "$TM_TMP/control.tiers" "tier 0: envdram"
assert_file_contains "control: tiermem stat names the env policy" "$TM_TMP/control.stat" "from-env"
assert_match "control honours TIERMEM_NVME_DIR (tier file in $ENVDIR)" "$ENVDIR/#" "$LINKS"

probe_run setuid "$SUID_DIR/probe_suid"
if [[ $EUID_OF != 0 ]]; then
  info "the setuid bit did not take effect (euid $EUID_OF; nosuid mount?): setuid case not checked"
else
  assert_eq "setuid probe: tiermem stat as root works" 0 "$STAT_RC"
  assert_file_lacks "setuid probe ignores TIERMEM_POLICY (no 'envdram' tier)" "$TM_TMP/setuid.tiers" "envdram"
  assert_file_contains "setuid probe runs the built-in default policy" "$TM_TMP/setuid.tiers" "tier 0: dram"
  assert_file_contains "setuid probe: tiermem stat shows the built-in default policy" "$TM_TMP/setuid.stat" "built-in default"
  assert_file_lacks "setuid probe: tiermem stat does not name the env policy" "$TM_TMP/setuid.stat" "from-env"
  if [[ $LINKS == *"$ENVDIR/"* ]]; then fail "setuid probe created its tier file in TIERMEM_NVME_DIR ($LINKS)"
  else pass "setuid probe ignores TIERMEM_NVME_DIR (no tier file in $ENVDIR)"; fi
  assert_le "setuid probe: stderr is quiet (at most one line)" 1 "$(wc -l < "$TM_TMP/setuid.err")"
fi

summary
