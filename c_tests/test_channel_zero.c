/* Zero-copy channel messages: reserve/commit/cancel and peek/release, their
 * rules between threads, their mix with send/recv, wrap-around at the
 * ring's end, and what a thread or process that dies holding one leaves
 * behind (nothing published, nothing consumed). */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "channel_util.h"
#include "sync_util.h"

struct try_args {
    void *chan;
    mapipc_status st;
};

static void *try_send(void *arg) {
    struct try_args *a = arg;
    a->st = mapipc_channel_send(a->chan, "t", 1, 0);
    return NULL;
}

static void *try_recv(void *arg) {
    struct try_args *a = arg;
    char buf[8];
    size_t len;
    a->st = mapipc_channel_recv(a->chan, buf, sizeof buf, &len, 0);
    return NULL;
}

static void *try_release(void *arg) {
    struct try_args *a = arg;
    a->st = mapipc_channel_release(a->chan);
    return NULL;
}

static void *try_unmap(void *arg) {
    struct try_args *a = arg;
    a->st = mapipc_unmap(a->chan);
    return NULL;
}

/* Runs fn in another thread and returns the status it got. */
static mapipc_status in_thread(void *(*fn)(void *), void *chan) {
    struct try_args a = {chan, MAPIPC_OK};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, fn, &a) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    return a.st;
}

