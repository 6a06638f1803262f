/* torture: "nothing lost" torture test of tiermem_move (the migration engine).
 *
 * usage: torture [--seconds S] [--fork-every S] [--buffers N] [--buffer-mib M]
 *                [--min-moves N] [--seed N] [--allow-no-api] [--inject-corruption]
 *
 * Runs under the preload (LD_PRELOAD or `tiermem run`) and calls the API it
 * exports (tiermem_move, tiermem_tier_of, tiermem_tier_count,
 * tiermem_extent_size, tiermem_get_stats), looked up with
 * dlsym(RTLD_DEFAULT, ...), so the program is not linked with libtiermem.
 *
 * N malloc'ed buffers of M MiB (16 x 4 MiB by default: large enough to be in
 * the tiered heap) are rewritten, one generation at a time, by five writer
 * threads, each owning every fifth buffer:
 *   store   plain 64-bit stores (forward or backward)
 *   memcpy  memcpy of odd-sized chunks from a stack array or a heap staging
 *           buffer
 *   pipe    read() from a pipe a feeder thread fills (odd generations) and
 *           pread() from a file of known content (even generations)
 *   unix    recv()/recvmsg()/read() from an AF_UNIX socketpair (feeder)
 *   tcp     the same over a TCP loopback connection (socketpair if that fails)
 * Every word of generation g of buffer b is a function of (b, g, offset), so
 * a buffer is verified without a second copy. A writer holds the buffer's
 * mutex while it verifies the current generation and writes the next, and
 * records the last completed generation there.
 *
 * A mover thread calls tiermem_move() on random buffers (whole, one extent,
 * or an arbitrary sub-range; the feeders' and the memcpy writer's heap
 * staging buffers too) without pause, cycling the destination over every
 * tier and picking a buffer that is not on it. 0 is a move (counted by
 * direction, and tiermem_tier_of must then say the destination); EAGAIN,
 * EBUSY and ENOMEM mean "retry later" and are counted; ENOTSUP (file tiers
 * not supported by this build), EINVAL and anything else fail the run.
 *
 * Every --fork-every seconds the main thread takes every buffer mutex and
 * forks: the child sees each buffer at its recorded generation; it verifies
 * all of them, tries a few moves (0/EBUSY/EAGAIN/ENOMEM/ENOTSUP accepted),
 * overwrites every buffer with its own pattern (stores, memcpy, read() from
 * its own pipe), verifies again and exits 0 or 1. The parent checks the exit
 * status, then verifies all its buffers (the child's writes must not show).
 *
 * Any syscall into heap memory that fails with EFAULT is counted and the
 * data goes through a stack bounce buffer instead, so the run goes on;
 * EINTR is retried and counted.
 *
 * At the end the writers stop, every buffer is verified while the mover
 * still runs, the mover stops, and every buffer is verified again. Prints
 *   moves dram->nvme=A nvme->dram=B errors EAGAIN=.. EBUSY=.. ENOMEM=.. ENOTSUP=.. EINVAL=.. other=..
 *   efault=0
 *   forks=N children_ok=N
 *   verify=ok
 *   torture: OK            (or torture: FAIL: reasons)
 * and exits 0 only if nothing failed and both directions moved at least
 * --min-moves times. Progress goes to stderr once a second. Without the API
 * (not under the preload) it fails unless --allow-no-api (no mover then).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024ul * 1024ul)
#define MAXBUF 256
#define MAXT 8
#define CHUNK_MAX (256u * 1024u) /* largest memcpy / syscall chunk */
#define STAGING_SIZE (1 * MiB)
#define CHILD_BIT (1ull << 62)

enum { K_STORE, K_MEMCPY, K_PIPE, K_UNIX, K_TCP, NKINDS };
static const char *kind_name[NKINDS] = {"store", "memcpy", "pipe", "unix", "tcp"};

/* ---- the runtime's API, resolved at run time ---------------------------- */
typedef struct { /* prefix of tiermem_tier_stats (include/tiermem/tiermem.h) */
  char name[32];
  char kind[8];
  uint64_t rest[16];
} tm_stats;
static int (*tm_move)(void *, size_t, int);
static int (*tm_tier_of)(const void *);
static int (*tm_tier_count)(void);
static size_t (*tm_extent_size)(void);
static int (*tm_get_stats)(int, tm_stats *);

/* ---- options -------------------------------------------------------------- */
static double opt_seconds = 12, opt_fork_every = 3;
static int opt_buffers = 16, opt_buffer_mib = 4;
static unsigned long opt_min_moves = 1;
static uint64_t opt_seed = 1;
static int opt_allow_no_api, opt_inject;

