/* The robust process-shared mutex: racing init, exact counts under
 * contention on every kind of shared memory, owner death by _exit, SIGKILL
 * and thread end (also while the dead holder is an unreaped zombie), the
 * unrecoverable state seen by other processes, timeouts, and every
 * argument error. */
#include <sys/mman.h>
#include <sys/stat.h>

#include "sync_util.h"

enum { WORKERS = 4, INCREMENTS = 20000 };

struct shared {
    mapipc_mutex m;
    uint32_t go;
    uint64_t counter;
};

static char shm_name[64];

/* The memory a racing worker uses: its own mapping for named memory. */
enum kind { ANON, POSIX_NAME, SYSV_KEY };

static struct shared *open_kind(enum kind kind, int create) {
    void *p = NULL;
    uint32_t flags = MAPIPC_READ | MAPIPC_WRITE | (create ? MAPIPC_CREATE | MAPIPC_EXCLUSIVE : 0);
    switch (kind) {
    case ANON:
        CHECK_OK(mapipc_map_anonymous(sizeof(struct shared), MAPIPC_WRITE, &p));
        break;
    case POSIX_NAME:
        CHECK_OK(mapipc_shm_open_name(shm_name, sizeof(struct shared), flags, &p));
        break;
    case SYSV_KEY:
        CHECK_OK(mapipc_shm_open_key("keyfile", 7, sizeof(struct shared), flags, &p));
        break;
    }
    return p;
}

static void remove_kind(enum kind kind) {
    if (kind == POSIX_NAME) CHECK_OK(mapipc_shm_unlink_name(shm_name));
    if (kind == SYSV_KEY) CHECK_OK(mapipc_shm_remove_key("keyfile", 7));
}

/* Each worker opens the memory itself (named kinds), waits for the start
 * word, then races init and counts under the lock. */
static void worker(enum kind kind, struct shared *inherited) {
    struct shared *s = kind == ANON ? inherited : open_kind(kind, 0);
    if (!s) _exit(3);
    while (__atomic_load_n(&s->go, __ATOMIC_ACQUIRE) == 0)
        mapipc_wait(&s->go, 0, -1);
    if (mapipc_mutex_init(&s->m) != MAPIPC_OK) _exit(4);
    for (int i = 0; i < INCREMENTS; i++) {
        if (mapipc_mutex_lock(&s->m, -1) != MAPIPC_OK) _exit(5);
        s->counter++;
        if (mapipc_mutex_unlock(&s->m) != MAPIPC_OK) _exit(6);
    }
    if (kind != ANON && mapipc_unmap(s) != MAPIPC_OK) _exit(7);
    _exit(0);
}

static void race(enum kind kind) {
    snprintf(shm_name, sizeof shm_name, "/mapipc-test-%ld-mutex", (long)getpid());
    check_write_file("keyfile", "k", 1);
    struct shared *s = open_kind(kind, 1);
    if (!s) {
        unlink("keyfile");
        return;
    }
    pid_t pids[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        REQUIRE(pids[i] >= 0);
        if (pids[i] == 0) worker(kind, s);
    }
    __atomic_store_n(&s->go, 1, __ATOMIC_RELEASE);
    CHECK_OK(mapipc_wake(&s->go, UINT32_MAX));
    for (int i = 0; i < WORKERS; i++) CHECK(check_wait(pids[i]) == 0);
    CHECK(s->counter == (uint64_t)WORKERS * INCREMENTS);
    CHECK_OK(mapipc_mutex_lock(&s->m, 0));
    CHECK_OK(mapipc_mutex_unlock(&s->m));
    CHECK_OK(mapipc_unmap(s));
    remove_kind(kind);
    unlink("keyfile");
}

static void race_on_anonymous_memory(void) { race(ANON); }
static void race_on_posix_named_memory(void) { race(POSIX_NAME); }
static void race_on_system_v_memory(void) { race(SYSV_KEY); }

static struct shared *fresh(void) {
    struct shared *s = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_WRITE, (void **)&s));
    REQUIRE(s != NULL);
    CHECK_OK(mapipc_mutex_init(&s->m));
    return s;
}

/* A child locks, tells the parent, then ends as `how` says. */
enum death { EXIT, KILLED };

