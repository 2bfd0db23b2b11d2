/* Wake-ups of the mutex that must never be lost: a timed locker woken by
 * an unlock that then finds the lock re-taken by a locker that never slept,
 * and whose timeout has run out, must not return with the wake-up in its
 * pocket: an untimed locker asleep behind it must get the lock at the next
 * unlock. Made deterministic by running everything on one CPU with this
 * thread at SCHED_FIFO (it runs whenever it is runnable, so the woken
 * waiter can only run once this thread blocks). */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "sync_util.h"

static mapipc_mutex *m;
static volatile pid_t w1_tid, w2_tid;
static volatile double w1_start;
static volatile int w1_status = -1, w2_status = -1;

enum { W1_TIMEOUT_MS = 300 };

static void be_normal(void) {
    struct sched_param p = {0};
    pthread_setschedparam(pthread_self(), SCHED_OTHER, &p);
}

static void *timed_locker(void *arg) {
    (void)arg;
    be_normal();
    w1_tid = (pid_t)syscall(SYS_gettid);
    w1_start = now_seconds();
    w1_status = mapipc_mutex_lock(m, W1_TIMEOUT_MS * 1000000LL);
    if (w1_status == MAPIPC_OK) mapipc_mutex_unlock(m);
    return NULL;
}

static void *untimed_locker(void *arg) {
    (void)arg;
    be_normal();
    w2_tid = (pid_t)syscall(SYS_gettid);
    w2_status = mapipc_mutex_lock(m, -1);
    if (w2_status == MAPIPC_OK) mapipc_mutex_unlock(m);
    return NULL;
}

/* The state letter of one of this process's threads (R, S, ...). */
static char thread_state(pid_t tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *close = strrchr(buf, ')');
    return close != NULL && close[1] == ' ' ? close[2] : '?';
}

/* Blocks (so that the other threads on this CPU run) until thread `*tid`
 * exists and sleeps in the kernel. */
static void until_asleep(volatile pid_t *tid) {
    struct timespec pause_ = {0, 1000000};
    while (*tid == 0 || thread_state(*tid) != 'S') nanosleep(&pause_, NULL);
}

static void timed_waiter_passes_on_its_wakeup(void) {
    if (skip_under(UNDER_VALGRIND, "SCHED_FIFO ordering (valgrind runs one thread at a time)")) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
    struct sched_param fifo = {.sched_priority = 10};
    if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo) != 0) {
        printf("# skipped: SCHED_FIFO not allowed here (needs root)\n");
        return;
    }
    void *r = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_READ | MAPIPC_WRITE, &r));
    REQUIRE(r != NULL);
    m = r;
    CHECK_OK(mapipc_mutex_init(m));
    CHECK_OK(mapipc_mutex_lock(m, -1));
    pthread_t t1, t2;
    REQUIRE(pthread_create(&t1, NULL, timed_locker, NULL) == 0);
    until_asleep(&w1_tid);
    REQUIRE(mutex_has_sleeper(m));
    REQUIRE(pthread_create(&t2, NULL, untimed_locker, NULL) == 0);
    until_asleep(&w2_tid);
    /* The timed locker must still be asleep, first in the queue. */
    REQUIRE(now_seconds() < w1_start + W1_TIMEOUT_MS / 1000.0 / 2);
    CHECK_OK(mapipc_mutex_unlock(m)); /* wakes the timed locker; it cannot run yet */
    CHECK_OK(mapipc_mutex_lock(m, 0)); /* taken again at once, without sleeping */
    /* Let the timed locker's deadline pass before it runs: it is a
     * deadline we wait out, not an order between threads. */
    while (now_seconds() < w1_start + W1_TIMEOUT_MS / 1000.0 + 0.01) {
    }
    REQUIRE(pthread_join(t1, NULL) == 0);
    CHECK(w1_status == MAPIPC_ERR_TIMED_OUT);
    CHECK_OK(mapipc_mutex_unlock(m));
    /* The untimed locker must now get the lock; allow it 10 s. */
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 10;
    int joined = pthread_timedjoin_np(t2, NULL, &limit);
    CHECK(joined == 0);
    if (joined != 0) {
        fprintf(stderr, "  the untimed locker sleeps on a free mutex (word %#x)\n",
                __atomic_load_n((uint32_t *)m, __ATOMIC_ACQUIRE));
        mapipc_wake((uint32_t *)m, 1);
        REQUIRE(pthread_join(t2, NULL) == 0);
    }
    CHECK(w2_status == MAPIPC_OK);
    CHECK_OK(mapipc_unmap(r));
}

int main(void) {
    RUN(timed_waiter_passes_on_its_wakeup);
    return check_done();
}
