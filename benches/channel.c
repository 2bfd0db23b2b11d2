/* make bench, group "channel": the mapipc channel next to a hand-written
 * SPSC ring in shared memory (the ipc group's), a pipe and a socketpair:
 * 64-byte round trips, 4 KiB one-way throughput, and what a message costs
 * when the receiver sleeps and must be woken. */
#include "harness.h"
#include "boost_mq.h"

#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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
    size_t size = CHANNEL_HEADER + c->slots * (c->msg + 64);
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

/* ---- zero-copy, polling, many senders, the descriptor ------------------ */

/* 64-byte round trips with reserve/commit and peek/release on both sides. */
static double channel_rtt_zero(void *arg) {
    struct ipc *c = arg;
    size_t each = 16 * KIB;
    char *mem = two_channels(each);
    fflush(stdout);
    pid_t pid = fork_placed(c->pinned);
    if (pid < 0) die("fork");
    if (pid == 0) {
        for (size_t i = 0; i < c->count; i++) {
            const void *in;
            size_t len;
            void *out;
            if (mapipc_channel_peek(mem, &in, &len, -1) != MAPIPC_OK) _exit(1);
            if (mapipc_channel_reserve(mem + each, len, -1, &out) != MAPIPC_OK) _exit(2);
            memcpy(out, in, len);
            mapipc_channel_release(mem);
            mapipc_channel_commit(mem + each, len);
        }
        _exit(0);
    }
    char msg[64] = "ping";
    double t0 = now();
    for (size_t i = 0; i < c->count; i++) {
        void *out;
        const void *in;
        size_t len;
        if (mapipc_channel_reserve(mem, 64, -1, &out) != MAPIPC_OK) die("reserve");
        memcpy(out, msg, 64);
        mapipc_channel_commit(mem, 64);
        if (mapipc_channel_peek(mem + each, &in, &len, -1) != MAPIPC_OK) die("peek");
        memcpy(msg, in, 64);
        mapipc_channel_release(mem + each);
    }
    double t = now() - t0;
    reap(pid);
    must(mapipc_unmap(mem), "unmap");
    return t / (double)c->count * 1e6;
}

