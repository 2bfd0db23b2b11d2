/* The message channel: byte-exact streams to forked and exec'd peers over
 * anonymous, POSIX and System V memory; a million small messages; senders
 * killed at random moments; a receiver dying with the sender blocked;
 * BUSY between threads; close; timeouts; every argument error. */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "channel_util.h"
#include "shm_util.h"

enum { CHAN = 64 * 1024 };

static int under_valgrind(void) { return getenv("MAPIPC_TEST_UNDER_VALGRIND") != NULL; }

/* Valgrind runs each process ~50 times slower: fewer messages there. */
static uint32_t scaled(uint32_t n) { return under_valgrind() ? n / 20 : n; }

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *anon_channel(size_t size) {
    void *p = NULL;
    CHECK_OK(mapipc_map_anonymous(size, MAPIPC_WRITE, &p));
    REQUIRE(p != NULL);
    CHECK_OK(mapipc_channel_init(p, 0));
    return p;
}

/* Forks a process that sends messages first .. first + count - 1, and
 * returns once it has become the channel's sender (its pid in the sender
 * field of the documented layout, docs/channel-format.md): until then a
 * receive would rightly report the previous, dead sender. */
static pid_t fork_sender(void *chan, uint32_t first, uint32_t count) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(send_mixed(chan, first, count) == MAPIPC_OK ? 0 : 1);
    while (chan_field(chan, CHAN_SENDER_PID) != (uint32_t)pid) sched_yield();
    return pid;
}

static void mixed_stream_to_forked_receiver(void) {
    void *chan = anon_channel(CHAN);
    uint32_t n = scaled(100000);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(recv_mixed(chan, 0, n, 30000000000LL) == n ? 0 : 1);
    CHECK(send_mixed(chan, 0, n) == MAPIPC_OK);
    CHECK(check_wait(pid) == 0);
    CHECK_OK(mapipc_unmap(chan));
}

static void million_small_messages(void) {
    void *chan = anon_channel(16 * 1024);
    uint32_t n = scaled(1000000);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        for (uint32_t i = 0; i < n; i++)
            if (mapipc_channel_send(chan, &i, sizeof i, -1) != MAPIPC_OK) _exit(1);
        _exit(0);
    }
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n && !bad; i++) {
        uint32_t v = 0;
        size_t len = 0;
        if (mapipc_channel_recv(chan, &v, sizeof v, &len, 30000000000LL) != MAPIPC_OK || len != 4 || v != i)
            bad = i + 1;
    }
    CHECK(bad == 0);
    CHECK(check_wait(pid) == 0);
    CHECK_OK(mapipc_unmap(chan));
}

/* The receiver is exec'd and opens the memory by name itself. */
static void exec_receiver(const char *kind, const char *name, void *chan) {
    uint32_t n = scaled(100000);
    char count[32];
    snprintf(count, sizeof count, "%u", n);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        execl(peer_path, "helper_channel_peer", kind, name, "recv", count, (char *)NULL);
        _exit(127);
    }
    CHECK(send_mixed(chan, 0, n) == MAPIPC_OK);
    CHECK(check_wait(pid) == 0);
}

static void mixed_stream_to_exec_receiver_posix(void) {
    char name[64];
    snprintf(name, sizeof name, "/mapipc-test-%ld-chan", (long)getpid());
    void *mem = NULL;
    CHECK_OK(mapipc_shm_open_name(name, CHAN, MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE, &mem));
    if (mem) {
        CHECK_OK(mapipc_channel_init(mem, 0));
        exec_receiver("posix", name, mem);
        CHECK_OK(mapipc_unmap(mem));
    }
    CHECK_OK(mapipc_shm_unlink_name(name));
}

