/* A SIGBUS that is not a truncation: pages of a hole that a full tmpfs
 * cannot fill. mapipc_read/mapipc_write report it as a failure to read or
 * fill (MAPIPC_ERR_TRUNCATED with errno EIO, the file's unchanged size and
 * no claim that it shrank); a guarded region does not replace such pages
 * with zeros (the fault goes to the program's disposition, here the
 * default: death), so no write is lost silently and sync stays OK. Runs in
 * a private mount namespace on a 64 KiB tmpfs (as root), else skipped. */
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "check.h"

enum { PAGE = 4096, PAGES = 16 };

static void fill(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    char blk[PAGE];
    memset(blk, 'F', sizeof blk);
    while (write(fd, blk, PAGE) == PAGE) {
    }
    close(fd);
}

static void in_namespace(void) {
    char *u = NULL, *g = NULL;
    int fd = open("tmp/sparse", O_RDWR | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, PAGES * PAGE) == 0); /* a hole: no blocks */
    close(fd);
    CHECK_OK(mapipc_map_file("tmp/sparse", 0, 0, MAPIPC_READ | MAPIPC_WRITE, (void **)&u));
    CHECK_OK(mapipc_map_file("tmp/sparse", 0, 0, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_GUARDED, (void **)&g));
    fill("tmp/filler");
    char buf[8];
    CHECK_STATUS(mapipc_read(u + 3 * PAGE, buf, 8), MAPIPC_ERR_TRUNCATED, EIO);
    CHECK_MESSAGE("now 65536 bytes long");
    CHECK_MESSAGE("could not be read or filled");
    const char *msg = mapipc_last_error();
    CHECK(msg != NULL && strstr(msg, "shrank") == NULL);
    CHECK_STATUS(mapipc_write(u + 4 * PAGE, "x", 1), MAPIPC_ERR_TRUNCATED, EIO);
    /* A guarded store to an unfillable hole is not absorbed: it dies as
     * without mapipc, instead of being dropped while the file stays. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ((volatile char *)g)[5 * PAGE] = 'x';
        _exit(0);
    }
    CHECK(check_wait(pid) == 128 + SIGBUS);
    CHECK_OK(mapipc_sync(g, 0, 0));
    unlink("tmp/filler"); /* space again: the same pages work */
    CHECK_OK(mapipc_write(u + 5 * PAGE, "y", 1));
    CHECK(((volatile char *)g)[5 * PAGE] == 'y');
    CHECK_OK(mapipc_sync(g, 0, 0));
    CHECK_OK(mapipc_unmap(g));
    CHECK_OK(mapipc_unmap(u));
    unlink("tmp/sparse");
}

static void full_tmpfs_is_not_truncation(void) {
    REQUIRE(mkdir("tmp", 0700) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("none", "tmp", "tmpfs", 0, "size=64k") != 0) {
            printf("# skipped: full_tmpfs_is_not_truncation: no private mount namespace (%s)\n",
                   strerror(errno));
            _exit(0);
        }
        in_namespace();
        fflush(stdout);
        _exit(check_failures == 0 ? 0 : 1);
    }
    CHECK(check_wait(pid) == 0);
    rmdir("tmp");
}

int main(void) {
    RUN(full_tmpfs_is_not_truncation);
    return check_done();
}
