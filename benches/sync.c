/* make bench, group "sync": the robust mutex next to a raw robust,
 * process-shared, error-checking pthread mutex, and wait/wake next to raw
 * futex calls and a pipe. */
#include "harness.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>

struct sync_case { int iters; };

/* Shared memory for both sides: mapipc's for mapipc, raw mmap for raw. */
static void *raw_shared(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("mmap");
    return p;
}

static void raw_robust_init(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) || pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) ||
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) ||
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK) || pthread_mutex_init(m, &a))
        die("pthread_mutex_init");
    pthread_mutexattr_destroy(&a);
}

/* ---- uncontended lock + unlock ---------------------------------------- */

static double lock_mapipc(void *arg) {
    struct sync_case *c = arg;
    mapipc_mutex *m = NULL;
    must(mapipc_map_anonymous(4096, MAPIPC_WRITE, (void **)&m), "map");
    must(mapipc_mutex_init(m), "init");
    double t0 = now();
    for (int i = 0; i < c->iters; i++) {
        if (mapipc_mutex_lock(m, -1) != MAPIPC_OK || mapipc_mutex_unlock(m) != MAPIPC_OK) die("lock");
    }
    double t = now() - t0;
    must(mapipc_unmap(m), "unmap");
    return t / c->iters * 1e9;
}

static double lock_raw(void *arg) {
    struct sync_case *c = arg;
    pthread_mutex_t *m = raw_shared(4096);
    raw_robust_init(m);
    double t0 = now();
    for (int i = 0; i < c->iters; i++) {
        if (pthread_mutex_lock(m) != 0 || pthread_mutex_unlock(m) != 0) die("lock");
    }
    double t = now() - t0;
    munmap(m, 4096);
    return t / c->iters * 1e9;
}

/* ---- ping-pong: two processes take turns on a word -------------------- */

/* One side of a turn-taking game on *turn: wait for `mine`, hand over. */
typedef void (*turn_fn)(_Atomic uint32_t *turn, uint32_t mine, uint32_t theirs, int iters);

static void turns_mapipc(_Atomic uint32_t *turn, uint32_t mine, uint32_t theirs, int iters) {
    for (int i = 0; i < iters; i++) {
        uint32_t v;
        while ((v = atomic_load_explicit(turn, memory_order_acquire)) != mine)
            mapipc_wait((const uint32_t *)turn, v, -1);
        atomic_store_explicit(turn, theirs, memory_order_release);
        mapipc_wake((uint32_t *)turn, 1);
    }
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val) {
    return syscall(SYS_futex, (uint32_t *)word, op, val, NULL, NULL, 0);
}

static void turns_raw(_Atomic uint32_t *turn, uint32_t mine, uint32_t theirs, int iters) {
    for (int i = 0; i < iters; i++) {
        uint32_t v;
        while ((v = atomic_load_explicit(turn, memory_order_acquire)) != mine) futex(turn, FUTEX_WAIT, v);
        atomic_store_explicit(turn, theirs, memory_order_release);
        futex(turn, FUTEX_WAKE, 1);
    }
}

/* Round-trip time in us of `fn` played between this process and a child. */
static double ping_pong(turn_fn fn, _Atomic uint32_t *turn, int iters) {
    atomic_store(turn, 0);
    pid_t pid = fork_placed(1);
    if (pid < 0) die("fork");
    if (pid == 0) {
        fn(turn, 1, 0, iters);
        _exit(0);
    }
    double t0 = now();
    fn(turn, 0, 1, iters);
    double t = now() - t0;
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("child");
    return t / iters * 1e6;
}

static double pingpong_mapipc(void *arg) {
    struct sync_case *c = arg;
    _Atomic uint32_t *turn = NULL;
    must(mapipc_map_anonymous(4096, MAPIPC_WRITE, (void **)&turn), "map");
    double us = ping_pong(turns_mapipc, turn, c->iters);
    must(mapipc_unmap((void *)turn), "unmap");
    return us;
}