static void mixed_stream_to_exec_receiver_sysv(void) {
    check_write_file("keyfile", "k", 1);
    void *mem = NULL;
    CHECK_OK(mapipc_shm_open_key("keyfile", 3, CHAN, MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE, &mem));
    if (mem) {
        CHECK_OK(mapipc_channel_init(mem, 0));
        exec_receiver("sysv", "keyfile", mem);
        CHECK_OK(mapipc_shm_remove_region(mem));
        CHECK_OK(mapipc_unmap(mem));
    }
    unlink("keyfile");
}

/* A sender streams until killed at a moment that differs every round. The
 * receiver (its parent, which does not reap it) gets only whole messages in
 * order, then CLOSED; then a new sender carries on. */
static void sender_killed_at_random_moments(void) {
    void *chan = anon_channel(8192);
    srand(12345);
    for (int round = 0; round < 8; round++) {
        pid_t pid = fork_sender(chan, 0, UINT32_MAX / 2);
        uint32_t before = (uint32_t)(rand() % 300);
        CHECK(recv_mixed(chan, 0, before, 10000000000LL) == before);
        /* Let it run a little further, by a varying amount of work. */
        for (volatile int spin = rand() % 200000; spin > 0; spin--) {
        }
        CHECK(kill(pid, SIGKILL) == 0);
        unsigned char buf[MIXED_MAX];
        uint32_t i = before;
        size_t len = 0;
        mapipc_status st;
        double start = 0;
        while ((st = mapipc_channel_recv(chan, buf, sizeof buf, &len, 10000000000LL)) == MAPIPC_OK) {
            if (!mixed_check(i, buf, len)) {
                CHECK(!"a whole message in order");
                break;
            }
            i++;
            start = now_seconds();
        }
        CHECK(st == MAPIPC_ERR_CLOSED);
        CHECK(errno == EPIPE);
        if (start > 0) CHECK(now_seconds() - start < 1.0);
        CHECK_MESSAGE("has exited");
        CHECK(check_wait(pid) == 128 + SIGKILL);
        /* A new sender takes the dead one's place. */
        pid = fork_sender(chan, 1000, 50);
        CHECK(recv_mixed(chan, 1000, 50, 10000000000LL) == 50);
        CHECK(check_wait(pid) == 0);
    }
    CHECK_OK(mapipc_unmap(chan));
}

/* The receiver dies while the sender is blocked on a full channel. */
static void receiver_dies_while_sender_blocked(void) {
    void *chan = anon_channel(4096);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        unsigned char buf[MIXED_MAX];
        size_t len;
        if (mapipc_channel_recv(chan, buf, sizeof buf, &len, -1) != MAPIPC_OK) _exit(1);
        /* Wait until the sender sleeps on the full channel (its flag in the
         * documented layout, docs/channel-format.md), then die. */
        while (chan_field(chan, CHAN_SEND_SLEEPING) == 0) sched_yield();
        raise(SIGKILL);
    }
    unsigned char msg[1000];
    memset(msg, 7, sizeof msg);
    mapipc_status st;
    uint32_t sent = 0;
    double start = now_seconds();
    while ((st = mapipc_channel_send(chan, msg, sizeof msg, 20000000000LL)) == MAPIPC_OK) sent++;
    CHECK(st == MAPIPC_ERR_CLOSED);
    CHECK_MESSAGE("receiver");
    CHECK(now_seconds() - start < 5.0);
    CHECK(check_wait(pid) == 128 + SIGKILL);
    /* What was queued is still there for a new receiver. */
    size_t len = 0;
    uint32_t got = 0;
    while (mapipc_channel_recv(chan, msg, sizeof msg, &len, 0) == MAPIPC_OK) got++;
    CHECK(got == sent - 1);
    CHECK_OK(mapipc_unmap(chan));
}

struct racer {
    void *chan;
    uint32_t tag;
    uint32_t count;
    uint32_t busy;
};

static void *race_sends(void *arg) {
    struct racer *r = arg;
    for (uint32_t i = 0; i < r->count;) {
        uint32_t msg[8] = {r->tag, i, r->tag * 31 + i, 0, 0, 0, 0, ~i};
        mapipc_status st = mapipc_channel_send(r->chan, msg, sizeof msg, -1);
        if (st == MAPIPC_ERR_BUSY) {
            r->busy++;
            continue;
        }
        if (st != MAPIPC_OK) break;
        i++;
    }
    return NULL;
}

