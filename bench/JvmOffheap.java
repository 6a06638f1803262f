// jvm_offheap: a Spark-Tungsten-like job for comparing tiered-memory systems
// under LD_PRELOAD. Rows live off the Java heap in pages from
// Unsafe.allocateMemory (Tungsten's MemoryBlock pages: malloc underneath),
// and a hash aggregation over skewed keys runs on several threads.
//
//   java -Xmx128m -cp DIR JvmOffheap --offheap-mib M [--threads T] [--pages-mib P] [--seed S]
//
// 1. Generate: each thread fills its share of M MiB of rows (key, value:
//    two longs) in pages of P MiB (default 4). Keys follow a power law over
//    2^20 distinct keys (key = floor(2^20 * u^4)): a few keys are very hot.
// 2. Aggregate: each thread scans its rows in order into its own open-
//    addressing hash table, also off-heap (per key: sum and count), like
//    Tungsten's UnsafeFixedWidthAggregationMap. Rows stream (cold, read
//    once), the table is hot.
// 3. Merge the threads' tables, then scan the rows a second time keeping
//    only keys whose count is above the median (a filter that needs pass 1's
//    result): the footprint is read twice.
//
// Prints generate_s, aggregate_s, compute_s (2 + 3), rows, distinct, and
// checksum: a hash of every (key, sum, count) and of pass 3's total, the same
// for every run with the same arguments (and thread count), so a lost or
// misplaced write shows. Exits 3 if an allocation fails.
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import sun.misc.Unsafe;

public final class JvmOffheap {
  static final Unsafe U = unsafe();
  static final int KEY_BITS = 20;
  static final int ROW_BYTES = 16;

