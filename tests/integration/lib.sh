# Shared helpers for tiermem integration tests. Source it from a test script:
#
#   . "$(dirname "$0")/lib.sh"
#   require_preload
#   capture plain -- "$(prog spill_budget)" 64
#   run_with_preload --budget 64MiB -- ...
#   assert_eq "checksum" "$a" "$b"
#   summary
#
# ctest sets TIERMEM_BUILD, TIERMEM_SOURCE, TIERMEM_PRELOAD, TIERMEM_CLI and
# TIERMEM_PROGS (tests/CMakeLists.txt). Run by hand, they default to the
# source tree this file is in and its build/ directory.
#
# Exit codes: 0 all assertions passed, 1 one failed, 77 skipped (ctest's
# SKIP_RETURN_CODE). A test that makes no assertion at all fails.

# ctest registers every tests/integration/*.sh, this file too: run directly,
# it is not a test.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  echo "SKIP: lib.sh is the helper library of the integration tests, not a test"
  exit 77
fi

set -u -o pipefail

TM_TEST_NAME=$(basename "${0%.sh}")
TIERMEM_SOURCE=${TIERMEM_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TIERMEM_BUILD=${TIERMEM_BUILD:-$TIERMEM_SOURCE/build}
TIERMEM_PRELOAD=${TIERMEM_PRELOAD:-$TIERMEM_BUILD/preload/libtiermem-preload.so}
TIERMEM_PROGS=${TIERMEM_PROGS:-$TIERMEM_BUILD/tests/progs}
if [[ -z ${TIERMEM_CLI:-} ]]; then
  for c in "$TIERMEM_BUILD/tools/tiermem" "$TIERMEM_BUILD/tiermem" "$TIERMEM_BUILD/bin/tiermem"; do
    [[ -x $c ]] && { TIERMEM_CLI=$c; break; }
  done
  TIERMEM_CLI=${TIERMEM_CLI:-$TIERMEM_BUILD/tools/tiermem}
fi
PYTHON=${PYTHON:-/usr/bin/python3}

TM_PASS=0
TM_FAIL=0
TM_CLEANUPS=()

# ---- temp dir, per-test NVMe dir, cleanup --------------------------------
TM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tiermem-it-$TM_TEST_NAME.XXXXXX") || {
  echo "FATAL: cannot create a temp dir under ${TMPDIR:-/tmp}" >&2; exit 1; }
TM_NVME=$TM_TMP/nvme
mkdir -p "$TM_NVME"

# on_exit CMD...: run CMD (a single string, eval'd) when the test exits.
# Hooks run last-registered first, then the temp dir is removed.
on_exit() { TM_CLEANUPS+=("$1"); }

