/* mapipc_wait / mapipc_wake: across processes on shared memory, between
 * threads on private memory, timeouts, and argument errors. Every waiter
 * loops on the word, as callers must (a wait may return spuriously). */
#include "sync_util.h"

enum { ROUNDS = 2000 };

/* Waits until *word reaches at least `want`. */
static int wait_until(uint32_t *word, uint32_t want) {
    for (;;) {
        uint32_t now = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        if (now >= want) return 1;
        if (mapipc_wait(word, now, -1) != MAPIPC_OK) return 0;
    }
}

static void bump(uint32_t *word) {
    __atomic_add_fetch(word, 1, __ATOMIC_RELEASE);
    CHECK_OK(mapipc_wake(word, 1));
}

/* Two sides take turns: one moves the word to odd values, the other to
 * even ones, each waiting for the other's move. */
static void ping_pong_side(uint32_t *word, uint32_t first) {
    for (uint32_t v = first; v < 2 * ROUNDS; v += 2) {
        if (!wait_until(word, v)) {
            CHECK(!"wait failed");
            return;
        }
        bump(word);
    }
}

static void ping_pong_between_processes(void) {
    uint32_t *word = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_WRITE, (void **)&word));
    REQUIRE(word != NULL);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ping_pong_side(word, 1);
        _exit(check_failures == 0 ? 0 : 1);
    }
    ping_pong_side(word, 0);
    CHECK(check_wait(pid) == 0);
    CHECK(*word == 2 * ROUNDS);
    CHECK_OK(mapipc_unmap(word));
}

static void *ping_pong_thread(void *arg) {
    ping_pong_side(arg, 1);
    return NULL;
}

static void ping_pong_between_threads_on_private_memory(void) {
    uint32_t *word = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_WRITE | MAPIPC_PRIVATE, (void **)&word));
    REQUIRE(word != NULL);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, ping_pong_thread, word) == 0);
    ping_pong_side(word, 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK(*word == 2 * ROUNDS);
    CHECK_OK(mapipc_unmap(word));
}

struct waiters {
    uint32_t word;
    uint32_t asleep;
};

static void *wait_for_release(void *arg) {
    struct waiters *w = arg;
    __atomic_add_fetch(&w->asleep, 1, __ATOMIC_RELEASE);
    CHECK(wait_until(&w->word, 1));
    return NULL;
}

/* Several waiters in a child process, all released by one wake. */
static void wake_all_across_processes(void) {
    struct waiters *w = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_WRITE, (void **)&w));
    REQUIRE(w != NULL);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        pthread_t t[3];
        for (int i = 0; i < 3; i++) REQUIRE(pthread_create(&t[i], NULL, wait_for_release, w) == 0);
        for (int i = 0; i < 3; i++) REQUIRE(pthread_join(t[i], NULL) == 0);
        _exit(check_failures == 0 ? 0 : 1);
    }
    while (__atomic_load_n(&w->asleep, __ATOMIC_ACQUIRE) < 3) sched_yield();
    __atomic_store_n(&w->word, 1, __ATOMIC_RELEASE);
    CHECK_OK(mapipc_wake(&w->word, UINT32_MAX));
    CHECK(check_wait(pid) == 0);
    CHECK_OK(mapipc_unmap(w));
}

static void timeouts_and_values(void) {
    uint32_t *word = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_WRITE, (void **)&word));
    REQUIRE(word != NULL);
    *word = 7;
    /* A word that differs returns at once, whatever the timeout. */
    CHECK_OK(mapipc_wait(word, 6, 0));
    CHECK_OK(mapipc_wait(word, 6, -1));
    CHECK_STATUS(mapipc_wait(word, 7, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    double start = now_seconds();
    CHECK_STATUS(mapipc_wait(word, 7, 20000000), MAPIPC_ERR_TIMED_OUT, ETIMEDOUT);
    CHECK(now_seconds() - start >= 0.020);
    CHECK_MESSAGE("timeout");
    /* Waking with nobody waiting is fine; so is a count of 0. */
    CHECK_OK(mapipc_wake(word, 1));
    CHECK_OK(mapipc_wake(word, 0));
    CHECK_OK(mapipc_unmap(word));
}

static void read_only_regions_can_be_waited_on(void) {
    check_write_file("w", "\1\0\0\0", 4);
    uint32_t *word = NULL;
    CHECK_OK(mapipc_map_file("w", 0, 4, MAPIPC_READ, (void **)&word));
    REQUIRE(word != NULL);
    CHECK_OK(mapipc_wait(word, 0, -1));
    CHECK_STATUS(mapipc_wait(word, 1, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    CHECK_OK(mapipc_wake(word, 1));
    CHECK_OK(mapipc_unmap(word));
    unlink("w");
}

static void bad_pointers(void) {
    uint32_t on_stack = 0;
    CHECK_STATUS(mapipc_wait(NULL, 0, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_wake(NULL, 1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_wait(&on_stack, 0, 0), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_wake(&on_stack, 1), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    char *r = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_WRITE, (void **)&r));
    REQUIRE(r != NULL);
    CHECK_STATUS(mapipc_wait((uint32_t *)(r + 2), 0, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_wake((uint32_t *)(r + 1), 1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_OK(mapipc_wait((uint32_t *)(r + 4092), 1, 0));
    CHECK_OK(mapipc_unmap(r));
    CHECK_STATUS(mapipc_wait((uint32_t *)r, 1, 0), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_wake((uint32_t *)r, 1), MAPIPC_ERR_NOT_MAPPED, EINVAL);
}

int main(void) {
    RUN(ping_pong_between_processes);
    RUN(ping_pong_between_threads_on_private_memory);
    RUN(wake_all_across_processes);
    RUN(timeouts_and_values);
    RUN(read_only_regions_can_be_waited_on);
    RUN(bad_pointers);
    return check_done();
}
