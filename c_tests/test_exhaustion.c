/* Running out: descriptors (RLIMIT_NOFILE), address space (RLIMIT_AS),
 * a full /dev/shm, a full disk, and vm.max_map_count. Each must be a clear
 * error (MAPIPC_ERR_NO_SPACE with the system's errno) that leaves nothing
 * behind. The full file systems are small tmpfs mounts in a private mount
 * namespace; where the machine does not allow one, the case says why it
 * was skipped. */
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "check.h"

enum { PAGE = 4096 };

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void descriptors_exhausted(void) {
    /* valgrind applies the descriptor limit after the kernel's open, so a
     * file is created before the open "fails": not what a kernel does. */
    if (skip_under(UNDER_VALGRIND, "descriptors_exhausted: valgrind emulates RLIMIT_NOFILE after the open")) return;
    check_write_file("there", "0123456789", 10);
    char name[64];
    snprintf(name, sizeof name, "/mapipc-test-%ld-nofd", (long)getpid());
    /* The lowest free descriptor becomes the limit: no open can succeed. */
    int probe = open("/dev/null", O_RDONLY);
    REQUIRE(probe >= 0);
    close(probe);
    struct rlimit old, lim = {(rlim_t)probe, (rlim_t)probe};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
    lim.rlim_max = old.rlim_max;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);

    void *p = (void *)1;
    CHECK_STATUS(mapipc_map_file("new", 0, PAGE, MAPIPC_WRITE | MAPIPC_CREATE, &p), MAPIPC_ERR_NO_SPACE, EMFILE);
    CHECK_MESSAGE("new");
    CHECK(p == NULL && !exists("new"));
    CHECK_STATUS(mapipc_map_file("there", 0, 0, MAPIPC_READ, &p), MAPIPC_ERR_NO_SPACE, EMFILE);
    CHECK_STATUS(mapipc_shm_open_name(name, PAGE, MAPIPC_WRITE | MAPIPC_CREATE, &p), MAPIPC_ERR_NO_SPACE, EMFILE);
    char shm_path[96];
    snprintf(shm_path, sizeof shm_path, "/dev/shm%s", name);
    CHECK(!exists(shm_path));
    /* What needs no descriptor still works, and a receive on a channel whose
     * sender lives is not mistaken for a dead sender (its liveness check
     * needs a descriptor too): it times out. */
    void *chan = NULL;
    CHECK_OK(mapipc_map_anonymous(8192, MAPIPC_WRITE, &chan));
    CHECK_OK(mapipc_channel_init(chan, 0));
    CHECK_OK(mapipc_channel_send(chan, "x", 1, 0));
    char buf[8];
    size_t len;
    CHECK_OK(mapipc_channel_recv(chan, buf, sizeof buf, &len, 0));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        /* A live sender in another process that sends nothing more. */
        mapipc_channel_send(chan, "y", 1, 0);
        pause();
        _exit(0);
    }
    CHECK_OK(mapipc_channel_recv(chan, buf, sizeof buf, &len, -1));
    CHECK_STATUS(mapipc_channel_recv(chan, buf, sizeof buf, &len, 300000000), MAPIPC_ERR_TIMED_OUT, ETIMEDOUT);
    kill(pid, SIGKILL);
    check_wait(pid);
    CHECK_OK(mapipc_unmap(chan));
    REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
    unlink("there");
}

static void address_space_exhausted(void) {
    if (skip_under(UNDER_VALGRIND | UNDER_SANITIZER, "address_space_exhausted: RLIMIT_AS")) return;
    char name[64];
    snprintf(name, sizeof name, "/mapipc-test-%ld-noas", (long)getpid());
    struct rlimit lim = {(rlim_t)512 << 20, (rlim_t)512 << 20};
    REQUIRE(setrlimit(RLIMIT_AS, &lim) == 0);
    void *p = (void *)1;
    size_t big = (size_t)1 << 30;
    CHECK_STATUS(mapipc_map_anonymous(big, MAPIPC_WRITE, &p), MAPIPC_ERR_NO_SPACE, ENOMEM);
    CHECK(p == NULL);
    CHECK_STATUS(mapipc_map_file("big", 0, big, MAPIPC_WRITE | MAPIPC_CREATE, &p), MAPIPC_ERR_NO_SPACE, ENOMEM);
    CHECK_MESSAGE("big");
    CHECK(p == NULL && !exists("big"));
    CHECK_STATUS(mapipc_shm_open_name(name, big, MAPIPC_WRITE | MAPIPC_CREATE, &p), MAPIPC_ERR_NO_SPACE, ENOMEM);
    char shm_path[96];
    snprintf(shm_path, sizeof shm_path, "/dev/shm%s", name);
    CHECK(!exists(shm_path));
    /* Small requests still work. */
    CHECK_OK(mapipc_map_anonymous(PAGE, MAPIPC_WRITE, &p));
    CHECK_OK(mapipc_unmap(p));
}

