/* A held mutex's robust-list links (bytes 24..40) lie in shared memory,
 * where any peer can rewrite them while a thread holds the lock. The
 * holder must never follow them to write, or read, outside the objects it
 * holds: not on unlock, not while checking an unmap. Unlocking in any order
 * beside glibc's robust mutexes (whose links mapipc checks by other means
 * than its own records) must keep the thread's list whole. A holder whose
 * lock's state was overwritten still gives it back. */
#include <pthread.h>
#include <stdint.h>

#include "sync_util.h"

#define CANARY 0x5a5a5a5a5a5a5a5aull

/* Memory of the holder that the peer's links name: the holder must leave
 * it alone. Same address in the forked peer. */
static uint64_t canary[4] = {CANARY, CANARY, CANARY, CANARY};

/* The peer: a forked child that copies `n` bytes from `src` to `off`
 * bytes into the mutex at `m`, which the parent holds, then exits. */
static void peer_writes(mapipc_mutex *m, size_t off, const void *src, size_t n) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        memcpy((char *)m + off, src, n);
        _exit(0);
    }
    REQUIRE(check_wait(pid) == 0);
}

static void peer_rewrites_links(mapipc_mutex *m, uint64_t prev, uint64_t next) {
    uint64_t links[2] = {prev, next};
    peer_writes(m, 24, links, sizeof links);
}

/* Links naming the holder's own memory: the unlock used to store the
 * "prev" value 8 bytes before "next" and the "next" value at "prev", two
 * writes wherever a peer chose. */
static void rewritten_links_write_nothing_outside(void) {
    mapipc_mutex *m = anon(4096);
    CHECK_OK(mapipc_mutex_init(m));
    CHECK_OK(mapipc_mutex_lock(m, 0));
    peer_rewrites_links(m, (uint64_t)(uintptr_t)&canary[3], (uint64_t)(uintptr_t)&canary[1]);
    CHECK_OK(mapipc_mutex_unlock(m));
    for (int i = 0; i < 4; i++) CHECK(canary[i] == CANARY);
    /* The lock and the thread's list still work. */
    CHECK_OK(mapipc_mutex_lock(m, 0));
    CHECK_OK(mapipc_mutex_unlock(m));
    CHECK_OK(mapipc_unmap(m));
}

/* A "next" link naming unmapped memory: the check that every unmap makes
 * (does this thread hold a lock in there?) walked the list through it and
 * died of SIGSEGV, on an unmap of another region. */
static void garbage_next_link_leaves_unmap_working(void) {
    mapipc_mutex *m = anon(4096);
    void *other = anon(4096);
    CHECK_OK(mapipc_mutex_init(m));
    CHECK_OK(mapipc_mutex_lock(m, 0));
    peer_rewrites_links(m, 0x1000, 0x1000);
    CHECK_OK(mapipc_unmap(other));
    CHECK_STATUS(mapipc_unmap(m), MAPIPC_ERR_BUSY, EBUSY);
    CHECK_OK(mapipc_mutex_unlock(m));
    CHECK_OK(mapipc_unmap(m));
}

/* A peer that overwrites the state of a lock this thread holds: the unlock
 * still gives it back and says what it found (it used to refuse, and the
 * region stayed BUSY for good). */
static void overwritten_state_still_unlocks(void) {
    const uint32_t states[2] = {0xdeadbeefu, 0x4d580003u /* unrecoverable */};
    for (int i = 0; i < 2; i++) {
        mapipc_mutex *m = anon(4096);
        CHECK_OK(mapipc_mutex_init(m));
        CHECK_OK(mapipc_mutex_lock(m, 0));
        peer_writes(m, 4, &states[i], sizeof states[i]);
        if (i == 0) {
            CHECK_STATUS(mapipc_mutex_unlock(m), MAPIPC_ERR_INVALID_ARGUMENT, 0);
            CHECK_MESSAGE("overwritten while the calling thread held it");
            CHECK(__atomic_load_n((uint32_t *)m, __ATOMIC_ACQUIRE) == 0);
        } else {
            CHECK_STATUS(mapipc_mutex_unlock(m), MAPIPC_ERR_NOT_RECOVERABLE, 0);
            CHECK_STATUS(mapipc_mutex_lock(m, 0), MAPIPC_ERR_NOT_RECOVERABLE, 0);
        }
        CHECK_STATUS(mapipc_mutex_unlock(m), i == 0 ? MAPIPC_ERR_INVALID_ARGUMENT
                                                    : MAPIPC_ERR_NOT_RECOVERABLE, 0);
        CHECK_OK(mapipc_unmap(m));
    }
}

struct interleaved {
    pthread_mutex_t glibc;
    mapipc_mutex *a, *b;
};

/* Takes glibc's robust mutex, then a, then b; gives a back (its neighbours
 * are one of mapipc's and one of glibc's) and ends holding the others. */
