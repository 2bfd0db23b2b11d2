/* Defects an adversarial read of the robust mutex found: a waiter killed in
 * another PID namespace whose thread id equals the holder's, a forked child
 * of a holder that cannot unmap its copy, and an unlock from a pthread key
 * destructor (which runs after the library's own thread-local cleanup). */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>

#include "sync_util.h"

static void *exit_once_asleep(void *arg) {
    wait_for_sleeper(arg);
    _exit(0);
}

/* Thread id 1 of its namespace blocks in lock, and dies there. */
static int die_waiting(void *arg) {
    struct ns_lock *s = arg;
    if (getpid() != 1) return 20;
    pthread_t t;
    if (pthread_create(&t, NULL, exit_once_asleep, &s->m) != 0) return 21;
    mapipc_mutex_lock(&s->m, -1);
    return 22;
}

/* The kernel releases the word named by a dying thread's "operation
 * pending" slot if the word holds that thread's id, in the dying thread's
 * own namespace. A waiter that kept the slot while it slept, killed while
 * a thread with its id in another namespace held the lock, made the kernel
 * mark the lock as abandoned: the next locker took it with OWNER_DIED
 * while its holder lived on. */
static void waiter_dying_beside_an_equal_tid_leaves_the_lock_held(void) {
    check_held_across_namespaces(hold_until_done, die_waiting);
}

/* The kernel gives a forked child an empty robust list: it holds none of
 * the locks its parent's thread held, and may unmap its copy of them. */
static void forked_child_of_a_holder_may_unmap(void) {
    mapipc_mutex *m = anon(4096);
    CHECK_OK(mapipc_mutex_init(m));
    CHECK_OK(mapipc_mutex_lock(m, 0));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        mapipc_status st = mapipc_unmap(m);
        if (st != MAPIPC_OK) fprintf(stderr, "  child's unmap: %s\n", mapipc_last_error());
        _exit(st == MAPIPC_OK ? 0 : 1);
    }
    CHECK(check_wait(pid) == 0);
    /* The parent still holds it, and may not. */
    CHECK_STATUS(mapipc_unmap(m), MAPIPC_ERR_BUSY, EBUSY);
    CHECK_OK(mapipc_mutex_unlock(m));
    CHECK_OK(mapipc_unmap(m));
}

/* pthread key destructors run after thread_local destructors, so after
 * mapipc's own per-thread cleanup: an unlock there must still work. */
static pthread_key_t unlock_key;
static mapipc_status unlock_in_destructor = -1;

static void unlock_at_thread_end(void *m) {
    unlock_in_destructor = mapipc_mutex_unlock(m);
    if (unlock_in_destructor != MAPIPC_OK)
        fprintf(stderr, "  unlock in a key destructor: %s\n", mapipc_last_error());
}

static void *lock_and_leave(void *m) {
    if (mapipc_mutex_lock(m, -1) != MAPIPC_OK) return (void *)1;
    pthread_setspecific(unlock_key, m);
    return NULL;
}

static void unlock_from_a_key_destructor(void) {
    mapipc_mutex *m = anon(4096);
    CHECK_OK(mapipc_mutex_init(m));
    REQUIRE(pthread_key_create(&unlock_key, unlock_at_thread_end) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, lock_and_leave, m) == 0);
    void *ret = (void *)-1;
    REQUIRE(pthread_join(t, &ret) == 0);
    CHECK(ret == NULL);
    CHECK(unlock_in_destructor == MAPIPC_OK);
    /* Released by the unlock, not by the kernel at the thread's death. */
    CHECK_OK(mapipc_mutex_lock(m, 0));
    CHECK_OK(mapipc_mutex_unlock(m));
    CHECK_OK(mapipc_unmap(m));
}

/* A peer that clears the word of a lock this thread holds lets another
 * thread take it, which links the lock into its own list and, unlocking,
 * leaves a null link in this thread's list. The kernel stops its walk at
 * such a link; an unmap elsewhere must not follow it either. */
static void *lock_unlock(void *m) {
    if (mapipc_mutex_lock(m, 0) != MAPIPC_OK) return (void *)1;
    return mapipc_mutex_unlock(m) == MAPIPC_OK ? NULL : (void *)2;
}

static void stolen_lock_leaves_unmap_working(void) {
    mapipc_mutex *m = anon(4096);
    CHECK_OK(mapipc_mutex_init(m));
    CHECK_OK(mapipc_mutex_lock(m, 0));
    __atomic_store_n((uint32_t *)m, 0, __ATOMIC_RELEASE); /* the hostile write */
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, lock_unlock, m) == 0);
    void *ret = (void *)-1;
    REQUIRE(pthread_join(t, &ret) == 0);
    CHECK(ret == NULL);
    void *other = anon(4096);
    CHECK_OK(mapipc_unmap(other));
    /* This thread no longer holds it, and says so. */
    CHECK_STATUS(mapipc_mutex_unlock(m), MAPIPC_ERR_PERMISSION_DENIED, EPERM);
}

/* A signal handler that locks and unlocks a mutex while the thread it
 * interrupted is linking another one into its robust list must leave the
 * list whole. The handler is made to run at one exact instant: the mutex
 * being linked straddles two pages, the second read-only, so its `next`
 * field's store faults, and the SIGSEGV handler (which makes the page
 * writable) does the nested lock. */
static mapipc_mutex *nested;
static char *ro_page;
static long page;