/* ---- output: write(2) only, so the child and the threads can print ------- */
static char who[40] = "parent";
static void out(int fd, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  for (int off = 0; off < n;) {
    ssize_t w = write(fd, line + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += (int)w;
  }
}
#define say(...) out(1, __VA_ARGS__)
#define note(...) out(2, __VA_ARGS__)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
static inline uint64_t rnd(uint64_t *s) { return mix64((*s)++); }

/* ---- counters --------------------------------------------------------------- */
static atomic_ulong c_writes[NKINDS + 1]; /* [NKINDS] = pread generations */
static atomic_ulong c_efault, c_eintr;
static atomic_ulong c_move[MAXT][MAXT], c_noop;
/* moves made after the first forked child was reaped: EBUSY must not stick */
static atomic_ulong c_move_after[MAXT][MAXT];
static atomic_int child_reaped;
static atomic_ulong c_eagain, c_ebusy, c_enomem, c_enotsup, c_einval, c_eother, c_tier_wrong;
static atomic_ulong c_bad_words, c_bad_checks;
static atomic_int fatal;
static atomic_int stop_writers, stop_mover, stop_feeders;
static int forks, children_ok;

/* ---- buffers and their patterns ----------------------------------------- */
typedef struct {
  unsigned char *p;
  size_t size, words;
  pthread_mutex_t mu;
  uint64_t gen;       /* last completed generation (under mu) */
  uint64_t child_gen; /* the pattern the last forked child wrote (0: none) */
  int kind;
} tbuf;
static tbuf bufs[MAXBUF];
static int nbufs;
static size_t buf_words;

/* The file the pipe writer pread()s from: word j is mix64(FILE_SEED ^ j). */
#define FILE_SEED 0x5eed0f11e5eed0f1ull
static int file_fd = -1;
static size_t file_words;

typedef struct {
  int file;      /* 1: a window of the file's content */
  uint64_t key;  /* the pattern's key, or the window's first file word */
} pattern;

static int uses_file(int b, uint64_t g) {
  return bufs[b].kind == K_PIPE && !(g & CHILD_BIT) && g >= 2 && (g & 1) == 0;
}
static pattern pattern_of(int b, uint64_t g) {
  pattern pc;
  uint64_t k = mix64(mix64(opt_seed) ^ ((uint64_t)b << 40) ^ mix64(g));
  pc.file = uses_file(b, g);
  pc.key = pc.file ? k % (file_words - buf_words + 1) : k;
  return pc;
}
static inline uint64_t pattern_word(const pattern *pc, size_t i) {
  return pc->file ? mix64(FILE_SEED ^ (pc->key + i)) : mix64(pc->key ^ (i * 0xd6e8feb86659fd93ull));
}
/* Writes bytes [off, off+n) of the pattern to dst. */
static void pattern_bytes(const pattern *pc, size_t off, size_t n, unsigned char *dst) {
  size_t w = off / 8, skip = off % 8;
  while (n > 0) {
    uint64_t v = pattern_word(pc, w++);
    size_t take = 8 - skip < n ? 8 - skip : n;
    memcpy(dst, (unsigned char *)&v + skip, take);
    dst += take;
    n -= take;
    skip = 0;
  }
}

static int tier_of(const void *p) { return tm_tier_of ? tm_tier_of(p) : -1; }

/* Verifies buffer b against generation g; returns the number of bad words
 * and prints the first mismatch with what the bad data looks like. */
static size_t verify_buf(int b, uint64_t g, const char *what) {
  const tbuf *t = &bufs[b];
  pattern pc = pattern_of(b, g);
  const uint64_t *w = (const uint64_t *)t->p;
  size_t bad = 0, first = 0, last = 0;
  for (size_t i = 0; i < t->words; i++) {
    if (w[i] != pattern_word(&pc, i)) {
      if (bad++ == 0) first = i;
      last = i;
    }
  }
  if (bad) {
    uint64_t got = w[first], want = pattern_word(&pc, first);
    const char *looks = "garbage";
    if (got == 0) {
      looks = "zero (a lost page?)";
    } else if (g >= 1) {
      pattern prev = pattern_of(b, g - 1), next = pattern_of(b, g + 1);
      if (got == pattern_word(&prev, first)) looks = "the previous generation (a lost write)";
      else if (got == pattern_word(&next, first)) looks = "the next generation (?)";
    }
    if (t->child_gen && !(g & CHILD_BIT)) {
      pattern ch = pattern_of(b, t->child_gen);
      if (got == pattern_word(&ch, first)) looks = "the forked child's pattern (a write leaked across fork)";
    }
    say("%s: MISMATCH %s: buffer %d (%s) generation %" PRIu64 ": %zu of %zu words bad, "
        "offsets %zu..%zu; at %zu got %016" PRIx64 " want %016" PRIx64 ": looks like %s; "
        "tier_of(first bad)=%d\n",
        who, what, b, kind_name[t->kind], g & ~CHILD_BIT, bad, t->words, first * 8, last * 8 + 7,
        first * 8, got, want, looks, tier_of(t->p + first * 8));
    atomic_fetch_add(&c_bad_words, bad);
    atomic_fetch_add(&c_bad_checks, 1);
  }
  return bad;
}

/* ---- syscalls into heap memory -------------------------------------------- */
static void report_efault(const char *call, int b, const void *addr, size_t n) {
  unsigned long k = atomic_fetch_add(&c_efault, 1);
  if (k < 20)
    say("%s: EFAULT from %s into heap buffer %d at %p (+%zu bytes), tier_of=%d\n", who, call, b,
        addr, n, tier_of(addr));
}

/* read_fully OP FD DST N: reads exactly n bytes (op: 'r' read, 'v' recvmsg
 * with two iovecs, 'w' recv MSG_WAITALL, 'c' recv). Returns 0, or -1 on EOF
 * or an unexpected error (reported). */
static int read_fully(char op, int fd, unsigned char *dst, size_t n, int b, uint64_t *rs) {
  unsigned char bounce[CHUNK_MAX]; /* on the stack: large static TLS would starve the runtime thread */
  size_t done = 0;
  while (done < n) {
    size_t want = n - done;
    size_t cap = 1 + rnd(rs) % CHUNK_MAX;
    if (want > cap) want = cap;
    unsigned char *to = dst + done;
    ssize_t r;
    const char *call;
    switch (op) {
      case 'v': {
        size_t a = want / 2 + (want > 1 ? rnd(rs) % (want / 2) : 0);
        struct iovec iov[2] = {{to, a}, {to + a, want - a}};
        struct msghdr mh = {0};
        mh.msg_iov = iov;
        mh.msg_iovlen = 2;
        r = recvmsg(fd, &mh, 0);
        call = "recvmsg";
        break;
      }
      case 'w': r = recv(fd, to, want, MSG_WAITALL); call = "recv(MSG_WAITALL)"; break;
      case 'c': r = recv(fd, to, want, 0); call = "recv"; break;
      default: r = read(fd, to, want); call = "read"; break;
    }
    if (r > 0) {
      done += (size_t)r;
    } else if (r == 0) {
      if (!atomic_load(&stop_feeders)) say("%s: %s: unexpected EOF from the feeder\n", who, call);
      return -1;
    } else if (errno == EINTR) {
      atomic_fetch_add(&c_eintr, 1);
    } else if (errno == EFAULT) {
      report_efault(call, b, to, want);
      /* keep the stream in step: take the bytes through the bounce buffer */
      r = read(fd, bounce, want);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        say("%s: read(bounce) after EFAULT: %s\n", who, r < 0 ? strerror(errno) : "EOF");
        return -1;
      }
      memcpy(to, bounce, (size_t)r);
      done += (size_t)r;
    } else {
      say("%s: %s into heap buffer %d: %s\n", who, call, b, strerror(errno));
      return -1;
    }
  }
  return 0;
}

