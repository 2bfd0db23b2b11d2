/* The SIGBUS guard read as an attacker would: a guard descriptor the
 * program closed and whose number was reused must end as it would have
 * without mapipc: no file page replaced by zeros, no descriptor of the
 * program's closed. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "check.h"

enum { PAGE = 4096 };

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

int main(void) {
    RUN(reused_guard_descriptor_zeroes_nothing);
    RUN(unmap_leaves_a_reused_number_open);
    return check_done();
}
