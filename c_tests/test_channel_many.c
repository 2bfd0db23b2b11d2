/* Channels with many senders (MAPIPC_CHANNEL_MANY_SENDERS): 4 processes x
 * 3 threads sending at once with send and reserve/commit, each thread's
 * messages whole and in order; senders killed at random moments, also
 * between reserve and commit, costing only their own unfinished message
 * and never stalling the others; options checked at init. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "channel_util.h"
#include "sync_util.h"

enum { PROCS = 4, THREADS = 3, MSG_WORDS = 6 };

static int under_valgrind(void) { return getenv("MAPIPC_TEST_UNDER_VALGRIND") != NULL; }

struct sender {
    void *chan;
    uint32_t who;   /* process * THREADS + thread */
    uint32_t count; /* UINT32_MAX: until killed */
    uint32_t busy;
};

/* Message: who, sequence, a check, then padding of a varying length. */
static void *send_stream(void *arg) {
    struct sender *s = arg;
    for (uint32_t i = 0; i < s->count; i++) {
        uint32_t msg[MSG_WORDS + 64] = {s->who, i, s->who * 7919u + i};
        size_t len = (MSG_WORDS + (mix32(i ^ s->who) % 64)) * 4;
        mapipc_status st;
        if (i % 2) {
            st = mapipc_channel_send(s->chan, msg, len, -1);
        } else {
            void *buf = NULL;
            st = mapipc_channel_reserve(s->chan, len, -1, &buf);
            if (st == MAPIPC_OK) {
                memcpy(buf, msg, len);
                st = mapipc_channel_commit(s->chan, len);
            }
        }
        if (st == MAPIPC_ERR_BUSY) s->busy++;
        if (st != MAPIPC_OK) return (void *)1;
    }
    return NULL;
}

/* Receives until `total` messages came (0: until CLOSED or a timeout);
 * checks each is whole and next in its sender's order. Returns how many
 * arrived; `next` counts per sender. */
static uint32_t receive_streams(void *chan, uint32_t total, uint32_t *next, uint32_t senders,
                                double *longest_gap) {
    uint32_t got = 0;
    double last = now_seconds();
    for (;;) {
        if (total && got == total) break;
        uint32_t msg[MSG_WORDS + 64];
        size_t len = 0;
        mapipc_status st = mapipc_channel_recv(chan, msg, sizeof msg, &len, 5000000000LL);
        if (st != MAPIPC_OK) break;
        double now = now_seconds();
        if (longest_gap && now - last > *longest_gap) *longest_gap = now - last;
        last = now;
        uint32_t who = msg[0];
        if (len < MSG_WORDS * 4 || who >= senders || msg[1] != next[who] ||
            msg[2] != who * 7919u + msg[1] || len != (MSG_WORDS + (mix32(msg[1] ^ who) % 64)) * 4) {
            CHECK(!"a whole message, next in its sender's order");
            fprintf(stderr, "  who %u seq %u (want %u) len %zu\n", who, msg[1],
                    who < senders ? next[who] : 0, len);
            break;
        }
        next[who]++;
        got++;
    }
    return got;
}

static void four_processes_three_threads(void) {
    void *chan = anon_channel(64 * 1024, MAPIPC_CHANNEL_MANY_SENDERS);
    uint32_t n = under_valgrind() ? 300 : 20000;
    pid_t pids[PROCS];
    for (uint32_t p = 0; p < PROCS; p++) {
        fflush(stdout);
        pids[p] = fork();
        REQUIRE(pids[p] >= 0);
        if (pids[p] == 0) {
            pthread_t t[THREADS];
            struct sender s[THREADS];
            for (uint32_t k = 0; k < THREADS; k++) {
                s[k] = (struct sender){chan, p * THREADS + k, n, 0};
                REQUIRE(pthread_create(&t[k], NULL, send_stream, &s[k]) == 0);
            }
            int bad = 0;
            for (uint32_t k = 0; k < THREADS; k++) {
                void *rc = NULL;
                REQUIRE(pthread_join(t[k], &rc) == 0);
                if (rc != NULL || s[k].busy) bad = 1;
            }
            _exit(bad);
        }
    }
    uint32_t next[PROCS * THREADS] = {0};
    uint32_t got = receive_streams(chan, PROCS * THREADS * n, next, PROCS * THREADS, NULL);
    CHECK(got == PROCS * THREADS * n);
    for (uint32_t w = 0; w < PROCS * THREADS; w++) CHECK(next[w] == n);
    for (uint32_t p = 0; p < PROCS; p++) CHECK(check_wait(pids[p]) == 0);
    CHECK_OK(mapipc_unmap(chan));
}