static int pread_fully(unsigned char *dst, size_t n, off_t off, int b, uint64_t *rs) {
  unsigned char bounce[CHUNK_MAX]; /* on the stack: large static TLS would starve the runtime thread */
  size_t done = 0;
  while (done < n) {
    size_t want = n - done, cap = 1 + rnd(rs) % CHUNK_MAX;
    if (want > cap) want = cap;
    ssize_t r = pread(file_fd, dst + done, want, off + (off_t)done);
    if (r > 0) {
      done += (size_t)r;
    } else if (r == 0) {
      say("%s: pread: unexpected end of file\n", who);
      return -1;
    } else if (errno == EINTR) {
      atomic_fetch_add(&c_eintr, 1);
    } else if (errno == EFAULT) {
      report_efault("pread", b, dst + done, want);
      r = pread(file_fd, bounce, want, off + (off_t)done);
      if (r <= 0) continue;
      memcpy(dst + done, bounce, (size_t)r);
      done += (size_t)r;
    } else {
      say("%s: pread into heap buffer %d: %s\n", who, b, strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* ---- writers and feeders ------------------------------------------------ */
typedef struct {
  int kind;
  int own[MAXBUF], nown;
  int rfd;            /* the writer's end (pipe read end / socket) */
  int wfd;            /* the feeder's end */
  unsigned char *staging; /* heap staging buffer (memcpy writer, feeders) */
  unsigned char *feed_staging;
  pthread_t th, feeder;
  int has_feeder;
} writer;
static writer writers[NKINDS];

/* The r-th write of a writer is generation r / nown + 2 of buffer own[r % nown]
 * (generation 1 is the initial fill); the feeder produces the same sequence. */
static void feed_sequence_step(const writer *w, uint64_t r, int *b, uint64_t *g) {
  *b = w->own[r % (uint64_t)w->nown];
  *g = r / (uint64_t)w->nown + 2;
}

static void *feeder_body(writer *w);
static void *feeder_main(void *arg) {
  writer *w = arg;
  feeder_body(w);
  close(w->wfd); /* a writer still reading sees EOF instead of blocking */
  return NULL;
}

static void *feeder_body(writer *w) {
  unsigned char bounce[CHUNK_MAX]; /* on the stack: large static TLS would starve the runtime thread */
  for (uint64_t r = 0; !atomic_load(&stop_feeders); r++) {
    int b;
    uint64_t g;
    feed_sequence_step(w, r, &b, &g);
    if (uses_file(b, g)) continue; /* the writer preads this one */
    pattern pc = pattern_of(b, g);
    for (size_t off = 0; off < bufs[b].size;) {
      size_t n = bufs[b].size - off;
      if (n > STAGING_SIZE) n = STAGING_SIZE;
      pattern_bytes(&pc, off, n, w->feed_staging); /* tiered heap memory: the mover moves it too */
      for (size_t s = 0; s < n;) {
        ssize_t x = w->kind == K_PIPE ? write(w->wfd, w->feed_staging + s, n - s)
                                      : send(w->wfd, w->feed_staging + s, n - s, MSG_NOSIGNAL);
        if (x > 0) {
          s += (size_t)x;
        } else if (x < 0 && errno == EINTR) {
          atomic_fetch_add(&c_eintr, 1);
        } else if (x < 0 && errno == EFAULT) {
          report_efault(w->kind == K_PIPE ? "write (feeder, from the heap)" : "send (feeder, from the heap)",
                        -1, w->feed_staging + s, n - s);
          size_t m = n - s < CHUNK_MAX ? n - s : CHUNK_MAX;
          pattern_bytes(&pc, off + s, m, bounce);
          size_t k = 0;
          while (k < m) {
            ssize_t y = write(w->wfd, bounce + k, m - k);
            if (y > 0) k += (size_t)y;
            else if (y < 0 && errno == EINTR) continue;
            else return NULL;
          }
          s += m;
        } else {
          if (!atomic_load(&stop_feeders)) {
            say("%s: feeder (%s): %s\n", who, kind_name[w->kind], x < 0 ? strerror(errno) : "wrote 0");
            atomic_store(&fatal, 1);
          }
          return NULL;
        }
      }
      off += n;
    }
  }
  return NULL;
}

static int write_generation(writer *w, int b, uint64_t g, uint64_t *rs) {
  tbuf *t = &bufs[b];
  pattern pc = pattern_of(b, g);
  switch (w->kind) {
    case K_STORE: {
      uint64_t *p = (uint64_t *)t->p;
      if (g & 1) {
        for (size_t i = 0; i < t->words; i++) p[i] = pattern_word(&pc, i);
      } else {
        for (size_t i = t->words; i-- > 0;) p[i] = pattern_word(&pc, i);
      }
      atomic_fetch_add(&c_writes[K_STORE], 1);
      return 0;
    }
    case K_MEMCPY: {
      unsigned char stack_src[CHUNK_MAX];
      for (size_t off = 0; off < t->size;) {
        size_t n = 1 + rnd(rs) % CHUNK_MAX;
        if (n > t->size - off) n = t->size - off;
        unsigned char *src = (rnd(rs) & 1) ? stack_src : w->staging + rnd(rs) % (STAGING_SIZE - CHUNK_MAX);
        pattern_bytes(&pc, off, n, src);
        memcpy(t->p + off, src, n);
        off += n;
      }
      atomic_fetch_add(&c_writes[K_MEMCPY], 1);
      return 0;
    }
    case K_PIPE:
      if (pc.file) {
        atomic_fetch_add(&c_writes[NKINDS], 1);
        return pread_fully(t->p, t->size, (off_t)(pc.key * 8), b, rs);
      }
      atomic_fetch_add(&c_writes[K_PIPE], 1);
      return read_fully('r', w->rfd, t->p, t->size, b, rs);
    default: {
      static const char ops[] = "cwvr";
      atomic_fetch_add(&c_writes[w->kind], 1);
      for (size_t off = 0; off < t->size;) {
        size_t n = 1 + rnd(rs) % (4 * CHUNK_MAX);
        if (n > t->size - off) n = t->size - off;
        if (read_fully(ops[rnd(rs) % 4], w->rfd, t->p + off, n, b, rs) != 0) return -1;
        off += n;
      }
      return 0;
    }
  }
}

static void *writer_main(void *arg) {
  writer *w = arg;
  uint64_t rs = mix64(opt_seed * 131 + (uint64_t)w->kind);
  for (uint64_t r = 0; !atomic_load(&stop_writers); r++) {
    int b;
    uint64_t g;
    feed_sequence_step(w, r, &b, &g);
    tbuf *t = &bufs[b];
    pthread_mutex_lock(&t->mu);
    if (t->gen + 1 != g) {
      say("%s: writer %s: buffer %d is at generation %" PRIu64 ", expected %" PRIu64 "\n", who,
          kind_name[w->kind], b, t->gen, g - 1);
      atomic_store(&fatal, 1);
      pthread_mutex_unlock(&t->mu);
      return NULL;
    }
    verify_buf(b, t->gen, "before the next write");
    int rc = write_generation(w, b, g, &rs);
    if (rc == 0) t->gen = g;
    pthread_mutex_unlock(&t->mu);
    if (rc != 0) {
      atomic_store(&fatal, 1);
      return NULL;
    }
  }
  return NULL;
}

/* ---- mover ---------------------------------------------------------------- */
typedef struct {
  unsigned char *p;
  size_t size;
} range;
static range targets[MAXBUF + 2 * NKINDS];
static int ntargets, ntiers, dram_tier = 0, nvme_tier = -1;
static size_t extent;

static void *mover_main(void *arg) {
  (void)arg;
  uint64_t rs = mix64(opt_seed * 7 + 3);
  for (uint64_t seq = 0; !atomic_load(&stop_mover); seq++) {
    int to = (int)(seq % (uint64_t)ntiers);
    range *t = &targets[rnd(&rs) % (uint64_t)ntargets];
    unsigned char *addr = t->p;
    size_t len = t->size;
    switch (rnd(&rs) % 4) {
      case 0: /* one extent's worth somewhere inside */
        addr = t->p + rnd(&rs) % t->size;
        len = 1 + rnd(&rs) % extent;
        break;
      case 1: { /* an arbitrary sub-range */
        size_t a = rnd(&rs) % t->size;
        addr = t->p + a;
        len = 1 + rnd(&rs) % (t->size - a);
        break;
      }
      default: break; /* the whole buffer */
    }
    if (addr + len > t->p + t->size) len = (size_t)(t->p + t->size - addr);
    int from = tier_of(addr);
    if (from == to) { /* look for one that is not there yet */
      for (int k = 0; k < 8 && from == to; k++) {
        t = &targets[rnd(&rs) % (uint64_t)ntargets];
        addr = t->p;
        len = t->size;
        from = tier_of(addr);
      }
    }
    int rc = tm_move(addr, len, to);
    int e = errno;
    if (rc == 0) {
      if (from == to || from < 0 || from >= MAXT) {
        atomic_fetch_add(&c_noop, 1);
      } else {
        atomic_fetch_add(&c_move[from][to], 1);
        if (atomic_load(&child_reaped)) atomic_fetch_add(&c_move_after[from][to], 1);
      }
      int now = tier_of(addr);
      if (now != to && atomic_fetch_add(&c_tier_wrong, 1) < 10)
        say("%s: FAIL: tiermem_move(%p, %zu, %d) returned 0 but tiermem_tier_of says tier %d\n", who,
            (void *)addr, len, to, now);
      continue;
    }
    switch (e) {
      case EAGAIN: atomic_fetch_add(&c_eagain, 1); break;
      case EBUSY: atomic_fetch_add(&c_ebusy, 1); break;
      case ENOMEM: atomic_fetch_add(&c_enomem, 1); break;
      case ENOTSUP:
        if (atomic_fetch_add(&c_enotsup, 1) == 0) {
          say("%s: FAIL: tiermem_move(%p, %zu, %d) from tier %d returned ENOTSUP: this build cannot "
              "move extents to or from a file tier (expected until the migration engine lands)\n",
              who, (void *)addr, len, to, from);
          note("torture: FAIL: tiermem_move returned ENOTSUP (file tiers not supported yet)\n");
        }
        break;
      case EINVAL:
        if (atomic_fetch_add(&c_einval, 1) < 10)
          say("%s: FAIL: tiermem_move(%p, %zu, %d) returned EINVAL\n", who, (void *)addr, len, to);
        break;
      default:
        if (atomic_fetch_add(&c_eother, 1) < 10)
          say("%s: FAIL: tiermem_move(%p, %zu, %d): unexpected errno %d (%s)\n", who, (void *)addr,
              len, to, e, strerror(e));
        break;
    }
  }
  return NULL;
}

static unsigned long moves_between(int a, int b) {
  return (a >= 0 && b >= 0 && a < MAXT && b < MAXT) ? atomic_load(&c_move[a][b]) : 0;
}
static unsigned long moves_after_fork(int a, int b) {
  return (a >= 0 && b >= 0 && a < MAXT && b < MAXT) ? atomic_load(&c_move_after[a][b]) : 0;
}

/* ---- fork ----------------------------------------------------------------- */
static int child_main(int forkno) {
  snprintf(who, sizeof who, "child%d", forkno);
  size_t bad = 0;
  for (int b = 0; b < nbufs; b++) bad += verify_buf(b, bufs[b].gen, "inherited at fork") != 0;
  int inherited_bad = (int)bad;

  /* a few moves in the child: its extents are copy-on-write with the parent */
  unsigned long m_ok = 0, m_busy = 0, m_retry = 0, m_notsup = 0, m_bad = 0;
  if (tm_move) {
    for (int b = forkno % 4; b < nbufs; b += 4) {
      int from = tier_of(bufs[b].p);
      int to = (from + 1) % ntiers;
      if (tm_move(bufs[b].p, bufs[b].size, to) == 0) m_ok++;
      else if (errno == EBUSY) m_busy++;
      else if (errno == EAGAIN || errno == ENOMEM) m_retry++;
      else if (errno == ENOTSUP) m_notsup++;
      else {
        say("%s: FAIL: tiermem_move in the child: %s\n", who, strerror(errno));
        m_bad++;
      }
    }
    for (int b = 0; b < nbufs; b++) bad += verify_buf(b, bufs[b].gen, "after the child's moves") != 0;
  }

  /* the child's own pattern: stores, memcpy, and read() from its own pipe */
  int pfd[2] = {-1, -1};
  if (pipe(pfd) != 0) {
    say("%s: pipe: %s\n", who, strerror(errno));
    return 1;
  }
  static unsigned char chunk[65536];
  uint64_t rs = mix64((uint64_t)forkno);
  for (int b = 0; b < nbufs; b++) {
    tbuf *t = &bufs[b];
    uint64_t cg = CHILD_BIT | ((uint64_t)forkno << 32) | (t->gen & 0xffffffffu);
    pattern pc = pattern_of(b, cg);
    switch (b % 3) {
      case 0:
        for (size_t i = 0; i < t->words; i++) ((uint64_t *)t->p)[i] = pattern_word(&pc, i);
        break;
      case 1:
        for (size_t off = 0; off < t->size; off += sizeof chunk) {
          size_t n = t->size - off < sizeof chunk ? t->size - off : sizeof chunk;
          pattern_bytes(&pc, off, n, chunk);
          memcpy(t->p + off, chunk, n);
        }
        break;
      default:
        for (size_t off = 0; off < t->size; off += sizeof chunk) {
          size_t n = t->size - off < sizeof chunk ? t->size - off : sizeof chunk;
          pattern_bytes(&pc, off, n, chunk);
          if (write(pfd[1], chunk, n) != (ssize_t)n) {
            say("%s: write(pipe): %s\n", who, strerror(errno));
            return 1;
          }
          if (read_fully('r', pfd[0], t->p + off, n, b, &rs) != 0) return 1;
        }
        break;
    }
    t->gen = cg;
  }
  for (int b = 0; b < nbufs; b++) bad += verify_buf(b, bufs[b].gen, "the child's own pattern") != 0;
  unsigned long ef = atomic_load(&c_efault);
  say("%s: pid %d: %d/%d buffers as inherited, moves ok=%lu EBUSY=%lu EAGAIN/ENOMEM=%lu "
      "ENOTSUP=%lu failed=%lu, own pattern written and verified: %s\n",
      who, (int)getpid(), nbufs - inherited_bad, nbufs, m_ok, m_busy, m_retry, m_notsup, m_bad,
      bad || m_bad || ef ? "FAIL" : "ok");
  return bad || m_bad || ef ? 1 : 0;
}

static pid_t child_pid = -1;
static double child_started;

static void do_fork(void) {
  for (int b = 0; b < nbufs; b++) pthread_mutex_lock(&bufs[b].mu);
  int forkno = forks + 1;
  pid_t pid = fork();
  if (pid == 0) _exit(child_main(forkno));
  for (int b = 0; b < nbufs; b++) {
    if (pid > 0)
      bufs[b].child_gen = CHILD_BIT | ((uint64_t)forkno << 32) | (bufs[b].gen & 0xffffffffu);
    pthread_mutex_unlock(&bufs[b].mu);
  }
  if (pid < 0) {
    say("parent: FAIL: fork: %s\n", strerror(errno));
    atomic_store(&fatal, 1);
    return;
  }
  forks = forkno;
  child_pid = pid;
  child_started = now_s();
}

/* After the child exited: every buffer as the parent left it. */
static void reap_child(int status) {
  int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (ok) children_ok++;
  size_t bad = 0;
  for (int b = 0; b < nbufs; b++) {
    pthread_mutex_lock(&bufs[b].mu);
    bad += verify_buf(b, bufs[b].gen, "parent after the child exited") != 0;
    pthread_mutex_unlock(&bufs[b].mu);
  }
  say("parent: fork %d: child %d %s %d; %d/%d parent buffers unaffected\n", forks, (int)child_pid,
      WIFEXITED(status) ? "exited" : "killed by signal",
      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), nbufs - (int)bad, nbufs);
  child_pid = -1;
  atomic_store(&child_reaped, 1);
}

static void poll_child(int block_up_to_s) {
  if (child_pid < 0) return;
  int status;
  for (;;) {
    pid_t r = waitpid(child_pid, &status, WNOHANG);
    if (r == child_pid) {
      reap_child(status);
      return;
    }
    if (r < 0 && errno != EINTR) {
      say("parent: FAIL: waitpid: %s\n", strerror(errno));
      child_pid = -1;
      return;
    }
    if (now_s() - child_started > 60) {
      say("parent: FAIL: child %d still running after 60 s: killing it\n", (int)child_pid);
      kill(child_pid, SIGKILL);
      child_started = now_s() + 1e9; /* reap it below */
      block_up_to_s = 1;
    }
    if (!block_up_to_s) return;
    usleep(20000);
  }
}

/* ---- set-up ------------------------------------------------------------- */
static int tcp_pair(int fds[2]) {
  int l = socket(AF_INET, SOCK_STREAM, 0), c = -1, a = -1;
  struct sockaddr_in sa = {0};
  socklen_t sl = sizeof sa;
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) || listen(l, 1) ||
      getsockname(l, (struct sockaddr *)&sa, &sl))
    goto fail;
  c = socket(AF_INET, SOCK_STREAM, 0);
  if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa)) goto fail;
  a = accept(l, NULL, NULL);
  if (a < 0) goto fail;
  close(l);
  fds[0] = a; /* reader */
  fds[1] = c; /* feeder */
  return 0;
