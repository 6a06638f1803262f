// exec while extents move: a process that forks children which exec (every
// exec function of the C library in turn), and a chain of images that exec
// themselves from a side thread while other threads write the heap.
//
// Run under the preload with TIERMEM_FORCE_MOVES=1 the mover stops the
// world all the time, in the parent and in each forked child. A stop
// request queued to a thread just as it calls exec would survive into the
// new image, where its default action kills the process ("died of signal
// 61" in git's maintenance child): this program counts every child that
// does not exit 0.
//
//   exec_race ROUNDS CHAIN   fork ROUNDS children, then exec a chain of CHAIN images (none if 0)
//   exec_race --child        an exec'd child: allocates, checks, exits 0
//   exec_race --chain K      one image of the chain
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kBuffers = 12, kBufferBytes = 4 << 20 };

static unsigned char* g_buf[kBuffers];
static atomic_int g_stop;
static atomic_long g_errors;
static const char* g_self;
extern char** environ;

static uint64_t NowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void Fill(unsigned char* b, unsigned seed) {
  for (size_t i = 0; i < kBufferBytes; i += 512) b[i] = (unsigned char)(seed + i / 512);
}

static int Check(const unsigned char* b, unsigned seed) {
  for (size_t i = 0; i < kBufferBytes; i += 512) {
    if (b[i] != (unsigned char)(seed + i / 512)) return 0;
  }
  return 1;
}

static void Allocate(void) {
  for (int i = 0; i < kBuffers; ++i) {
    g_buf[i] = malloc(kBufferBytes);
    if (g_buf[i] == NULL) {
      perror("malloc");
      exit(3);
    }
    Fill(g_buf[i], (unsigned)i);
  }
}

// Keeps rewriting and checking half of the buffers (each writer its own).
static void* Writer(void* arg) {
  const int first = (int)(intptr_t)arg;
  unsigned round = 0;
  while (!atomic_load(&g_stop)) {
    for (int i = first; i < kBuffers; i += 2) {
      const unsigned seed = (unsigned)i + 100 * (round + 1);
      Fill(g_buf[i], seed);
      if (!Check(g_buf[i], seed)) atomic_fetch_add(&g_errors, 1);
    }
    ++round;
  }
  return NULL;
}

// Touches the buffers for `ms` milliseconds: time for the mover to stop
// this process a few times.
static int Busy(unsigned ms, unsigned seed) {
  const uint64_t end = NowMs() + ms;
  int ok = 1;
  do {
    for (int i = 0; i < kBuffers; ++i) {
      Fill(g_buf[i], seed + (unsigned)i);
      ok &= Check(g_buf[i], seed + (unsigned)i);
    }
  } while (NowMs() < end);
  return ok;
}

static void ExecChild(int variant) {
  char* const argv[] = {(char*)g_self, "--child", NULL};
  switch (variant % 8) {
    case 0: execve(g_self, argv, environ); break;
    case 1: execv(g_self, argv); break;
    case 2: execvp(g_self, argv); break;
    case 3: execvpe(g_self, argv, environ); break;
    case 4: execl(g_self, g_self, "--child", (char*)NULL); break;
    case 5: execle(g_self, g_self, "--child", (char*)NULL, environ); break;
    case 6: execlp(g_self, g_self, "--child", (char*)NULL); break;
    case 7: {
      const int fd = open(g_self, O_RDONLY);  // not O_CLOEXEC: fexecve of a script-free binary either way
      if (fd >= 0) fexecve(fd, argv, environ);
      break;
    }
  }
  fprintf(stderr, "exec_race: exec variant %d failed: %s\n", variant % 8, strerror(errno));
  _exit(126);
}

static const char* const kVariantNames[8] = {"execve", "execv", "execvp", "execvpe",
                                            "execl",  "execle", "execlp", "fexecve"};

static pthread_t g_writers[2];

static void StartWriters(void) {
  for (int w = 0; w < 2; ++w) pthread_create(&g_writers[w], NULL, Writer, (void*)(intptr_t)w);
}

static void StopWriters(void) {
  atomic_store(&g_stop, 1);
  for (int w = 0; w < 2; ++w) pthread_join(g_writers[w], NULL);
  atomic_store(&g_stop, 0);
}

// One image of the chain: threads write, then a side thread execs the next
// image while the writers still run.
static int g_chain_left;
static void* ExecNext(void* arg) {
  (void)arg;
  struct timespec pause = {0, (long)(20 + rand() % 60) * 1000000L};
  nanosleep(&pause, NULL);
  char next[16];
  snprintf(next, sizeof next, "%d", g_chain_left - 1);
  if (g_chain_left % 2) {
    execl(g_self, g_self, "--chain", next, (char*)NULL);
  } else {
    char* const argv[] = {(char*)g_self, "--chain", next, NULL};
    execve(g_self, argv, environ);
  }
  fprintf(stderr, "exec_race: chain exec failed: %s\n", strerror(errno));
  _exit(126);
}

static int Chain(int left) {
  Allocate();
  if (left == 0) {
    printf("exec_race: chain: last image reached, buffers %s\n", Busy(30, 7) ? "ok" : "MISMATCH");
    return 0;
  }
  g_chain_left = left;
  srand((unsigned)getpid());
  StartWriters();
  pthread_t t;
  pthread_create(&t, NULL, ExecNext, NULL);
  pthread_join(t, NULL);  // never returns: the image is replaced
  return 1;
}

int main(int argc, char** argv) {
  g_self = argv[0];
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc >= 2 && strcmp(argv[1], "--child") == 0) {
    Allocate();
    return Busy(10, 3) ? 0 : 4;
  }
  if (argc >= 3 && strcmp(argv[1], "--chain") == 0) return Chain(atoi(argv[2]));
  if (argc < 3 || g_self[0] != '/') {
    fprintf(stderr, "usage: /abs/path/exec_race ROUNDS CHAIN\n");
    return 2;
  }
  const int rounds = atoi(argv[1]);
  const int chain = atoi(argv[2]);
  Allocate();
  StartWriters();
  int failures = 0;
  srand(12345);
  for (int r = 0; r < rounds; ++r) {
    const unsigned busy_ms = (unsigned)(rand() % 120);
    const pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 3;
    }
    if (pid == 0) {
      if (!Busy(busy_ms, 50)) _exit(5);
      ExecChild(r);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
      printf("exec_race: round %d: child (%s after %u ms) died of signal %d\n", r, kVariantNames[r % 8], busy_ms,
             WTERMSIG(status));
      ++failures;
    } else if (WEXITSTATUS(status) != 0) {
      printf("exec_race: round %d: child (%s) exited %d\n", r, kVariantNames[r % 8], WEXITSTATUS(status));
      ++failures;
    }
  }
  StopWriters();
  printf("exec_race: %d fork+exec rounds, %d failures, writer errors %ld\n", rounds, failures,
         atomic_load(&g_errors));
  if (failures != 0 || atomic_load(&g_errors) != 0) return 1;
  if (chain == 0) return 0;
  // The chain starts from here, with the writers of this image running.
  StartWriters();
  g_chain_left = chain + 1;
  pthread_t t;
  pthread_create(&t, NULL, ExecNext, NULL);
  pthread_join(t, NULL);
  return 1;
}
