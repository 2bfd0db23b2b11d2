/* make bench: every mapipc operation next to the raw code a careful C
 * programmer would write, in the same run, alternating, each repetition in
 * a fresh child process (so each side's peak RSS is its own).
 *
 * Usage: bench SCRATCH_DIR CSV_OUT SVG_OUT [quick]
 * Prints one table; writes the rows to CSV_OUT and a chart of the ratios to
 * SVG_OUT. ratio = mapipc cost / baseline cost: below 1, mapipc is faster. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "mapipc.h"

extern char **environ;

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)
#define PMD (2 * MIB)

static int reps = 7;
static int quick;
static long page;
static char big_file[4096], file_4k[4096], file_1m[4096], file_sync[4096], key_file[4096];
static char copy_dst[4096];

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void must(mapipc_status s, const char *what) {
    if (s != MAPIPC_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, mapipc_status_name(s), mapipc_last_error());
        exit(2);
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void touch_pages(volatile char *p, size_t len) {
    for (size_t i = 0; i < len; i += (size_t)page) p[i] = (char)i;
}

/* ---- 1. file map cycles ------------------------------------------------ */

struct cycle { const char *path; size_t len; int iters; };

static double file_cycle_mapipc(void *arg) {
    struct cycle *c = arg;
    double t0 = 0;
    for (int i = -10; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *p;
        must(mapipc_map_file(c->path, 0, c->len, MAPIPC_READ | MAPIPC_WRITE, (void **)&p), "map");
        touch_pages(p, c->len);
        must(mapipc_unmap(p), "unmap");
    }
    return (now() - t0) / c->iters * 1e6;
}

/* Raw: open, fstat (to check the size, as careful code must), mmap,
 * touch, munmap, close. `hint` controls placement: NULL lets the kernel
 * choose; otherwise a 2 MiB-aligned address that the previous iteration
 * freed, so the kernel takes it and the mapping lies in one 2 MiB block. */
static double raw_cycle(struct cycle *c, void *hint) {
    double t0 = 0;
    for (int i = -10; i < c->iters; i++) {
        if (i == 0) t0 = now();
        int fd = open(c->path, O_RDWR | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || (size_t)st.st_size < c->len) die("open/fstat");
        char *p = mmap(hint, c->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) die("mmap");
        touch_pages(p, c->len);
        if (munmap(p, c->len) != 0 || close(fd) != 0) die("munmap/close");
    }
    return (now() - t0) / c->iters * 1e6;
}

static double file_cycle_raw(void *arg) { return raw_cycle(arg, NULL); }

static void *aligned_hint(size_t len) {
    char *r = mmap(NULL, len + PMD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) die("reserve");
    char *a = (char *)(((uintptr_t)r + PMD - 1) & ~(uintptr_t)(PMD - 1));
    munmap(r, len + PMD);
    return a;
}

static double file_cycle_raw_placed(void *arg) {
    struct cycle *c = arg;
    return raw_cycle(c, aligned_hint(c->len));
}

/* ---- 2. anonymous shared cycles ---------------------------------------- */

static double anon_mapipc(void *arg) {
    struct cycle *c = arg;
    double t0 = 0;
    for (int i = -2; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *p;
        must(mapipc_map_anonymous(c->len, MAPIPC_READ | MAPIPC_WRITE, (void **)&p), "map anon");
        touch_pages(p, c->len);
        must(mapipc_unmap(p), "unmap");
    }
    return (now() - t0) / c->iters * 1e6;
}

static double anon_raw(void *arg) {
    struct cycle *c = arg;
    double t0 = 0;
    for (int i = -2; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *p = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) die("mmap anon");
        touch_pages(p, c->len);
        if (munmap(p, c->len) != 0) die("munmap");
    }
    return (now() - t0) / c->iters * 1e6;
}

/* ---- 3. sync of one dirty page ----------------------------------------- */

static double sync_mapipc(void *arg) {
    struct cycle *c = arg;
    char *p;
    must(mapipc_map_file(file_sync, 0, (size_t)page, MAPIPC_READ | MAPIPC_WRITE, (void **)&p), "map");
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        p[0]++;
        must(mapipc_sync(p, (size_t)page, MAPIPC_SYNC_BLOCKING), "sync");
    }
    double t = (now() - t0) / c->iters * 1e6;
    must(mapipc_unmap(p), "unmap");
    return t;
}