/* Two threads send at once: each send either goes through whole or is
 * refused with BUSY; the receiver sees both streams intact, each in order. */
static void two_threads_sending_get_busy_never_damage(void) {
    void *chan = anon_channel(CHAN);
    pthread_t t[2];
    uint32_t n = scaled(20000);
    struct racer r[2] = {{chan, 1, n, 0}, {chan, 2, n, 0}};
    for (int i = 0; i < 2; i++) REQUIRE(pthread_create(&t[i], NULL, race_sends, &r[i]) == 0);
    uint32_t next[3] = {0, 0, 0};
    for (uint32_t k = 0; k < 2 * n; k++) {
        uint32_t msg[8];
        size_t len = 0;
        if (mapipc_channel_recv(chan, msg, sizeof msg, &len, 10000000000LL) != MAPIPC_OK) {
            CHECK(!"recv");
            break;
        }
        uint32_t tag = msg[0];
        CHECK(len == sizeof msg && (tag == 1 || tag == 2));
        if (len != sizeof msg || (tag != 1 && tag != 2)) break;
        CHECK(msg[1] == next[tag] && msg[2] == tag * 31 + msg[1] && msg[7] == ~msg[1]);
        next[tag]++;
    }
    for (int i = 0; i < 2; i++) REQUIRE(pthread_join(t[i], NULL) == 0);
    CHECK(next[1] == n && next[2] == n);
    CHECK_OK(mapipc_unmap(chan));
}

static void *blocked_sender(void *chan) {
    static unsigned char big[3000];
    /* The third send blocks on the full 4 KiB channel, holding the side. */
    for (int i = 0; i < 3; i++)
        if (mapipc_channel_send(chan, big, 1500, -1) != MAPIPC_OK) return (void *)1;
    return NULL;
}

/* While one thread is inside send (blocked on a full channel), another
 * thread's send is BUSY at once; the same for receive. */
static void busy_is_immediate(void) {
    char *chan = anon_channel(4096);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, blocked_sender, chan) == 0);
    while (chan_field(chan, CHAN_SEND_SLEEPING) == 0) sched_yield();
    CHECK_STATUS(mapipc_channel_send(chan, "x", 1, -1), MAPIPC_ERR_BUSY, EBUSY);
    CHECK_MESSAGE("is sending");
    unsigned char buf[2000];
    size_t len = 0;
    CHECK_OK(mapipc_channel_recv(chan, buf, sizeof buf, &len, -1));
    CHECK(len == 1500);
    void *rc = (void *)2;
    REQUIRE(pthread_join(t, &rc) == 0);
    CHECK(rc == NULL);
    CHECK_OK(mapipc_unmap(chan));
}

static void close_drains_then_closed(void) {
    void *chan = anon_channel(CHAN);
    CHECK_OK(mapipc_channel_send(chan, "one", 3, 0));
    CHECK_OK(mapipc_channel_send(chan, "", 0, 0));
    CHECK_OK(mapipc_channel_close(chan));
    CHECK_OK(mapipc_channel_close(chan));
    CHECK_STATUS(mapipc_channel_send(chan, "two", 3, 0), MAPIPC_ERR_CLOSED, EPIPE);
    char buf[8];
    size_t len = 99;
    CHECK_OK(mapipc_channel_recv(chan, buf, sizeof buf, &len, 0));
    CHECK(len == 3 && memcmp(buf, "one", 3) == 0);
    CHECK_OK(mapipc_channel_recv(chan, buf, sizeof buf, &len, 0));
    CHECK(len == 0);
    CHECK_STATUS(mapipc_channel_recv(chan, buf, sizeof buf, &len, -1), MAPIPC_ERR_CLOSED, EPIPE);
    CHECK(len == 0);
    CHECK_OK(mapipc_unmap(chan));
    /* A receiver blocked in another process is woken by close. */
    chan = anon_channel(CHAN);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(mapipc_channel_recv(chan, buf, sizeof buf, &len, -1));
    while (chan_field(chan, CHAN_RECV_SLEEPING) == 0) sched_yield();
    CHECK_OK(mapipc_channel_close(chan));
    CHECK(check_wait(pid) == MAPIPC_ERR_CLOSED);
    CHECK_OK(mapipc_unmap(chan));
}

