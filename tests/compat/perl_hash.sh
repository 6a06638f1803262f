#!/bin/bash
# perl, hash-heavy: a hash of 600,000 keys (its bucket array and the
# strings built from it are large allocations), sorted key lists, big string
# joins and a split of a 15+ MB string, each summarised by an MD5. Output must
# be identical without and with the preload; with PERL_HASH_SEED fixed, hash
# order is deterministic too.
. "$(dirname "$0")/compat_lib.sh"
require_preload
require_cmd perl
perl -MDigest::MD5 -e 1 2> /dev/null || skip "perl module Digest::MD5 missing"

cat > "$TM_TMP/hash.pl" <<'PL'
use strict; use warnings; use Digest::MD5 qw(md5_hex);
my $n = 600_000; my %h; my $x = 42;
for my $i (1 .. $n) { $x = ($x * 1103515245 + 12345) % 2147483648; $h{"key:$x:$i"} = $i * 3 + ($x & 7); }
print "keys ", scalar(keys %h), "\n";
my @k = sort keys %h;
print "sorted ", md5_hex(join("\n", @k)), " first $k[0] last $k[-1]\n";
my $sum = 0; $sum += $h{$_} for @k; print "sum $sum\n";
my $big = join(",", map { "$_=$h{$_}" } @k);
print "join ", length($big), " ", md5_hex($big), "\n";
my @parts = split /,/, $big; print "split ", scalar(@parts), " ", md5_hex($parts[377_777]), "\n";
delete $h{$_} for @k[0 .. $#k / 2];
print "after delete ", scalar(keys %h), " ", md5_hex(join("", sort values %h)), "\n";
my %inv; $inv{$h{$_} % 100_003} .= "$_;" for keys %h;
print "inverted ", scalar(keys %inv), " ", md5_hex(join("|", map { "$_:" . length($inv{$_}) } sort { $a <=> $b } keys %inv)), "\n";
my $rep = "abcdefgh" x 4_000_000; substr($rep, 1_000_000, 8) = "ZZZZZZZZ";
print "repeat ", length($rep), " ", md5_hex($rep), "\n";
PL

log "== $(perl -e 'print "perl $^V"'): hash of 600k keys, joins, split"
without plain --env PERL_HASH_SEED=0 --env PERL_PERTURB_KEYS=0 -- perl "$TM_TMP/hash.pl"
assert_status "perl without the preload" 0 "$RC" "$ERR"
assert_file_contains "plain run built the whole hash" "$OUT" "keys 600000"
assert_eq "plain run printed every line" 8 "$(wc -l < "$OUT")"

with tiered --env PERL_HASH_SEED=0 --env PERL_PERTURB_KEYS=0 -- perl "$TM_TMP/hash.pl"
assert_status "perl with the preload (budget $COMPAT_BUDGET)" 0 "$RC" "$ERR"
assert_files_eq "digests: without vs with the preload" "$TM_TMP/plain.out" "$TM_TMP/tiered.out"
compat_tiers "$ERR" nvme

compat_summary