static void *take_three_give_one(void *arg) {
    struct interleaved *s = arg;
    if (pthread_mutex_lock(&s->glibc) != 0) return (void *)1;
    if (mapipc_mutex_lock(s->a, 0) != MAPIPC_OK) return (void *)2;
    if (mapipc_mutex_lock(s->b, 0) != MAPIPC_OK) return (void *)3;
    if (mapipc_mutex_unlock(s->a) != MAPIPC_OK) return (void *)4;
    return NULL;
}

/* The kernel finds what the thread still held when it ends: the list
 * stayed whole through the unlock between two foreign-looking entries. */
static void unlock_between_glibc_and_mapipc_keeps_the_list_whole(void) {
    struct interleaved s;
    char *r = anon(4096);
    s.a = (mapipc_mutex *)r;
    s.b = (mapipc_mutex *)(r + 64);
    CHECK_OK(mapipc_mutex_init(s.a));
    CHECK_OK(mapipc_mutex_init(s.b));
    pthread_mutexattr_t attr;
    REQUIRE(pthread_mutexattr_init(&attr) == 0);
    REQUIRE(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0);
    REQUIRE(pthread_mutex_init(&s.glibc, &attr) == 0);
    pthread_t t;
    void *rc = (void *)-1;
    REQUIRE(pthread_create(&t, NULL, take_three_give_one, &s) == 0);
    REQUIRE(pthread_join(t, &rc) == 0);
    CHECK(rc == NULL);
    CHECK(pthread_mutex_lock(&s.glibc) == EOWNERDEAD);
    CHECK(pthread_mutex_consistent(&s.glibc) == 0);
    CHECK(pthread_mutex_unlock(&s.glibc) == 0);
    CHECK_STATUS(mapipc_mutex_lock(s.b, 0), MAPIPC_ERR_OWNER_DIED, EOWNERDEAD);
    CHECK_OK(mapipc_mutex_consistent(s.b));
    CHECK_OK(mapipc_mutex_unlock(s.b));
    CHECK_OK(mapipc_mutex_lock(s.a, 0));
    CHECK_OK(mapipc_mutex_unlock(s.a));
    pthread_mutexattr_destroy(&attr);
    CHECK_OK(mapipc_unmap(r));
}

/* A thread that ends holding a lock: mapipc's per-thread record goes with
 * its thread_local storage, before the kernel releases the lock as the
 * thread's very last act (pthread key destructors run in between). An
 * unmap from another thread in that moment must still see the lock: it
 * used to succeed, and the kernel then marked OWNER_DIED in whatever was
 * mapped at that address next. */
static signal_pipe ending, go_on;
static pthread_key_t ending_key;

static void hold_on_at_the_end(void *value) {
    (void)value;
    sp_post(&ending);
    sp_take(&go_on);
}

static void *lock_and_end(void *m) {
    if (mapipc_mutex_lock(m, 0) != MAPIPC_OK) return (void *)1;
    pthread_setspecific(ending_key, m);
    return NULL;
}

static void lock_held_as_its_thread_ends_blocks_unmap(void) {
    mapipc_mutex *m = anon(4096);
    CHECK_OK(mapipc_mutex_init(m));
    sp_open(&ending);
    sp_open(&go_on);
    REQUIRE(pthread_key_create(&ending_key, hold_on_at_the_end) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, lock_and_end, m) == 0);
    REQUIRE(sp_take(&ending));
    CHECK_STATUS(mapipc_unmap(m), MAPIPC_ERR_BUSY, EBUSY);
    sp_post(&go_on);
    void *rc = (void *)-1;
    REQUIRE(pthread_join(t, &rc) == 0);
    CHECK(rc == NULL);
    /* Released by the kernel: the region may go now. */
    CHECK_STATUS(mapipc_mutex_lock(m, 0), MAPIPC_ERR_OWNER_DIED, EOWNERDEAD);
    CHECK_OK(mapipc_mutex_consistent(m));
    CHECK_OK(mapipc_mutex_unlock(m));
    CHECK_OK(mapipc_unmap(m));
    sp_close(&ending);
    sp_close(&go_on);
}

/* Once the kernel released it, no one needs to unlock it first. */
static void lock_released_at_thread_end_lets_unmap_go(void) {
    mapipc_mutex *m = anon(4096);
    CHECK_OK(mapipc_mutex_init(m));
    REQUIRE(pthread_key_create(&ending_key, NULL) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, lock_and_end, m) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK_OK(mapipc_unmap(m));
}

int main(void) {
    RUN(rewritten_links_write_nothing_outside);
    RUN(garbage_next_link_leaves_unmap_working);
    RUN(overwritten_state_still_unlocks);
    RUN(unlock_between_glibc_and_mapipc_keeps_the_list_whole);
    RUN(lock_held_as_its_thread_ends_blocks_unmap);
    RUN(lock_released_at_thread_end_lets_unmap_go);
    return check_done();
}
