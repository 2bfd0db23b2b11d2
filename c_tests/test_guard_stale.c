/* A guarded region unmapped behind mapipc's back (plain munmap) must not
 * swallow the SIGBUS of whatever is mapped at that address later: a raw
 * mapping of another file, or an unguarded mapipc region (whose mapping
 * replaces the stale registry entry and frees its guard slot). Not even
 * when the guarded region's own file shrank too. */
#include <sched.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "check.h"

enum { PAGE = 4096 };

static void pattern_file(const char *path, int pages) {
    char buf[4 * PAGE];
    memset(buf, 'p', sizeof buf);
    check_write_file(path, buf, (size_t)pages * PAGE);
}

static void touch(volatile char *p) { (void)p[PAGE]; }

/* In a child, which must die of SIGBUS at the touch. */
static void stale_child(int also_shrink_guarded, int via_mapipc) {
    pattern_file("g", 2);
    char *g = NULL;
    if (mapipc_map_file("g", 0, 0, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_GUARDED, (void **)&g) != MAPIPC_OK) _exit(3);
    if (munmap(g, 2 * PAGE) != 0) _exit(4); /* misuse, tolerated by the registry */
    if (also_shrink_guarded && truncate("g", 0) != 0) _exit(5);
    pattern_file("other", 2);
    char *p;
    if (via_mapipc) {
        /* mapipc maps an unguarded region; keep trying until the kernel
         * puts it where the guarded one was (it usually does at once). */
        p = NULL;
        for (int i = 0; i < 8 && p != g; i++)
            if (mapipc_map_file("other", 0, 0, MAPIPC_READ, (void **)&p) != MAPIPC_OK) _exit(6);
        if (p != g) _exit(0); /* placed elsewhere: nothing to show; the parent sees 0 */
    } else {
        int fd = open("other", O_RDWR);
        p = mmap(g, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
        if (p != g) _exit(7);
        close(fd);
    }
    if (truncate("other", 0) != 0) _exit(8);
    touch(p);
    _exit(9); /* the fault was swallowed */
}

static void run_stale(int also_shrink_guarded, int via_mapipc) {
    /* Valgrind re-runs the access after the handler returns as a SIGSEGV
     * at address 0 instead of the SIGBUS the kernel raises. */
    if (skip_under(UNDER_VALGRIND, "stale slot cases: the re-run fault is not a SIGBUS")) return;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) stale_child(also_shrink_guarded, via_mapipc);
    int rc = check_wait(pid);
    if (rc == 0) printf("# note: the new mapping landed elsewhere; nothing to check\n");
    else if (rc != 128 + SIGBUS) fprintf(stderr, "  child ended with %d\n", rc);
    CHECK(rc == 0 || rc == 128 + SIGBUS);
    unlink("g");
    unlink("other");
}

static void raw_mapping_over_stale_slot(void) { run_stale(0, 0); }
static void raw_mapping_over_stale_slot_of_shrunk_file(void) { run_stale(1, 0); }
static void mapipc_region_over_stale_slot(void) { run_stale(1, 1); }

/* The handler's own system calls (here: the identity query finding
 * nothing mapped where the stale slot's range starts) leave errno as the
 * interrupted code had it when the program's handler is called. */
static volatile int seen_errno = -1;
static sigjmp_buf escape;
static void programs(int sig) {
    (void)sig;
    seen_errno = errno;
    siglongjmp(escape, 1);
}

static void errno_kept_for_programs_handler(void) {
    if (skip_under(UNDER_VALGRIND, "errno_kept_for_programs_handler: longjmps out of a fault")) return;
    signal(SIGBUS, programs);
    pattern_file("g", 2);
    char *g = NULL;
    CHECK_OK(mapipc_map_file("g", 0, 0, MAPIPC_READ | MAPIPC_GUARDED, (void **)&g));
    REQUIRE(munmap(g, 2 * PAGE) == 0);
    REQUIRE(truncate("g", 0) == 0);
    pattern_file("other", 1);
    int fd = open("other", O_RDWR);
    REQUIRE(fd >= 0);
    volatile char *raw = mmap(g + PAGE, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    REQUIRE(raw == (volatile char *)g + PAGE);
    REQUIRE(ftruncate(fd, 0) == 0);
    close(fd);
    if (sigsetjmp(escape, 1) == 0) {
        errno = EXDEV;
        (void)raw[0];
        CHECK(!"the raw access faulted");
    }
    CHECK(seen_errno == EXDEV);
    munmap((void *)raw, PAGE);
    unlink("g");
    unlink("other");
}

/* The identity check must recognise a guarded file on overlayfs (the
 * kernel names the underlying file there, fstat the overlay's): its pages
 * past the end are still absorbed. In a private mount namespace, as root;
 * skipped otherwise. */
static void guarded_file_on_overlayfs(void) {
    if (skip_under(UNDER_VALGRIND, "guarded_file_on_overlayfs: retries a replaced page")) return;
    REQUIRE(mkdir("lower", 0700) == 0 && mkdir("upper", 0700) == 0 && mkdir("work", 0700) == 0 &&
            mkdir("merged", 0700) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char opts[8192], cwd[2048];
        REQUIRE(getcwd(cwd, sizeof cwd) != NULL);
        snprintf(opts, sizeof opts, "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", cwd, cwd, cwd);
        if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("overlay", "merged", "overlay", 0, opts) != 0) {
            printf("# skipped: guarded_file_on_overlayfs: no overlay mount (%s)\n", strerror(errno));
            fflush(stdout);
            _exit(0);
        }
        pattern_file("merged/f", 4);
        volatile char *g = NULL;
        CHECK_OK(mapipc_map_file("merged/f", 0, 0, MAPIPC_READ | MAPIPC_GUARDED, (void **)&g));
        REQUIRE(g != NULL);
        CHECK(truncate("merged/f", PAGE) == 0);
        CHECK(g[0] == 'p' && g[2 * PAGE] == 0);
        CHECK_STATUS(mapipc_sync((void *)g, 0, 0), MAPIPC_ERR_TRUNCATED, EFAULT);
        CHECK_OK(mapipc_unmap((void *)g));
        unlink("merged/f");
        umount("merged");
        fflush(stdout);
        _exit(check_failures == 0 ? 0 : 1);
    }
    CHECK(check_wait(pid) == 0);
    unlink("upper/f");
    rmdir("work/work");
    rmdir("work/index");
    rmdir("lower");
    rmdir("upper");
    rmdir("work");
    rmdir("merged");
}

int main(void) {
    RUN(raw_mapping_over_stale_slot);
    RUN(raw_mapping_over_stale_slot_of_shrunk_file);
    RUN(mapipc_region_over_stale_slot);
    RUN(errno_kept_for_programs_handler);
    RUN(guarded_file_on_overlayfs);
    return check_done();
}