/* 64-byte round trips where both sides poll their receive with timeout 0. */
static double channel_rtt_polled(void *arg) {
    struct ipc *c = arg;
    size_t each = 16 * KIB;
    char *mem = two_channels(each);
    fflush(stdout);
    pid_t pid = fork_placed(c->pinned);
    if (pid < 0) die("fork");
    char buf[64] = "ping";
    size_t len;
    if (pid == 0) {
        for (size_t i = 0; i < c->count; i++) {
            while (mapipc_channel_recv(mem, buf, sizeof buf, &len, 0) == MAPIPC_ERR_TIMED_OUT) {
            }
            if (mapipc_channel_send(mem + each, buf, len, -1) != MAPIPC_OK) _exit(2);
        }
        _exit(0);
    }
    double t0 = now();
    for (size_t i = 0; i < c->count; i++) {
        if (mapipc_channel_send(mem, buf, sizeof buf, -1) != MAPIPC_OK) die("send");
        while (mapipc_channel_recv(mem + each, buf, sizeof buf, &len, 0) == MAPIPC_ERR_TIMED_OUT) {
        }
    }
    double t = now() - t0;
    reap(pid);
    must(mapipc_unmap(mem), "unmap");
    return t / (double)c->count * 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* What the reader of a big message does with each of its bytes. */
static uint64_t sum64(const unsigned char *p, size_t len) {
    uint64_t sum = 0;
    for (size_t k = 0; k < len; k += 8) sum += *(const uint64_t *)(p + k);
    return sum;
}

/* Round trips of c->msg bytes there and 64 bytes back. zero: the writer
 * fills the reservation and the reader sums the peeked bytes in place;
 * else the writer fills its buffer and sends, the reader receives and
 * sums its buffer: the same bytes touched. Returns the mean, or with
 * `pct` that percentile of the round trips (us). */
static double big_rtt(struct ipc *c, int zero, double pct) {
    size_t each = 2 * c->msg + 64 * KIB;
    char *mem = two_channels(each);
    char *buf = malloc(c->msg);
    double *lat = malloc(c->count * sizeof *lat);
    fflush(stdout);
    pid_t pid = fork_placed(c->pinned);
    if (pid < 0) die("fork");
    if (pid == 0) {
        for (size_t i = 0; i < c->count; i++) {
            const unsigned char *in = (const unsigned char *)buf;
            size_t len;
            if (zero) {
                const void *p;
                if (mapipc_channel_peek(mem, &p, &len, -1) != MAPIPC_OK) _exit(1);
                in = p;
            } else if (mapipc_channel_recv(mem, buf, c->msg, &len, -1) != MAPIPC_OK) {
                _exit(1);
            }
            uint64_t sum = sum64(in, len);
            if (zero) mapipc_channel_release(mem);
            if (mapipc_channel_send(mem + each, &sum, sizeof sum, -1) != MAPIPC_OK) _exit(2);
        }
        _exit(0);
    }
    double t0 = now();
    for (size_t i = 0; i < c->count; i++) {
        double start = now();
        if (zero) {
            void *out;
            if (mapipc_channel_reserve(mem, c->msg, -1, &out) != MAPIPC_OK) die("reserve");
            memset(out, (int)i, c->msg);
            mapipc_channel_commit(mem, c->msg);
        } else {
            memset(buf, (int)i, c->msg);
            if (mapipc_channel_send(mem, buf, c->msg, -1) != MAPIPC_OK) die("send");
        }
        uint64_t sum;
        size_t len;
        if (mapipc_channel_recv(mem + each, &sum, sizeof sum, &len, -1) != MAPIPC_OK) die("recv");
        lat[i] = now() - start;
    }
    double t = now() - t0;
    reap(pid);
    must(mapipc_unmap(mem), "unmap");
    qsort(lat, c->count, sizeof *lat, cmp_double);
    double v = pct > 0 ? lat[(size_t)(pct / 100 * (double)(c->count - 1))] : t / (double)c->count;
    free(lat);
    free(buf);
    return v * 1e6;
}

static void write_all(int fd, const char *p, size_t len) {
    for (ssize_t n; len > 0; p += n, len -= (size_t)n)
        if ((n = write(fd, p, len)) <= 0) die("write");
}

static void read_all(int fd, char *p, size_t len) {
    for (ssize_t n; len > 0; p += n, len -= (size_t)n)
        if ((n = read(fd, p, len)) <= 0) die("read");
}

/* big_rtt's send/recv round trip over byte streams: the writer fills its
 * buffer and writes all of it, the reader reads all of it and sums it, the
 * sum comes back. sock: one UNIX stream socketpair, else two pipes. */
static double stream_rtt(struct ipc *c, int sock) {
    int there[2], back[2]; /* [0] read, [1] write */
    if (sock) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) die("socketpair");
        there[0] = back[1] = sv[1];
        there[1] = back[0] = sv[0];
    } else if (pipe2(there, O_CLOEXEC) || pipe2(back, O_CLOEXEC)) {
        die("pipe");
    }
    char *buf = malloc(c->msg);
    fflush(stdout);
    pid_t pid = fork_placed(c->pinned);
    if (pid < 0) die("fork");
    if (pid == 0) {
        for (size_t i = 0; i < c->count; i++) {
            read_all(there[0], buf, c->msg);
            uint64_t sum = sum64((const unsigned char *)buf, c->msg);
            write_all(back[1], (const char *)&sum, sizeof sum);
        }
        _exit(0);
    }
    double t0 = now();
    for (size_t i = 0; i < c->count; i++) {
        uint64_t sum;
        memset(buf, (int)i, c->msg);
        write_all(there[1], buf, c->msg);
        read_all(back[0], (char *)&sum, sizeof sum);
    }
    double t = now() - t0;
    reap(pid);
    close(there[0]);
    close(there[1]);
    if (!sock) {
        close(back[0]);
        close(back[1]);
    }
    free(buf);
    return t / (double)c->count * 1e6;
}

static double big_rtt_zero(void *arg) { return big_rtt(arg, 1, 0); }
static double big_rtt_copy(void *arg) { return big_rtt(arg, 0, 0); }
static double big_rtt_p99(void *arg) { return big_rtt(arg, 0, 99); }
static double big_rtt_median(void *arg) { return big_rtt(arg, 0, 50); }
static double big_rtt_socket(void *arg) { return stream_rtt(arg, 1); }
static double big_rtt_pipe(void *arg) { return stream_rtt(arg, 0); }