_tm_cleanup() {
  local i
  for ((i = ${#TM_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${TM_CLEANUPS[i]}" || true
  done
  if [[ -n ${TM_KEEP_TMP:-} ]]; then
    echo "note: keeping $TM_TMP (TM_KEEP_TMP set)" >&2
  else
    rm -rf "$TM_TMP"
  fi
}
trap _tm_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- reporting -------------------------------------------------------------
log()  { printf '%s\n' "$*"; }
info() { printf '  .. %s\n' "$*"; }
pass() { TM_PASS=$((TM_PASS + 1)); printf 'PASS: %s\n' "$*"; }
fail() { TM_FAIL=$((TM_FAIL + 1)); printf 'FAIL: %s\n' "$*"; }

# skip MESSAGE: the test cannot run here (missing tool, no root, ...).
skip() { printf 'SKIP: %s: %s\n' "$TM_TEST_NAME" "$*"; exit 77; }

# summary: print the counts, exit 0 only if something passed and nothing failed.
summary() {
  printf '%s: %d passed, %d failed\n' "$TM_TEST_NAME" "$TM_PASS" "$TM_FAIL"
  if ((TM_FAIL > 0)); then exit 1; fi
  if ((TM_PASS == 0)); then echo "FAIL: no assertion was made"; exit 1; fi
  exit 0
}

# Show the head of a file indented, for failure context.
show_file() { # LABEL FILE [LINES]
  local n=${3:-20}
  printf '  --- %s (%s, first %d lines) ---\n' "$1" "$2" "$n"
  if [[ -s $2 ]]; then head -n "$n" "$2" | sed 's/^/  | /'; else echo "  | (empty)"; fi
}

# ---- assertions (each counts one pass or one fail) -----------------------
assert_eq() { # DESC EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then pass "$1 (= '$3')"
  else fail "$1: expected '$2', got '$3'"; fi
}
assert_ne() { # DESC UNEXPECTED ACTUAL
  if [[ "$2" != "$3" ]]; then pass "$1 ('$3' != '$2')"
  else fail "$1: got '$3', which it must not be"; fi
}
assert_match() { # DESC ERE STRING
  if [[ "$3" =~ $2 ]]; then pass "$1"
  else fail "$1: '$3' does not match /$2/"; fi
}
assert_ge() { # DESC MIN ACTUAL (integers)
  if [[ "$3" =~ ^-?[0-9]+$ ]] && (( $3 >= $2 )); then pass "$1 ($3 >= $2)"
  else fail "$1: expected >= $2, got '$3'"; fi
}
assert_le() { # DESC MAX ACTUAL (integers)
  if [[ "$3" =~ ^-?[0-9]+$ ]] && (( $3 <= $2 )); then pass "$1 ($3 <= $2)"
  else fail "$1: expected <= $2, got '$3'"; fi
}
assert_status() { # DESC EXPECTED_RC ACTUAL_RC [STDERR_FILE]
  if [[ "$2" == "$3" ]]; then pass "$1 (exit $3)"
  else
    fail "$1: expected exit $2, got $3$( (($3 > 128)) && echo " (signal $(( $3 - 128 )): $(kill -l $(( $3 - 128 )) 2>/dev/null))")"
    [[ -n ${4:-} ]] && show_file stderr "$4"
  fi
}
assert_files_eq() { # DESC FILE_EXPECTED FILE_ACTUAL
  if cmp -s "$2" "$3"; then pass "$1 (identical, $(wc -l < "$3") lines, sha256 $(sha256sum < "$3" | cut -c1-16))"
  else
    fail "$1: $2 and $3 differ"
    diff -u "$2" "$3" | head -n 30 | sed 's/^/  | /'
  fi
}
assert_file_contains() { # DESC FILE FIXED_STRING
  if grep -qF -- "$3" "$2"; then pass "$1"
  else fail "$1: '$3' not found in $2"; show_file "$(basename "$2")" "$2"; fi
}
assert_file_lacks() { # DESC FILE FIXED_STRING
  if ! grep -qF -- "$3" "$2"; then pass "$1"
  else fail "$1: '$3' found in $2"; grep -nF -- "$3" "$2" | head -5 | sed 's/^/  | /'; fi
}

# ---- running programs -----------------------------------------------------
# capture NAME [--env K=V]... -- CMD...: run CMD with stdout to $TM_TMP/NAME.out,
# stderr to $TM_TMP/NAME.err; sets RC (and returns 0 so callers can assert).
# Also sets OUT and ERR to the file paths and ELAPSED to whole seconds.
capture() {
  local name=$1; shift
  local envs=()
  while [[ $# -gt 0 && $1 != -- ]]; do
    case $1 in --env) envs+=("$2"); shift 2 ;; *) echo "capture: bad arg $1" >&2; return 2 ;; esac
  done
  shift # --
  OUT=$TM_TMP/$name.out ERR=$TM_TMP/$name.err
  local t0=$SECONDS
  (
    for kv in ${envs[@]+"${envs[@]}"}; do export "${kv?}"; done
    "$@" # may be a function such as run_with_preload
  ) > "$OUT" 2> "$ERR"
  RC=$?
  ELAPSED=$((SECONDS - t0))
  info "$name: exit $RC in ${ELAPSED}s: $*"
  return 0
}

# run_with_preload [--budget SIZE] [--nvme-dir DIR] [--policy FILE] [--env K=V]... -- CMD...
# Runs CMD with LD_PRELOAD=$TIERMEM_PRELOAD and the runtime's env vars.
# The NVMe dir defaults to this test's private $TM_NVME. Returns CMD's status.
run_with_preload() {
  local envs=("LD_PRELOAD=$TIERMEM_PRELOAD" "TIERMEM_NVME_DIR=$TM_NVME")
  while [[ $# -gt 0 && $1 != -- ]]; do
    case $1 in
      --budget) envs+=("TIERMEM_DRAM_BUDGET=$2"); shift 2 ;;
      --nvme-dir) envs+=("TIERMEM_NVME_DIR=$2"); shift 2 ;;
      --policy) envs+=("TIERMEM_POLICY=$2"); shift 2 ;;
      --env) envs+=("$2"); shift 2 ;;
      *) echo "run_with_preload: bad arg $1" >&2; return 2 ;;
    esac
  done
  shift # --
  env "${envs[@]}" "$@"
}

# tiermem_run ARGS...: the CLI (`tiermem run ARGS...`).
tiermem_run() { "$TIERMEM_CLI" run "$@"; }

# ---- requirements (skip with one line when missing) -----------------------
require_preload() {
  [[ -f $TIERMEM_PRELOAD ]] || skip "preload library not built: $TIERMEM_PRELOAD"
}
require_cli() {
  [[ -x $TIERMEM_CLI ]] || skip "tiermem CLI not built: $TIERMEM_CLI"
}
require_cmd() { # CMD...
  local c
  for c in "$@"; do command -v "$c" > /dev/null 2>&1 || skip "'$c' not installed"; done
}
require_python_modules() { # MODULE...
  [[ -x $PYTHON ]] || skip "$PYTHON not found"
  local m
  for m in "$@"; do
    "$PYTHON" -c "import $m" 2> /dev/null || skip "python module '$m' not available for $PYTHON"
  done
}

