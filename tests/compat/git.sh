#!/bin/bash
# git on a generated repository (400 text files of 4-60 KB, 3 incompressible
# 12 MB files, two commits, a rename and edits), with fixed author, committer
# and dates so that every object id is deterministic: add, commit, gc
# (pack-objects, single-threaded so the pack is deterministic too), fsck
# --full, log --stat, ls-tree, cat-file of the big blobs, verify-pack,
# archive. The transcript must be identical without and with the preload.
# Each git command runs on its own under the preload (through `tiermem run`
# when the CLI is built, so every step reports where its large allocations
# went).
. "$(dirname "$0")/compat_lib.sh"
require_preload
require_cmd git perl sha256sum

# Deterministic content, generated once and copied into both repositories.
perl -e '
  my $dir = shift; mkdir "$dir/src"; mkdir "$dir/doc";
  my $x = 12345;
  sub rnd { $x = ($x * 1103515245 + 12345) % 2147483648; $x }
  for my $i (0 .. 399) {
    my $d = $i % 3 ? "src" : "doc";
    open my $f, ">", sprintf("%s/%s/file%03d.txt", $dir, $d, $i) or die;
    my $lines = 100 + rnd() % 1400;
    print $f join("", map { sprintf("line %d of %d: %08x %s\n", $_, $i, rnd(), "w" x (rnd() % 20)) } 1 .. $lines);
    close $f;
  }
  for my $b (0 .. 2) {
    open my $f, ">:raw", "$dir/big$b.bin" or die;
    my $seed = "big$b"; my $buf = "";
    for (1 .. 12 * 1024 * 1024 / 64) { $seed = pack("N*", map { rnd() } 1 .. 16); $buf .= $seed; }
    print $f $buf; close $f;
  }' "$TM_TMP" || { fail "content generator"; compat_summary; }
mkdir -p "$TM_TMP/seed" && mv "$TM_TMP/src" "$TM_TMP/doc" "$TM_TMP"/big*.bin "$TM_TMP/seed/"

export GIT_AUTHOR_NAME="Compat Author" GIT_AUTHOR_EMAIL=author@example.org
export GIT_COMMITTER_NAME="Compat Committer" GIT_COMMITTER_EMAIL=committer@example.org
export GIT_CONFIG_NOSYSTEM=1 HOME=$TM_TMP/home TZ=UTC LC_ALL=C
mkdir -p "$HOME"

# workload DIR RUNNER...: the git session; RUNNER prefixes every git command.
# stdout: the transcript ("[N: git ARGS]", the output through $F, "[-> RC]").
# Step N's own stdout and stderr are kept in DIR.steps/NN.out and NN.err.
workload() {
  local dir=$1; shift
  local run=("$@") n=0
  g() {
    local s rc; n=$((n + 1)); s=$dir.steps/$(printf %02d $n)
    echo "[$n: git $*]"
    "${run[@]}" git -C "$dir" -c pack.threads=1 -c gc.auto=0 "$@" > "$s.out" 2> "$s.err"; rc=$?
    eval "${F:-cat}" < "$s.out"
    echo "[-> $rc]"
  }
  mkdir -p "$dir.steps"
  cp -r "$TM_TMP/seed" "$dir"
  g init -q -b main
  g add -A
  GIT_AUTHOR_DATE="2024-01-01T10:00:00Z" GIT_COMMITTER_DATE="2024-01-01T10:00:00Z" g commit -q -m "first: generated tree"
  perl -pi -e 's/^line 7 /LINE 7 /' "$dir"/src/file00*.txt
  git -C "$dir" mv -k src/file001.txt doc/renamed001.txt 2> /dev/null
  printf 'appended\n' >> "$dir/big1.bin"
  g add -A
  GIT_AUTHOR_DATE="2024-01-02T10:00:00Z" GIT_COMMITTER_DATE="2024-01-02T10:00:00Z" g commit -q -m "second: edits, a rename, a grown blob"
  g rev-parse HEAD HEAD~1 'HEAD^{tree}'
  g gc -q --prune=now
  g fsck --full --strict --no-dangling
  F="grep -E '^(count|in-pack|packs|garbage)'" g count-objects -v
  g log --stat --format='%H %an <%ae> %ad %cn %cd %s' --date=iso-strict
  F=sha256sum g ls-tree -r -l HEAD
  g diff --stat -M HEAD~1 HEAD
  for b in big0 big1 big2; do F=sha256sum g cat-file blob "HEAD:$b.bin"; done
  F="grep -vE '^(non delta|chain length)' | awk '{ print \$1, \$2, \$3 }' | sort | sha256sum" \
    g verify-pack -v "$(cd "$dir" && ls .git/objects/pack/pack-*.idx)"
  F=sha256sum g archive --format=tar HEAD
}

