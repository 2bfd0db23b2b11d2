/* make bench, group "shm_ipc": moving bytes between two processes through a
 * hand-written ring in mapipc shared memory, next to pipes and sockets. */
#include "harness.h"

/* ---- passing data between two processes ----------------------------- */

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


static size_t ring_bytes(struct ipc *c) { return sizeof(struct ring) + c->slots * c->msg; }

double ipc_ring(void *arg) {
    struct ipc *c = arg;
    struct ring *r;
    must(mapipc_map_anonymous(ring_bytes(c), MAPIPC_READ | MAPIPC_WRITE, (void **)&r), "ring");
    char *msg = malloc(c->msg);
    memset(msg, 'm', c->msg);
    fflush(stdout);
    pid_t pid = fork_placed(c->pinned);
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

/* The same round trip through two real rings: each message goes to the
 * next slot of a 4 KiB ring and the consumer's position comes back, as in
 * any SPSC queue (rtt_ring above is a mailbox: one slot, reused). */
struct spsc {
    _Alignas(64) _Atomic uint64_t tail;
    uint64_t head_seen; /* the producer's cached copy of head, on its line */
    _Alignas(64) _Atomic uint64_t head;
    _Alignas(64) char slots[64][64];
};

static void spsc_send(struct spsc *q, const char *m) {
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    unsigned spins = 0;
    while (t - q->head_seen >= 64) {
        q->head_seen = atomic_load_explicit(&q->head, memory_order_acquire);
        if (t - q->head_seen >= 64) relax(&spins);
    }
    memcpy(q->slots[t % 64], m, 64);
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
}

static void spsc_recv(struct spsc *q, char *m) {
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    unsigned spins = 0;
    while (atomic_load_explicit(&q->tail, memory_order_acquire) == h) relax(&spins);
    memcpy(m, q->slots[h % 64], 64);
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
}

double rtt_spsc(void *arg) {
    struct ipc *c = arg;
    struct spsc *q;
    must(mapipc_map_anonymous(2 * sizeof *q, MAPIPC_READ | MAPIPC_WRITE, (void **)&q), "rings");
    pid_t pid = fork_placed(c->pinned);
    if (pid < 0) die("fork");
    if (pid == 0) {
        char in[64];
        for (size_t i = 0; i < c->count; i++) {
            spsc_recv(&q[0], in);
            spsc_send(&q[1], in);
        }
        _exit(0);
    }
    char msg[64] = "ping";
    double t0 = now();
    for (size_t i = 0; i < c->count; i++) {
        spsc_send(&q[0], msg);
        spsc_recv(&q[1], msg);
    }
    double t = now() - t0;
    waitpid(pid, NULL, 0);
    must(mapipc_unmap(q), "unmap rings");
    return t / (double)c->count * 1e6;
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
    pid_t pid = fork_placed(c->pinned);
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
double rtt_ring(void *arg) {
    struct ipc *c = arg;
    struct ring *r;
    must(mapipc_map_anonymous(sizeof(struct ring) + 2 * 64, MAPIPC_READ | MAPIPC_WRITE, (void **)&r), "ring");
    fflush(stdout);
    pid_t pid = fork_placed(c->pinned);
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
    pid_t pid = fork_placed(c->pinned);
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

double rtt_pipe(void *arg) { return rtt_stream(arg, 0); }
double rtt_socket(void *arg) { return rtt_stream(arg, 1); }

void bench_shm_ipc(void) {
    struct ipc small = {64, quick ? 100000 : 1000000, 4096, 0};
    struct ipc large = {64 * KIB, quick ? 2000 : 16384, 64, 0};
    compare("IPC throughput, 64 B messages", "GB/s", 1, ipc_ring, "pipe", ipc_pipe, &small);
    compare("IPC throughput, 64 B messages", "GB/s", 1, ipc_ring, "socketpair", ipc_socket, &small);
    compare("IPC throughput, 64 KiB messages", "GB/s", 1, ipc_ring, "pipe", ipc_pipe, &large);
    compare("IPC throughput, 64 KiB messages", "GB/s", 1, ipc_ring, "socketpair", ipc_socket, &large);
    struct ipc rt = {64, quick ? 5000 : 20000, 2, 0};
    compare("IPC round trip, 64 B, spinning", "us", 0, rtt_ring, "pipe", rtt_pipe, &rt);
    compare("IPC round trip, 64 B, spinning", "us", 0, rtt_ring, "socketpair", rtt_socket, &rt);
}