static void reserve_commit_cancel_rules(void) {
    char *chan = anon_channel(8192, 0);
    size_t max = 0;
    CHECK_OK(mapipc_channel_max_message(chan, &max));
    void *buf = (void *)1;
    CHECK_STATUS(mapipc_channel_reserve(chan, max + 1, 0, &buf), MAPIPC_ERR_TOO_LARGE, EMSGSIZE);
    CHECK(buf == NULL);
    CHECK_OK(mapipc_channel_reserve(chan, 100, 0, &buf));
    REQUIRE(buf != NULL);
    CHECK(((uintptr_t)buf & 63) == 0);
    CHECK((char *)buf > chan && (char *)buf + 100 <= chan + 8192);
    memset(buf, 'r', 100);
    void *again = (void *)1;
    CHECK_STATUS(mapipc_channel_reserve(chan, 10, 0, &again), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(again == NULL);
    CHECK_STATUS(mapipc_channel_send(chan, "x", 1, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(in_thread(try_send, chan) == MAPIPC_ERR_BUSY);
    CHECK_STATUS(mapipc_channel_commit(chan, 101), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* Nothing published yet, and the reservation is still there. */
    char out[200];
    size_t len = 0;
    CHECK_STATUS(mapipc_channel_recv(chan, out, sizeof out, &len, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    CHECK_OK(mapipc_channel_commit(chan, 60));
    CHECK_STATUS(mapipc_channel_commit(chan, 1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_channel_cancel(chan), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &len, 0));
    CHECK(len == 60 && out[0] == 'r' && out[59] == 'r');
    /* Cancel publishes nothing; the sender side is free again. */
    CHECK_OK(mapipc_channel_reserve(chan, 10, 0, &buf));
    CHECK_OK(mapipc_channel_cancel(chan));
    CHECK_STATUS(mapipc_channel_recv(chan, out, sizeof out, &len, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    CHECK(in_thread(try_send, chan) == MAPIPC_OK);
    CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &len, 0));
    CHECK(len == 1 && out[0] == 't');
    /* Zero bytes, and commit of fewer bytes than reserved. */
    CHECK_OK(mapipc_channel_reserve(chan, 0, 0, &buf));
    CHECK_OK(mapipc_channel_commit(chan, 0));
    CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &len, 0));
    CHECK(len == 0);
    /* Closed while held: commit is CLOSED and publishes nothing. */
    CHECK_OK(mapipc_channel_reserve(chan, 10, 0, &buf));
    CHECK_OK(mapipc_channel_close(chan));
    CHECK_STATUS(mapipc_channel_commit(chan, 10), MAPIPC_ERR_CLOSED, EPIPE);
    CHECK_STATUS(mapipc_channel_recv(chan, out, sizeof out, &len, 0), MAPIPC_ERR_CLOSED, EPIPE);
    CHECK_STATUS(mapipc_channel_reserve(chan, 10, 0, &buf), MAPIPC_ERR_CLOSED, EPIPE);
    CHECK(buf == NULL);
    CHECK_STATUS(mapipc_channel_reserve(chan, 10, 0, NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_OK(mapipc_unmap(chan));
}

static void peek_release_rules(void) {
    char *chan = anon_channel(8192, 0);
    const void *msg = (const void *)1;
    size_t len = 99;
    CHECK_STATUS(mapipc_channel_peek(chan, &msg, &len, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    CHECK(msg == NULL && len == 0);
    CHECK_STATUS(mapipc_channel_release(chan), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_OK(mapipc_channel_send(chan, "abc", 3, 0));
    CHECK_OK(mapipc_channel_send(chan, "defg", 4, 0));
    CHECK_OK(mapipc_channel_peek(chan, &msg, &len, 0));
    CHECK(len == 3 && memcmp(msg, "abc", 3) == 0);
    CHECK(((uintptr_t)msg & 63) == 0);
    const void *msg2 = NULL;
    size_t len2 = 0;
    CHECK_STATUS(mapipc_channel_peek(chan, &msg2, &len2, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    char out[16];
    size_t got = 0;
    CHECK_STATUS(mapipc_channel_recv(chan, out, sizeof out, &got, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(in_thread(try_recv, chan) == MAPIPC_ERR_BUSY);
    CHECK(in_thread(try_release, chan) == MAPIPC_ERR_INVALID_ARGUMENT);
    CHECK_OK(mapipc_channel_release(chan));
    CHECK_STATUS(mapipc_channel_release(chan), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* The next one by recv: the peeked one is gone, the next is whole. */
    CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &got, 0));
    CHECK(got == 4 && memcmp(out, "defg", 4) == 0);
    /* A peeked message survives close until released. */
    CHECK_OK(mapipc_channel_send(chan, "z", 1, 0));
    CHECK_OK(mapipc_channel_close(chan));
    CHECK_OK(mapipc_channel_peek(chan, &msg, &len, -1));
    CHECK(len == 1);
    CHECK_OK(mapipc_channel_release(chan));
    CHECK_STATUS(mapipc_channel_peek(chan, &msg, &len, -1), MAPIPC_ERR_CLOSED, EPIPE);
    CHECK(msg == NULL);
    CHECK_OK(mapipc_unmap(chan));
}

/* Messages of every length from a reserving child to a peeking parent,
 * through a small ring: every one lands contiguous and aligned, wherever
 * the ring's end falls; an empty ring takes a largest message at once at
 * any position. */
static void wrap_around_of_reserved_messages(uint32_t options) {
    char *chan = anon_channel(4096, options);
    size_t max = 0;
    CHECK_OK(mapipc_channel_max_message(chan, &max));
    for (uint32_t k = 0; k < 80; k++) {
        void *buf = NULL;
        CHECK_OK(mapipc_channel_reserve(chan, max, 0, &buf));
        CHECK_OK(mapipc_channel_cancel(chan));
        char out[8];
        size_t len;
        /* With many senders a cancelled frame keeps its room until a
         * receive passes it. */
        if (options) CHECK_STATUS(mapipc_channel_recv(chan, out, sizeof out, &len, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
        CHECK_OK(mapipc_channel_send(chan, "step", 1 + k % 4, 0));
        CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &len, 0));
    }
    uint32_t n = getenv("MAPIPC_TEST_UNDER_VALGRIND") ? 500 : 20000;
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        for (uint32_t i = 0; i < n; i++) {
            size_t len = mixed_len(i) % (max + 1);
            void *buf = NULL;
            if (mapipc_channel_reserve(chan, max, -1, &buf) != MAPIPC_OK) _exit(1);
            if (((uintptr_t)buf & 63) != 0) _exit(2);
            mixed_fill(i, buf, len);
            if (mapipc_channel_commit(chan, len) != MAPIPC_OK) _exit(3);
        }
        _exit(0);
    }
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n && !bad; i++) {
        const void *msg = NULL;
        size_t len = 0;
        if (mapipc_channel_peek(chan, &msg, &len, 10000000000LL) != MAPIPC_OK) bad = i + 1;
        else if (len != mixed_len(i) % (max + 1) || ((uintptr_t)msg & 63) != 0) bad = i + 1;
        else {
            unsigned char want[MIXED_MAX];
            mixed_fill(i, want, len);
            if (memcmp(msg, want, len) != 0) bad = i + 1;
            if (mapipc_channel_release(chan) != MAPIPC_OK) bad = i + 1;
        }
    }
    CHECK(bad == 0);
    CHECK(check_wait(pid) == 0);
    CHECK_OK(mapipc_unmap(chan));
}

static void wrap_around_one_sender(void) { wrap_around_of_reserved_messages(0); }
static void wrap_around_many_senders(void) {
    wrap_around_of_reserved_messages(MAPIPC_CHANNEL_MANY_SENDERS);
}

static void *reserve_and_end(void *chan) {
    void *buf = NULL;
    if (mapipc_channel_reserve(chan, 64, 0, &buf) != MAPIPC_OK) return (void *)1;
    memset(buf, 'd', 64);
    /* A mutex taken and given back meanwhile must not lose the
     * reservation's robust entry. */
    mapipc_mutex *m = (mapipc_mutex *)((char *)chan + 8192);
    if (mapipc_mutex_lock(m, -1) != MAPIPC_OK || mapipc_mutex_unlock(m) != MAPIPC_OK) return (void *)2;
    return NULL;
}

/* A thread that ends holding a reservation publishes nothing and frees
 * the channel for others. */
static void thread_ending_with_reservation(uint32_t options) {
    char *chan = NULL;
    CHECK_OK(mapipc_map_anonymous(8192 + 4096, MAPIPC_WRITE, (void **)&chan));
    CHECK_OK(mapipc_channel_init_with(chan, 8192, options));
    CHECK_OK(mapipc_mutex_init((mapipc_mutex *)(chan + 8192)));
    pthread_t t;
    void *rc = (void *)9;
    REQUIRE(pthread_create(&t, NULL, reserve_and_end, chan) == 0);
    REQUIRE(pthread_join(t, &rc) == 0);
    CHECK(rc == NULL);
    CHECK_OK(mapipc_channel_send(chan, "after", 5, 0));
    char out[64];
    size_t len = 0;
    CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &len, 1000000000LL));
    CHECK(len == 5 && memcmp(out, "after", 5) == 0);
    CHECK_STATUS(mapipc_channel_recv(chan, out, sizeof out, &len, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    CHECK_OK(mapipc_unmap(chan));
}

static void thread_ends_holding_reservation_one(void) { thread_ending_with_reservation(0); }
static void thread_ends_holding_reservation_many(void) {
    thread_ending_with_reservation(MAPIPC_CHANNEL_MANY_SENDERS);
}

/* A process killed between reserve and commit (its parent does not reap
 * it): nothing of it is published, and others send and receive on. */
static void killed_between_reserve_and_commit(uint32_t options) {
    char *chan = anon_channel(8192, options);
    for (int round = 0; round < 5; round++) {
        signal_pipe ready;
        sp_open(&ready);
        fflush(stdout);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            void *buf = NULL;
            if (mapipc_channel_send(chan, "before", 6, -1) != MAPIPC_OK) _exit(1);
            if (mapipc_channel_reserve(chan, 500, -1, &buf) != MAPIPC_OK) _exit(1);
            memset(buf, 'X', 500);
            sp_post(&ready);
            for (;;) pause();
        }
        CHECK(sp_take(&ready));
        CHECK(kill(pid, SIGKILL) == 0);
        CHECK(becomes_unreaped_zombie(pid));
        double start = now_seconds();
        CHECK_OK(mapipc_channel_send(chan, "after", 5, 2000000000LL));
        char out[600];
        size_t len = 0;
        CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &len, 2000000000LL));
        CHECK(len == 6 && memcmp(out, "before", 6) == 0);
        CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &len, 2000000000LL));
        CHECK(len == 5 && memcmp(out, "after", 5) == 0);
        CHECK(now_seconds() - start < 1.0);
        CHECK(check_wait(pid) == 128 + SIGKILL);
        sp_close(&ready);
    }
    CHECK_OK(mapipc_unmap(chan));
}

static void killed_holding_reservation_one(void) { killed_between_reserve_and_commit(0); }
static void killed_holding_reservation_many(void) {
    killed_between_reserve_and_commit(MAPIPC_CHANNEL_MANY_SENDERS);
}

/* A receiver killed between peek and release leaves the message queued
 * for the next receiver. */
static void receiver_killed_between_peek_and_release(void) {
    char *chan = anon_channel(8192, 0);
    CHECK_OK(mapipc_channel_send(chan, "keep me", 7, 0));
    CHECK_OK(mapipc_channel_send(chan, "second", 6, 0));
    signal_pipe ready;
    sp_open(&ready);
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const void *msg = NULL;
        size_t len = 0;
        if (mapipc_channel_peek(chan, &msg, &len, -1) != MAPIPC_OK || len != 7) _exit(1);
        sp_post(&ready);
        for (;;) pause();
    }
    CHECK(sp_take(&ready));
    char out[16];
    size_t len = 0;
    CHECK_STATUS(mapipc_channel_recv(chan, out, sizeof out, &len, 0), MAPIPC_ERR_BUSY, EBUSY);
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(becomes_unreaped_zombie(pid));
    CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &len, 0));
    CHECK(len == 7 && memcmp(out, "keep me", 7) == 0);
    CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &len, 0));
    CHECK(len == 6);
    CHECK(check_wait(pid) == 128 + SIGKILL);
    sp_close(&ready);
    CHECK_OK(mapipc_unmap(chan));
}