static double many_senders_boost(void *arg) {
    struct ipc *c = arg;
    return boost_mq_many_senders(c->slots, c->count);
}

/* c->slots sender processes each send c->count 64-byte messages to one
 * receiver; aggregate million messages per second. */
static double many_senders(void *arg) {
    struct ipc *c = arg;
    char *mem = NULL;
    size_t size = 256 * KIB;
    must(mapipc_map_anonymous(size, MAPIPC_READ | MAPIPC_WRITE, (void **)&mem), "map");
    must(mapipc_channel_init_with(mem, 0, MAPIPC_CHANNEL_MANY_SENDERS), "init");
    pid_t pids[8];
    char msg[64] = "many";
    size_t len;
    for (size_t k = 0; k < c->slots; k++) {
        fflush(stdout);
        pids[k] = fork();
        if (pids[k] < 0) die("fork");
        if (pids[k] == 0) {
            for (size_t i = 0; i < c->count; i++)
                if (mapipc_channel_send(mem, msg, sizeof msg, -1) != MAPIPC_OK) _exit(1);
            _exit(0);
        }
    }
    double t0 = now();
    for (size_t i = 0; i < c->count * c->slots; i++)
        if (mapipc_channel_recv(mem, msg, sizeof msg, &len, -1) != MAPIPC_OK) die("recv");
    double t = now() - t0;
    for (size_t k = 0; k < c->slots; k++) reap(pids[k]);
    must(mapipc_unmap(mem), "unmap");
    return (double)(c->count * c->slots) / t / 1e6;
}

/* The same over one UNIX datagram socket shared by the senders. */
static double many_senders_dgram(void *arg) {
    struct ipc *c = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) die("socketpair");
    pid_t pids[8];
    char msg[64] = "many";
    for (size_t k = 0; k < c->slots; k++) {
        fflush(stdout);
        pids[k] = fork();
        if (pids[k] < 0) die("fork");
        if (pids[k] == 0) {
            for (size_t i = 0; i < c->count; i++)
                if (send(sv[1], msg, sizeof msg, 0) != sizeof msg) _exit(1);
            _exit(0);
        }
    }
    double t0 = now();
    for (size_t i = 0; i < c->count * c->slots; i++)
        if (recv(sv[0], msg, sizeof msg, 0) != sizeof msg) die("recv");
    double t = now() - t0;
    for (size_t k = 0; k < c->slots; k++) reap(pids[k]);
    close(sv[0]);
    close(sv[1]);
    return (double)(c->count * c->slots) / t / 1e6;
}

static void epoll_one(int ep) {
    struct epoll_event ev;
    while (epoll_wait(ep, &ev, 1, -1) != 1) {
    }
}

static int epoll_on(int fd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) die("epoll");
    return ep;
}

/* 64-byte ping-pong where each side blocks in epoll_wait on the
 * descriptor of the channel it receives from. */
static double fd_pingpong(void *arg) {
    struct ipc *c = arg;
    size_t each = 16 * KIB;
    char *mem = two_channels(each);
    char buf[64] = "ping";
    size_t len;
    fflush(stdout);
    pid_t pid = fork_placed(c->pinned);
    if (pid < 0) die("fork");
    if (pid == 0) {
        int fd;
        if (mapipc_channel_fd(mem, &fd) != MAPIPC_OK) _exit(1);
        int ep = epoll_on(fd);
        for (size_t i = 0; i < c->count; i++) {
            epoll_one(ep);
            if (mapipc_channel_recv(mem, buf, sizeof buf, &len, 0) != MAPIPC_OK) _exit(2);
            if (mapipc_channel_send(mem + each, buf, len, -1) != MAPIPC_OK) _exit(3);
        }
        _exit(0);
    }
    int fd;
    must(mapipc_channel_fd(mem + each, &fd), "fd");
    int ep = epoll_on(fd);
    double t0 = now();
    for (size_t i = 0; i < c->count; i++) {
        if (mapipc_channel_send(mem, buf, sizeof buf, -1) != MAPIPC_OK) die("send");
        epoll_one(ep);
        if (mapipc_channel_recv(mem + each, buf, sizeof buf, &len, 0) != MAPIPC_OK) die("recv");
    }
    double t = now() - t0;
    reap(pid);
    close(ep);
    close(fd);
    must(mapipc_unmap(mem), "unmap");
    return t / (double)c->count * 1e6;
}

