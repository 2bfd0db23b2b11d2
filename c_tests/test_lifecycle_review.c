/* Temporary objects against what review found: a descriptor handed out by
 * mapipc_region_fd or mapipc_send_region must not carry the user lock (the
 * last mapipc_unmap removes the object whoever still holds one); a lookup
 * that waited out a remover finds the object that replaced the removed one;
 * a lookup that loses the removal of a stale object to another remover
 * looks again instead of calling it stuck;
 * the last user of an object opened through a symbolic link removes the
 * object, never the link; mapipc_gc leaves links, FIFOs and directories in
 * /dev/shm alone. */
#include <stdarg.h>
#include <stdint.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "lifecycle_util.h"

#define RWCT (MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_TEMPORARY)

static void remove_if_left(const char *path) {
    if (shm_exists(path)) {
        fprintf(stderr, "  %s was left behind\n", path);
        unlink(path);
    }
}

/* region_fd of the creator's and of a joiner's region, and the descriptor
 * send_region passed: none keeps the object once no region maps it. */
static void handed_out_descriptors_are_no_users(void) {
    char name[128], path[160];
    life_name(name, sizeof name, path, sizeof path, "fd");
    int fds = check_count_fds();
    void *created = NULL, *joined = NULL;
    CHECK_OK(mapipc_shm_open_name(name, 4096, RWCT, &created));
    CHECK_OK(mapipc_shm_open_name(name, 0, MAPIPC_READ | MAPIPC_WRITE, &joined));
    int from_creator = -1, from_joiner = -1;
    CHECK_OK(mapipc_region_fd(created, &from_creator));
    CHECK_OK(mapipc_region_fd(joined, &from_joiner));
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK_OK(mapipc_send_region(sv[0], created, -1));
    CHECK_OK(mapipc_unmap(joined));
    CHECK(shm_exists(path));
    CHECK_OK(mapipc_unmap(created));
    CHECK(!shm_exists(path));
    /* The descriptors still reach the object's memory. */
    CHECK(from_creator >= 0 && from_joiner >= 0);
    struct stat st;
    CHECK(fstat(from_joiner, &st) == 0 && st.st_size == 4096 && st.st_nlink == 0);
    close(from_creator);
    close(from_joiner);
    close(sv[0]);
    close(sv[1]); /* closes the descriptor in flight */
    CHECK(check_count_fds() == fds);
    remove_if_left(path);
}

/* Whether /proc/locks shows a blocked request on inode `ino`. */
static int lock_waiter_on(ino_t ino) {
    FILE *f = fopen("/proc/locks", "r");
    REQUIRE(f != NULL);
    char line[256], needle[64];
    snprintf(needle, sizeof needle, ":%lu ", (unsigned long)ino);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, "->") && strstr(line, needle);
    fclose(f);
    return found;
}

/* A lookup finds a stale object being removed (this test holds the
 * remover's write lock) and waits; meanwhile the object goes and a live
 * one takes its name. The lookup must map the new object, not report
 * NOT_FOUND. */
static void lookup_after_a_remover_finds_the_new_object(void) {
    char name[128], path[160];
    life_name(name, sizeof name, path, sizeof path, "replaced");
    int old = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    REQUIRE(old >= 0 && fchmod(old, 01600) == 0 && ftruncate(old, 4096) == 0);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    REQUIRE(fcntl(old, F_OFD_SETLK, &fl) == 0);
    struct stat st;
    REQUIRE(fstat(old, &st) == 0);
    const uint64_t cookie = 0x1eafcafe;
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(old); /* else this process would hold the remover's lock too */
        void *p = NULL;
        mapipc_status s = mapipc_shm_open_name(name, 0, MAPIPC_READ, &p);
        if (s != MAPIPC_OK) {
            fprintf(stderr, "  lookup: %s (%s)\n", mapipc_status_name(s), mapipc_last_error());
            _exit(1);
        }
        _exit(*(volatile uint64_t *)p == cookie ? 0 : 2);
    }
    while (!lock_waiter_on(st.st_ino)) sched_yield();
    REQUIRE(unlink(path) == 0);
    void *fresh = NULL;
    CHECK_OK(mapipc_shm_open_name(name, 4096, RWCT, &fresh));
    if (fresh) *(volatile uint64_t *)fresh = cookie;
    close(old); /* the remover is done */
    CHECK(check_wait(pid) == 0);
    if (fresh) CHECK_OK(mapipc_unmap(fresh));
    CHECK(!shm_exists(path));
    remove_if_left(path);
}