static double sync_raw(void *arg) {
    struct cycle *c = arg;
    int fd = open(file_sync, O_RDWR | O_CLOEXEC);
    char *p = fd < 0 ? MAP_FAILED : mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    close(fd);
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        p[0]++;
        if (msync(p, (size_t)page, MS_SYNC) != 0) die("msync");
    }
    double t = (now() - t0) / c->iters * 1e6;
    munmap(p, (size_t)page);
    return t;
}

/* ---- 4. shared memory cycles ------------------------------------------- */

static double sysv_mapipc(void *arg) {
    struct cycle *c = arg;
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *p;
        must(mapipc_shm_open_key(key_file, 1, c->len, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&p), "shm key");
        touch_pages(p, c->len);
        must(mapipc_shm_remove_region(p), "remove");
        must(mapipc_unmap(p), "detach");
    }
    return (now() - t0) / c->iters * 1e6;
}

static double sysv_raw(void *arg) {
    struct cycle *c = arg;
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        key_t key = ftok(key_file, 2);
        int id = key == -1 ? -1 : shmget(key, c->len, IPC_CREAT | 0600);
        char *p = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
        if (p == (char *)-1) die("shmget/shmat");
        touch_pages(p, c->len);
        if (shmdt(p) != 0 || shmctl(id, IPC_RMID, NULL) != 0) die("shmdt/shmctl");
    }
    return (now() - t0) / c->iters * 1e6;
}

static double posix_mapipc(void *arg) {
    struct cycle *c = arg;
    char name[64];
    snprintf(name, sizeof name, "/mapipc-bench-%d", (int)getpid());
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *p;
        must(mapipc_shm_open_name(name, c->len, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&p), "shm name");
        touch_pages(p, c->len);
        must(mapipc_unmap(p), "unmap");
        must(mapipc_shm_unlink_name(name), "unlink");
    }
    return (now() - t0) / c->iters * 1e6;
}

static double posix_raw(void *arg) {
    struct cycle *c = arg;
    char name[64];
    snprintf(name, sizeof name, "/mapipc-bench-raw-%d", (int)getpid());
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)c->len) != 0) die("shm_open/ftruncate");
        char *p = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) die("mmap");
        close(fd);
        touch_pages(p, c->len);
        if (munmap(p, c->len) != 0 || shm_unlink(name) != 0) die("munmap/shm_unlink");
    }
    return (now() - t0) / c->iters * 1e6;
}

/* ---- 5. copying a large file ------------------------------------------- */

static size_t big_len;

static double gbps(double seconds, size_t bytes) { return (double)bytes / seconds / 1e9; }

/* The lab's exercise 1: mapped read, mapped write. */
static double copy_mapped_both(void *arg) {
    (void)arg;
    unlink(copy_dst);
    double t0 = now();
    char *src, *dst;
    size_t len;
    must(mapipc_map_file(big_file, 0, 0, MAPIPC_READ, (void **)&src), "map src");
    must(mapipc_region_size(src, &len), "size");
    must(mapipc_advise(src, 0, MAPIPC_ADVICE_POPULATE_READ), "advise src");
    must(mapipc_map_file(copy_dst, 0, len, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&dst), "map dst");
    must(mapipc_advise(dst, 0, MAPIPC_ADVICE_POPULATE_WRITE), "advise dst");
    memcpy(dst, src, len);
    must(mapipc_unmap(dst), "unmap dst");
    must(mapipc_unmap(src), "unmap src");
    double t = now() - t0;
    unlink(copy_dst);
    return gbps(t, len);
}

/* The lab's exercise 2: mapped read, write(2). */
static double copy_mapped_write(void *arg) {
    (void)arg;
    unlink(copy_dst);
    double t0 = now();
    char *src;
    size_t len;
    must(mapipc_map_file(big_file, 0, 0, MAPIPC_READ, (void **)&src), "map src");
    must(mapipc_region_size(src, &len), "size");
    must(mapipc_advise(src, 0, MAPIPC_ADVICE_POPULATE_READ), "advise src");
    int fd = open(copy_dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die("open dst");
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, src + done, len - done > 64 * MIB ? 64 * MIB : len - done);
        if (n <= 0) die("write");
        done += (size_t)n;
    }
    close(fd);
    must(mapipc_unmap(src), "unmap src");
    double t = now() - t0;
    unlink(copy_dst);
    return gbps(t, len);
}