/* The same over two eventfds shared by the processes, the 64 bytes in
 * shared memory. */
static double eventfd_pingpong(void *arg) {
    struct ipc *c = arg;
    int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
    char *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ping < 0 || pong < 0 || mem == MAP_FAILED) die("eventfd");
    uint64_t one = 1, v;
    char buf[64] = "ping";
    fflush(stdout);
    pid_t pid = fork_placed(c->pinned);
    if (pid < 0) die("fork");
    if (pid == 0) {
        int ep = epoll_on(ping);
        for (size_t i = 0; i < c->count; i++) {
            epoll_one(ep);
            if (read(ping, &v, 8) != 8) _exit(1);
            memcpy(buf, mem, 64);
            memcpy(mem + 64, buf, 64);
            if (write(pong, &one, 8) != 8) _exit(2);
        }
        _exit(0);
    }
    int ep = epoll_on(pong);
    double t0 = now();
    for (size_t i = 0; i < c->count; i++) {
        memcpy(mem, buf, 64);
        if (write(ping, &one, 8) != 8) die("write");
        epoll_one(ep);
        if (read(pong, &v, 8) != 8) die("read");
        memcpy(buf, mem + 64, 64);
    }
    double t = now() - t0;
    reap(pid);
    close(ep);
    close(ping);
    close(pong);
    munmap(mem, 4096);
    return t / (double)c->count * 1e6;
}

static void bench_channel_v3(void) {
    struct ipc rt = {64, quick ? 5000 : 20000, 2, 1};
    compare("channel round trip, 64 B, reserve/commit + peek/release, 2 cores", "us", 0, channel_rtt_zero,
            "SPSC rings, 64 slots", rtt_spsc, &rt);
    compare("channel round trip, 64 B, recv polled with timeout 0, 2 cores", "us", 0, channel_rtt_polled,
            "recv blocking (timeout -1)", channel_rtt, &rt);
    struct ipc mib = {MIB, quick ? 100 : 500, 2, 1};
    compare("1 MiB there, 64 B back, 2 cores: zero-copy", "us", 0, big_rtt_zero, "send/recv", big_rtt_copy,
            &mib);
    struct ipc k64 = {64 * KIB, quick ? 1000 : 5000, 2, 1};
    struct ipc *big[] = {&k64, &mib};
    for (size_t k = 0; k < 2; k++) {
        char op[96];
        snprintf(op, sizeof op, "%s there, 64 B back, 2 cores: zero-copy", k ? "1 MiB" : "64 KiB");
        compare(strdup(op), "us", 0, big_rtt_zero, "UNIX stream socket", big_rtt_socket, big[k]);
        compare(strdup(op), "us", 0, big_rtt_zero, "pipe", big_rtt_pipe, big[k]);
    }
    compare("64 KiB there, 64 B back, 2 cores: 99th percentile", "us", 0, big_rtt_p99, "median", big_rtt_median,
            &k64);
    for (size_t n = 1; n <= 4; n *= 2) {
        struct ipc many = {64, quick ? 100000 : 500000, n, 0};
        char op[96];
        snprintf(op, sizeof op, "many senders, 64 B, %zu sender process%s", n, n > 1 ? "es" : "");
        compare(strdup(op), "M msg/s", 1, many_senders, "UNIX datagram socket", many_senders_dgram, &many);
        if (boost_mq_available())
            compare(strdup(op), "M msg/s", 1, many_senders, "Boost message_queue", many_senders_boost, &many);
    }
    struct ipc pp = {64, quick ? 3000 : 20000, 2, 1};
    compare("epoll ping-pong, 64 B, 2 cores: channel descriptors", "us", 0, fd_pingpong, "two eventfds",
            eventfd_pingpong, &pp);
}

void bench_channel(void) {
    bench_channel_v3();
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