static double pingpong_raw(void *arg) {
    struct sync_case *c = arg;
    _Atomic uint32_t *turn = raw_shared(4096);
    double us = ping_pong(turns_raw, turn, c->iters);
    munmap((void *)turn, 4096);
    return us;
}

static double pingpong_pipe(void *arg) {
    struct sync_case *c = arg;
    int ab[2], ba[2];
    char b = 0;
    if (pipe(ab) || pipe(ba)) die("pipe");
    pid_t pid = fork_placed(1);
    if (pid < 0) die("fork");
    if (pid == 0) {
        for (int i = 0; i < c->iters; i++) {
            if (read(ab[0], &b, 1) != 1 || write(ba[1], &b, 1) != 1) _exit(1);
        }
        _exit(0);
    }
    double t0 = now();
    for (int i = 0; i < c->iters; i++) {
        if (write(ab[1], &b, 1) != 1 || read(ba[0], &b, 1) != 1) die("pipe");
    }
    double t = now() - t0;
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("child");
    close(ab[0]), close(ab[1]), close(ba[0]), close(ba[1]);
    return t / c->iters * 1e6;
}

/* ---- lock handoff: two processes take turns through the lock ---------- */

struct handoff {
    mapipc_mutex m;
    pthread_mutex_t pm;
    uint32_t turn;
};

/* Each side locks, takes its turn if it is its own, and unlocks, until it
 * has had `iters` turns: every turn is a handoff of the lock. */
static void handoff_side(struct handoff *h, int raw, uint32_t mine, int iters) {
    for (int done = 0; done < iters;) {
        if (raw ? pthread_mutex_lock(&h->pm) != 0 : mapipc_mutex_lock(&h->m, -1) != MAPIPC_OK) die("lock");
        if (h->turn == mine) {
            h->turn = !mine;
            done++;
        }
        if (raw ? pthread_mutex_unlock(&h->pm) != 0 : mapipc_mutex_unlock(&h->m) != MAPIPC_OK) die("unlock");
    }
}

static double handoff(struct handoff *h, int raw, int iters) {
    pid_t pid = fork_placed(1);
    if (pid < 0) die("fork");
    if (pid == 0) {
        handoff_side(h, raw, 1, iters);
        _exit(0);
    }
    double t0 = now();
    handoff_side(h, raw, 0, iters);
    double t = now() - t0;
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("child");
    return t / iters * 1e6;
}

static double handoff_mapipc(void *arg) {
    struct sync_case *c = arg;
    struct handoff *h = NULL;
    must(mapipc_map_anonymous(sizeof *h, MAPIPC_WRITE, (void **)&h), "map");
    must(mapipc_mutex_init(&h->m), "init");
    double us = handoff(h, 0, c->iters);
    must(mapipc_unmap(h), "unmap");
    return us;
}

static double handoff_raw(void *arg) {
    struct sync_case *c = arg;
    struct handoff *h = raw_shared(sizeof *h);
    raw_robust_init(&h->pm);
    double us = handoff(h, 1, c->iters);
    munmap(h, sizeof *h);
    return us;
}

void bench_sync(void) {
    struct sync_case uncontended = {quick ? 1000000 : 10000000};
    struct sync_case rounds = {quick ? 5000 : 50000};
    compare("mutex lock+unlock, uncontended", "ns", 0, lock_mapipc, "robust pthread", lock_raw, &uncontended);
    compare("wait/wake ping-pong, 2 processes", "us", 0, pingpong_mapipc, "raw futex", pingpong_raw, &rounds);
    compare("wait/wake ping-pong, 2 processes", "us", 0, pingpong_mapipc, "pipe", pingpong_pipe, &rounds);
    compare("mutex handoff, 2 processes", "us", 0, handoff_mapipc, "robust pthread", handoff_raw, &rounds);
}