static double copy_read_write(void *arg) {
    (void)arg;
    unlink(copy_dst);
    static char buf[128 * 1024];
    double t0 = now();
    int in = open(big_file, O_RDONLY | O_CLOEXEC);
    int out = open(copy_dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0) die("open");
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) die("write");
    close(in);
    close(out);
    double t = now() - t0;
    unlink(copy_dst);
    return gbps(t, big_len);
}

static double copy_cfr(void *arg) {
    (void)arg;
    unlink(copy_dst);
    double t0 = now();
    int in = open(big_file, O_RDONLY | O_CLOEXEC);
    int out = open(copy_dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0) die("open");
    for (size_t done = 0; done < big_len;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, big_len - done, 0);
        if (n <= 0) die("copy_file_range");
        done += (size_t)n;
    }
    close(in);
    close(out);
    double t = now() - t0;
    unlink(copy_dst);
    return gbps(t, big_len);
}

static double copy_cp(void *arg) {
    (void)arg;
    unlink(copy_dst);
    char *argv[] = {"cp", big_file, copy_dst, NULL};
    double t0 = now();
    pid_t pid;
    if (posix_spawnp(&pid, "cp", NULL, NULL, argv, environ) != 0) die("spawn cp");
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("cp");
    double t = now() - t0;
    unlink(copy_dst);
    return gbps(t, big_len);
}

/* ---- 6. sequential checksum -------------------------------------------- */

/* Four independent chains keep several loads in flight on either side. */
static uint64_t sum_words(const uint64_t *w, size_t n) {
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 3 < n; i += 4) {
        a += w[i];
        b ^= w[i + 1];
        c += w[i + 2];
        d ^= w[i + 3];
    }
    return a + b + c + d;
}

static volatile uint64_t sink;

/* arg: the advice to give, or NULL for none. Map, advise, sum, unmap. */
static double checksum_mapped(void *arg) {
    double t0 = now();
    uint64_t *p;
    size_t len;
    must(mapipc_map_file(big_file, 0, 0, MAPIPC_READ, (void **)&p), "map");
    must(mapipc_region_size(p, &len), "size");
    if (arg) must(mapipc_advise(p, 0, *(const uint32_t *)arg), "advise");
    sink = sum_words(p, len / 8);
    must(mapipc_unmap(p), "unmap");
    return gbps(now() - t0, len);
}

/* A second pass over a mapping that stays: the page tables are already
 * there, so only the reading is timed (against a second read loop). */
static double checksum_mapped_again(void *arg) {
    (void)arg;
    uint64_t *p;
    size_t len;
    must(mapipc_map_file(big_file, 0, 0, MAPIPC_READ, (void **)&p), "map");
    must(mapipc_region_size(p, &len), "size");
    sink = sum_words(p, len / 8);
    double t0 = now();
    sink = sum_words(p, len / 8);
    double t = now() - t0;
    must(mapipc_unmap(p), "unmap");
    return gbps(t, len);
}

static double checksum_read(void *arg) {
    (void)arg;
    static uint64_t buf[128 * 1024 / 8];
    double t0 = now();
    int fd = open(big_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open");
    uint64_t s = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) s += sum_words(buf, (size_t)n / 8);
    close(fd);
    sink = s;
    return gbps(now() - t0, big_len);
}

/* ---- 7. passing data between two processes ----------------------------- */

/* A single-producer single-consumer ring in shared memory. Waiting spins
 * (with a pause), then yields: blocking costs as much as a pipe. */
struct ring {
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) _Atomic uint64_t tail;
    _Alignas(64) _Atomic uint64_t ping;
    _Alignas(64) _Atomic uint64_t pong;
    _Alignas(64) char slots[];
};

static inline void relax(unsigned *spins) {
    if (++*spins < 2000) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        sched_yield();
    }
}

struct ipc { size_t msg; size_t count; size_t slots; };

static size_t ring_bytes(struct ipc *c) { return sizeof(struct ring) + c->slots * c->msg; }