log "== $(git --version): generated repository, commit, gc, fsck, log"
t0=$(_compat_now)
workload "$TM_TMP/plain" > "$TM_TMP/plain.out" 2> "$TM_TMP/plain.err"
compat_time without "$(awk -v a="$t0" -v b="$(_compat_now)" 'BEGIN { print b - a }')"
assert_eq "plain: all $(grep -c '^\[-> ' "$TM_TMP/plain.out") git steps exited 0" "" "$(grep '^\[-> [^0]' "$TM_TMP/plain.out")"
assert_match "plain: three commit/tree ids" '^([0-9a-f]{40} ){3}$' "$(grep -A3 'git rev-parse' "$TM_TMP/plain.out" | grep -E '^[0-9a-f]{40}$' | tr '\n' ' ')"
fsck_step=$(grep 'git fsck' "$TM_TMP/plain.out" | sed -E 's/^\[([0-9]+):.*/\1/')
assert_eq "plain: fsck --full --strict found nothing" "" "$(cat "$TM_TMP/plain.steps/$(printf %02d "$fsck_step")".{out,err})"
assert_file_contains "plain: gc left one pack" "$TM_TMP/plain.out" "packs: 1"

t0=$(_compat_now)
workload "$TM_TMP/tiered" preloaded > "$TM_TMP/tiered.out" 2> "$TM_TMP/tiered.err"
compat_time with "$(awk -v a="$t0" -v b="$(_compat_now)" 'BEGIN { print b - a }')"
assert_eq "preload: every git step exited 0" "" "$(grep '^\[-> [^0]' "$TM_TMP/tiered.out")"
assert_files_eq "git transcript (ids, fsck, log, pack, blobs): without vs with the preload" \
  "$TM_TMP/plain.out" "$TM_TMP/tiered.out"
for f in "$TM_TMP/tiered.steps"/[0-9][0-9].err; do
  strip_tier_table "$f" > "$f.own"; strip_tier_table "${f/tiered.steps/plain.steps}" > "$f.plain"
done
assert_eq "git stderr: without vs with the preload (all steps)" "$(cat "$TM_TMP/tiered.steps"/*.err.plain)" \
  "$(cat "$TM_TMP/tiered.steps"/*.err.own)"
# The step that placed the most allocations on the NVMe tier (with forced
# moves, that placed or moved the most).
best=; best_n=-1
for f in "$TM_TMP/tiered.steps"/[0-9][0-9].err; do
  if [[ ${COMPAT_FORCE_MOVES:-0} == 1 ]]; then n=$(compat_nvme_activity "$f"); else n=$(tier_table_value "$f" '^nvme' 'alloc'); fi
  n=${n:-0}
  ((n > best_n)) && { best=$f; best_n=$n; }
done
info "git step with the most NVMe placements: $(sed -n "s/^\[$((10#$(basename "$best" .err))): \(git [a-z-]*\).*/\1/p" "$TM_TMP/tiered.out")"
compat_tiers "$best" nvme

compat_summary