fail:
  if (l >= 0) close(l);
  if (c >= 0) close(c);
  return -1;
}

static int make_file(void) {
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  int fd = open(dir, O_TMPFILE | O_RDWR, 0600);
  if (fd < 0) {
    char path[4096];
    snprintf(path, sizeof path, "%s/torture-file.XXXXXX", dir);
    fd = mkstemp(path);
    if (fd >= 0) unlink(path);
  }
  if (fd < 0) return -1;
  static uint64_t block[8192];
  for (size_t j = 0; j < file_words; j += 8192) {
    size_t n = file_words - j < 8192 ? file_words - j : 8192;
    for (size_t k = 0; k < n; k++) block[k] = mix64(FILE_SEED ^ (j + k));
    if (pwrite(fd, block, n * 8, (off_t)(j * 8)) != (ssize_t)(n * 8)) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--seconds S] [--fork-every S] [--buffers N] [--buffer-mib M]\n"
          "          [--min-moves N] [--seed N] [--allow-no-api] [--inject-corruption]\n",
          argv0);
  exit(2);
}

static void on_alarm(int sig) {
  (void)sig;
  out(1, "torture: FAIL: still running long after --seconds: deadlock? (writes %lu, moves %lu/%lu)\n",
      atomic_load(&c_writes[K_STORE]), moves_between(dram_tier, nvme_tier), moves_between(nvme_tier, dram_tier));
  _exit(3);
}