static pid_t holder_child(struct shared *s, signal_pipe *locked, enum death how) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (mapipc_mutex_lock(&s->m, -1) != MAPIPC_OK) _exit(9);
        s->counter = 42;
        sp_post(locked);
        if (how == EXIT) _exit(0);
        for (;;) pause();
    }
    REQUIRE(sp_take(locked));
    return pid;
}

static void owner_died_then_consistent(struct shared *s) {
    CHECK_STATUS(mapipc_mutex_lock(&s->m, 5000000000LL), MAPIPC_ERR_OWNER_DIED, EOWNERDEAD);
    CHECK_MESSAGE("died");
    CHECK(s->counter == 42);
    /* The caller holds it now. */
    CHECK_STATUS(mapipc_mutex_lock(&s->m, 0), MAPIPC_ERR_DEADLOCK, EDEADLK);
    CHECK_OK(mapipc_mutex_consistent(&s->m));
    CHECK_OK(mapipc_mutex_unlock(&s->m));
    CHECK_OK(mapipc_mutex_lock(&s->m, 0));
    CHECK_OK(mapipc_mutex_unlock(&s->m));
}

static void holder_exits(void) {
    struct shared *s = fresh();
    signal_pipe locked;
    sp_open(&locked);
    pid_t pid = holder_child(s, &locked, EXIT);
    CHECK(check_wait(pid) == 0);
    owner_died_then_consistent(s);
    sp_close(&locked);
    CHECK_OK(mapipc_unmap(s));
}

static void holder_is_killed(void) {
    struct shared *s = fresh();
    signal_pipe locked;
    sp_open(&locked);
    pid_t pid = holder_child(s, &locked, KILLED);
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(check_wait(pid) == 128 + SIGKILL);
    owner_died_then_consistent(s);
    sp_close(&locked);
    CHECK_OK(mapipc_unmap(s));
}

static void *lock_and_return(void *arg) {
    struct shared *s = arg;
    CHECK_OK(mapipc_mutex_lock(&s->m, -1));
    s->counter = 42;
    return NULL;
}

static void holder_thread_ends(void) {
    struct shared *s = fresh();
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, lock_and_return, s) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    owner_died_then_consistent(s);
    CHECK_OK(mapipc_unmap(s));
}

/* The parent is blocked in lock when its child dies holding the lock, and
 * does not reap it until after the lock returned. */
static void holder_dies_as_unreaped_zombie_of_the_waiter(void) {
    struct shared *s = fresh();
    signal_pipe locked;
    sp_open(&locked);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (mapipc_mutex_lock(&s->m, -1) != MAPIPC_OK) _exit(9);
        sp_post(&locked);
        wait_for_sleeper(&s->m);
        _exit(0);
    }
    REQUIRE(sp_take(&locked));
    double start = now_seconds();
    CHECK_STATUS(mapipc_mutex_lock(&s->m, 10000000000LL), MAPIPC_ERR_OWNER_DIED, EOWNERDEAD);
    CHECK(now_seconds() - start < 1.0);
    /* The kernel marks the lock as the child's threads exit, before the
     * child becomes a zombie; nothing waited for it to be reaped. */
    CHECK(becomes_unreaped_zombie(pid));
    CHECK_OK(mapipc_mutex_consistent(&s->m));
    CHECK_OK(mapipc_mutex_unlock(&s->m));
    CHECK(check_wait(pid) == 0);
    sp_close(&locked);
    CHECK_OK(mapipc_unmap(s));
}

static int lock_status_in_child(struct shared *s, int64_t timeout) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(mapipc_mutex_lock(&s->m, timeout));
    return check_wait(pid);
}