static double ipc_ring(void *arg) {
    struct ipc *c = arg;
    struct ring *r;
    must(mapipc_map_anonymous(ring_bytes(c), MAPIPC_READ | MAPIPC_WRITE, (void **)&r), "ring");
    char *msg = malloc(c->msg);
    memset(msg, 'm', c->msg);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) { /* consumer */
        char *in = malloc(c->msg);
        for (uint64_t t = 0; t < c->count; t++) {
            unsigned spins = 0;
            while (atomic_load_explicit(&r->head, memory_order_acquire) == t) relax(&spins);
            memcpy(in, r->slots + (t % c->slots) * c->msg, c->msg);
            atomic_store_explicit(&r->tail, t + 1, memory_order_release);
        }
        _exit(in[c->msg - 1] == 'm' ? 0 : 1);
    }
    double t0 = now();
    for (uint64_t h = 0; h < c->count; h++) {
        unsigned spins = 0;
        while (h - atomic_load_explicit(&r->tail, memory_order_acquire) >= c->slots) relax(&spins);
        memcpy(r->slots + (h % c->slots) * c->msg, msg, c->msg);
        atomic_store_explicit(&r->head, h + 1, memory_order_release);
    }
    int st;
    waitpid(pid, &st, 0);
    double t = now() - t0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("consumer");
    free(msg);
    must(mapipc_unmap(r), "unmap ring");
    return gbps(t, c->msg * c->count);
}

static int full_write(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int full_read(int fd, char *p, size_t n) {
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static double ipc_stream(struct ipc *c, int use_socket) {
    int fds[2];
    if (use_socket ? socketpair(AF_UNIX, SOCK_STREAM, 0, fds) : pipe(fds)) die("pipe");
    char *msg = malloc(c->msg);
    memset(msg, 'm', c->msg);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(fds[1]);
        char *in = malloc(c->msg);
        for (size_t i = 0; i < c->count; i++)
            if (full_read(fds[0], in, c->msg) != 0) _exit(1);
        _exit(0);
    }
    close(fds[0]);
    double t0 = now();
    for (size_t i = 0; i < c->count; i++)
        if (full_write(fds[1], msg, c->msg) != 0) die("write");
    close(fds[1]);
    int st;
    waitpid(pid, &st, 0);
    double t = now() - t0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("reader");
    free(msg);
    return gbps(t, c->msg * c->count);
}

static double ipc_pipe(void *arg) { return ipc_stream(arg, 0); }
static double ipc_socket(void *arg) { return ipc_stream(arg, 1); }

/* Round trip of a 64-byte message. */
static double rtt_ring(void *arg) {
    struct ipc *c = arg;
    struct ring *r;
    must(mapipc_map_anonymous(sizeof(struct ring) + 2 * 64, MAPIPC_READ | MAPIPC_WRITE, (void **)&r), "ring");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        char in[64];
        for (uint64_t i = 1; i <= c->count; i++) {
            unsigned spins = 0;
            while (atomic_load_explicit(&r->ping, memory_order_acquire) != i) relax(&spins);
            memcpy(in, r->slots, 64);
            memcpy(r->slots + 64, in, 64);
            atomic_store_explicit(&r->pong, i, memory_order_release);
        }
        _exit(0);
    }
    char msg[64] = "ping";
    double t0 = now();
    for (uint64_t i = 1; i <= c->count; i++) {
        memcpy(r->slots, msg, 64);
        atomic_store_explicit(&r->ping, i, memory_order_release);
        unsigned spins = 0;
        while (atomic_load_explicit(&r->pong, memory_order_acquire) != i) relax(&spins);
        memcpy(msg, r->slots + 64, 64);
    }
    double t = now() - t0;
    waitpid(pid, NULL, 0);
    must(mapipc_unmap(r), "unmap ring");
    return t / (double)c->count * 1e6;
}

static double rtt_stream(struct ipc *c, int use_socket) {
    int a[2], b[2];
    if (use_socket) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, a)) die("socketpair");
        b[0] = a[1]; b[1] = a[0];
    } else if (pipe(a) || pipe(b)) {
        die("pipe");
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        char in[64];
        for (size_t i = 0; i < c->count; i++)
            if (full_read(a[0], in, 64) || full_write(b[1], in, 64)) _exit(1);
        _exit(0);
    }
    char msg[64] = "ping";
    double t0 = now();
    for (size_t i = 0; i < c->count; i++)
        if (full_write(a[1], msg, 64) || full_read(b[0], msg, 64)) die("rtt");
    double t = now() - t0;
    waitpid(pid, NULL, 0);
    return t / (double)c->count * 1e6;
}