static void lock_in_handler(int sig, siginfo_t *info, void *uc) {
    (void)sig;
    (void)uc;
    if ((char *)info->si_addr < ro_page || (char *)info->si_addr >= ro_page + page) abort();
    mprotect(ro_page, (size_t)page, PROT_READ | PROT_WRITE);
    if (mapipc_mutex_lock(nested, 0) != MAPIPC_OK || mapipc_mutex_unlock(nested) != MAPIPC_OK)
        abort();
}

static int lock_interrupted_then_die(char *r) {
    mapipc_mutex *outer = (mapipc_mutex *)r;
    mapipc_mutex *straddling = (mapipc_mutex *)(r + 2 * page - 32);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = lock_in_handler;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSEGV, &sa, NULL) != 0) return 10;
    if (mapipc_mutex_lock(outer, 0) != MAPIPC_OK) return 11;
    if (mprotect(ro_page, (size_t)page, PROT_READ) != 0) return 12;
    if (mapipc_mutex_lock(straddling, 0) != MAPIPC_OK) return 13;
    /* The outer lock's back link (offset 24) names the new entry. */
    uintptr_t back = __atomic_load_n((uintptr_t *)((char *)outer + 24), __ATOMIC_RELAXED);
    if (back != (uintptr_t)straddling + 32) fprintf(stderr, "  outer's back link is stale\n");
    /* Unlocked out of order, then dying with the straddling one held: the
     * kernel must still find it on the list. */
    if (mapipc_mutex_unlock(outer) != MAPIPC_OK) return 14;
    return 0;
}

static void handler_lock_while_linking_keeps_the_list_whole(void) {
    if (skip_under(UNDER_VALGRIND | UNDER_SANITIZER, "a SIGSEGV handler that resumes")) return;
    page = sysconf(_SC_PAGESIZE);
    char *r = anon(3 * (size_t)page);
    ro_page = r + page + page;
    nested = (mapipc_mutex *)(r + 64);
    mapipc_mutex *straddling = (mapipc_mutex *)(r + 2 * page - 32);
    CHECK_OK(mapipc_mutex_init((mapipc_mutex *)r));
    CHECK_OK(mapipc_mutex_init(nested));
    CHECK_OK(mapipc_mutex_init(straddling));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(lock_interrupted_then_die(r));
    CHECK(check_wait(pid) == 0);
    CHECK_STATUS(mapipc_mutex_lock(straddling, 0), MAPIPC_ERR_OWNER_DIED, 0);
    CHECK_OK(mapipc_mutex_consistent(straddling));
    CHECK_OK(mapipc_mutex_unlock(straddling));
    CHECK_OK(mapipc_unmap(r));
}

/* The PID namespace a lock records is the process's, known once: a thread
 * that first locks after /proc went away (a chroot, a new mount namespace)
 * must not make the locks of the threads before it look like another
 * namespace's, which they then could not unlock. */
static void lock_then_lose_proc(void) {
    char *r = anon(4096);
    mapipc_mutex *first = (mapipc_mutex *)r, *later = (mapipc_mutex *)(r + 64);
    CHECK_OK(mapipc_mutex_init(first));
    CHECK_OK(mapipc_mutex_init(later));
    CHECK_OK(mapipc_mutex_lock(first, 0));
    if (!hide_proc()) _exit(99);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, lock_unlock, later) == 0);
    void *ret = (void *)-1;
    REQUIRE(pthread_join(t, &ret) == 0);
    CHECK(ret == NULL);
    CHECK_STATUS(mapipc_mutex_lock(first, 0), MAPIPC_ERR_DEADLOCK, 0);
    CHECK_OK(mapipc_mutex_unlock(first));
    CHECK_OK(mapipc_unmap(r));
}

static void unlock_after_proc_went_away(void) {
    /* In a child that ends with _exit: tools look in /proc at exit. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        lock_then_lose_proc();
        _exit(check_failures == 0 ? 0 : 1);
    }
    int rc = check_wait(pid);
    if (rc == 99)
        printf("# skipped: cannot hide /proc here (needs a private mount namespace)\n");
    else
        CHECK(rc == 0);
}

/* Two processes that cannot tell their PID namespaces (no /proc), each
 * pid 1 of its own: the same thread id and the same unknown namespace do
 * not make one the holder of the other's lock. */
static int hold_without_proc(void *arg) {
    REQUIRE(hide_proc());
    return hold_until_done(arg);
}

static int same_tid_without_proc(void *arg) {
    REQUIRE(hide_proc());
    return same_tid_elsewhere(arg);
}

static void same_tid_and_unknown_namespace_is_not_the_holder(void) {
    fflush(stdout);
    fflush(stderr);
    pid_t probe = fork();
    REQUIRE(probe >= 0);
    if (probe == 0) _exit(hide_proc() ? 0 : 1);
    if (check_wait(probe) != 0) {
        printf("# skipped: cannot hide /proc here (needs a private mount namespace)\n");
        return;
    }
    check_held_across_namespaces(hold_without_proc, same_tid_without_proc);
}

int main(void) {
    RUN(waiter_dying_beside_an_equal_tid_leaves_the_lock_held);
    RUN(forked_child_of_a_holder_may_unmap);
    RUN(unlock_from_a_key_destructor);
    RUN(stolen_lock_leaves_unmap_working);
    RUN(handler_lock_while_linking_keeps_the_list_whole);
    RUN(unlock_after_proc_went_away);
    RUN(same_tid_and_unknown_namespace_is_not_the_holder);
    return check_done();
}