/* Forks a process whose one thread sends as `who` until killed. */
static pid_t fork_streamer(void *chan, uint32_t who) {
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        struct sender s = {chan, who, UINT32_MAX, 0};
        _exit(send_stream(&s) == NULL ? 0 : 1);
    }
    return pid;
}

/* Three senders stream; one at a time is killed at a random moment and
 * replaced under a new identity. The receiver (which never reaps during
 * the round) sees every sender's messages whole and in order, is never
 * stalled for a second, and is never told CLOSED. */
static void senders_killed_mid_stream(void) {
    void *chan = anon_channel(16 * 1024, MAPIPC_CHANNEL_MANY_SENDERS);
    enum { IDS = 64 };
    uint32_t next[IDS] = {0};
    pid_t live[3];
    uint32_t ids = 0;
    for (int k = 0; k < 3; k++) live[k] = fork_streamer(chan, ids++);
    srand(4242);
    double gap = 0;
    int rounds = under_valgrind() ? 4 : 20;
    for (int round = 0; round < rounds; round++) {
        uint32_t want = 200 + (uint32_t)(rand() % 2000);
        CHECK(receive_streams(chan, want, next, IDS, &gap) == want);
        int victim = rand() % 3;
        CHECK(kill(live[victim], SIGKILL) == 0);
        CHECK(becomes_unreaped_zombie(live[victim]));
        live[victim] = fork_streamer(chan, ids++);
        CHECK(receive_streams(chan, 100, next, IDS, &gap) == 100);
    }
    CHECK(gap < 1.0);
    for (int k = 0; k < 3; k++) CHECK(kill(live[k], SIGKILL) == 0);
    /* Senders gone: the receiver is not told CLOSED, it times out. */
    for (int k = 0; k < 3; k++) CHECK(becomes_unreaped_zombie(live[k]));
    char buf[1024];
    size_t len;
    mapipc_status st;
    while ((st = mapipc_channel_recv(chan, buf, sizeof buf, &len, 200000000LL)) == MAPIPC_OK) {
    }
    CHECK(st == MAPIPC_ERR_TIMED_OUT);
    CHECK_OK(mapipc_channel_close(chan));
    CHECK_STATUS(mapipc_channel_recv(chan, buf, sizeof buf, &len, -1), MAPIPC_ERR_CLOSED, EPIPE);
    CHECK_STATUS(mapipc_channel_send(chan, "x", 1, -1), MAPIPC_ERR_CLOSED, EPIPE);
    /* Reap everyone: the killed ones of every round too. */
    while (waitpid(-1, NULL, 0) > 0) {
    }
    CHECK_OK(mapipc_unmap(chan));
}

/* A sender killed between reserve and commit while others stream: the
 * receiver waits for nobody longer than a second and loses nothing else. */
