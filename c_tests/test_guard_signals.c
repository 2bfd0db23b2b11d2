/* mapipc's SIGBUS handler passes every SIGBUS that is not its own to the
 * program's disposition exactly as the kernel would have: SIG_IGN ignores a
 * sent signal, a handler runs with its sa_mask, SA_RESETHAND and
 * SA_NODEFER honoured, errno is kept, and a handler the program installs
 * after mapipc's is chained to from the next map call on (with mapipc's
 * guard still working), without looping if it chains back to mapipc's. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "check.h"

enum { PAGE = 4096 };

/* Results a child's handler leaves for the parent to check. */
struct seen { volatile int calls, usr1_blocked, usr2_blocked, bus_blocked, err, guarded_calls; };
static struct seen *seen;

static void shared_results(void) {
    seen = mmap(NULL, sizeof *seen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(seen != MAP_FAILED);
    memset((void *)seen, 0, sizeof *seen);
}

static pid_t child(void) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    return pid;
}

static void *guarded(const char *path) {
    check_write_file(path, "0123456789", 10);
    void *p = NULL;
    CHECK_OK(mapipc_map_file(path, 0, 0, MAPIPC_READ | MAPIPC_GUARDED, &p));
    REQUIRE(p != NULL);
    return p;
}

/* SIG_IGN: a sent SIGBUS is ignored as without mapipc; a fault that is not
 * mapipc's still kills (the kernel's rule for an ignored fault). */
static void ignored_sent_signal_stays_ignored(void) {
    pid_t pid = child();
    if (pid == 0) {
        signal(SIGBUS, SIG_IGN);
        (void)guarded("g");
        kill(getpid(), SIGBUS);
        raise(SIGBUS);
        _exit(check_failures == 0 ? 0 : 1);
    }
    CHECK(check_wait(pid) == 0);
    pid = child();
    if (pid == 0) {
        signal(SIGBUS, SIG_IGN);
        (void)guarded("g");
        check_write_file("raw", "x", 1);
        int fd = open("raw", O_RDONLY);
        volatile char *raw = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
        REQUIRE(raw != MAP_FAILED);
        (void)raw[PAGE]; /* past the end of a 1-byte file */
        _exit(0);
    }
    CHECK(check_wait(pid) == 128 + SIGBUS);
    unlink("g");
    unlink("raw");
}

static void record(int sig, siginfo_t *si, void *ctx) {
    (void)sig, (void)si, (void)ctx;
    int err = errno;
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    seen->calls++;
    seen->usr1_blocked = sigismember(&cur, SIGUSR1);
    seen->usr2_blocked = sigismember(&cur, SIGUSR2);
    seen->bus_blocked = sigismember(&cur, SIGBUS);
    seen->err = err;
    errno = EINVAL; /* a careless handler */
}

static void install_record(int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = record;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    REQUIRE(sigaction(SIGBUS, &sa, NULL) == 0);
}

/* The program's handler, installed before mapipc's: called with its
 * sa_mask (and no more: mapipc's handler blocks every signal while it
 * runs, not the program's); SA_RESETHAND makes the second SIGBUS fatal. */
static void chained_handler_keeps_its_flags(void) {
    shared_results();
    pid_t pid = child();
    if (pid == 0) {
        install_record(SA_RESETHAND);
        (void)guarded("g");
        errno = EXDEV;
        raise(SIGBUS);
        if (errno != EXDEV) _exit(3);
        raise(SIGBUS); /* SA_RESETHAND: the default action now */
        _exit(0);
    }
    CHECK(check_wait(pid) == 128 + SIGBUS);
    CHECK(seen->calls == 1);
    CHECK(seen->usr1_blocked == 1);
    CHECK(seen->usr2_blocked == 0);
    CHECK(seen->bus_blocked == 1);
    CHECK(seen->err == EXDEV);
    /* SA_NODEFER: SIGBUS is not blocked inside the handler. */
    memset((void *)seen, 0, sizeof *seen);
    pid = child();
    if (pid == 0) {
        install_record(SA_NODEFER);
        (void)guarded("g");
        raise(SIGBUS);
        raise(SIGBUS);
        _exit(0);
    }
    CHECK(check_wait(pid) == 0);
    CHECK(seen->calls == 2);
    CHECK(seen->usr1_blocked == 1);
    CHECK(seen->bus_blocked == 0);
    unlink("g");
}

/* A thread blocked in read() on a pipe. */
struct reader { int fd; pid_t tid; volatile int started; ssize_t got; int err; };