/* A private mount namespace with a small tmpfs at `where`; 0 (and a
 * printed reason) where the machine does not allow it. */
static int small_tmpfs(const char *where, const char *what) {
    const char *why = NULL;
    if (unshare(CLONE_NEWNS) != 0) why = "unshare(CLONE_NEWNS)";
    else if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) why = "making mounts private";
    else if (mount("mapipc-test", where, "tmpfs", 0, "size=256k,mode=1777") != 0) why = "mounting a tmpfs";
    if (why == NULL) return 1;
    printf("# skipped %s: %s failed here (%s); it needs root or a user namespace\n", what, why, strerror(errno));
    return 0;
}

static void dev_shm_full(void) {
    if (!small_tmpfs("/dev/shm", "dev_shm_full")) return;
    char name[64];
    snprintf(name, sizeof name, "/mapipc-test-%ld-full", (long)getpid());
    void *p = (void *)1;
    CHECK_STATUS(mapipc_shm_open_name(name, 1 << 20, MAPIPC_WRITE | MAPIPC_CREATE, &p), MAPIPC_ERR_NO_SPACE, ENOSPC);
    CHECK_MESSAGE(name);
    CHECK(p == NULL);
    char shm_path[96];
    snprintf(shm_path, sizeof shm_path, "/dev/shm%s", name);
    CHECK(!exists(shm_path));
    /* What fits still works. */
    CHECK_OK(mapipc_shm_open_name(name, 64 << 10, MAPIPC_WRITE | MAPIPC_CREATE, &p));
    CHECK_OK(mapipc_unmap(p));
    CHECK_OK(mapipc_shm_unlink_name(name));
}

static void disk_full(void) {
    REQUIRE(mkdir("small", 0700) == 0);
    if (small_tmpfs("small", "disk_full")) {
        void *p = (void *)1;
        CHECK_STATUS(mapipc_map_file("small/f", 0, 1 << 20, MAPIPC_WRITE | MAPIPC_CREATE, &p), MAPIPC_ERR_NO_SPACE,
                     ENOSPC);
        CHECK_MESSAGE("small/f");
        CHECK(p == NULL && !exists("small/f"));
        /* Extending an existing file: refused, and its size is as before. */
        check_write_file("small/g", "0123456789", 10);
        CHECK_STATUS(mapipc_map_file("small/g", 0, 1 << 20, MAPIPC_WRITE | MAPIPC_CREATE, &p), MAPIPC_ERR_NO_SPACE,
                     ENOSPC);
        struct stat st;
        CHECK(stat("small/g", &st) == 0 && st.st_size == 10);
        unlink("small/g");
        CHECK(umount("small") == 0);
    }
    rmdir("small");
}

static long max_map_count(void) {
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long n = -1;
    if (f) {
        if (fscanf(f, "%ld", &n) != 1) n = -1;
        fclose(f);
    }
    return n;
}

static void map_count_reached(void) {
    if (skip_under(UNDER_VALGRIND | UNDER_SANITIZER, "map_count_reached: the tool needs mappings of its own")) return;
    long limit = max_map_count();
    if (limit <= 0 || limit > 1 << 20) {
        printf("# skipped map_count_reached: vm.max_map_count is %ld\n", limit);
        return;
    }
    size_t cap = (size_t)limit + 64;
    void **maps = calloc(cap, sizeof *maps);
    REQUIRE(maps != NULL);
    size_t n = 0;
    mapipc_status st = MAPIPC_OK;
    while (n < cap) {
        /* Alternate the protection so that neighbours never merge. */
        st = mapipc_map_anonymous(PAGE, n % 2 ? MAPIPC_READ : MAPIPC_WRITE, &maps[n]);
        if (st != MAPIPC_OK) break;
        n++;
    }
    CHECK(st == MAPIPC_ERR_NO_SPACE);
    CHECK(errno == ENOMEM);
    CHECK_MESSAGE("cannot map 4096 bytes");
    CHECK(n > (size_t)limit / 2 && n < cap);
    /* A file mapping now fails the same way and leaves no file behind. */
    void *p = (void *)1;
    CHECK_STATUS(mapipc_map_file("late", 0, PAGE, MAPIPC_WRITE | MAPIPC_CREATE, &p), MAPIPC_ERR_NO_SPACE, ENOMEM);
    CHECK(!exists("late"));
    for (size_t i = 0; i < n; i++) CHECK_OK(mapipc_unmap(maps[i]));
    free(maps);
    CHECK_OK(mapipc_map_file("late", 0, PAGE, MAPIPC_WRITE | MAPIPC_CREATE, &p));
    CHECK_OK(mapipc_unmap(p));
    unlink("late");
}

int main(void) {
    RUN(descriptors_exhausted);
    RUN(address_space_exhausted);
    RUN(dev_shm_full);
    RUN(disk_full);
    RUN(map_count_reached);
    return check_done();
}