static double rtt_pipe(void *arg) { return rtt_stream(arg, 0); }
static double rtt_socket(void *arg) { return rtt_stream(arg, 1); }

/* ---- the harness ------------------------------------------------------- */

/* Runs one side in a fresh child; returns its value, stores its peak RSS. */
static double in_child(double (*fn)(void *), void *arg, long *rss_kb) {
    int p[2];
    if (pipe(p)) die("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(p[0]);
        double v = fn(arg);
        if (write(p[1], &v, sizeof v) != sizeof v) _exit(3);
        _exit(0);
    }
    close(p[1]);
    double v = -1;
    if (read(p[0], &v, sizeof v) != sizeof v) v = -1;
    close(p[0]);
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "benchmark child failed\n");
        exit(2);
    }
    if (ru.ru_maxrss > *rss_kb) *rss_kb = ru.ru_maxrss;
    return v;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct row {
    char op[80], base[48], unit[8];
    double m[3], b[3]; /* median, min, max */
    long m_rss, b_rss;
    double ratio;
};

static struct row rows[32];
static int nrows;

static void stats(double *v, int n, double out[3]) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    out[0] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    out[1] = v[0];
    out[2] = v[n - 1];
}

static void print_row(const struct row *r) {
    printf("%-38s %9.3g (%7.3g-%-7.3g) %-17s %9.3g (%7.3g-%-7.3g) %6.3f %-5s %6ld/%-6ld\n", r->op, r->m[0],
           r->m[1], r->m[2], r->base, r->b[0], r->b[1], r->b[2], r->ratio, r->unit, r->m_rss / 1024,
           r->b_rss / 1024);
    fflush(stdout);
}

/* higher_better: the unit is a rate (GB/s); otherwise a time (us). */
static void compare(const char *op, const char *unit, int higher_better, double (*m)(void *),
                    const char *base, double (*b)(void *), void *arg) {
    double mv[32], bv[32];
    struct row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->base, sizeof r->base, "%s", base);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    for (int i = 0; i < reps; i++) { /* alternate which side goes first */
        if (i % 2 == 0) {
            mv[i] = in_child(m, arg, &r->m_rss);
            bv[i] = in_child(b, arg, &r->b_rss);
        } else {
            bv[i] = in_child(b, arg, &r->b_rss);
            mv[i] = in_child(m, arg, &r->m_rss);
        }
    }
    stats(mv, reps, r->m);
    stats(bv, reps, r->b);
    r->ratio = higher_better ? r->b[0] / r->m[0] : r->m[0] / r->b[0];
    print_row(r);
}

static void make_file(const char *path, size_t len) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die(path);
    char *buf = malloc(MIB);
    for (size_t i = 0; i < MIB; i++) buf[i] = (char)(i * 2654435761u >> 13);
    for (size_t done = 0; done < len;) {
        size_t n = len - done < MIB ? len - done : MIB;
        if (write(fd, buf, n) != (ssize_t)n) die("write");
        done += n;
    }
    free(buf);
    if (fsync(fd) != 0 || close(fd) != 0) die("close");
}

static void warm(const char *path) {
    static char buf[1 << 20];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
}

static void machine(FILE *out) {
    struct utsname u;
    char cpu[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) snprintf(cpu, sizeof cpu, "%s", c + 2);
            cpu[strcspn(cpu, "\n")] = 0;
            break;
        }
    }
    if (f) fclose(f);
    uname(&u);
    fprintf(out, "%s, %ld cores, %ld GiB RAM, Linux %s, page %ld bytes", cpu, sysconf(_SC_NPROCESSORS_ONLN),
            (long)(sysconf(_SC_PHYS_PAGES) * (sysconf(_SC_PAGESIZE) / 1024) / (1024 * 1024)), u.release, page);
}