static void killed_between_reserve_and_commit_amid_others(void) {
    void *chan = anon_channel(16 * 1024, MAPIPC_CHANNEL_MANY_SENDERS);
    uint32_t next[8] = {0};
    signal_pipe ready;
    sp_open(&ready);
    fflush(stdout);
    pid_t holder = fork();
    REQUIRE(holder >= 0);
    if (holder == 0) {
        void *buf = NULL;
        if (mapipc_channel_reserve(chan, 100, -1, &buf) != MAPIPC_OK) _exit(1);
        memset(buf, 0xee, 100);
        sp_post(&ready);
        for (;;) pause();
    }
    CHECK(sp_take(&ready));
    /* The stream queues behind the held frame, and goes on once it is
     * gone. */
    pid_t a = fork_streamer(chan, 0);
    CHECK(kill(holder, SIGKILL) == 0);
    double start = now_seconds();
    double gap = 0;
    CHECK(receive_streams(chan, 3000, next, 8, &gap) == 3000);
    CHECK(now_seconds() - start < 2.0);
    CHECK(gap < 1.0);
    CHECK(kill(a, SIGKILL) == 0);
    CHECK(check_wait(a) == 128 + SIGKILL);
    CHECK(check_wait(holder) == 128 + SIGKILL);
    sp_close(&ready);
    CHECK_OK(mapipc_unmap(chan));
}

static void *hammer(void *chan) {
    for (int i = 0; i < 5000; i++) {
        mapipc_status st = mapipc_channel_send(chan, &i, sizeof i, -1);
        if (st != MAPIPC_OK) return (void *)(intptr_t)st;
    }
    return NULL;
}

static void options_and_no_busy(void) {
    char *r = NULL;
    CHECK_OK(mapipc_map_anonymous(3 * 8192, MAPIPC_WRITE, (void **)&r));
    REQUIRE(r != NULL);
    CHECK_STATUS(mapipc_channel_init_with(r, 8192, 0x80), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("unknown channel option");
    for (int i = 0; i < 8192; i++) CHECK(r[i] == 0);
    CHECK_OK(mapipc_channel_init_with(r, 8192, MAPIPC_CHANNEL_MANY_SENDERS));
    CHECK_OK(mapipc_channel_init_with(r, 8192, MAPIPC_CHANNEL_MANY_SENDERS));
    CHECK_STATUS(mapipc_channel_init(r, 8192), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("for many senders");
    CHECK_STATUS(mapipc_channel_init_with(r, 4096, MAPIPC_CHANNEL_MANY_SENDERS), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_OK(mapipc_channel_init(r + 8192, 8192));
    CHECK_STATUS(mapipc_channel_init_with(r + 8192, 8192, MAPIPC_CHANNEL_MANY_SENDERS), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* Size 0 resolves to the region's end before the same-size check. */
    CHECK_OK(mapipc_channel_init_with(r + 16384, 0, MAPIPC_CHANNEL_MANY_SENDERS));
    CHECK_OK(mapipc_channel_init_with(r + 16384, 8192, MAPIPC_CHANNEL_MANY_SENDERS));
    /* Two threads sending at once never get BUSY. */
    pthread_t t[2];
    for (int i = 0; i < 2; i++) REQUIRE(pthread_create(&t[i], NULL, hammer, r) == 0);
    for (int k = 0; k < 10000; k++) {
        int v;
        size_t len;
        if (mapipc_channel_recv(r, &v, sizeof v, &len, 5000000000LL) != MAPIPC_OK) {
            CHECK(!"recv");
            break;
        }
    }
    for (int i = 0; i < 2; i++) {
        void *rc = (void *)1;
        REQUIRE(pthread_join(t[i], &rc) == 0);
        CHECK(rc == NULL);
    }
    /* The receive side is still one at a time. */
    const void *msg;
    size_t len;
    CHECK_OK(mapipc_channel_send(r, "p", 1, 0));
    CHECK_OK(mapipc_channel_peek(r, &msg, &len, 0));
    CHECK_STATUS(mapipc_channel_send(r, "q", 1, 0), MAPIPC_OK, 0);
    CHECK_OK(mapipc_channel_release(r));
    CHECK_OK(mapipc_unmap(r));
}

int main(void) {
    RUN(options_and_no_busy);
    RUN(four_processes_three_threads);
    RUN(senders_killed_mid_stream);
    RUN(killed_between_reserve_and_commit_amid_others);
    return check_done();
}
