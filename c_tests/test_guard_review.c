/* The SIGBUS guard read as an attacker would: a guard descriptor the
 * program closed and whose number was reused, SIGBUS that the kernel
 * delivers without a faulting instruction to re-run (BUS_MCEERR_AO, a
 * signal queued with a positive si_code), and a program handler that
 * chains back to mapipc's with a copy of the siginfo (or none). Each must
 * end as it would have without mapipc: no file page replaced by zeros, no
 * descriptor of the program's closed, no SIGBUS survived that the
 * disposition says kills, none killed that it ignores, no endless chain. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "check.h"

enum { PAGE = 4096 };

#ifndef BUS_MCEERR_AO
#define BUS_MCEERR_AO 5
#endif

static void pattern_file(const char *path, int pages) {
    char buf[4 * PAGE];
    memset(buf, 'p', sizeof buf);
    check_write_file(path, buf, (size_t)pages * PAGE);
}

/* The one descriptor of this process open on `path` (the guard's own). */
static int descriptor_of(const char *path) {
    char want[PATH_MAX], link[PATH_MAX], name[300];
    REQUIRE(realpath(path, want) != NULL);
    DIR *d = opendir("/proc/self/fd");
    REQUIRE(d != NULL);
    int found = -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        snprintf(name, sizeof name, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(name, link, sizeof link - 1);
        if (n < 0) continue;
        link[n] = 0;
        if (strcmp(link, want) == 0) found = atoi(e->d_name);
    }
    closedir(d);
    return found;
}

static sigjmp_buf escape;
static volatile sig_atomic_t programs_calls;
static void programs(int sig) {
    (void)sig;
    programs_calls++;
    siglongjmp(escape, 1);
}

/* The program closes the guard's descriptor (a "close every descriptor"
 * loop) and the number is reused for a pipe (size 0): a fault past the
 * file's new end must not read the pipe's size and replace pages the file
 * still has by zeros. mapipc cannot know the file's size any more: the
 * fault goes to the program, and the pages the file has keep their bytes. */
static void reused_guard_descriptor_zeroes_nothing(void) {
    if (skip_under(UNDER_VALGRIND, "reused_guard_descriptor_zeroes_nothing: longjmps out of a fault")) return;
    signal(SIGBUS, programs);
    pattern_file("f", 4);
    volatile char *g = NULL;
    CHECK_OK(mapipc_map_file("f", 0, 0, MAPIPC_READ | MAPIPC_GUARDED, (void **)&g));
    REQUIRE(g != NULL);
    int guard_fd = descriptor_of("f");
    REQUIRE(guard_fd >= 0);
    int p[2];
    REQUIRE(pipe(p) == 0);
    REQUIRE(dup2(p[0], guard_fd) == guard_fd);
    REQUIRE(truncate("f", 2 * PAGE) == 0);
    if (sigsetjmp(escape, 1) == 0) (void)g[3 * PAGE];
    CHECK(programs_calls == 1);
    CHECK(g[0] == 'p' && g[PAGE] == 'p');
    CHECK_OK(mapipc_unmap((void *)g));
    close(p[0]);
    close(p[1]);
    close(guard_fd);
    unlink("f");
}

/* Same misuse, then unmapping: mapipc must not close the descriptor now
 * behind that number, which is no longer its own. */
static void unmap_leaves_a_reused_number_open(void) {
    pattern_file("f", 1);
    void *g = NULL;
    CHECK_OK(mapipc_map_file("f", 0, 0, MAPIPC_READ | MAPIPC_GUARDED, &g));
    int guard_fd = descriptor_of("f");
    REQUIRE(guard_fd >= 0);
    int p[2];
    REQUIRE(pipe(p) == 0);
    REQUIRE(dup2(p[0], guard_fd) == guard_fd);
    CHECK_OK(mapipc_unmap(g));
    CHECK(fcntl(guard_fd, F_GETFD) != -1);
    close(p[0]);
    close(p[1]);
    close(guard_fd);
    unlink("f");
}

/* A region, copied from once so that mapipc's handler is installed. */
static void install_mapipc_handler(void) {
    check_write_file("h", "0123456789", 10);
    void *h = NULL;
    char b[4];
    CHECK_OK(mapipc_map_file("h", 0, 0, MAPIPC_READ, &h));
    CHECK_OK(mapipc_read(h, b, sizeof b));
}

/* A SIGBUS queued to this thread with a positive si_code, as the kernel
 * sends BUS_MCEERR_AO (memory error, action optional) with no faulting
 * instruction to run again. */
static void queue_sigbus(int code) {
    static char somewhere[PAGE];
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGBUS;
    si.si_code = code;
    si.si_addr = somewhere;
    REQUIRE(syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), SIGBUS, &si) == 0);
}

static int in_child(void (*body)(void)) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        body();
        _exit(check_failures == 0 ? 0 : 1);
    }
    int rc = check_wait(pid);
    if (rc != 0) fprintf(stderr, "  child ended with %d\n", rc);
    return rc;
}

static void default_then_ao(void) {
    install_mapipc_handler();
    queue_sigbus(BUS_MCEERR_AO);
    _exit(3); /* survived a SIGBUS whose disposition is to kill */
}