/* send/recv and reserve/peek in any mix on one channel. */
/* A held reservation or peek is linked into the thread's robust list: no
 * thread of the process may unmap the channel under it (the list would
 * point into whatever is mapped there next). */
static void unmap_waits_for_holds(uint32_t options) {
    void *chan = anon_channel(8192, options);
    void *buf = NULL;
    CHECK_OK(mapipc_channel_reserve(chan, 10, 0, &buf));
    CHECK(in_thread(try_unmap, chan) == MAPIPC_ERR_BUSY);
    CHECK_STATUS(mapipc_unmap(chan), MAPIPC_ERR_BUSY, EBUSY);
    CHECK_OK(mapipc_channel_commit(chan, 3));
    const void *msg = NULL;
    size_t len = 0;
    CHECK_OK(mapipc_channel_peek(chan, &msg, &len, 0));
    CHECK(len == 3);
    CHECK(in_thread(try_unmap, chan) == MAPIPC_ERR_BUSY);
    CHECK_OK(mapipc_channel_release(chan));
    CHECK(in_thread(try_unmap, chan) == MAPIPC_OK);
}

static void unmap_waits_for_holds_one(void) { unmap_waits_for_holds(0); }
static void unmap_waits_for_holds_many(void) { unmap_waits_for_holds(MAPIPC_CHANNEL_MANY_SENDERS); }