/* The last user opened the temporary file through a symbolic link: the
 * file goes, the link stays. */
static void last_user_through_a_link_removes_the_object(void) {
    void *created = NULL, *linked = NULL;
    CHECK_OK(mapipc_map_file("real", 0, 4096, RWCT, &created));
    REQUIRE(symlink("real", "link") == 0);
    CHECK_OK(mapipc_map_file("link", 0, 0, MAPIPC_READ, &linked));
    CHECK_OK(mapipc_unmap(created));
    CHECK(shm_exists("real"));
    CHECK_OK(mapipc_unmap(linked));
    struct stat st;
    CHECK(lstat("link", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat("real", &st) != 0 && errno == ENOENT);
    unlink("link");
    unlink("real");
}

/* This program's fcntl, which mapipc's calls reach too: it plays another
 * remover at exact points. Armed with a path, it takes the write lock on
 * that object just before mapipc tries to (so mapipc loses), and at
 * mapipc's next probe it finishes: unlinks the object and lets go. */
static const char *rival_path;
static int rival_fd = -1, rival_done;

static void rival_step(int cmd, const struct flock *fl) {
    if (rival_path == NULL) return;
    if (rival_fd < 0 && cmd == F_OFD_SETLK && fl->l_type == F_WRLCK) {
        rival_fd = open(rival_path, O_RDWR | O_CLOEXEC);
        struct flock w = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        REQUIRE(rival_fd >= 0 && syscall(SYS_fcntl, rival_fd, F_OFD_SETLK, &w) == 0);
    } else if (rival_fd >= 0 && cmd == F_OFD_GETLK) {
        REQUIRE(unlink(rival_path) == 0);
        close(rival_fd);
        rival_fd = -1;
        rival_path = NULL;
        rival_done = 1;
    }
}

int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (cmd == F_OFD_SETLK || cmd == F_OFD_GETLK) rival_step(cmd, arg);
    return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

static void losing_a_removal_is_not_stuck(void) {
    char name[128], path[160];
    life_name(name, sizeof name, path, sizeof path, "rival");
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0 && fchmod(fd, 01600) == 0 && ftruncate(fd, 4096) == 0);
    close(fd); /* stale: marked, nobody's lock */
    rival_path = path;
    void *p = NULL;
    CHECK_OK(mapipc_shm_open_name(name, 4096, RWCT, &p));
    CHECK(rival_done);
    rival_path = NULL;
    if (p) CHECK_OK(mapipc_unmap(p));
    CHECK(!shm_exists(path));
    remove_if_left(path);
}

/* What another user could plant in /dev/shm: a link to a stale marked
 * file elsewhere, a marked FIFO, a marked directory. mapipc_gc follows,
 * opens for long and removes none of them; a stale marked file of its own
 * next to them goes. */
static void gc_leaves_planted_entries_alone(void) {
    char name[128], stale[160], link[160], fifo[160], dir[160];
    life_name(name, sizeof name, stale, sizeof stale, "stale");
    life_name(name, sizeof name, link, sizeof link, "link");
    life_name(name, sizeof name, fifo, sizeof fifo, "fifo");
    life_name(name, sizeof name, dir, sizeof dir, "dir");
    char target[4096];
    REQUIRE(getcwd(target, sizeof target - 16) != NULL);
    strcat(target, "/target");
    int fd = open("target", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0 && fchmod(fd, 01600) == 0);
    close(fd);
    fd = open(stale, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0 && fchmod(fd, 01600) == 0);
    close(fd);
    REQUIRE(symlink(target, link) == 0);
    REQUIRE(mkfifo(fifo, 0600) == 0 && chmod(fifo, 01600) == 0);
    REQUIRE(mkdir(dir, 0700) == 0 && chmod(dir, 01700) == 0);
    int fds = check_count_fds();
    size_t removed = 99;
    CHECK_OK(mapipc_gc(&removed));
    CHECK(removed >= 1);
    CHECK(check_count_fds() == fds);
    struct stat st;
    CHECK(lstat(stale, &st) != 0 && errno == ENOENT);
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat(target, &st) == 0 && S_ISREG(st.st_mode));
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    CHECK(lstat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    unlink(stale);
    unlink(link);
    unlink(fifo);
    rmdir(dir);
    unlink("target");
}

int main(void) {
    RUN(handed_out_descriptors_are_no_users);
    RUN(lookup_after_a_remover_finds_the_new_object);
    RUN(losing_a_removal_is_not_stuck);
    RUN(last_user_through_a_link_removes_the_object);
    RUN(gc_leaves_planted_entries_alone);
    return check_done();
}