static void default_then_positive_code(void) {
    install_mapipc_handler();
    queue_sigbus(BUS_ADRERR);
    _exit(3);
}

static void ignored_then_ao(void) {
    signal(SIGBUS, SIG_IGN);
    install_mapipc_handler();
    queue_sigbus(BUS_MCEERR_AO);
    /* Still ignored, and mapipc's handler still in front. */
    struct sigaction now;
    REQUIRE(sigaction(SIGBUS, NULL, &now) == 0);
    CHECK((now.sa_flags & SA_SIGINFO) != 0);
    kill(getpid(), SIGBUS);
}

/* SIG_DFL: such a SIGBUS kills, as without mapipc (and does not leave the
 * process alive with mapipc's handler gone). SIG_IGN: it is ignored, and
 * stays so. */
static void sigbus_without_a_fault_to_rerun(void) {
    if (skip_under(UNDER_VALGRIND, "sigbus_without_a_fault_to_rerun: valgrind takes a SIGBUS queued with a fault's si_code for its own crash")) return;
    CHECK(in_child(default_then_ao) == 128 + SIGBUS);
    CHECK(in_child(default_then_positive_code) == 128 + SIGBUS);
    CHECK(in_child(ignored_then_ao) == 0);
    unlink("h");
}

/* A program handler, installed after mapipc's, that chains to the one it
 * found with a copy of the siginfo (as some runtimes do), or with none. */
static struct sigaction found, found_later;
static volatile sig_atomic_t copying_calls, later_calls, first_calls;
static void copying(int sig, siginfo_t *si, void *ctx) {
    siginfo_t copy = *si;
    copying_calls++;
    found.sa_sigaction(sig, &copy, ctx);
}

static void copying_later(int sig, siginfo_t *si, void *ctx) {
    siginfo_t copy = *si;
    later_calls++;
    found_later.sa_sigaction(sig, &copy, ctx);
}

static void without_siginfo(int sig, siginfo_t *si, void *ctx) {
    (void)si, (void)ctx;
    found.sa_sigaction(sig, NULL, NULL);
}

/* The program's handler from before mapipc's: what `copying` would have
 * found without mapipc. */
static void first(int sig) {
    (void)sig;
    first_calls++;
}

static void install_chaining_to(void (*fn)(int, siginfo_t *, void *), struct sigaction *to) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGBUS, &sa, to) == 0);
    REQUIRE((to->sa_flags & SA_SIGINFO) != 0);
    void *again = NULL; /* a map call: mapipc's handler back in front */
    CHECK_OK(mapipc_map_file("h", 0, 0, MAPIPC_READ, &again));
}

static void install_chaining(void (*fn)(int, siginfo_t *, void *)) {
    install_chaining_to(fn, &found);
}

static void copying_chain_child(void) {
    install_mapipc_handler();
    install_chaining(copying);
    check_write_file("raw", "x", 1);
    int fd = open("raw", O_RDONLY);
    REQUIRE(fd >= 0);
    volatile char *raw = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(raw != MAP_FAILED);
    (void)raw[PAGE]; /* past the end: nobody's fault */
    _exit(3);
}

static void chain_without_siginfo_child(void) {
    install_mapipc_handler();
    install_chaining(without_siginfo);
    raise(SIGBUS);
    _exit(3);
}

/* The chain mapipc -> program -> mapipc ends at the default action (the
 * process dies of SIGBUS), not in endless recursion (SIGSEGV). */
static void chain_back_with_copied_siginfo_ends(void) {
    CHECK(in_child(copying_chain_child) == 128 + SIGBUS);
    CHECK(in_child(chain_without_siginfo_child) == 128 + SIGBUS);
    unlink("h");
    unlink("raw");
}

/* Without mapipc, `copying` would have found `first`: chaining back
 * through mapipc's handler reaches `first`, once. */
static void chain_back_reaches_the_handler_it_replaced(void) {
    signal(SIGBUS, first);
    install_mapipc_handler();
    install_chaining(copying);
    raise(SIGBUS);
    CHECK(copying_calls == 1);
    CHECK(first_calls == 1);
    raise(SIGBUS);
    CHECK(copying_calls == 2);
    CHECK(first_calls == 2);
    unlink("h");
}

/* Two such handlers, each installed after mapipc's was put back in front:
 * the later one reaches the earlier one, which reaches `first`. */
static void chain_back_through_two_handlers(void) {
    signal(SIGBUS, first);
    install_mapipc_handler();
    install_chaining(copying);
    install_chaining_to(copying_later, &found_later);
    raise(SIGBUS);
    CHECK(later_calls == 1);
    CHECK(copying_calls == 1);
    CHECK(first_calls == 1);
    unlink("h");
}

int main(void) {
    RUN(reused_guard_descriptor_zeroes_nothing);
    RUN(unmap_leaves_a_reused_number_open);
    RUN(sigbus_without_a_fault_to_rerun);
    RUN(chain_back_with_copied_siginfo_ends);
    RUN(chain_back_reaches_the_handler_it_replaced);
    RUN(chain_back_through_two_handlers);
    return check_done();
}