static void *read_one(void *arg) {
    struct reader *r = arg;
    char c;
    r->tid = (pid_t)syscall(SYS_gettid);
    __atomic_store_n(&r->started, 1, __ATOMIC_SEQ_CST);
    errno = 0;
    r->got = read(r->fd, &c, 1);
    r->err = errno;
    return NULL;
}

/* Whether thread `tid` of this process is inside system call `nr` now. */
static int in_syscall(pid_t tid, long nr) {
    char path[64], buf[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    return strtol(buf, NULL, 10) == nr;
}

/* The program's handler has no SA_RESTART: a read() its SIGBUS interrupts
 * fails with EINTR, as without mapipc (whose action the kernel runs). */
static void chained_handler_keeps_eintr(void) {
    shared_results();
    install_record(0);
    (void)guarded("g");
    int p[2];
    REQUIRE(pipe(p) == 0);
    struct reader r = {.fd = p[0]};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, read_one, &r) == 0);
    while (!__atomic_load_n(&r.started, __ATOMIC_SEQ_CST)) sched_yield();
    while (!in_syscall(r.tid, SYS_read)) sched_yield();
    REQUIRE(pthread_kill(t, SIGBUS) == 0);
    while (seen->calls == 0) sched_yield();
    REQUIRE(write(p[1], "x", 1) == 1); /* ends a read that restarted */
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK(r.got == -1);
    CHECK(r.err == EINTR);
    close(p[0]);
    close(p[1]);
    unlink("g");
}

static sigjmp_buf escape;
static struct sigaction before_mine;
static volatile void *raw_page;

static void mine(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    if (si->si_addr == raw_page) {
        seen->calls++;
        siglongjmp(escape, 1);
    }
    seen->guarded_calls++;
    /* Not mine: chain to what was there before (mapipc's), as careful
     * programs do. */
    if (before_mine.sa_flags & SA_SIGINFO)
        before_mine.sa_sigaction(sig, si, ctx);
    else if (before_mine.sa_handler != SIG_DFL && before_mine.sa_handler != SIG_IGN)
        before_mine.sa_handler(sig);
    else {
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
    }
}

/* A handler installed after mapipc's (in a child of a process that already
 * used mapipc_read) is noticed at the next map call: the program's faults
 * reach it, the guard keeps working for the old and the new region. */
static void later_handler_is_chained(void) {
    if (skip_under(UNDER_VALGRIND, "later_handler_is_chained: retries a replaced page")) return;
    shared_results();
    unsigned char *old = guarded("old");
    char b[4];
    CHECK_OK(mapipc_read(old, b, 4)); /* handler installed */
    pid_t pid = child();
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = mine;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        REQUIRE(sigaction(SIGBUS, &sa, &before_mine) == 0);
        unsigned char *p = guarded("new");
        CHECK(truncate("new", 0) == 0);
        CHECK(truncate("old", 0) == 0);
        CHECK(((volatile unsigned char *)p)[0] == 0);
        CHECK(((volatile unsigned char *)old)[5] == 0);
        CHECK_STATUS(mapipc_sync(p, 0, 0), MAPIPC_ERR_TRUNCATED, EFAULT);
        check_write_file("raw", "x", 1);
        int fd = open("raw", O_RDONLY);
        volatile char *raw = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
        REQUIRE(raw != MAP_FAILED);
        close(fd);
        raw_page = raw + PAGE;
        if (sigsetjmp(escape, 1) == 0) {
            (void)raw[PAGE];
            CHECK(!"the raw access faulted");
        }
        CHECK(seen->calls == 1);
        CHECK(seen->guarded_calls == 0);
        munmap((void *)raw, 2 * PAGE);
        /* A sent SIGBUS: mine passes it to mapipc's, which passes it to
         * mine... no: it is nobody's, and the default kills. */
        raise(SIGBUS);
        _exit(7);
    }
    CHECK(check_wait(pid) == 128 + SIGBUS);
    CHECK(seen->calls == 1);
    CHECK(seen->guarded_calls == 1);
    CHECK_OK(mapipc_unmap(old));
    unlink("old");
    unlink("new");
    unlink("raw");
}

int main(void) {
    RUN(ignored_sent_signal_stays_ignored);
    RUN(chained_handler_keeps_its_flags);
    RUN(chained_handler_keeps_eintr);
    RUN(later_handler_is_chained);
    return check_done();
}
