/*
 * A minimal test harness for mapipc's C tests.
 *
 * Each test case runs in a forked child, so a crash (SIGSEGV, SIGBUS) fails
 * that case with the signal named instead of ending the program. Output is
 * one line per case, "ok NAME" or "not ok NAME", which c_tests/run.sh
 * counts. Every test program runs in a fresh empty directory made by the
 * harness, which removes it afterwards, so files are created relative to ".".
 */
#ifndef MAPIPC_CHECK_H
#define MAPIPC_CHECK_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mapipc.h"

static int check_failures;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__,         \
                    __LINE__, #cond);                                        \
            check_failures++;                                                \
        }                                                                    \
    } while (0)

/* A mapipc call must return `want`; on failure it must also set errno to
 * `want_errno` (0: do not check errno). */
#define CHECK_STATUS(call, want, want_errno)                                 \
    do {                                                                     \
        errno = 0;                                                           \
        mapipc_status got_ = (call);                                         \
        int errno_ = errno;                                                  \
        if (got_ != (want)) {                                                \
            fprintf(stderr, "  %s:%d: %s returned %s, expected %s (%s)\n",    \
                    __FILE__, __LINE__, #call, mapipc_status_name(got_),     \
                    mapipc_status_name(want), mapipc_last_error());          \
            check_failures++;                                                \
        } else if ((want_errno) != 0 && errno_ != (want_errno)) {            \
            fprintf(stderr, "  %s:%d: %s set errno %d (%s), expected %d\n",   \
                    __FILE__, __LINE__, #call, errno_, strerror(errno_),     \
                    (int)(want_errno));                                      \
            check_failures++;                                                \
        }                                                                    \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, MAPIPC_OK, 0)

/* The thread's last error message must contain `needle`. */
#define CHECK_MESSAGE(needle)                                                \
    do {                                                                     \
        const char *msg_ = mapipc_last_error();                              \
        if (msg_ == NULL || strstr(msg_, (needle)) == NULL) {                \
            fprintf(stderr, "  %s:%d: message \"%s\" lacks \"%s\"\n",        \
                    __FILE__, __LINE__, msg_ ? msg_ : "(null)", (needle));   \
            check_failures++;                                                \
        }                                                                    \
    } while (0)

/* Fatal precondition for the test itself (not for mapipc). */
#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "  %s:%d: REQUIRE(%s) failed: %s\n", __FILE__,   \
                    __LINE__, #cond, strerror(errno));                       \
            exit(2);                                                         \
        }                                                                    \
    } while (0)

/* Parts of a case that a tool cannot run (valgrind cannot retry a replaced
 * page, sanitizers reserve terabytes of address space, ...): prints which
 * part was skipped and why, and returns 1. */
enum { UNDER_VALGRIND = 1, UNDER_SANITIZER = 2 };

static inline int skip_under(int tools, const char *what) {
    const char *tool = NULL;
    if ((tools & UNDER_VALGRIND) && getenv("MAPIPC_TEST_UNDER_VALGRIND")) tool = "valgrind";
    if ((tools & UNDER_SANITIZER) && getenv("MAPIPC_TEST_UNDER_SANITIZER")) tool = "sanitizers";
    if (tool == NULL) return 0;
    printf("# skipped under %s: %s\n", tool, what);
    return 1;
}

/* Waits for a child and returns its exit status, or 128 + signal. */
static inline int check_wait(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

static int check_cases_failed;

/* Runs one case in a child process. A watchdog alarm bounds a case that
 * would hang (a blocking open of a FIFO, a deadlock); it never orders
 * events between processes. */
static void check_run(const char *name, void (*fn)(void)) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        alarm(60);
        check_failures = 0;
        fn();
        fflush(stdout);
        exit(check_failures == 0 ? 0 : 1);
    }
    int rc = check_wait(pid);
    if (rc == 0) {
        printf("ok %s\n", name);
    } else {
        check_cases_failed++;
        if (rc > 128)
            printf("not ok %s (killed by signal %d: %s)\n", name, rc - 128,
                   strsignal(rc - 128));
        else
            printf("not ok %s (exit %d)\n", name, rc);
    }
    fflush(stdout);
}

#define RUN(fn) check_run(#fn, fn)

static inline int check_done(void) { return check_cases_failed == 0 ? 0 : 1; }

/* Writes `len` bytes of `data` to a new file `path` (mode 0600). */
static inline void check_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    REQUIRE(len == 0 || fwrite(data, 1, len, f) == len);
    REQUIRE(fclose(f) == 0);
}

/* Number of open descriptors of this process. */
static inline int check_count_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 4096; fd++) {
        if (fcntl(fd, F_GETFD) != -1) n++;
    }
    return n;
}

#endif
