#!/bin/bash
# TIERMEM_NVME_DIR is unusable: it does not exist, it is not writable (mode
# 0500, run as nobody), it is a regular file, or it is removed while the
# program runs (and the program then forks). Expected: at most one clear
# stderr line that names the directory, and the program runs and gives the
# same result as without tiermem (on DRAM only, or on the tiers left).
#
# The program (spill_budget 64) uses 3 x 64 MiB, with a 64 MiB DRAM budget:
# without a usable NVMe tier the runtime must not turn the DRAM budget into
# a hard limit that makes malloc fail where plain malloc would not.
. "$(dirname "$0")/lib.sh"
require_preload
P=$(prog spill_budget)
F=$(prog fork_rmdir)

capture plain -- "$P" 64
assert_status "plain run" 0 "$RC" "$ERR"
ref=$(grep '^checksum' "$OUT")

# check_case NAME DIR: the common expectations for a run captured as NAME.
check_case() {
  local name=$1 dir=$2
  assert_status "$name: program exits normally" 0 "$RC" "$ERR"
  assert_eq "$name: same checksum as without tiermem" "$ref" "$(grep '^checksum' "$OUT")"
  assert_eq "$name: exactly one stderr line" 1 "$(wc -l < "$ERR")"
  assert_file_contains "$name: the line names the directory" "$ERR" "$dir"
  info "$name: stderr: $(head -3 "$ERR")"
}

log "== nonexistent directory"
capture missing -- run_with_preload --budget 64MiB --nvme-dir "$TM_TMP/does-not-exist" -- "$P" 64
check_case missing "$TM_TMP/does-not-exist"

log "== a regular file instead of a directory"
touch "$TM_TMP/a-file"
capture notdir -- run_with_preload --budget 64MiB --nvme-dir "$TM_TMP/a-file" -- "$P" 64
check_case notdir "$TM_TMP/a-file"

log "== a directory the user cannot write (0500, run as nobody)"
if ((EUID == 0)) && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
  chmod 755 "$TM_TMP"
  mkdir "$TM_TMP/ro"
  chown nobody "$TM_TMP/ro" && chmod 0500 "$TM_TMP/ro"
  capture ro_plain -- setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups "$P" 64
  assert_status "as nobody without tiermem" 0 "$RC" "$ERR"
  capture readonly -- setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups \
    env LD_PRELOAD="$TIERMEM_PRELOAD" TIERMEM_DRAM_BUDGET=64MiB TIERMEM_NVME_DIR="$TM_TMP/ro" "$P" 64
  check_case readonly "$TM_TMP/ro"
else
  info "not root, or no setpriv / nobody user: unwritable-directory case not run"
fi

log "== the directory is removed while the program runs, then it forks"
mkdir "$TM_TMP/gone"
capture fork_control -- run_with_preload --budget 4MiB --nvme-dir "$TM_TMP/gone" -- "$F"
assert_status "fork_rmdir without removal (control)" 0 "$RC" "$ERR"
capture removed -- run_with_preload --budget 4MiB --nvme-dir "$TM_TMP/gone" -- "$F" "$TM_TMP/gone"
assert_file_contains "the program removed the directory" "$OUT" "rmdir: ok"
info "removed: $(grep -E 'bad words|result' "$OUT" | tr '\n' ' ')"
# A fork that cannot open new tier files must not leave parent and child
# mapping new extents MAP_SHARED from the same file at the same offsets.
assert_file_contains "parent and child do not share memory after the fork" "$OUT" "result: ok"
assert_status "fork_rmdir after removal" 0 "$RC" "$ERR"
assert_le "at most one stderr line per process (2)" 2 "$(wc -l < "$ERR")"
assert_file_contains "the fork's stderr line names the directory" "$ERR" "$TM_TMP/gone"

summary
