/* Shared memory with no names: mapipc_memfd (reserved, zero-filled, size
 * sealed, labelled), mapipc_map_fd (every check of mapipc_map_file, the
 * descriptor's access mode, MAPIPC_SEALED) and mapipc_region_fd (a new
 * O_CLOEXEC descriptor with the region's access, never reopened by name).
 * Every failing case checks that no descriptor was left open. */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "check.h"
#include "share_util.h"

static int access_mode(int fd) { return fcntl(fd, F_GETFL) & O_ACCMODE; }

static void memfd_is_zeroed_sealed_and_labelled(void) {
    void *p = NULL;
    CHECK_OK(mapipc_memfd("test-label", 10000, MAPIPC_READ | MAPIPC_WRITE, &p));
    REQUIRE(p != NULL);
    size_t size = 0;
    CHECK_OK(mapipc_region_size(p, &size));
    CHECK(size == 10000);
    int zero = 1;
    for (size_t i = 0; i < 10000; i++) zero &= ((char *)p)[i] == 0;
    CHECK(zero);
    memset(p, 0x5a, 10000);
    CHECK(maps_mention("/memfd:test-label"));
    int fd = -7;
    CHECK_OK(mapipc_region_fd(p, &fd));
    REQUIRE(fd >= 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 10000);
    /* Every page allocated up front. */
    CHECK(st.st_blocks * 512 >= 10000);
    CHECK(fcntl(fd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    CHECK(ftruncate(fd, 100) == -1 && errno == EPERM);
    CHECK(ftruncate(fd, 1 << 20) == -1 && errno == EPERM);
    CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == -1 && errno == EPERM);
    CHECK(access_mode(fd) == O_RDWR);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    /* The descriptor sees the region's bytes. */
    unsigned char b = 0;
    CHECK(pread(fd, &b, 1, 9999) == 1 && b == 0x5a);
    close(fd);
    CHECK_OK(mapipc_unmap(p));
}

static void memfd_label_defaults_and_limits(void) {
    void *p = NULL;
    CHECK_OK(mapipc_memfd(NULL, 4096, MAPIPC_WRITE, &p));
    CHECK(maps_mention("/memfd:mapipc"));
    CHECK_OK(mapipc_unmap(p));
    char label[202];
    memset(label, 'l', 200);
    label[200] = '\0';
    CHECK_OK(mapipc_memfd(label, 4096, MAPIPC_WRITE, &p));
    CHECK_OK(mapipc_unmap(p));
    label[200] = 'l';
    label[201] = '\0';
    int fds = check_count_fds();
    p = (void *)1;
    CHECK_STATUS(mapipc_memfd(label, 4096, MAPIPC_WRITE, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("201 bytes");
    CHECK(p == NULL);
    CHECK(check_count_fds() == fds);
}

static void memfd_refuses_bad_sizes_and_flags(void) {
    int fds = check_count_fds();
    void *p = (void *)1;
    CHECK_STATUS(mapipc_memfd("x", 0, MAPIPC_WRITE, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(p == NULL);
    const uint32_t bad[] = {0, MAPIPC_WRITE | MAPIPC_SEALED, MAPIPC_WRITE | MAPIPC_PRIVATE,
                            MAPIPC_WRITE | MAPIPC_CREATE, MAPIPC_WRITE | MAPIPC_GUARDED,
                            MAPIPC_WRITE | 0x80};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = (void *)1;
        CHECK_STATUS(mapipc_memfd("x", 4096, bad[i], &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
        CHECK(p == NULL);
    }
    CHECK_STATUS(mapipc_memfd("x", 4096, MAPIPC_WRITE, NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* More than memory and swap: refused before anything is allocated. */
    CHECK_STATUS(mapipc_memfd("x", (size_t)1 << 60, MAPIPC_WRITE, &p), MAPIPC_ERR_NO_SPACE, 0);
    CHECK(p == NULL);
    CHECK(check_count_fds() == fds);
    CHECK(count_memfds() == 0);
}

/* Memory that cannot be reserved is NO_SPACE at once (a file size limit
 * stands in for a full machine), and nothing stays open. */
static void memfd_reservation_failure_is_no_space(void) {
    int fds = check_count_fds();
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {1 << 20, 1 << 20};
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    void *p = (void *)1;
    CHECK_STATUS(mapipc_memfd("big", 2 << 20, MAPIPC_WRITE, &p), MAPIPC_ERR_NO_SPACE, EFBIG);
    CHECK_MESSAGE("cannot reserve");
    CHECK(p == NULL);
    CHECK(check_count_fds() == fds);
    CHECK_OK(mapipc_memfd("small", 1 << 19, MAPIPC_WRITE, &p));
    CHECK_OK(mapipc_unmap(p));
}

static void memfd_read_only_region(void) {
    void *p = NULL;
    CHECK_OK(mapipc_memfd("ro", 4096, MAPIPC_READ, &p));
    CHECK(((volatile char *)p)[100] == 0);
    int fd = -1;
    CHECK_OK(mapipc_region_fd(p, &fd));
    CHECK(fd >= 0 && access_mode(fd) == O_RDONLY);
    close(fd);
    CHECK_OK(mapipc_unmap(p));
}

/* Shared with a child after fork; freed when the last holder is gone. */
static void memfd_is_shared_after_fork(void) {
    void *p = NULL;
    CHECK_OK(mapipc_memfd("fork", 4096, MAPIPC_WRITE, &p));
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        strcpy(p, "from the child");
        _exit(0);
    }
    CHECK(check_wait(pid) == 0);
    CHECK(strcmp(p, "from the child") == 0);
    CHECK_OK(mapipc_unmap(p));
    CHECK(count_memfds() == 0);
    CHECK(!maps_mention("/memfd:fork"));
}

static void make_file(const char *path, size_t len) {
    char *buf = malloc(len);
    REQUIRE(buf != NULL);
    for (size_t i = 0; i < len; i++) buf[i] = (char)('a' + i % 26);
    check_write_file(path, buf, len);
    free(buf);
}

static void map_fd_maps_any_offset_and_the_caller_may_close(void) {
    make_file("data", 10000);
    int fd = open("data", O_RDONLY);
    REQUIRE(fd >= 0);
    void *p = NULL;
    CHECK_OK(mapipc_map_fd(fd, 5000, 100, MAPIPC_READ, &p));
    close(fd);
    REQUIRE(p != NULL);
    CHECK(((char *)p)[0] == (char)('a' + 5000 % 26) && ((char *)p)[99] == (char)('a' + 5099 % 26));
    void *all = NULL;
    fd = open("data", O_RDONLY);
    CHECK_OK(mapipc_map_fd(fd, 0, 0, MAPIPC_READ, &all));
    close(fd);
    size_t size = 0;
    CHECK_OK(mapipc_region_size(all, &size));
    CHECK(size == 10000);
    CHECK_OK(mapipc_unmap(all));
    CHECK_OK(mapipc_unmap(p));
    CHECK(unlink("data") == 0);
}

static void map_fd_makes_every_check_of_map_file(void) {
    make_file("data", 8192);
    check_write_file("empty", "", 0);
    int rd = open("data", O_RDONLY), rw = open("data", O_RDWR), wr = open("data", O_WRONLY);
    int empty = open("empty", O_RDONLY), dir = open(".", O_RDONLY | O_DIRECTORY);
    int path = open("data", O_PATH), pipefd[2];
    REQUIRE(rd >= 0 && rw >= 0 && wr >= 0 && empty >= 0 && dir >= 0 && path >= 0 && pipe(pipefd) == 0);
    int closed = dup(rd);
    close(closed);
    int fds = check_count_fds();
    void *p = (void *)1;
#define REFUSED(call, status, err)                                                                 \
    do {                                                                                           \
        p = (void *)1;                                                                             \
        CHECK_STATUS(call, status, err);                                                           \
        CHECK(p == NULL);                                                                          \
    } while (0)
    REFUSED(mapipc_map_fd(rd, 0, 0, MAPIPC_WRITE, &p), MAPIPC_ERR_PERMISSION_DENIED, EACCES);
    CHECK_MESSAGE("O_RDONLY");
    REFUSED(mapipc_map_fd(wr, 0, 0, MAPIPC_READ, &p), MAPIPC_ERR_PERMISSION_DENIED, EACCES);
    REFUSED(mapipc_map_fd(path, 0, 0, MAPIPC_READ, &p), MAPIPC_ERR_PERMISSION_DENIED, EACCES);
    REFUSED(mapipc_map_fd(empty, 0, 0, MAPIPC_READ, &p), MAPIPC_ERR_EMPTY_FILE, EINVAL);
    REFUSED(mapipc_map_fd(rd, 8192, 0, MAPIPC_READ, &p), MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    REFUSED(mapipc_map_fd(rd, 8000, 193, MAPIPC_READ, &p), MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    REFUSED(mapipc_map_fd(rd, SIZE_MAX - 10, 100, MAPIPC_READ, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    REFUSED(mapipc_map_fd(dir, 0, 0, MAPIPC_READ, &p), MAPIPC_ERR_NOT_MAPPABLE, ENODEV);
    CHECK_MESSAGE("directory");
    REFUSED(mapipc_map_fd(pipefd[0], 0, 0, MAPIPC_READ, &p), MAPIPC_ERR_NOT_MAPPABLE, ENODEV);
    CHECK_MESSAGE("FIFO");
    REFUSED(mapipc_map_fd(-1, 0, 0, MAPIPC_READ, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    REFUSED(mapipc_map_fd(closed, 0, 0, MAPIPC_READ, &p), MAPIPC_ERR_INVALID_ARGUMENT, EBADF);
    REFUSED(mapipc_map_fd(rw, 0, 0, MAPIPC_WRITE | MAPIPC_CREATE, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    REFUSED(mapipc_map_fd(rw, 0, 0, MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE, &p),
            MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    REFUSED(mapipc_map_fd(rw, 0, 0, 0, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    REFUSED(mapipc_map_fd(rw, 0, 0, MAPIPC_READ | 0x80, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_map_fd(rw, 0, 0, MAPIPC_READ, NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* A plain file can always shrink: MAPIPC_SEALED refuses it. */
    REFUSED(mapipc_map_fd(rd, 0, 0, MAPIPC_READ | MAPIPC_SEALED, &p), MAPIPC_ERR_NOT_SEALED, EPERM);
    CHECK_MESSAGE("F_SEAL_SHRINK");
    CHECK(check_count_fds() == fds);
#undef REFUSED
    /* Allowed: copy-on-write of a read-only descriptor, shared write on O_RDWR. */
    CHECK_OK(mapipc_map_fd(rd, 0, 0, MAPIPC_WRITE | MAPIPC_PRIVATE, &p));
    ((char *)p)[0] = '!';
    CHECK_OK(mapipc_unmap(p));
    CHECK_OK(mapipc_map_fd(rw, 4096, 10, MAPIPC_WRITE, &p));
    ((char *)p)[0] = '#';
    CHECK_OK(mapipc_unmap(p));
    char c[2] = {0};
    CHECK(pread(rd, c, 1, 0) == 1 && c[0] == 'a');
    CHECK(pread(rd, c, 1, 4096) == 1 && c[0] == '#');
    close(rd); close(rw); close(wr); close(empty); close(dir); close(path);
    close(pipefd[0]); close(pipefd[1]);
    CHECK(unlink("data") == 0 && unlink("empty") == 0);
}

static void map_fd_sealed_and_write_sealed_objects(void) {
    void *m = NULL, *p = NULL;
    CHECK_OK(mapipc_memfd("sealed", 8192, MAPIPC_WRITE, &m));
    int fd = -1;
    CHECK_OK(mapipc_region_fd(m, &fd));
    CHECK_OK(mapipc_map_fd(fd, 4096, 0, MAPIPC_WRITE | MAPIPC_SEALED, &p));
    strcpy(p, "two views");
    CHECK(strcmp((char *)m + 4096, "two views") == 0);
    CHECK_OK(mapipc_unmap(p));
    close(fd);
    /* A memfd that allows sealing but is not sealed yet, then write-sealed. */
    int raw = memfd_create("raw", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    REQUIRE(raw >= 0 && ftruncate(raw, 4096) == 0);
    int fds = check_count_fds();
    p = (void *)1;
    CHECK_STATUS(mapipc_map_fd(raw, 0, 0, MAPIPC_READ | MAPIPC_SEALED, &p), MAPIPC_ERR_NOT_SEALED, EPERM);
    CHECK(p == NULL);
    REQUIRE(fcntl(raw, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_WRITE) == 0);
    CHECK_STATUS(mapipc_map_fd(raw, 0, 0, MAPIPC_WRITE, &p), MAPIPC_ERR_PERMISSION_DENIED, EACCES);
    CHECK_MESSAGE("sealed against writing");
    CHECK(check_count_fds() == fds);
    CHECK_OK(mapipc_map_fd(raw, 0, 0, MAPIPC_READ | MAPIPC_SEALED, &p));
    CHECK_OK(mapipc_unmap(p));
    close(raw);
    CHECK_OK(mapipc_unmap(m));
}

static void region_fd_survives_rename_and_unlink(void) {
    make_file("named", 4096);
    void *p = NULL;
    CHECK_OK(mapipc_map_file("named", 0, 0, MAPIPC_WRITE, &p));
    struct stat before;
    REQUIRE(stat("named", &before) == 0);
    CHECK(rename("named", "renamed") == 0 && unlink("renamed") == 0);
    int fd = -1;
    CHECK_OK(mapipc_region_fd(p, &fd));
    struct stat st;
    CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_ino == before.st_ino && st.st_nlink == 0);
    CHECK(access_mode(fd) == O_RDWR && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
    CHECK(pwrite(fd, "via fd", 6, 10) == 6);
    CHECK(memcmp((char *)p + 10, "via fd", 6) == 0);
    close(fd);
    CHECK_OK(mapipc_unmap(p));
}

/* The descriptor has the region's access, not the one mapipc opened with. */
static void region_fd_has_the_regions_access(void) {
    void *p = NULL;
    int fd = -1;
    /* Created (opened O_RDWR), mapped read-only. */
    CHECK_OK(mapipc_map_file("made", 0, 4096, MAPIPC_READ | MAPIPC_CREATE, &p));
    CHECK_OK(mapipc_region_fd(p, &fd));
    CHECK(fd >= 0 && access_mode(fd) == O_RDONLY);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    CHECK_OK(mapipc_unmap(p));
    /* Copy-on-write: its writes are not the object's. */
    int rw = open("made", O_RDWR);
    CHECK_OK(mapipc_map_fd(rw, 0, 0, MAPIPC_WRITE | MAPIPC_PRIVATE, &p));
    close(rw);
    CHECK_OK(mapipc_region_fd(p, &fd));
    CHECK(fd >= 0 && access_mode(fd) == O_RDONLY);
    close(fd);
    CHECK_OK(mapipc_unmap(p));
    CHECK(unlink("made") == 0);
}

static void region_fd_of_a_posix_object_after_unlink(void) {
    char name[64];
    snprintf(name, sizeof name, "/mapipc-test-share-%d", (int)getpid());
    void *p = NULL;
    CHECK_OK(mapipc_shm_open_name(name, 4096, MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE, &p));
    CHECK_OK(mapipc_shm_unlink_name(name));
    strcpy(p, "posix");
    int fd = -1;
    CHECK_OK(mapipc_region_fd(p, &fd));
    char buf[6] = {0};
    CHECK(fd >= 0 && pread(fd, buf, 5, 0) == 5 && strcmp(buf, "posix") == 0);
    close(fd);
    CHECK_OK(mapipc_unmap(p));
}

static void region_fd_refusals(void) {
    void *anon = NULL, *sysv = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_WRITE, &anon));
    check_write_file("keyfile", "k", 1);
    CHECK_OK(mapipc_shm_open_key("keyfile", 7, 4096, MAPIPC_WRITE | MAPIPC_CREATE, &sysv));
    int fds = check_count_fds(), fd = 5;
    CHECK_STATUS(mapipc_region_fd(anon, &fd), MAPIPC_ERR_NOT_MAPPABLE, ENODEV);
    CHECK(fd == -1);
    fd = 5;
    CHECK_STATUS(mapipc_region_fd(sysv, &fd), MAPIPC_ERR_NOT_MAPPABLE, ENODEV);
    CHECK(fd == -1);
    fd = 5;
    CHECK_STATUS(mapipc_region_fd((char *)anon + 1, &fd), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK(fd == -1);
    CHECK_STATUS(mapipc_region_fd(anon, NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(check_count_fds() == fds);
    CHECK_OK(mapipc_unmap(anon));
    CHECK_OK(mapipc_shm_remove_key("keyfile", 7));
    CHECK_OK(mapipc_unmap(sysv));
    CHECK(unlink("keyfile") == 0);
}

/* Every region keeps one descriptor, given back when it is unmapped. */
static void regions_give_their_descriptor_back(void) {
    int fds = check_count_fds();
    void *p[3] = {0};
    make_file("f", 4096);
    CHECK_OK(mapipc_map_file("f", 0, 0, MAPIPC_READ, &p[0]));
    CHECK_OK(mapipc_memfd("m", 4096, MAPIPC_WRITE, &p[1]));
    int fd = open("f", O_RDONLY);
    CHECK_OK(mapipc_map_fd(fd, 0, 0, MAPIPC_READ, &p[2]));
    close(fd);
    CHECK(check_count_fds() == fds + 3);
    for (int i = 0; i < 3; i++) CHECK_OK(mapipc_unmap(p[i]));
    CHECK(check_count_fds() == fds);
    CHECK(unlink("f") == 0);
}

int main(void) {
    RUN(memfd_is_zeroed_sealed_and_labelled);
    RUN(memfd_label_defaults_and_limits);
    RUN(memfd_refuses_bad_sizes_and_flags);
    RUN(memfd_reservation_failure_is_no_space);
    RUN(memfd_read_only_region);
    RUN(memfd_is_shared_after_fork);
    RUN(map_fd_maps_any_offset_and_the_caller_may_close);
    RUN(map_fd_makes_every_check_of_map_file);
    RUN(map_fd_sealed_and_write_sealed_objects);
    RUN(region_fd_survives_rename_and_unlink);
    RUN(region_fd_has_the_regions_access);
    RUN(region_fd_of_a_posix_object_after_unlink);
    RUN(region_fd_refusals);
    RUN(regions_give_their_descriptor_back);
    return check_done();
}