static void progress(double t) {
  unsigned long w = 0;
  for (int k = 0; k <= NKINDS; k++) w += atomic_load(&c_writes[k]);
  int on[MAXT + 1] = {0};
  for (int b = 0; b < nbufs; b++) {
    int t0 = tier_of(bufs[b].p);
    on[(t0 >= 0 && t0 < MAXT) ? t0 : MAXT]++;
  }
  note("torture: t=%.0fs writes=%lu moves dram->nvme=%lu nvme->dram=%lu EAGAIN=%lu EBUSY=%lu ENOMEM=%lu "
       "ENOTSUP=%lu efault=%lu eintr=%lu forks=%d children_ok=%d buffers on tier 0/1/other=%d/%d/%d%s\n",
       t, w, moves_between(dram_tier, nvme_tier), moves_between(nvme_tier, dram_tier),
       atomic_load(&c_eagain), atomic_load(&c_ebusy), atomic_load(&c_enomem), atomic_load(&c_enotsup),
       atomic_load(&c_efault), atomic_load(&c_eintr), forks, children_ok, on[0], on[1],
       nbufs - on[0] - on[1], atomic_load(&c_bad_checks) ? " MISMATCHES" : "");
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--allow-no-api")) { opt_allow_no_api = 1; continue; }
    if (!strcmp(a, "--inject-corruption")) { opt_inject = 1; continue; } /* checks the checker */
    if (!v) usage(argv[0]);
    if (!strcmp(a, "--seconds")) opt_seconds = atof(v);
    else if (!strcmp(a, "--fork-every")) opt_fork_every = atof(v);
    else if (!strcmp(a, "--buffers")) opt_buffers = atoi(v);
    else if (!strcmp(a, "--buffer-mib")) opt_buffer_mib = atoi(v);
    else if (!strcmp(a, "--min-moves")) opt_min_moves = strtoul(v, NULL, 10);
    else if (!strcmp(a, "--seed")) opt_seed = strtoull(v, NULL, 10);
    else usage(argv[0]);
    i++;
  }
  if (opt_seconds <= 0 || opt_buffers < NKINDS || opt_buffers > MAXBUF || opt_buffer_mib < 1 ||
      opt_buffer_mib > 1024)
    usage(argv[0]);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, on_alarm);
  alarm((unsigned)(opt_seconds + 240));

  tm_move = (int (*)(void *, size_t, int))dlsym(RTLD_DEFAULT, "tiermem_move");
  tm_tier_of = (int (*)(const void *))dlsym(RTLD_DEFAULT, "tiermem_tier_of");
  tm_tier_count = (int (*)(void))dlsym(RTLD_DEFAULT, "tiermem_tier_count");
  tm_extent_size = (size_t(*)(void))dlsym(RTLD_DEFAULT, "tiermem_extent_size");
  tm_get_stats = (int (*)(int, tm_stats *))dlsym(RTLD_DEFAULT, "tiermem_get_stats");
  int have_api = tm_move && tm_tier_of && tm_tier_count && tm_extent_size;
  if (!have_api) {
    tm_move = NULL;
    tm_tier_of = NULL;
    if (!opt_allow_no_api) {
      say("torture: FAIL: the tiermem API (tiermem_move, tiermem_tier_of, tiermem_tier_count, "
          "tiermem_extent_size) is not visible: run under the preload, or pass --allow-no-api\n");
      return 2;
    }
  }
  ntiers = have_api ? tm_tier_count() : 1;
  extent = have_api ? tm_extent_size() : 2 * MiB;
  if (ntiers > MAXT) ntiers = MAXT;
  char tiers_desc[256] = "";
  for (int t = 0; t < ntiers; t++) {
    tm_stats st;
    memset(&st, 0, sizeof st);
    if (tm_get_stats && tm_get_stats(t, &st) == 0) {
      st.name[sizeof st.name - 1] = st.kind[sizeof st.kind - 1] = 0;
      if (nvme_tier < 0 && !strcmp(st.kind, "nvme")) nvme_tier = t;
    } else {
      snprintf(st.name, sizeof st.name, "?");
    }
    size_t l = strlen(tiers_desc);
    snprintf(tiers_desc + l, sizeof tiers_desc - l, "%s%d %s (%s)", t ? ", " : "", t, st.name, st.kind);
  }
  if (nvme_tier < 0 && ntiers > 1) nvme_tier = ntiers - 1;

  /* buffers: generation 1 is the initial fill */
  nbufs = opt_buffers;
  size_t size = (size_t)opt_buffer_mib * MiB;
  buf_words = size / 8;
  file_words = 2 * buf_words;
  for (int b = 0; b < nbufs; b++) {
    tbuf *t = &bufs[b];
    t->p = malloc(size);
    if (!t->p) {
      say("torture: FAIL: malloc(%zu) #%d: %s\n", size, b, strerror(errno));
      return 1;
    }
    t->size = size;
    t->words = buf_words;
    t->kind = b % NKINDS;
    t->gen = 1;
    pthread_mutex_init(&t->mu, NULL);
    pattern pc = pattern_of(b, 1);
    for (size_t i = 0; i < t->words; i++) ((uint64_t *)t->p)[i] = pattern_word(&pc, i);
    targets[ntargets++] = (range){t->p, t->size};
  }
  file_fd = make_file();
  if (file_fd < 0) {
    say("torture: FAIL: cannot create the pread file under $TMPDIR or /tmp: %s\n", strerror(errno));
    return 1;
  }

  const char *tcp_note = "tcp loopback";
  for (int k = 0; k < NKINDS; k++) {
    writer *w = &writers[k];
    w->kind = k;
    for (int b = k; b < nbufs; b += NKINDS) w->own[w->nown++] = b;
    int fds[2];
    if (k == K_MEMCPY) {
      w->staging = malloc(STAGING_SIZE);
      if (!w->staging) return 1;
      targets[ntargets++] = (range){w->staging, STAGING_SIZE};
    }
    if (k == K_PIPE || k == K_UNIX || k == K_TCP) {
      if (k == K_PIPE) {
        if (pipe(fds) != 0) { perror("pipe"); return 1; }
        fcntl(fds[0], F_SETPIPE_SZ, (int)MiB); /* fewer switches; fine if refused */
        w->rfd = fds[0];
        w->wfd = fds[1];
      } else if (k == K_TCP && tcp_pair(fds) == 0) {
        int one = 1;
        setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        w->rfd = fds[0];
        w->wfd = fds[1];
      } else {
        if (k == K_TCP) tcp_note = "tcp loopback unavailable: a second socketpair";
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) { perror("socketpair"); return 1; }
        w->rfd = fds[0];
        w->wfd = fds[1];
      }
      w->feed_staging = malloc(STAGING_SIZE);
      if (!w->feed_staging) return 1;
      targets[ntargets++] = (range){w->feed_staging, STAGING_SIZE};
      w->has_feeder = 1;
    }
  }

  int on0 = 0;
  for (int b = 0; b < nbufs; b++) on0 += tier_of(bufs[b].p) == 0;
  say("torture: %d buffers x %d MiB (%d MiB), 5 writers (store, memcpy, pipe+pread, unix recv, %s), "
      "%d tiers: %s; extent %zu KiB; %d buffers start on tier 0; %.0f s, fork every %.1f s%s\n",
      nbufs, opt_buffer_mib, nbufs * opt_buffer_mib, tcp_note, ntiers, tiers_desc, extent / 1024, on0,
      opt_seconds, opt_fork_every, have_api ? "" : "; NO API: no mover");
  if (have_api && ntiers < 2) say("torture: FAIL: only %d tier: nothing to move between (give an NVMe dir)\n", ntiers);
  if (have_api && tier_of(bufs[0].p) < 0)
    say("torture: FAIL: the buffers are not in the tiered heap (tiermem_tier_of = -1)\n");

  for (int k = 0; k < NKINDS; k++) {
    writer *w = &writers[k];
    if (w->has_feeder) pthread_create(&w->feeder, NULL, feeder_main, w);
    pthread_create(&w->th, NULL, writer_main, w);
  }
  pthread_t mover;
  int have_mover = have_api && ntiers >= 2;
  if (have_mover) pthread_create(&mover, NULL, mover_main, NULL);

  double t0 = now_s(), next_fork = t0 + opt_fork_every, next_note = t0 + 1;
  for (;;) {
    double t = now_s();
    if (t - t0 >= opt_seconds || atomic_load(&fatal)) break;
    poll_child(0);
    if (child_pid < 0 && t >= next_fork && opt_fork_every > 0) {
      do_fork();
      next_fork = now_s() + opt_fork_every;
    }
    if (opt_inject == 1 && t - t0 >= opt_seconds / 2) {
      /* flip one word behind the writer's back: the run must fail */
      tbuf *v = &bufs[K_STORE];
      pthread_mutex_lock(&v->mu);
      ((uint64_t *)v->p)[v->words / 2 + 1] ^= 1ull << 17;
      pthread_mutex_unlock(&v->mu);
      say("torture: injected a corruption into buffer %d (--inject-corruption)\n", K_STORE);
      opt_inject = 2;
    }
    if (t >= next_note) {
      progress(t - t0);
      next_note += 1;
    }
    usleep(20000);
  }
  poll_child(1);

  /* stop the writers, verify while the mover still runs, stop it, verify again */
  atomic_store(&stop_writers, 1);
  for (int k = 0; k < NKINDS; k++) pthread_join(writers[k].th, NULL);
  atomic_store(&stop_feeders, 1);
  for (int k = 0; k < NKINDS; k++) {
    if (!writers[k].has_feeder) continue;
    shutdown(writers[k].rfd, SHUT_RDWR); /* wakes a feeder blocked in send */
    close(writers[k].rfd); /* a feeder blocked in write() on the pipe gets EPIPE */
    pthread_join(writers[k].feeder, NULL);
  }
  size_t bad_bufs = 0;
  for (int b = 0; b < nbufs; b++) bad_bufs += verify_buf(b, bufs[b].gen, "final, mover running") != 0;
  atomic_store(&stop_mover, 1);
  if (have_mover) pthread_join(mover, NULL);
  for (int b = 0; b < nbufs; b++) bad_bufs += verify_buf(b, bufs[b].gen, "final, all quiet") != 0;
  progress(now_s() - t0);

  /* results */
  unsigned long d2n = moves_between(dram_tier, nvme_tier), n2d = moves_between(nvme_tier, dram_tier);
  say("writes store=%lu memcpy=%lu pipe=%lu pread=%lu unix=%lu tcp=%lu\n", atomic_load(&c_writes[K_STORE]),
      atomic_load(&c_writes[K_MEMCPY]), atomic_load(&c_writes[K_PIPE]), atomic_load(&c_writes[NKINDS]),
      atomic_load(&c_writes[K_UNIX]), atomic_load(&c_writes[K_TCP]));
  char matrix[512] = "";
  for (int a = 0; a < ntiers; a++)
    for (int b = 0; b < ntiers; b++)
      if (a != b) {
        size_t l = strlen(matrix);
        snprintf(matrix + l, sizeof matrix - l, " %d->%d=%lu", a, b, moves_between(a, b));
      }
  say("moves by tier:%s noop=%lu tier_of_wrong_after_move=%lu\n", matrix, atomic_load(&c_noop),
      atomic_load(&c_tier_wrong));
  say("moves dram->nvme=%lu nvme->dram=%lu errors EAGAIN=%lu EBUSY=%lu ENOMEM=%lu ENOTSUP=%lu EINVAL=%lu "
      "other=%lu\n",
      d2n, n2d, atomic_load(&c_eagain), atomic_load(&c_ebusy), atomic_load(&c_enomem),
      atomic_load(&c_enotsup), atomic_load(&c_einval), atomic_load(&c_eother));
  say("moves after the first child exited: dram->nvme=%lu nvme->dram=%lu\n",
      moves_after_fork(dram_tier, nvme_tier), moves_after_fork(nvme_tier, dram_tier));
  say("eintr=%lu\n", atomic_load(&c_eintr));
  say("efault=%lu\n", atomic_load(&c_efault));
  say("forks=%d children_ok=%d\n", forks, children_ok);
  unsigned long checks_bad = atomic_load(&c_bad_checks);
  if (checks_bad == 0) say("verify=ok\n");
  else say("verify=FAILED (%lu checks failed, %lu bad words; %zu buffers bad at the end)\n", checks_bad,
           atomic_load(&c_bad_words), bad_bufs);

  char why[1024] = "";