static void sizes_and_timeouts(void) {
    void *chan = anon_channel(4096);
    size_t max = 0;
    CHECK_OK(mapipc_channel_max_message(chan, &max));
    CHECK(max == (4096 - CHAN_HEADER - 64) / 2 / 64 * 64);
    static unsigned char big[8192];
    CHECK_STATUS(mapipc_channel_send(chan, big, max + 1, -1), MAPIPC_ERR_TOO_LARGE, EMSGSIZE);
    CHECK_MESSAGE("at most 1792 bytes");
    CHECK_OK(mapipc_channel_send(chan, big, max, 0));
    CHECK_STATUS(mapipc_channel_send(chan, big, max, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    double start = now_seconds();
    CHECK_STATUS(mapipc_channel_send(chan, big, max, 20000000), MAPIPC_ERR_TIMED_OUT, ETIMEDOUT);
    CHECK(now_seconds() - start >= 0.020);
    /* A small buffer: TOO_LARGE with the length, and the message stays. */
    size_t len = 0;
    CHECK_STATUS(mapipc_channel_recv(chan, big, 100, &len, 0), MAPIPC_ERR_TOO_LARGE, EMSGSIZE);
    CHECK(len == max);
    CHECK_STATUS(mapipc_channel_recv(chan, NULL, 0, &len, 0), MAPIPC_ERR_TOO_LARGE, EMSGSIZE);
    CHECK_OK(mapipc_channel_recv(chan, big, sizeof big, &len, 0));
    CHECK(len == max);
    CHECK_STATUS(mapipc_channel_recv(chan, big, sizeof big, &len, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    start = now_seconds();
    CHECK_STATUS(mapipc_channel_recv(chan, big, sizeof big, &len, 20000000), MAPIPC_ERR_TIMED_OUT, ETIMEDOUT);
    CHECK(now_seconds() - start >= 0.020);
    CHECK_MESSAGE("no message arrived");
    CHECK_OK(mapipc_unmap(chan));
}

static void argument_errors(void) {
    char *r = NULL;
    char buf[64];
    size_t len = 0, max = 1;
    CHECK_OK(mapipc_map_anonymous(3 * 4096, MAPIPC_WRITE, (void **)&r));
    REQUIRE(r != NULL);
    CHECK_STATUS(mapipc_channel_init(NULL, 4096), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    void *heap = NULL;
    REQUIRE(posix_memalign(&heap, 64, 8192) == 0);
    memset(heap, 0, 8192);
    CHECK_STATUS(mapipc_channel_init(heap, 4096), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_channel_send(heap, "x", 1, 0), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    free(heap);
    CHECK_STATUS(mapipc_channel_init(r + 8, 4096), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("aligned");
    CHECK_STATUS(mapipc_channel_init(r, 1000), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("at least 4096");
    CHECK_STATUS(mapipc_channel_init(r + 4096, 3 * 4096), MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    CHECK_STATUS(mapipc_channel_init(r + 3 * 4096 - 64, 0), MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    /* Never initialised: every call says so, nothing is written. */
    CHECK_STATUS(mapipc_channel_send(r, "x", 1, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("never initialised");
    CHECK_STATUS(mapipc_channel_recv(r, buf, sizeof buf, &len, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_channel_max_message(r, &max), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(max == 0);
    CHECK_STATUS(mapipc_channel_close(r), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    for (int i = 0; i < 3 * 4096; i++) CHECK(r[i] == 0);
    /* Init once; again with the same size keeps what is queued; another
     * size is refused. */
    CHECK_OK(mapipc_channel_init(r, 8192));
    CHECK_OK(mapipc_channel_send(r, "kept", 4, 0));
    CHECK_OK(mapipc_channel_init(r, 8192));
    CHECK_OK(mapipc_channel_init(r, 8192 + 10)); /* rounds down to 64 */
    CHECK_STATUS(mapipc_channel_init(r, 4096), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("initialised with 8192 bytes");
    CHECK_OK(mapipc_channel_recv(r, buf, sizeof buf, &len, 0));
    CHECK(len == 4 && memcmp(buf, "kept", 4) == 0);
    /* NULL pieces. */
    CHECK_STATUS(mapipc_channel_send(r, NULL, 1, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_OK(mapipc_channel_send(r, NULL, 0, 0));
    CHECK_STATUS(mapipc_channel_recv(r, NULL, 5, &len, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_channel_recv(r, buf, sizeof buf, NULL, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_channel_max_message(r, NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* Garbage where a channel should be. */
    memset(r + 8192, 0x5a, CHAN_HEADER);
    CHECK_STATUS(mapipc_channel_init(r + 8192, 4096), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_channel_send(r + 8192, "x", 1, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_OK(mapipc_unmap(r));
    /* Unmapped, and read-only. */
    CHECK_STATUS(mapipc_channel_send(r, "x", 1, 0), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_channel_init(r, 4096), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    void *ro = NULL;
    CHECK_OK(mapipc_map_anonymous(8192, MAPIPC_READ, &ro));
    CHECK_STATUS(mapipc_channel_init(ro, 0), MAPIPC_ERR_PERMISSION_DENIED, EACCES);
    CHECK_STATUS(mapipc_channel_send(ro, "x", 1, 0), MAPIPC_ERR_PERMISSION_DENIED, EACCES);
    CHECK_OK(mapipc_unmap(ro));
}

/* Four processes race to initialise the same zeroed memory. */
static void racing_init(void) {
    char *r = NULL;
    CHECK_OK(mapipc_map_anonymous(CHAN + 64, MAPIPC_WRITE, (void **)&r));
    REQUIRE(r != NULL);
    uint32_t *go = (uint32_t *)(r + CHAN);
    pid_t pids[4];
    for (int i = 0; i < 4; i++) {
        fflush(stdout);
        pids[i] = fork();
        REQUIRE(pids[i] >= 0);
        if (pids[i] == 0) {
            while (__atomic_load_n(go, __ATOMIC_ACQUIRE) == 0) mapipc_wait(go, 0, -1);
            _exit(mapipc_channel_init(r, CHAN));
        }
    }
    __atomic_store_n(go, 1, __ATOMIC_RELEASE);
    CHECK_OK(mapipc_wake(go, UINT32_MAX));
    for (int i = 0; i < 4; i++) CHECK(check_wait(pids[i]) == 0);
    CHECK_OK(mapipc_channel_send(r, "ok", 2, 0));
    char buf[4];
    size_t len = 0;
    CHECK_OK(mapipc_channel_recv(r, buf, sizeof buf, &len, 0));
    CHECK(len == 2);
    CHECK_OK(mapipc_unmap(r));
}

int main(int argc, char **argv) {
    (void)argc;
    find_helper(argv[0], "helper_channel_peer");
    RUN(mixed_stream_to_forked_receiver);
    RUN(million_small_messages);
    RUN(mixed_stream_to_exec_receiver_posix);
    RUN(mixed_stream_to_exec_receiver_sysv);
    RUN(sender_killed_at_random_moments);
    RUN(receiver_dies_while_sender_blocked);
    RUN(two_threads_sending_get_busy_never_damage);
    RUN(busy_is_immediate);
    RUN(close_drains_then_closed);
    RUN(sizes_and_timeouts);
    RUN(argument_errors);
    RUN(racing_init);
    return check_done();
}