static void mixed_apis_interoperate(void) {
    char *chan = anon_channel(16384, 0);
    for (uint32_t i = 0; i < 2000; i++) {
        size_t len = mixed_len(i) % 1000;
        if (i % 2) {
            unsigned char tmp[1000];
            mixed_fill(i, tmp, len);
            CHECK_OK(mapipc_channel_send(chan, tmp, len, 0));
        } else {
            void *buf = NULL;
            CHECK_OK(mapipc_channel_reserve(chan, len, 0, &buf));
            mixed_fill(i, buf, len);
            CHECK_OK(mapipc_channel_commit(chan, len));
        }
        unsigned char out[1000];
        size_t got = 0;
        if (i % 3) {
            CHECK_OK(mapipc_channel_recv(chan, out, sizeof out, &got, 0));
        } else {
            const void *msg = NULL;
            CHECK_OK(mapipc_channel_peek(chan, &msg, &got, 0));
            memcpy(out, msg, got);
            CHECK_OK(mapipc_channel_release(chan));
        }
        unsigned char want[1000];
        mixed_fill(i, want, len);
        CHECK(got == len && memcmp(out, want, len) == 0);
    }
    CHECK_OK(mapipc_unmap(chan));
}

int main(void) {
    RUN(reserve_commit_cancel_rules);
    RUN(peek_release_rules);
    RUN(wrap_around_one_sender);
    RUN(wrap_around_many_senders);
    RUN(thread_ends_holding_reservation_one);
    RUN(thread_ends_holding_reservation_many);
    RUN(killed_holding_reservation_one);
    RUN(killed_holding_reservation_many);
    RUN(receiver_killed_between_peek_and_release);
    RUN(mixed_apis_interoperate);
    RUN(unmap_waits_for_holds_one);
    RUN(unmap_waits_for_holds_many);
    return check_done();
}
