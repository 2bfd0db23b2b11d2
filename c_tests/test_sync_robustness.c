/* Robustness of mutexes and channel sides beyond the plain cases: peers in
 * other PID namespaces (containers sharing memory but not pids), a robust
 * operation in a signal handler while a channel call blocks, another
 * thread unmapping a region where a lock is held, and an unlock that made
 * the mutex unrecoverable killed before its wake-up. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "channel_util.h"
#include "sync_util.h"

static int receive_two(void *chan) {
    char buf[16];
    size_t n = 0;
    if (mapipc_channel_recv(chan, buf, sizeof buf, &n, -1) != MAPIPC_OK || n != 3 ||
        memcmp(buf, "one", 3) != 0)
        return 1;
    /* The sender lives in the parent namespace, where our pid table cannot
     * see it: waiting must not end with a spurious CLOSED. */
    mapipc_status st = mapipc_channel_recv(chan, buf, sizeof buf, &n, 20000000000LL);
    if (st != MAPIPC_OK) {
        fprintf(stderr, "  receiver in its namespace: %s: %s\n", mapipc_status_name(st), mapipc_last_error());
        return 2;
    }
    return n == 3 && memcmp(buf, "two", 3) == 0 ? 0 : 3;
}

static void receiver_in_other_pid_namespace_sees_no_false_close(void) {
    if (!can_unshare_pid()) {
        printf("# skipped: no new PID namespace here (needs root)\n");
        return;
    }
    void *chan = anon(8192);
    CHECK_OK(mapipc_channel_init(chan, 0));
    CHECK_OK(mapipc_channel_send(chan, "one", 3, -1));
    pid_t child = fork_in_new_pid_namespace(receive_two, chan);
    /* Wait until the receiver sleeps (or, wrongly, has given up). */
    int status = -1;
    while (chan_field(chan, CHAN_RECV_SLEEPING) == 0) {
        pid_t done = waitpid(child, &status, WNOHANG);
        REQUIRE(done >= 0);
        if (done == child) break;
        sched_yield();
    }
    if (status == -1) {
        CHECK_OK(mapipc_channel_send(chan, "two", 3, -1));
        status = check_wait(child);
    } else {
        status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    }
    CHECK(status == 0);
    CHECK_OK(mapipc_unmap(chan));
}

static void equal_thread_ids_in_two_namespaces(void) {
    check_held_across_namespaces(hold_until_done, same_tid_elsewhere);
}

/* A receiver blocked in recv runs a signal handler that takes and gives
 * back a mapipc mutex and a glibc robust mutex; killed after that, its
 * receive side must still be released by the kernel. */
struct handler_shared {
    mapipc_mutex m;
    volatile uint32_t handled;
};
static struct handler_shared *hs;
static pthread_mutex_t glibc_robust;

static void robust_ops_handler(int sig) {
    (void)sig;
    if (mapipc_mutex_lock(&hs->m, 0) == MAPIPC_OK) mapipc_mutex_unlock(&hs->m);
    if (pthread_mutex_lock(&glibc_robust) == 0) pthread_mutex_unlock(&glibc_robust);
    __atomic_add_fetch(&hs->handled, 1, __ATOMIC_RELEASE);
}