static void unlock_without_consistent_is_unrecoverable_everywhere(void) {
    struct shared *s = fresh();
    signal_pipe locked;
    sp_open(&locked);
    pid_t holder = holder_child(s, &locked, EXIT);
    CHECK(check_wait(holder) == 0);
    CHECK_STATUS(mapipc_mutex_lock(&s->m, -1), MAPIPC_ERR_OWNER_DIED, EOWNERDEAD);
    /* A locker already asleep when the lock turns unrecoverable. */
    fflush(stdout);
    fflush(stderr);
    pid_t sleeper = fork();
    REQUIRE(sleeper >= 0);
    if (sleeper == 0) _exit(mapipc_mutex_lock(&s->m, -1));
    wait_for_sleeper(&s->m);
    CHECK_STATUS(mapipc_mutex_unlock(&s->m), MAPIPC_ERR_NOT_RECOVERABLE, ENOTRECOVERABLE);
    CHECK(check_wait(sleeper) == MAPIPC_ERR_NOT_RECOVERABLE);
    /* Later lockers, here and in other processes, with any timeout. */
    CHECK(lock_status_in_child(s, -1) == MAPIPC_ERR_NOT_RECOVERABLE);
    CHECK(lock_status_in_child(s, 0) == MAPIPC_ERR_NOT_RECOVERABLE);
    CHECK_STATUS(mapipc_mutex_lock(&s->m, 1000000), MAPIPC_ERR_NOT_RECOVERABLE, ENOTRECOVERABLE);
    CHECK_STATUS(mapipc_mutex_unlock(&s->m), MAPIPC_ERR_NOT_RECOVERABLE, ENOTRECOVERABLE);
    /* init does not reset it. */
    CHECK_OK(mapipc_mutex_init(&s->m));
    CHECK_STATUS(mapipc_mutex_lock(&s->m, 0), MAPIPC_ERR_NOT_RECOVERABLE, ENOTRECOVERABLE);
    sp_close(&locked);
    CHECK_OK(mapipc_unmap(s));
}

static void timeouts(void) {
    struct shared *s = fresh();
    CHECK_OK(mapipc_mutex_lock(&s->m, 0));
    CHECK(lock_status_in_child(s, 0) == MAPIPC_ERR_TIMED_OUT);
    /* errno and elapsed time in a child that cannot get it. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        CHECK_STATUS(mapipc_mutex_lock(&s->m, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
        double start = now_seconds();
        CHECK_STATUS(mapipc_mutex_lock(&s->m, 20000000), MAPIPC_ERR_TIMED_OUT, ETIMEDOUT);
        CHECK(now_seconds() - start >= 0.020);
        CHECK_MESSAGE("could not lock");
        _exit(check_failures == 0 ? 0 : 1);
    }
    CHECK(check_wait(pid) == 0);
    /* Negative waits until the holder lets go. */
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (mapipc_mutex_lock(&s->m, -1) != MAPIPC_OK) _exit(1);
        _exit(mapipc_mutex_unlock(&s->m));
    }
    wait_for_sleeper(&s->m);
    CHECK_OK(mapipc_mutex_unlock(&s->m));
    CHECK(check_wait(pid) == 0);
    CHECK_OK(mapipc_unmap(s));
}

