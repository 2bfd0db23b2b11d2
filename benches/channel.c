/* make bench, group "channel": the mapipc channel next to a hand-written
 * SPSC ring in shared memory (the ipc group's), a pipe and a socketpair:
 * 64-byte round trips, 4 KiB one-way throughput, and what a message costs
 * when the receiver sleeps and must be woken. */
#include "harness.h"

#include <linux/futex.h>
#include <sys/syscall.h>

/* Bytes of bookkeeping in front of a channel's ring (docs/channel-format.md). */
#define CHANNEL_HEADER 384

/* Two channels in one anonymous region: 0 carries pings, 1 pongs. */
static char *two_channels(size_t each) {
    char *mem = NULL;
    must(mapipc_map_anonymous(2 * each, MAPIPC_READ | MAPIPC_WRITE, (void **)&mem), "map");
    must(mapipc_channel_init(mem, each), "init");
    must(mapipc_channel_init(mem + each, each), "init");
    return mem;
}

static void reap(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("child");
}

/* Answers `count` pings with the same bytes; `pause_us` > 0 makes the
 * initiator wait that long between pings (so this side falls asleep). */
static void echo(char *mem, size_t each, size_t count) {
    _Alignas(64) char buf[64]; /* the same placement in both builds */
    size_t len;
    for (size_t i = 0; i < count; i++) {
        if (mapipc_channel_recv(mem, buf, sizeof buf, &len, -1) != MAPIPC_OK) _exit(1);
        if (mapipc_channel_send(mem + each, buf, len, -1) != MAPIPC_OK) _exit(2);
    }
    _exit(0);
}

static double spin_until(double t) {
    double n;
    while ((n = now()) < t) {
    }
    return n;
}

/* Round trips of a 64-byte message; with pause_us, only the round trips are
 * timed, each after a pause long enough for the echoing side to sleep. */
static double channel_rtt_paused(size_t count, double pause_us, int pinned) {
    size_t each = 16 * KIB;
    char *mem = two_channels(each);
    fflush(stdout);
    pid_t pid = fork_placed(pinned);
    if (pid < 0) die("fork");
    if (pid == 0) echo(mem, each, count);
    char msg[64] = "ping", back[64];
    size_t len;
    double total = 0, t0 = now();
    for (size_t i = 0; i < count; i++) {
        double start = pause_us > 0 ? spin_until(now() + pause_us * 1e-6) : 0;
        if (mapipc_channel_send(mem, msg, sizeof msg, -1) != MAPIPC_OK) die("send");
        if (mapipc_channel_recv(mem + each, back, sizeof back, &len, -1) != MAPIPC_OK) die("recv");
        if (pause_us > 0) total += now() - start;
    }
    if (pause_us == 0) total = now() - t0;
    reap(pid);
    must(mapipc_unmap(mem), "unmap");
    return total / (double)count * 1e6;
}

static double channel_rtt(void *arg) {
    struct ipc *c = arg;
    return channel_rtt_paused(c->count, 0, c->pinned);
}

/* One-way stream of c->msg-byte messages; GB/s. */
static double channel_stream(void *arg) {
    struct ipc *c = arg;
    size_t size = CHANNEL_HEADER + c->slots * (c->msg + 8);
    char *mem = NULL;
    must(mapipc_map_anonymous(size, MAPIPC_READ | MAPIPC_WRITE, (void **)&mem), "map");
    must(mapipc_channel_init(mem, 0), "init");
    char *msg = malloc(c->msg);
    memset(msg, 'm', c->msg);
    fflush(stdout);
    pid_t pid = fork_placed(c->pinned);
    if (pid < 0) die("fork");
    if (pid == 0) {
        size_t len;
        for (size_t i = 0; i < c->count; i++)
            if (mapipc_channel_recv(mem, msg, c->msg, &len, -1) != MAPIPC_OK || len != c->msg) _exit(1);
        _exit(msg[c->msg - 1] == 'm' ? 0 : 1);
    }
    double t0 = now();
    for (size_t i = 0; i < c->count; i++)
        if (mapipc_channel_send(mem, msg, c->msg, -1) != MAPIPC_OK) die("send");
    reap(pid);
    double t = now() - t0;
    free(msg);
    must(mapipc_unmap(mem), "unmap");
    return gbps(t, c->msg * c->count);
}

/* The baseline for a wake: a raw futex round trip where the other side
 * sleeps in FUTEX_WAIT and this side spins for the answer, after the same
 * pause. */
static double futex_rtt_paused(size_t count, double pause_us) {
    _Atomic uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED) die("mmap");
    _Atomic uint32_t *ping = w, *pong = w + 16;
    fflush(stdout);
    pid_t pid = fork_placed(1);
    if (pid < 0) die("fork");
    if (pid == 0) {
        for (uint32_t i = 1; i <= count; i++) {
            while (atomic_load(ping) != i) syscall(SYS_futex, (uint32_t *)ping, FUTEX_WAIT, i - 1, NULL, NULL, 0);
            atomic_store(pong, i);
        }
        _exit(0);
    }
    double total = 0;
    for (uint32_t i = 1; i <= count; i++) {
        double start = spin_until(now() + pause_us * 1e-6);
        atomic_store(ping, i);
        syscall(SYS_futex, (uint32_t *)ping, FUTEX_WAKE, 1, NULL, NULL, 0);
        while (atomic_load(pong) != i) {
        }
        total += now() - start;
    }
    reap(pid);
    munmap((void *)w, 4096);
    return total / (double)count * 1e6;
}

static const double PAUSE_US = 500; /* longer than the channel's spinning */

static double channel_rtt_asleep(void *arg) { return channel_rtt_paused(((struct ipc *)arg)->count, PAUSE_US, 1); }
static double futex_rtt_asleep(void *arg) { return futex_rtt_paused(((struct ipc *)arg)->count, PAUSE_US); }

void bench_channel(void) {
    /* Against the ring both sides are pinned to two cores; against pipes
     * and sockets both run where the scheduler puts them. */
    struct ipc rt = {64, quick ? 5000 : 20000, 2, 1}, rt_free = {64, quick ? 5000 : 20000, 2, 0};
    compare("channel round trip, 64 B, 2 cores", "us", 0, channel_rtt, "hand-written ring", rtt_ring, &rt);
    compare("channel round trip, 64 B, 2 cores", "us", 0, channel_rtt, "SPSC rings, 64 slots", rtt_spsc, &rt);
    compare("channel round trip, 64 B", "us", 0, channel_rtt, "pipe", rtt_pipe, &rt_free);
    compare("channel round trip, 64 B", "us", 0, channel_rtt, "socketpair", rtt_socket, &rt_free);
    struct ipc stream = {4 * KIB, quick ? 20000 : 200000, 64, 1};
    compare("channel throughput, 4 KiB messages", "GB/s", 1, channel_stream, "hand-written ring", ipc_ring,
            &stream);
    struct ipc asleep = {64, quick ? 300 : 2000, 2, 1};
    compare("channel round trip, receiver asleep", "us", 0, channel_rtt_asleep, "raw futex wake",
            futex_rtt_asleep, &asleep);
}
