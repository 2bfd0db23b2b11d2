/* mapipc_map_file: every up-front check, creation, offsets, sharing. */
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "check.h"

static void make_pattern_file(const char *path, size_t len) {
    char *buf = malloc(len ? len : 1);
    REQUIRE(buf != NULL);
    for (size_t i = 0; i < len; i++) buf[i] = (char)('A' + i % 26);
    check_write_file(path, buf, len);
    free(buf);
}

static off_t file_size(const char *path) {
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    return st.st_size;
}

static void bad_arguments_are_invalid(void) {
    void *p = (void *)1;
    make_pattern_file("f", 100);
    CHECK_STATUS(mapipc_map_file(NULL, 0, 10, MAPIPC_READ, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(p == NULL);
    CHECK_MESSAGE("path is NULL");
    p = (void *)1;
    CHECK_STATUS(mapipc_map_file("", 0, 10, MAPIPC_READ, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(p == NULL);
    CHECK_STATUS(mapipc_map_file("f", 0, 10, MAPIPC_READ, NULL),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* Unknown bit, no access bit, exclusive without create. */
    CHECK_STATUS(mapipc_map_file("f", 0, 10, MAPIPC_READ | 0x100, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("0x100");
    CHECK_STATUS(mapipc_map_file("f", 0, 10, 0, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_map_file("f", 0, 10, MAPIPC_PRIVATE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_map_file("f", 0, 10, MAPIPC_READ | MAPIPC_EXCLUSIVE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* Overflow of offset + length, and offsets no file can have. */
    CHECK_STATUS(mapipc_map_file("f", UINT64_MAX, 10, MAPIPC_READ, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_map_file("f", 10, SIZE_MAX, MAPIPC_READ, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("overflow");
    CHECK(p == NULL);
    CHECK(unlink("f") == 0);
}

static void missing_file_is_not_found(void) {
    void *p = (void *)1;
    CHECK_STATUS(mapipc_map_file("nope", 0, 10, MAPIPC_READ, &p),
                 MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK(p == NULL);
    CHECK_MESSAGE("\"nope\"");
    CHECK_STATUS(mapipc_map_file("no/such/dir", 0, 0, MAPIPC_READ | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_NOT_FOUND, ENOENT);
}

static void special_files_are_not_mappable(void) {
    void *p = (void *)1;
    REQUIRE(mkdir("d", 0700) == 0);
    CHECK_STATUS(mapipc_map_file("d", 0, 0, MAPIPC_READ, &p),
                 MAPIPC_ERR_NOT_MAPPABLE, ENODEV);
    CHECK_MESSAGE("a directory");
    CHECK_STATUS(mapipc_map_file("d", 0, 0, MAPIPC_READ | MAPIPC_WRITE, &p),
                 MAPIPC_ERR_NOT_MAPPABLE, EISDIR);
    CHECK(rmdir("d") == 0);

    /* A FIFO with no writer: a plain open(O_RDONLY) would block forever;
     * the case's watchdog alarm turns a hang into a failure. */
    REQUIRE(mkfifo("fifo", 0600) == 0);
    CHECK_STATUS(mapipc_map_file("fifo", 0, 0, MAPIPC_READ, &p),
                 MAPIPC_ERR_NOT_MAPPABLE, ENODEV);
    CHECK_MESSAGE("a FIFO");
    CHECK_STATUS(mapipc_map_file("fifo", 0, 16, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_NOT_MAPPABLE, ENODEV);
    CHECK(unlink("fifo") == 0);

    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(s >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, "sock");
    REQUIRE(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK_STATUS(mapipc_map_file("sock", 0, 0, MAPIPC_READ, &p),
                 MAPIPC_ERR_NOT_MAPPABLE, ENXIO);
    close(s);
    CHECK(unlink("sock") == 0);

    CHECK_STATUS(mapipc_map_file("/dev/null", 0, 0, MAPIPC_READ, &p),
                 MAPIPC_ERR_NOT_MAPPABLE, ENODEV);
    CHECK_MESSAGE("a character device");
    CHECK(p == NULL);
}

static void empty_file_is_refused(void) {
    void *p = (void *)1;
    /* A length on an empty file: test_lab_pitfalls.c. */
    check_write_file("test", "", 0);
    CHECK_STATUS(mapipc_map_file("test", 0, 0, MAPIPC_READ, &p),
                 MAPIPC_ERR_EMPTY_FILE, EINVAL);
    /* With CREATE but no length there is no size to give it. */
    CHECK_STATUS(mapipc_map_file("test", 0, 0, MAPIPC_READ | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_EMPTY_FILE, EINVAL);
    CHECK(file_size("test") == 0);
    CHECK(unlink("test") == 0);
    /* A missing file with CREATE but no length: created, found empty,
     * removed again. */
    CHECK_STATUS(mapipc_map_file("never", 0, 0, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_EMPTY_FILE, EINVAL);
    CHECK(access("never", F_OK) != 0 && errno == ENOENT);
}

static void ranges_past_the_end_are_refused(void) {
    void *p = (void *)1;
    make_pattern_file("short", 1000);
    CHECK_STATUS(mapipc_map_file("short", 0, 2048, MAPIPC_READ, &p),
                 MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    CHECK_MESSAGE("the file is 1000 bytes long, the range ends 1048 bytes past its end");
    CHECK_STATUS(mapipc_map_file("short", 999, 2, MAPIPC_READ, &p),
                 MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    CHECK_STATUS(mapipc_map_file("short", 1000, 0, MAPIPC_READ, &p),
                 MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    CHECK_STATUS(mapipc_map_file("short", 5000, 0, MAPIPC_READ, &p),
                 MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    CHECK(p == NULL);
    /* The last byte exactly is fine. */
    CHECK_OK(mapipc_map_file("short", 999, 1, MAPIPC_READ, &p));
    CHECK(p != NULL && *(char *)p == (char)('A' + 999 % 26));
    CHECK_OK(mapipc_unmap(p));
    CHECK(file_size("short") == 1000);
    CHECK(unlink("short") == 0);
}

static void any_offset_points_at_that_byte(void) {
    long page = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)page * 3 + 123;
    make_pattern_file("pat", len);
    uint64_t offsets[] = {0, 1, 25, (uint64_t)page - 1, (uint64_t)page,
                          (uint64_t)page + 7, (uint64_t)page * 2 + 100};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        uint64_t off = offsets[i];
        char *p = NULL;
        size_t n = 50;
        CHECK_OK(mapipc_map_file("pat", off, n, MAPIPC_READ, (void **)&p));
        if (!p) continue;
        for (size_t j = 0; j < n; j++) CHECK(p[j] == (char)('A' + (off + j) % 26));
        size_t size = 0;
        CHECK_OK(mapipc_region_size(p, &size));
        CHECK(size == n);
        CHECK_OK(mapipc_unmap(p));
    }
    /* length 0: from the offset to the end of the file. */
    char *p = NULL;
    CHECK_OK(mapipc_map_file("pat", 4097, 0, MAPIPC_READ, (void **)&p));
    size_t size = 0;
    CHECK_OK(mapipc_region_size(p, &size));
    CHECK(size == len - 4097);
    CHECK(p && p[size - 1] == (char)('A' + (len - 1) % 26));
    CHECK_OK(mapipc_unmap(p));
    CHECK(unlink("pat") == 0);
}

static void create_makes_0600_allocated_files(void) {
    umask(022);
    void *p = NULL;
    CHECK_OK(mapipc_map_file("new", 0, 100000, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, &p));
    struct stat st;
    REQUIRE(stat("new", &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_size == 100000);
    /* Real blocks behind every byte, not a sparse hole. */
    CHECK((long long)st.st_blocks * 512 >= 100000);
    memset(p, 'z', 100000);
    CHECK_OK(mapipc_unmap(p));

    /* A short existing file is extended, its data kept. */
    make_pattern_file("grow", 10);
    CHECK_OK(mapipc_map_file("grow", 8, 8192, MAPIPC_WRITE | MAPIPC_CREATE, &p));
    REQUIRE(stat("grow", &st) == 0);
    CHECK(st.st_size == 8 + 8192);
    CHECK((long long)st.st_blocks * 512 >= 8192);
    CHECK(((char *)p)[0] == 'I' && ((char *)p)[1] == 'J' && ((char *)p)[2] == 0);
    CHECK_OK(mapipc_unmap(p));

    /* Exclusive creation of an existing file fails and leaves it alone. */
    CHECK_STATUS(mapipc_map_file("grow", 0, 10,
                                 MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE, &p),
                 MAPIPC_ERR_ALREADY_EXISTS, EEXIST);
    CHECK(p == NULL);
    CHECK(file_size("grow") == 8 + 8192);
    CHECK_OK(mapipc_map_file("fresh", 0, 10,
                             MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE, &p));
    CHECK_OK(mapipc_unmap(p));
    CHECK(unlink("new") == 0 && unlink("grow") == 0 && unlink("fresh") == 0);
}

static void failed_create_leaves_nothing(void) {
    void *p = (void *)1;
    int fds = check_count_fds();
    /* Far larger than any disk: the file must not survive the failure. */
    CHECK_STATUS(mapipc_map_file("huge", 0, (size_t)1 << 60,
                                 MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_NO_SPACE, 0);
    CHECK(errno == EFBIG || errno == ENOSPC);
    CHECK_MESSAGE("\"huge\"");
    CHECK(p == NULL);
    CHECK(access("huge", F_OK) != 0 && errno == ENOENT);
    /* An existing file keeps its size when extending it fails. */
    make_pattern_file("keep", 77);
    CHECK_STATUS(mapipc_map_file("keep", 0, (size_t)1 << 60,
                                 MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_NO_SPACE, 0);
    CHECK(file_size("keep") == 77);
    CHECK(check_count_fds() == fds);
    CHECK(unlink("keep") == 0);
}

static void writes_reach_the_file(void) {
    make_pattern_file("data", 8192);
    char *p = NULL;
    CHECK_OK(mapipc_map_file("data", 4000, 200, MAPIPC_READ | MAPIPC_WRITE, (void **)&p));
    memcpy(p, "written through the mapping", 27);
    CHECK_OK(mapipc_sync(p, 27, MAPIPC_SYNC_BLOCKING));
    CHECK_OK(mapipc_sync(p + 100, 0, MAPIPC_SYNC_ASYNC | MAPIPC_SYNC_INVALIDATE));
    CHECK_OK(mapipc_sync(p, 0, 0));
    int fd = open("data", O_RDONLY);
    REQUIRE(fd >= 0);
    char buf[27];
    CHECK(pread(fd, buf, sizeof buf, 4000) == (ssize_t)sizeof buf);
    CHECK(memcmp(buf, "written through the mapping", 27) == 0);
    close(fd);
    CHECK_OK(mapipc_unmap(p));
    CHECK(unlink("data") == 0);
}

static void private_writes_stay_private(void) {
    make_pattern_file("ro", 4096);
    REQUIRE(chmod("ro", 0400) == 0);
    char *p = NULL;
    /* Copy-on-write of a read-only file is legal. */
    CHECK_OK(mapipc_map_file("ro", 0, 4096, MAPIPC_WRITE | MAPIPC_PRIVATE, (void **)&p));
    if (p) {
        memset(p, '#', 4096);
        CHECK(p[4095] == '#');
        CHECK_OK(mapipc_sync(p, 0, 0));
    }
    int fd = open("ro", O_RDONLY);
    REQUIRE(fd >= 0);
    char buf[4];
    CHECK(read(fd, buf, 4) == 4 && memcmp(buf, "ABCD", 4) == 0);
    close(fd);
    CHECK_OK(mapipc_unmap(p));
    CHECK(unlink("ro") == 0);
}

/* Two real processes map the same file on their own and talk through it;
 * pipes order the turns. */
static void two_processes_share_a_file(void) {
    make_pattern_file("shared", 4096);
    int to_child[2], to_parent[2];
    REQUIRE(pipe(to_child) == 0 && pipe(to_parent) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char *q = NULL;
        char token;
        int bad = 0;
        if (mapipc_map_file("shared", 0, 4096, MAPIPC_READ | MAPIPC_WRITE, (void **)&q) != MAPIPC_OK)
            _exit(10);
        if (read(to_child[0], &token, 1) != 1) _exit(11);
        if (strcmp(q, "ping from parent") != 0) bad = 1;
        strcpy(q + 100, "pong from child");
        if (write(to_parent[1], "x", 1) != 1) _exit(12);
        if (mapipc_unmap(q) != MAPIPC_OK) _exit(13);
        _exit(bad ? 14 : 0);
    }
    char *p = NULL;
    CHECK_OK(mapipc_map_file("shared", 0, 4096, MAPIPC_READ | MAPIPC_WRITE, (void **)&p));
    REQUIRE(p != NULL);
    strcpy(p, "ping from parent");
    REQUIRE(write(to_child[1], "x", 1) == 1);
    char token;
    REQUIRE(read(to_parent[0], &token, 1) == 1);
    CHECK(strcmp(p + 100, "pong from child") == 0);
    CHECK(check_wait(pid) == 0);
    CHECK_OK(mapipc_unmap(p));
    close(to_child[0]); close(to_child[1]); close(to_parent[0]); close(to_parent[1]);
    CHECK(unlink("shared") == 0);
}

static void no_descriptor_leaks(void) {
    make_pattern_file("cyc", 4096);
    int before = check_count_fds();
    for (int i = 0; i < 1000; i++) {
        void *p = NULL;
        mapipc_status s = mapipc_map_file("cyc", (uint64_t)(i % 4000), 10,
                                          MAPIPC_READ | MAPIPC_WRITE, &p);
        if (s != MAPIPC_OK) { CHECK_OK(s); break; }
        ((char *)p)[0] = 'x';
        s = mapipc_unmap(p);
        if (s != MAPIPC_OK) { CHECK_OK(s); break; }
        /* Failing calls close what they opened too. */
        CHECK_STATUS(mapipc_map_file("cyc", 4000, 1000, MAPIPC_READ, &p),
                     MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    }
    CHECK(check_count_fds() == before);
    CHECK(unlink("cyc") == 0);
}

int main(void) {
    RUN(bad_arguments_are_invalid);
    RUN(missing_file_is_not_found);
    RUN(special_files_are_not_mappable);
    RUN(empty_file_is_refused);
    RUN(ranges_past_the_end_are_refused);
    RUN(any_offset_points_at_that_byte);
    RUN(create_makes_0600_allocated_files);
    RUN(failed_create_leaves_nothing);
    RUN(writes_reach_the_file);
    RUN(private_writes_stay_private);
    RUN(two_processes_share_a_file);
    RUN(no_descriptor_leaks);
    return check_done();
}
