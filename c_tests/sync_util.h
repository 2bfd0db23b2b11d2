/* Helpers for the tests of locks and wait/wake between processes. Order
 * between processes comes from pipes and from the lock's own word, never
 * from sleeping. */
#ifndef MAPIPC_SYNC_UTIL_H
#define MAPIPC_SYNC_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
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

#endif