static void side_survives_robust_ops_in_signal_handler(void) {
    char *r = anon(16384);
    void *chan = r;
    hs = (struct handler_shared *)(r + 8192);
    CHECK_OK(mapipc_channel_init(chan, 8192));
    CHECK_OK(mapipc_mutex_init(&hs->m));
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&glibc_robust, &a);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = robust_ops_handler;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGUSR1, &sa, NULL);
        char buf[16];
        size_t n;
        for (;;) mapipc_channel_recv(chan, buf, sizeof buf, &n, -1);
    }
    while (chan_field(chan, CHAN_RECV_SLEEPING) == 0) sched_yield();
    REQUIRE(kill(pid, SIGUSR1) == 0);
    while (__atomic_load_n(&hs->handled, __ATOMIC_ACQUIRE) == 0) sched_yield();
    /* Back in recv (asleep again) before it dies. */
    while (chan_field(chan, CHAN_RECV_SLEEPING) == 0) sched_yield();
    REQUIRE(kill(pid, SIGKILL) == 0);
    CHECK(check_wait(pid) == 128 + SIGKILL);
    char buf[16];
    size_t n = 0;
    CHECK_STATUS(mapipc_channel_recv(chan, buf, sizeof buf, &n, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    CHECK_OK(mapipc_channel_send(chan, "hi", 2, 0));
    CHECK_OK(mapipc_channel_recv(chan, buf, sizeof buf, &n, 0));
    CHECK(n == 2 && memcmp(buf, "hi", 2) == 0);
    CHECK_OK(mapipc_unmap(r));
}

/* Another thread holds a mutex in a region: unmapping it from this thread
 * is BUSY (the holder's robust list points into it), until it unlocks. */
struct xthread {
    mapipc_mutex *m;
    signal_pipe locked, go;
};

static void *hold_then_unlock(void *arg) {
    struct xthread *x = arg;
    if (mapipc_mutex_lock(x->m, -1) != MAPIPC_OK) return (void *)1;
    sp_post(&x->locked);
    sp_take(&x->go);
    if (mapipc_mutex_unlock(x->m) != MAPIPC_OK) return (void *)2;
    sp_post(&x->locked);
    return NULL;
}

static void unmap_where_another_thread_holds_a_lock(void) {
    char *r = anon(8192);
    struct xthread x = {.m = (mapipc_mutex *)(r + 64)};
    CHECK_OK(mapipc_mutex_init(x.m));
    sp_open(&x.locked);
    sp_open(&x.go);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, hold_then_unlock, &x) == 0);
    REQUIRE(sp_take(&x.locked));
    CHECK_STATUS(mapipc_unmap(r), MAPIPC_ERR_BUSY, EBUSY);
    CHECK_MESSAGE("holds a mutex");
    /* A region elsewhere is not concerned. */
    void *other = anon(4096);
    CHECK_OK(mapipc_unmap(other));
    /* A forked child has no such thread: it may unmap its copy. */
    if (!skip_under(UNDER_SANITIZER | UNDER_VALGRIND, "fork beside a thread")) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) _exit(mapipc_unmap(r) == MAPIPC_OK ? 0 : 1);
        CHECK(check_wait(pid) == 0);
    }
    sp_post(&x.go);
    REQUIRE(sp_take(&x.locked));
    void *ret = (void *)-1;
    REQUIRE(pthread_join(t, &ret) == 0);
    CHECK(ret == NULL);
    CHECK_OK(mapipc_unmap(r));
    sp_close(&x.locked);
    sp_close(&x.go);
}

/* An unlock that makes the mutex unrecoverable stores the final word, then
 * wakes every sleeper; killed between the two, the kernel wakes no one (it
 * does so only for a word left at 0). Sleepers must still see it. The
 * killed unlock is reproduced exactly: a holder that stores what unlock
 * stores and exits without the wake. */
static void unrecoverable_unlock_killed_before_wake(void) {
    mapipc_mutex *m = anon(4096);
    CHECK_OK(mapipc_mutex_init(m));
    signal_pipe locked, go;
    sp_open(&locked);
    sp_open(&go);
    fflush(stdout);
    fflush(stderr);
    pid_t holder = fork();
    REQUIRE(holder >= 0);
    if (holder == 0) {
        if (mapipc_mutex_lock(m, -1) != MAPIPC_OK) _exit(1);
        sp_post(&locked);
        sp_take(&go);
        uint32_t *word = (uint32_t *)m;
        __atomic_store_n(word + 1, 0x4d580003u, __ATOMIC_RELAXED); /* state: unrecoverable */
        __atomic_store_n(word, 0x3fffffffu, __ATOMIC_RELEASE);     /* word: unrecoverable */
        _exit(0);
    }
    REQUIRE(sp_take(&locked));
    pid_t sleeper = fork();
    REQUIRE(sleeper >= 0);
    if (sleeper == 0) _exit(mapipc_mutex_lock(m, -1));
    wait_for_sleeper(m);
    sp_post(&go);
    CHECK(check_wait(holder) == 0);
    double until = now_seconds() + 10;
    int status = -1;
    while (now_seconds() < until) {
        pid_t done = waitpid(sleeper, &status, WNOHANG);
        if (done == sleeper) break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        status = -1;
    }
    if (status == -1) {
        kill(sleeper, SIGKILL);
        check_wait(sleeper);
    }
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == MAPIPC_ERR_NOT_RECOVERABLE);
    sp_close(&locked);
    sp_close(&go);
    CHECK_OK(mapipc_unmap(m));
}

int main(void) {
    RUN(receiver_in_other_pid_namespace_sees_no_false_close);
    RUN(equal_thread_ids_in_two_namespaces);
    RUN(side_survives_robust_ops_in_signal_handler);
    RUN(unmap_where_another_thread_holds_a_lock);
    RUN(unrecoverable_unlock_killed_before_wake);
    return check_done();
}