static void write_outputs(const char *csv, const char *svg) {
    FILE *f = fopen(csv, "w");
    if (!f) die(csv);
    fprintf(f, "operation,mapipc_median,mapipc_min,mapipc_max,baseline,baseline_median,baseline_min,"
               "baseline_max,ratio,unit,mapipc_rss_kib,baseline_rss_kib\n");
    for (int i = 0; i < nrows; i++) {
        struct row *r = &rows[i];
        fprintf(f, "\"%s\",%.4g,%.4g,%.4g,\"%s\",%.4g,%.4g,%.4g,%.4f,%s,%ld,%ld\n", r->op, r->m[0], r->m[1],
                r->m[2], r->base, r->b[0], r->b[1], r->b[2], r->ratio, r->unit, r->m_rss, r->b_rss);
    }
    fclose(f);

    /* Horizontal bars on a log scale from 1/8 to 8, a line at 1. */
    f = fopen(svg, "w");
    if (!f) die(svg);
    int w = 1000, left = 450, bar_h = 18, top = 50, plot = w - left - 30;
    int h = top + nrows * (bar_h + 6) + 40;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", w, h);
    fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"14\">mapipc cost / baseline cost (log scale; left of 1 = "
               "mapipc faster)</text>\n<text x=\"10\" y=\"38\" fill=\"#555\">");
    machine(f);
    fprintf(f, "</text>\n");
    for (int k = -3; k <= 3; k++) {
        double x = left + plot * (k + 3) / 6.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>\n", x, top - 5, x,
                h - 30, k == 0 ? "black" : "#ddd");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, h - 15,
                k < 0 ? 1.0 / (1 << -k) : (double)(1 << k));
    }
    for (int i = 0; i < nrows; i++) {
        struct row *r = &rows[i];
        double lr = r->ratio > 0 ? log2(r->ratio) : -3;
        if (lr < -3) lr = -3;
        if (lr > 3) lr = 3;
        double x1 = left + plot / 2.0, x2 = left + plot * (lr + 3) / 6.0;
        int y = top + i * (bar_h + 6);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s vs %s</text>\n", left - 8, y + 13, r->op,
                r->base);
        fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", x2 < x1 ? x2 : x1, y,
                x2 < x1 ? x1 - x2 : x2 - x1 + 1, bar_h, r->ratio <= 1.05 ? "#4a8" : "#d64");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"#333\">%.2f</text>\n", (x2 > x1 ? x2 : x1) + 4, y + 13,
                r->ratio);
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench SCRATCH_DIR CSV_OUT SVG_OUT [quick]\n");
        return 2;
    }
    quick = argc > 4 && strcmp(argv[4], "quick") == 0;
    page = sysconf(_SC_PAGESIZE);
    const char *dir = argv[1];
    snprintf(big_file, sizeof big_file, "%s/big", dir);
    snprintf(copy_dst, sizeof copy_dst, "%s/copy", dir);
    snprintf(file_4k, sizeof file_4k, "%s/f4k", dir);
    snprintf(file_1m, sizeof file_1m, "%s/f1m", dir);
    snprintf(file_sync, sizeof file_sync, "%s/fsync", dir);
    snprintf(key_file, sizeof key_file, "%s/key", dir);
    big_len = quick ? 64 * MIB : GIB;
    if (quick) reps = 3;

    printf("mapipc %s benchmarks on ", mapipc_version());
    machine(stdout);
    printf("\n%d repetitions per side, alternating, each in a fresh process; median (min-max)\n"
           "ratio = mapipc cost / baseline cost (time, or 1/rate): below 1 means mapipc is faster\n\n",
           reps);
    printf("%-38s %-29s %-17s %-29s %-6s %-5s %s\n", "operation", "mapipc", "baseline", "baseline value",
           "ratio", "unit", "RSS MiB m/b");

    make_file(file_4k, 4 * KIB);
    make_file(file_1m, MIB);
    make_file(file_sync, (size_t)page);
    make_file(key_file, 1);
    make_file(big_file, big_len);
    warm(big_file);

    struct cycle c4k = {file_4k, 4 * KIB, quick ? 500 : 5000};
    struct cycle c1m = {file_1m, MIB, quick ? 50 : 500};
    compare("file map cycle 4 KiB", "us", 0, file_cycle_mapipc, "open+mmap", file_cycle_raw, &c4k);
    compare("file map cycle 1 MiB", "us", 0, file_cycle_mapipc, "open+mmap, placed", file_cycle_raw_placed, &c1m);
    compare("file map cycle 1 MiB", "us", 0, file_cycle_mapipc, "open+mmap(NULL)", file_cycle_raw, &c1m);

    struct cycle a4k = {NULL, 4 * KIB, quick ? 500 : 5000};
    struct cycle a64m = {NULL, 64 * MIB, quick ? 2 : 5};
    compare("anonymous shared cycle 4 KiB", "us", 0, anon_mapipc, "mmap anon", anon_raw, &a4k);
    compare("anonymous shared cycle 64 MiB", "us", 0, anon_mapipc, "mmap anon", anon_raw, &a64m);

    struct cycle s1 = {NULL, 0, quick ? 50 : 500};
    compare("sync one dirty page", "us", 0, sync_mapipc, "msync(MS_SYNC)", sync_raw, &s1);

    struct cycle shm = {NULL, 4 * KIB, quick ? 200 : 3000};
    compare("System V cycle 4 KiB", "us", 0, sysv_mapipc, "ftok+shmget+shmat", sysv_raw, &shm);
    compare("POSIX named cycle 4 KiB", "us", 0, posix_mapipc, "shm_open+mmap", posix_raw, &shm);

    char op[80];
    snprintf(op, sizeof op, "copy %zu MiB, mapped read + mapped write", big_len / MIB);
    compare(op, "GB/s", 1, copy_mapped_both, "read/write 128K", copy_read_write, NULL);
    snprintf(op, sizeof op, "copy %zu MiB, mapped read + write(2)", big_len / MIB);
    compare(op, "GB/s", 1, copy_mapped_write, "read/write 128K", copy_read_write, NULL);
    compare(op, "GB/s", 1, copy_mapped_write, "cp", copy_cp, NULL);
    compare(op, "GB/s", 1, copy_mapped_write, "copy_file_range", copy_cfr, NULL);
    static const uint32_t sequential = MAPIPC_ADVICE_SEQUENTIAL, populate = MAPIPC_ADVICE_POPULATE_READ;
    snprintf(op, sizeof op, "checksum %zu MiB, mapped, no advice", big_len / MIB);
    compare(op, "GB/s", 1, checksum_mapped, "read 128K", checksum_read, NULL);
    snprintf(op, sizeof op, "checksum %zu MiB, mapped, SEQUENTIAL", big_len / MIB);
    compare(op, "GB/s", 1, checksum_mapped, "read 128K", checksum_read, (void *)&sequential);
    snprintf(op, sizeof op, "checksum %zu MiB, mapped, POPULATE_READ", big_len / MIB);
    compare(op, "GB/s", 1, checksum_mapped, "read 128K", checksum_read, (void *)&populate);
    snprintf(op, sizeof op, "checksum %zu MiB, 2nd pass, mapping kept", big_len / MIB);
    compare(op, "GB/s", 1, checksum_mapped_again, "read 128K", checksum_read, NULL);

    struct ipc small = {64, quick ? 100000 : 1000000, 4096};
    struct ipc large = {64 * KIB, quick ? 2000 : 16384, 64};
    compare("IPC throughput, 64 B messages", "GB/s", 1, ipc_ring, "pipe", ipc_pipe, &small);
    compare("IPC throughput, 64 B messages", "GB/s", 1, ipc_ring, "socketpair", ipc_socket, &small);
    compare("IPC throughput, 64 KiB messages", "GB/s", 1, ipc_ring, "pipe", ipc_pipe, &large);
    compare("IPC throughput, 64 KiB messages", "GB/s", 1, ipc_ring, "socketpair", ipc_socket, &large);
    struct ipc rt = {64, quick ? 5000 : 20000, 2};
    compare("IPC round trip, 64 B, spinning", "us", 0, rtt_ring, "pipe", rtt_pipe, &rt);
    compare("IPC round trip, 64 B, spinning", "us", 0, rtt_ring, "socketpair", rtt_socket, &rt);

    unlink(big_file);
    unlink(file_4k);
    unlink(file_1m);
    unlink(file_sync);
    unlink(key_file);
    write_outputs(argv[2], argv[3]);
    return 0;
}
