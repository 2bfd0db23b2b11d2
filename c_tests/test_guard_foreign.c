/* A fault inside mapipc_read/mapipc_write on the caller's side of the copy
 * (the caller's own raw mapping of a file that shrank) is not mapipc's to
 * report: it reaches the program's SIGBUS handler, or kills as it would
 * without mapipc. Only the region side reports MAPIPC_ERR_TRUNCATED. */
#include <setjmp.h>
#include <sys/mman.h>

#include "check.h"

enum { PAGE = 4096 };

static volatile sig_atomic_t calls;
static sigjmp_buf escape;
static void *fault_addr;

static void own(int sig, siginfo_t *si, void *ctx) {
    (void)sig, (void)ctx;
    calls++;
    fault_addr = si->si_addr;
    siglongjmp(escape, 1);
}

/* A raw shared mapping of a 2-page file that shrank to 0 bytes. */
static char *raw_vanished(const char *path) {
    char page[2 * PAGE];
    memset(page, 'r', sizeof page);
    check_write_file(path, page, sizeof page);
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    char *raw = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(raw != MAP_FAILED);
    REQUIRE(ftruncate(fd, 0) == 0);
    close(fd);
    return raw;
}

static void callers_side_fault_is_the_programs(void) {
    if (skip_under(UNDER_VALGRIND, "callers_side_fault_is_the_programs: longjmps out of a copy")) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = own;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGBUS, &sa, NULL) == 0);
    check_write_file("region", "abcdefgh", 8);
    char *p = NULL;
    CHECK_OK(mapipc_map_file("region", 0, 0, MAPIPC_READ | MAPIPC_WRITE, (void **)&p));
    char *raw = raw_vanished("raw");
    if (sigsetjmp(escape, 1) == 0) {
        mapipc_status s = mapipc_read(p, raw, 8);
        fprintf(stderr, "  mapipc_read returned %s: %s\n", mapipc_status_name(s), mapipc_last_error());
        CHECK(!"the program's handler got the fault");
    }
    CHECK(calls == 1);
    CHECK(fault_addr == raw);
    if (sigsetjmp(escape, 1) == 0) {
        mapipc_status s = mapipc_write(p, raw + PAGE, 8);
        fprintf(stderr, "  mapipc_write returned %s: %s\n", mapipc_status_name(s), mapipc_last_error());
        CHECK(!"the program's handler got the fault");
    }
    CHECK(calls == 2);
    CHECK(fault_addr == raw + PAGE);
    /* The region side still reports, and the handler is not called. */
    char buf[8];
    CHECK(truncate("region", 0) == 0);
    CHECK_STATUS(mapipc_read(p, buf, 8), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK(calls == 2);
    munmap(raw, 2 * PAGE);
    CHECK_OK(mapipc_unmap(p));
    unlink("raw");
    unlink("region");
}

/* Without a handler of the program's, such a fault kills as before. */
static void callers_side_fault_kills_without_handler(void) {
    check_write_file("region", "abcdefgh", 8);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char *p = NULL;
        if (mapipc_map_file("region", 0, 0, MAPIPC_READ, (void **)&p) != MAPIPC_OK) _exit(3);
        char *raw = raw_vanished("raw");
        mapipc_status s = mapipc_read(p, raw, 8);
        _exit(10 + (int)s);
    }
    CHECK(check_wait(pid) == 128 + SIGBUS);
    unlink("raw");
    unlink("region");
}

int main(void) {
    RUN(callers_side_fault_is_the_programs);
    RUN(callers_side_fault_kills_without_handler);
    return check_done();
}