  static Unsafe unsafe() {
    try {
      Field f = Unsafe.class.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      return (Unsafe) f.get(null);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  static long allocate(long bytes) {
    try {
      return U.allocateMemory(bytes);
    } catch (OutOfMemoryError e) {
      System.out.println("error=allocateMemory(" + bytes + ") failed: " + e.getMessage());
      System.exit(3);
      return 0;
    }
  }

  /** One thread's rows: a list of pages, each full except maybe the last. */
  static final class Rows {
    final List<long[]> pages = new ArrayList<>(); // {address, rows in page}
    long rows;
  }

  /** Off-heap open-addressing table: per slot key+1 (0 = empty), sum, count. */
  static final class Table {
    final long base;
    final long mask;
    Table(long capacity) {
      base = allocate(capacity * 24);
      U.setMemory(base, capacity * 24, (byte) 0);
      mask = capacity - 1;
    }
    static long mix(long k) {
      k *= 0x9E3779B97F4A7C15L;
      return k ^ (k >>> 29);
    }
    void add(long key, long value, long count) {
      long i = mix(key) & mask;
      for (;;) {
        long at = base + i * 24;
        long stored = U.getLong(at);
        if (stored == key + 1) {
          U.putLong(at + 8, U.getLong(at + 8) + value);
          U.putLong(at + 16, U.getLong(at + 16) + count);
          return;
        }
        if (stored == 0) {
          U.putLong(at, key + 1);
          U.putLong(at + 8, value);
          U.putLong(at + 16, count);
          return;
        }
        i = (i + 1) & mask;
      }
    }
    long count(long key) {
      long i = mix(key) & mask;
      for (;;) {
        long at = base + i * 24;
        long stored = U.getLong(at);
        if (stored == key + 1) return U.getLong(at + 16);
        if (stored == 0) return 0;
        i = (i + 1) & mask;
      }
    }
    void free() { U.freeMemory(base); }
  }

  static Rows generate(long rows, long pageBytes, long seed) {
    Rows r = new Rows();
    long x = seed * 0x2545F4914F6CDD1DL + 1;
    long rowsPerPage = pageBytes / ROW_BYTES;
    long left = rows;
    while (left > 0) {
      long n = Math.min(left, rowsPerPage);
      long page = allocate(n * ROW_BYTES);
      for (long i = 0; i < n; ++i) {
        x ^= x << 13;
        x ^= x >>> 7;
        x ^= x << 17;
        double u = (x >>> 11) * 0x1.0p-53;
        long key = (long) ((1L << KEY_BITS) * (u * u * u * u));
        long value = (x >>> 40) & 0xFFFF;
        U.putLong(page + i * ROW_BYTES, key);
        U.putLong(page + i * ROW_BYTES + 8, value);
      }
      r.pages.add(new long[] {page, n});
      r.rows += n;
      left -= n;
    }
    return r;
  }

  static void aggregate(Rows r, Table t) {
    for (long[] p : r.pages) {
      long page = p[0];
      for (long i = 0; i < p[1]; ++i) t.add(U.getLong(page + i * ROW_BYTES), U.getLong(page + i * ROW_BYTES + 8), 1);
    }
  }

  static long filteredSum(Rows r, Table merged, long minCount) {
    long total = 0;
    for (long[] p : r.pages) {
      long page = p[0];
      for (long i = 0; i < p[1]; ++i) {
        long key = U.getLong(page + i * ROW_BYTES);
        if (merged.count(key) > minCount) total += U.getLong(page + i * ROW_BYTES + 8) ^ key;
      }
    }
    return total;
  }

  interface Work {
    void run(int t) throws Exception;
  }

  static void parallel(int threads, Work w) throws Exception {
    Thread[] ts = new Thread[threads];
    Exception[] failed = new Exception[1];
    for (int t = 0; t < threads; ++t) {
      final int id = t;
      ts[t] = new Thread(() -> {
        try {
          w.run(id);
        } catch (Exception e) {
          synchronized (failed) { failed[0] = e; }
        }
      });
      ts[t].start();
    }
    for (Thread t : ts) t.join();
    if (failed[0] != null) throw failed[0];
  }

  public static void main(String[] args) throws Exception {
    long offheapMib = 1024, pagesMib = 4, seed = 42;
    int threads = 2;
    for (int i = 0; i < args.length; ++i) {
      switch (args[i]) {
        case "--offheap-mib": offheapMib = Long.parseLong(args[++i]); break;
        case "--threads": threads = Integer.parseInt(args[++i]); break;
        case "--pages-mib": pagesMib = Long.parseLong(args[++i]); break;
        case "--seed": seed = Long.parseLong(args[++i]); break;
        default:
          System.err.println("usage: JvmOffheap --offheap-mib M [--threads T] [--pages-mib P] [--seed S]");
          System.exit(2);
      }
    }
    final int n = threads;
    final long rowsPerThread = (offheapMib << 20) / ROW_BYTES / n;
    final long pageBytes = pagesMib << 20;
    final long baseSeed = seed;
    System.out.println("# jvm_offheap offheap_mib=" + offheapMib + " threads=" + n + " pages_mib=" + pagesMib);

    Rows[] rows = new Rows[n];
    long t0 = System.nanoTime();
    parallel(n, t -> rows[t] = generate(rowsPerThread, pageBytes, baseSeed + 1000003L * (t + 1)));
    long t1 = System.nanoTime();

    // Tables sized for every key: 2^21 slots of 24 bytes = 48 MiB each.
    Table[] tables = new Table[n];
    parallel(n, t -> {
      tables[t] = new Table(2L << KEY_BITS);
      aggregate(rows[t], tables[t]);
    });
    Table merged = new Table(2L << KEY_BITS);
    long distinct = 0;
    long[] counts = new long[1 << KEY_BITS];
    for (Table t : tables) {
      for (long i = 0; i <= t.mask; ++i) {
        long at = t.base + i * 24;
        long stored = U.getLong(at);
        if (stored != 0) merged.add(stored - 1, U.getLong(at + 8), U.getLong(at + 16));
      }
      t.free();
    }
    long checksum = 0xcbf29ce484222325L;
    for (long key = 0; key < (1L << KEY_BITS); ++key) {
      long c = merged.count(key);
      counts[(int) key] = c;
      if (c == 0) continue;
      ++distinct;
      long i = Table.mix(key) & merged.mask;
      while (U.getLong(merged.base + i * 24) != key + 1) i = (i + 1) & merged.mask;
      long sum = U.getLong(merged.base + i * 24 + 8);
      checksum = (checksum ^ Table.mix(key * 31 + sum * 17 + c)) * 0x100000001b3L;
    }
    long t2 = System.nanoTime();
    long[] sorted = Arrays.stream(counts).filter(c -> c > 0).sorted().toArray();
    final long median = sorted.length == 0 ? 0 : sorted[sorted.length / 2];
    long[] partial = new long[n];
    parallel(n, t -> partial[t] = filteredSum(rows[t], merged, median));
    long filtered = 0;
    for (long p : partial) filtered += p;
    checksum = (checksum ^ Table.mix(filtered)) * 0x100000001b3L;
    long t3 = System.nanoTime();

    long totalRows = 0;
    for (Rows r : rows) {
      totalRows += r.rows;
      for (long[] p : r.pages) U.freeMemory(p[0]);
    }
    merged.free();
    System.out.printf("generate_s=%.3f%n", (t1 - t0) / 1e9);
    System.out.printf("aggregate_s=%.3f%n", (t2 - t1) / 1e9);
    System.out.printf("filter_s=%.3f%n", (t3 - t2) / 1e9);
    System.out.printf("compute_s=%.3f%n", (t3 - t1) / 1e9);
    System.out.println("rows=" + totalRows);
    System.out.println("distinct=" + distinct);
    System.out.println("checksum=" + Long.toHexString(checksum));
  }
}