#define WHY(cond, ...)                                            \
  do {                                                            \
    if (cond) {                                                   \
      size_t l_ = strlen(why);                                    \
      if (l_) snprintf(why + l_, sizeof why - l_, "; "), l_ += 2; \
      snprintf(why + l_, sizeof why - l_, __VA_ARGS__);           \
    }                                                             \
  } while (0)
  WHY(atomic_load(&c_enotsup), "tiermem_move returned ENOTSUP %lu times (file tiers not supported by this build)",
      atomic_load(&c_enotsup));
  WHY(checks_bad, "data mismatches (see MISMATCH lines)");
  WHY(atomic_load(&c_efault), "%lu EFAULTs", atomic_load(&c_efault));
  WHY(forks != children_ok, "%d of %d children failed", forks - children_ok, forks);
  WHY(atomic_load(&fatal), "a writer, feeder or fork failed (see above)");
  WHY(atomic_load(&c_einval) || atomic_load(&c_eother), "unexpected tiermem_move errors");
  WHY(atomic_load(&c_tier_wrong), "tiermem_tier_of disagreed with a successful move");
  WHY(have_api && ntiers < 2, "fewer than 2 tiers");
  WHY(!have_api && !opt_allow_no_api, "no API");
  WHY(have_mover && d2n < opt_min_moves, "only %lu dram->nvme moves (want >= %lu)", d2n, opt_min_moves);
  WHY(have_mover && n2d < opt_min_moves, "only %lu nvme->dram moves (want >= %lu)", n2d, opt_min_moves);
  if (why[0]) {
    say("torture: FAIL: %s\n", why);
    return 1;
  }
  say("torture: OK\n");
  for (int b = 0; b < nbufs; b++) free(bufs[b].p);
  return 0;
}