static void *try_foreign_unlock(void *arg) {
    struct shared *s = arg;
    CHECK_STATUS(mapipc_mutex_unlock(&s->m), MAPIPC_ERR_PERMISSION_DENIED, EPERM);
    CHECK_MESSAGE("does not hold");
    CHECK_STATUS(mapipc_mutex_consistent(&s->m), MAPIPC_ERR_PERMISSION_DENIED, EPERM);
    CHECK_STATUS(mapipc_mutex_lock(&s->m, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    return NULL;
}

static void deadlock_and_foreign_unlock(void) {
    struct shared *s = fresh();
    CHECK_STATUS(mapipc_mutex_unlock(&s->m), MAPIPC_ERR_PERMISSION_DENIED, EPERM);
    CHECK_OK(mapipc_mutex_lock(&s->m, -1));
    CHECK_STATUS(mapipc_mutex_lock(&s->m, -1), MAPIPC_ERR_DEADLOCK, EDEADLK);
    CHECK_STATUS(mapipc_mutex_lock(&s->m, 0), MAPIPC_ERR_DEADLOCK, EDEADLK);
    CHECK_STATUS(mapipc_mutex_consistent(&s->m), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, try_foreign_unlock, s) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    /* Another process cannot unlock it either; nothing changed. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(mapipc_mutex_unlock(&s->m));
    CHECK(check_wait(pid) == MAPIPC_ERR_PERMISSION_DENIED);
    CHECK(lock_status_in_child(s, 0) == MAPIPC_ERR_TIMED_OUT);
    /* init on a held mutex changes nothing. */
    CHECK_OK(mapipc_mutex_init(&s->m));
    CHECK(lock_status_in_child(s, 0) == MAPIPC_ERR_TIMED_OUT);
    CHECK_OK(mapipc_mutex_unlock(&s->m));
    CHECK(lock_status_in_child(s, 0) == MAPIPC_OK);
    CHECK_OK(mapipc_unmap(s));
}

static void bad_pointers(void) {
    mapipc_mutex on_stack;
    memset(&on_stack, 0, sizeof on_stack);
    mapipc_mutex *on_heap = calloc(1, sizeof *on_heap);
    REQUIRE(on_heap != NULL);
    CHECK_STATUS(mapipc_mutex_init(NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_mutex_lock(NULL, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_mutex_unlock(NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_mutex_consistent(NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_mutex_init(&on_stack), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_mutex_lock(&on_stack, -1), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_mutex_init(on_heap), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_mutex_unlock(on_heap), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_MESSAGE("not inside any live mapipc region");
    free(on_heap);

    char *r = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_WRITE, (void **)&r));
    REQUIRE(r != NULL);
    CHECK_STATUS(mapipc_mutex_init((mapipc_mutex *)(r + 4)), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("aligned");
    /* Never initialised (zeros) and garbage. */
    CHECK_STATUS(mapipc_mutex_lock((mapipc_mutex *)r, 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("never initialised");
    CHECK_STATUS(mapipc_mutex_unlock((mapipc_mutex *)r), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    memset(r + 64, 0x5a, 64);
    CHECK_STATUS(mapipc_mutex_init((mapipc_mutex *)(r + 64)), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_mutex_lock((mapipc_mutex *)(r + 64), -1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK((unsigned char)r[64] == 0x5a && (unsigned char)r[127] == 0x5a);
    /* Straddling the end of the region. */
    CHECK_STATUS(mapipc_mutex_init((mapipc_mutex *)(r + 4096 - 32)), MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    /* A mutex in a region that is gone. */
    mapipc_mutex *m = (mapipc_mutex *)(r + 128);
    CHECK_OK(mapipc_mutex_init(m));
    CHECK_OK(mapipc_unmap(r));
    CHECK_STATUS(mapipc_mutex_lock(m, 0), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_mutex_init(m), MAPIPC_ERR_NOT_MAPPED, EINVAL);

    /* A read-only view of a file. */
    check_write_file("ro", "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                           "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                     64);
    void *ro = NULL;
    CHECK_OK(mapipc_map_file("ro", 0, 64, MAPIPC_READ, &ro));
    CHECK_STATUS(mapipc_mutex_init(ro), MAPIPC_ERR_PERMISSION_DENIED, EACCES);
    CHECK_MESSAGE("read-only");
    CHECK_OK(mapipc_unmap(ro));
    unlink("ro");
}

/* mapipc mutexes share each thread's robust list with glibc's robust
 * mutexes: unlocking in any order keeps both working, and a thread that
 * dies holding both leaves both marked. */
static void coexists_with_glibc_robust_mutexes(void) {
    struct shared *s = fresh();
    pthread_mutex_t *pm = (pthread_mutex_t *)((char *)s + 1024);
    pthread_mutexattr_t attr;
    REQUIRE(pthread_mutexattr_init(&attr) == 0);
    REQUIRE(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0);
    REQUIRE(pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0);
    REQUIRE(pthread_mutex_init(pm, &attr) == 0);
    for (int order = 0; order < 2; order++) {
        CHECK(pthread_mutex_lock(pm) == 0);
        CHECK_OK(mapipc_mutex_lock(&s->m, 0));
        if (order == 0) {
            CHECK(pthread_mutex_unlock(pm) == 0);
            CHECK_OK(mapipc_mutex_unlock(&s->m));
        } else {
            CHECK_OK(mapipc_mutex_unlock(&s->m));
            CHECK(pthread_mutex_unlock(pm) == 0);
        }
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (mapipc_mutex_lock(&s->m, 0) != MAPIPC_OK) _exit(1);
        if (pthread_mutex_lock(pm) != 0) _exit(2);
        _exit(0);
    }
    CHECK(check_wait(pid) == 0);
    CHECK(pthread_mutex_lock(pm) == EOWNERDEAD);
    CHECK(pthread_mutex_consistent(pm) == 0);
    CHECK_STATUS(mapipc_mutex_lock(&s->m, 0), MAPIPC_ERR_OWNER_DIED, EOWNERDEAD);
    CHECK_OK(mapipc_mutex_consistent(&s->m));
    CHECK(pthread_mutex_unlock(pm) == 0);
    CHECK_OK(mapipc_mutex_unlock(&s->m));
    pthread_mutexattr_destroy(&attr);
    CHECK_OK(mapipc_unmap(s));
}

/* A process that takes the lock over and over is killed at a moment that
 * differs every round: inside or outside its critical section, between
 * any two instructions of lock or unlock. The lock must never get stuck:
 * the next lock is OK, or OWNER_DIED when the victim died holding it, and
 * either way it works on as before. */
static void holder_killed_at_random_moments(void) {
    struct shared *s = fresh();
    srand(4242);
    int owner_died = 0;
    for (int round = 0; round < 30; round++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            for (;;) {
                if (mapipc_mutex_lock(&s->m, -1) == MAPIPC_ERR_OWNER_DIED) mapipc_mutex_consistent(&s->m);
                s->counter++;
                mapipc_mutex_unlock(&s->m);
            }
        }
        /* Compete for the lock until the victim has made progress, then let
         * it run alone a varying while, and kill it. */
        uint64_t start = __atomic_load_n(&s->counter, __ATOMIC_RELAXED);
        while (__atomic_load_n(&s->counter, __ATOMIC_RELAXED) < start + 100) {
            mapipc_status st = mapipc_mutex_lock(&s->m, 5000000000LL);
            if (st == MAPIPC_ERR_OWNER_DIED) CHECK_OK(mapipc_mutex_consistent(&s->m));
            else CHECK_OK(st);
            mapipc_mutex_unlock(&s->m);
            sched_yield();
        }
        for (volatile int k = rand() % 20000; k > 0; k--) {
        }
        CHECK(kill(pid, SIGKILL) == 0);
        CHECK(check_wait(pid) == 128 + SIGKILL);
        mapipc_status st = mapipc_mutex_lock(&s->m, 5000000000LL);
        CHECK(st == MAPIPC_OK || st == MAPIPC_ERR_OWNER_DIED);
        if (st == MAPIPC_ERR_OWNER_DIED) {
            owner_died++;
            CHECK_OK(mapipc_mutex_consistent(&s->m));
        }
        s->counter++;
        CHECK_OK(mapipc_mutex_unlock(&s->m));
    }
    CHECK(owner_died <= 30);
    printf("# %d of 30 kills landed while the victim held the lock\n", owner_died);
    CHECK_OK(mapipc_mutex_lock(&s->m, 0));
    CHECK_OK(mapipc_mutex_unlock(&s->m));
    CHECK_OK(mapipc_unmap(s));
}

/* Unmapping memory that holds a lock this thread holds would leave the
 * thread's robust list pointing into nothing: refused until unlocked. */
static void unmap_while_holding_is_refused(void) {
    struct shared *s = fresh();
    CHECK_OK(mapipc_mutex_lock(&s->m, 0));
    CHECK_STATUS(mapipc_unmap(s), MAPIPC_ERR_BUSY, EBUSY);
    CHECK_MESSAGE("holds a mutex");
    /* Nothing changed: the lock still works and is still held. */
    CHECK_STATUS(mapipc_mutex_lock(&s->m, 0), MAPIPC_ERR_DEADLOCK, EDEADLK);
    CHECK_OK(mapipc_mutex_unlock(&s->m));
    CHECK_OK(mapipc_unmap(s));
}

int main(void) {
    RUN(race_on_anonymous_memory);
    RUN(race_on_posix_named_memory);
    RUN(race_on_system_v_memory);
    RUN(holder_exits);
    RUN(holder_is_killed);
    RUN(holder_thread_ends);
    RUN(holder_dies_as_unreaped_zombie_of_the_waiter);
    RUN(unlock_without_consistent_is_unrecoverable_everywhere);
    RUN(timeouts);
    RUN(deadlock_and_foreign_unlock);
    RUN(bad_pointers);
    RUN(coexists_with_glibc_robust_mutexes);
    RUN(unmap_while_holding_is_refused);
    RUN(holder_killed_at_random_moments);
    return check_done();
}
