/* Helpers for the tests of locks and wait/wake between processes. Order
 * between processes comes from pipes and from the lock's own word, never
 * from sleeping. */
#ifndef MAPIPC_SYNC_UTIL_H
#define MAPIPC_SYNC_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <time.h>

#include "check.h"

/* A one-way pipe used as "I am ready" / "go on" between two processes. */
typedef struct {
    int fd[2];
} signal_pipe;

static inline void sp_open(signal_pipe *p) { REQUIRE(pipe(p->fd) == 0); }

static inline void sp_post(signal_pipe *p) {
    char c = 1;
    REQUIRE(write(p->fd[1], &c, 1) == 1);
}

/* Waits for one post; returns 0 if the writer closed instead. */
static inline int sp_take(signal_pipe *p) {
    char c;
    ssize_t n;
    do {
        n = read(p->fd[0], &c, 1);
    } while (n < 0 && errno == EINTR);
    return n == 1;
}

static inline void sp_close(signal_pipe *p) {
    close(p->fd[0]);
    close(p->fd[1]);
}

/* The mutex's futex word has FUTEX_WAITERS set once a locker is about to
 * sleep on it: tests wait for that to know a locker is blocked. This reads
 * the documented layout (docs in src/sync/mutex.rs), nothing else does. */
static inline int mutex_has_sleeper(mapipc_mutex *m) {
    uint32_t word = __atomic_load_n((uint32_t *)m, __ATOMIC_ACQUIRE);
    return (word & 0x80000000u) != 0;
}

static inline void wait_for_sleeper(mapipc_mutex *m) {
    while (!mutex_has_sleeper(m)) sched_yield();
}

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for `pid` to exit without reaping it: true once it is a zombie
 * that its parent (the caller) has not reaped. */
static inline int becomes_unreaped_zombie(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) != 0) return 0;
    return info.si_pid == pid;
}

/* A private anonymous read-write region of `size` bytes. */
static inline void *anon(size_t size) {
    void *p = NULL;
    CHECK_OK(mapipc_map_anonymous(size, MAPIPC_READ | MAPIPC_WRITE, &p));
    REQUIRE(p != NULL);
    return p;
}

/* Forks a process that moves into a new PID namespace and forks again: the
 * grandchild (pid 1 in its namespace) runs fn and its status is the
 * child's. */
static inline pid_t fork_in_new_pid_namespace(int (*fn)(void *), void *arg) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWPID) != 0) _exit(100);
        pid_t g = fork();
        if (g < 0) _exit(101);
        if (g == 0) _exit(fn(arg));
        _exit(check_wait(g));
    }
    return pid;
}

static inline int can_unshare_pid(void) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(unshare(CLONE_NEWPID) == 0 ? 0 : 1);
    return check_wait(pid) == 0;
}

/* A mutex that a process in another PID namespace holds until told. */
struct ns_lock {
    mapipc_mutex m;
    signal_pipe locked, done;
};

/* Locks as pid 1 of a new namespace, posts `locked`, unlocks on `done`. */
static inline int hold_until_done(void *arg) {
    struct ns_lock *s = arg;
    if (getpid() != 1) return 10;
    if (mapipc_mutex_lock(&s->m, -1) != MAPIPC_OK) return 11;
    sp_post(&s->locked);
    if (!sp_take(&s->done)) return 12;
    mapipc_status st = mapipc_mutex_unlock(&s->m);
    if (st != MAPIPC_OK) {
        fprintf(stderr, "  holder's unlock: %s: %s\n", mapipc_status_name(st), mapipc_last_error());
        return 13;
    }
    return 0;
}

/* As pid 1 of another namespace (the holder's thread id): not the holder. */
static inline int same_tid_elsewhere(void *arg) {
    struct ns_lock *s = arg;
    if (getpid() != 1) return 20;
    int bad = 0;
    /* Same thread id as the holder, another namespace: not the holder. */
    mapipc_status st = mapipc_mutex_lock(&s->m, 0);
    if (st != MAPIPC_ERR_TIMED_OUT) {
        fprintf(stderr, "  lock by the same tid elsewhere: %s\n", mapipc_status_name(st));
        bad |= 1;
    }
    st = mapipc_mutex_lock(&s->m, 20000000);
    if (st != MAPIPC_ERR_TIMED_OUT) bad |= 2;
    st = mapipc_mutex_unlock(&s->m);
    if (st != MAPIPC_ERR_PERMISSION_DENIED) {
        fprintf(stderr, "  unlock by the same tid elsewhere: %s\n", mapipc_status_name(st));
        bad |= 4;
    }
    if (mapipc_mutex_consistent(&s->m) != MAPIPC_ERR_PERMISSION_DENIED) bad |= 8;
    return bad;
}

/* While pid 1 of a new PID namespace holds a mutex (`holder_fn`, which
 * does as hold_until_done), runs `other` as pid 1
 * of another one (so with the holder's thread id), which must exit 0; then
 * checks that the lock is still the holder's alone, and that the holder
 * unlocks it cleanly. */
static inline void check_held_across_namespaces(int (*holder_fn)(void *), int (*other)(void *)) {
    if (!can_unshare_pid()) {
        printf("# skipped: no new PID namespace here (needs root)\n");
        return;
    }
    struct ns_lock *s = anon(4096);
    CHECK_OK(mapipc_mutex_init(&s->m));
    sp_open(&s->locked);
    sp_open(&s->done);
    pid_t holder = fork_in_new_pid_namespace(holder_fn, s);
    REQUIRE(sp_take(&s->locked));
    CHECK(check_wait(fork_in_new_pid_namespace(other, s)) == 0);
    uint32_t word = __atomic_load_n((uint32_t *)&s->m, __ATOMIC_ACQUIRE);
    CHECK(word == 1 || word == (1 | 0x80000000u)); /* thread 1, no OWNER_DIED */
    CHECK_STATUS(mapipc_mutex_lock(&s->m, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    sp_post(&s->done);
    CHECK(check_wait(holder) == 0);
    CHECK_OK(mapipc_mutex_lock(&s->m, 0));
    CHECK_OK(mapipc_mutex_unlock(&s->m));
    sp_close(&s->locked);
    sp_close(&s->done);
    CHECK_OK(mapipc_unmap(s));
}

/* Hides /proc from this process (a private mount namespace with an empty
 * tmpfs over it); false if not allowed here. */
static inline int hide_proc(void) {
    return unshare(CLONE_NEWNS) == 0 && mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 &&
           mount("none", "/proc", "tmpfs", 0, NULL) == 0;
}

/* A channel made with `options` in a new anonymous region of `size` bytes. */
static inline void *anon_channel(size_t size, uint32_t options) {
    void *p = NULL;
    CHECK_OK(mapipc_map_anonymous(size, MAPIPC_WRITE, &p));
    REQUIRE(p != NULL);
    CHECK_OK(mapipc_channel_init_with(p, 0, options));
    return p;
}

#endif
