#!/bin/bash
# A JVM program (compiled here with javac): 4 threads, each churning 16 MiB
# direct ByteBuffers (ByteBuffer.allocateDirect -> malloc, so the preload
# places them; 4 live per thread, 48 allocated, freed by GC/Cleaner under
# -XX:MaxDirectMemorySize), CRC32 over each, a FileChannel write and read
# back from direct buffers (syscalls on tiered memory), and heavy small-object
# GC pressure (HashMap of strings, sorting) in a 64 MiB Java heap. Prints
# per-thread checksums in a fixed order; output must be identical without and
# with the preload, and the direct buffers spill to the NVMe tier.
. "$(dirname "$0")/compat_lib.sh"
require_preload
require_cmd java javac

mkdir -p "$TM_TMP/src" "$TM_TMP/classes"
cat > "$TM_TMP/src/Compat.java" <<'JAVA'
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.*;
import java.util.*;
import java.util.zip.CRC32;

public class Compat {
  static final int BUF = 16 << 20, LIVE = 4, ROUNDS = 12, THREADS = 4;

  static long fill(ByteBuffer b, long seed) {
    long x = seed;
    b.clear();
    while (b.remaining() >= 8) { x ^= x << 13; x ^= x >>> 7; x ^= x << 17; b.putLong(x); }
    b.flip();
    return x;
  }
  static long crc(ByteBuffer b) { CRC32 c = new CRC32(); c.update(b.duplicate()); return c.getValue(); }

  static String work(int t, Path dir) throws Exception {
    long acc = 0;
    ArrayDeque<ByteBuffer> live = new ArrayDeque<>();
    for (int r = 0; r < ROUNDS; r++) {
      ByteBuffer b = ByteBuffer.allocateDirect(BUF);
      fill(b, 0x9E3779B97F4A7C15L * (t * 1000 + r + 1));
      acc = acc * 31 + crc(b);
      live.addLast(b);
      if (live.size() > LIVE) live.removeFirst();
      // GC pressure: short-lived small objects, a map, a sort.
      HashMap<String, Integer> m = new HashMap<>();
      for (int i = 0; i < 60000; i++) m.merge("k" + ((i * 7919 + r) % 20000), i, Integer::sum);
      String[] keys = m.keySet().toArray(new String[0]);
      Arrays.sort(keys);
      acc = acc * 31 + keys[keys.length / 2].hashCode() + m.get(keys[0]);
    }
    // every live buffer still holds its data
    for (ByteBuffer b : live) acc = acc * 31 + crc(b);
    // syscalls on direct (tiered) memory: write one out, read it back
    Path f = dir.resolve("t" + t + ".bin");
    ByteBuffer src = live.peekLast();
    try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ)) {
      ByteBuffer w = src.duplicate();
      while (w.hasRemaining()) ch.write(w);
      ByteBuffer back = ByteBuffer.allocateDirect(BUF);
      ch.position(0);
      while (back.hasRemaining() && ch.read(back) > 0) { }
      back.flip();
      if (!back.equals(src.duplicate())) return "thread " + t + " FILE-MISMATCH";
    }
    Files.delete(f);
    return String.format("thread %d checksum %016x", t, acc);
  }

  public static void main(String[] args) throws Exception {
    Path dir = Paths.get(args[0]);
    String[] out = new String[THREADS];
    Thread[] ts = new Thread[THREADS];
    for (int t = 0; t < THREADS; t++) {
      final int id = t;
      ts[t] = new Thread(() -> {
        try { out[id] = work(id, dir); } catch (Throwable e) { out[id] = "thread " + id + " ERROR " + e; }
      });
      ts[t].start();
    }
    for (Thread th : ts) th.join();
    boolean ok = true;
    for (String s : out) { System.out.println(s); ok &= s.contains("checksum"); }
    System.out.println(ok ? "ALL OK" : "FAILED");
    System.exit(ok ? 0 : 1);
  }
}
JAVA
javac -d "$TM_TMP/classes" "$TM_TMP/src/Compat.java" 2> "$TM_TMP/javac.err" || {
  cat "$TM_TMP/javac.err"; fail "javac failed"; compat_summary; }

JAVA_ARGS=(java -Xmx64m -Xms64m -XX:MaxDirectMemorySize=512m -XX:+UseParallelGC -Xshare:auto
           -cp "$TM_TMP/classes" Compat)
log "== $(java -version 2>&1 | head -n 1): threads, GC pressure, 16 MiB direct buffers"
mkdir -p "$TM_TMP/plain-dir" "$TM_TMP/tiered-dir"
without plain -- "${JAVA_ARGS[@]}" "$TM_TMP/plain-dir"
assert_status "JVM program without the preload" 0 "$RC" "$ERR"
assert_file_contains "plain run: every thread finished its checks" "$OUT" "ALL OK"

with tiered -- "${JAVA_ARGS[@]}" "$TM_TMP/tiered-dir"
assert_status "JVM program with the preload (budget $COMPAT_BUDGET)" 0 "$RC" "$ERR"
assert_files_eq "checksums: without vs with the preload" "$TM_TMP/plain.out" "$TM_TMP/tiered.out"
assert_eq "JVM stderr with the preload (hs_err, warnings)" "" "$(strip_tier_table "$ERR" | head -n 5)"
compat_tiers "$ERR" nvme

compat_summary