# prog NAME: path of a helper program built from tests/integration/progs/NAME.c.
# ctest builds them into $TIERMEM_PROGS; when run by hand without a build,
# they are compiled into the temp dir. Skips if neither works.
prog() {
  local name=$1 p=$TIERMEM_PROGS/$1
  if [[ -x $p ]]; then echo "$p"; return; fi
  p=$TM_TMP/progs/$name
  if [[ ! -x $p ]]; then
    local src=$TIERMEM_SOURCE/tests/integration/progs/$name.c
    mkdir -p "$TM_TMP/progs"
    gcc -Wall -Wextra -O2 -pthread -o "$p" "$src" -ldl > "$TM_TMP/progs/$name.log" 2>&1 || {
      cat "$TM_TMP/progs/$name.log" >&2; skip "helper program $name not built and gcc failed"; }
  fi
  echo "$p"
}

# ---- sizes and tier tables -------------------------------------------------
# to_bytes 64MiB|1.5GiB|4096|512K -> integer bytes
to_bytes() {
  awk -v s="$1" 'BEGIN {
    if (!match(s, /^[0-9.]+/)) { print -1; exit }
    n = substr(s, 1, RLENGTH); u = tolower(substr(s, RLENGTH + 1)); gsub(/ /, "", u)
    m = 1
    if (u ~ /^k/) m = 1024; else if (u ~ /^m/) m = 1024^2
    else if (u ~ /^g/) m = 1024^3; else if (u ~ /^t/) m = 1024^4
    else if (u != "" && u != "b") { print -1; exit }
    printf "%.0f\n", n * m }'
}
mib() { echo $(( $1 / 1048576 ))MiB; }

# tier_table_value FILE ROW_RE COLUMN_RE
# Reads the per-tier table `tiermem run` prints on stderr (a header line that
# starts with "tier", then one row per tier) and prints the cell of the first
# row whose first field matches ROW_RE (e.g. nvme) in the column whose header
# matches COLUMN_RE (e.g. alloc), converted to an integer (sizes
# such as 1.5GiB become bytes). The cell is the row's token that overlaps the
# header's character span, so left- or right-aligned columns and multi-word
# headers ("spills in") both work. Prints nothing if not found.
tier_table_value() {
  awk -v rowre="$2" -v colre="$3" '
    function tobytes(s,   n, u, m) {
      if (!match(s, /^[0-9.]+/)) return ""
      n = substr(s, 1, RLENGTH); u = tolower(substr(s, RLENGTH + 1))
      m = 1
      if (u ~ /^k/) m = 1024; else if (u ~ /^m/) m = 1024^2
      else if (u ~ /^g/) m = 1024^3; else if (u ~ /^t/) m = 1024^4
      return sprintf("%.0f", n * m)
    }
    !hdr && tolower($1) == "tier" && NF >= 4 && match(tolower($0), colre) {
      hdr = 1; h = tolower($0); hs = RSTART
      # widen to the whole header word(s) around the match
      he = RSTART + RLENGTH - 1
      # (words joined by single spaces are one header: "spills in")
      while (hs > 1 && (substr(h, hs - 1, 1) !~ /[ |]/ ||
             (hs > 2 && substr(h, hs - 1, 1) == " " && substr(h, hs - 2, 1) !~ /[ |]/))) hs--
      while (he < length(h) && (substr(h, he + 1, 1) !~ /[ |]/ ||
             (substr(h, he + 1, 1) == " " && substr(h, he + 2, 1) !~ /[ |]/ && he + 2 <= length(h)))) he++
      next
    }
    hdr && !done && $1 ~ rowre {
      # tokens with their columns; "1.5 GiB" (number, space, unit) is one token
      line = $0; pos = 1; n = 0
      while (match(substr(line, pos), /[^ |]+/)) {
        ts = pos + RSTART - 1; te = ts + RLENGTH - 1; tok = substr(line, ts, RLENGTH)
        if (n > 0 && tok ~ /^[KMGTPEkmgtpe]?i?[Bb]$/ && t[n] ~ /^[0-9.]+$/ && ts == e[n] + 2) {
          t[n] = t[n] tok; e[n] = te
        } else { n++; t[n] = tok; b[n] = ts; e[n] = te }
        pos = te + 1
      }
      for (i = 1; i <= n; i++)
        if (e[i] >= hs && b[i] <= he) { print tobytes(t[i]); break }
      done = 1
    }' < <(expand "$1")
}

# cgroup helpers live in cgroup_oom.sh (the only user).
