/* Access the file does not allow. CI runs as root, which ignores file
 * modes, so each case runs in a child that has dropped to an
 * unprivileged user first. */
#include <grp.h>
#include <sys/stat.h>

#include "check.h"

/* Become an unprivileged user (when root); returns 0 on success. */
static int drop_root(void) {
    if (geteuid() != 0) return 0;
    if (setgroups(0, NULL) != 0) return -1;
    if (setgid(65534) != 0 || setuid(65534) != 0) return -1;
    return geteuid() == 0 ? -1 : 0;
}

/* Runs fn as the unprivileged user and returns its exit status. */
static int as_user(int (*fn)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (drop_root() != 0) _exit(99);
        _exit(fn());
    }
    return check_wait(pid);
}

static int map_read_only_file_for_sharing(void) {
    void *p = (void *)1;
    errno = 0;
    mapipc_status s = mapipc_map_file("ro", 0, 10, MAPIPC_READ | MAPIPC_WRITE, &p);
    if (s != MAPIPC_ERR_PERMISSION_DENIED || errno != EACCES || p != NULL) return 1;
    if (strstr(mapipc_last_error(), "\"ro\" for reading and writing") == NULL) return 2;
    /* Reading is allowed, and so is a private writable copy. */
    if (mapipc_map_file("ro", 0, 10, MAPIPC_READ, &p) != MAPIPC_OK) return 3;
    if (mapipc_unmap(p) != MAPIPC_OK) return 4;
    if (mapipc_map_file("ro", 0, 10, MAPIPC_WRITE | MAPIPC_PRIVATE, &p) != MAPIPC_OK) return 5;
    ((char *)p)[0] = 'x';
    if (mapipc_unmap(p) != MAPIPC_OK) return 6;
    /* Creating or extending needs write access too. */
    errno = 0;
    s = mapipc_map_file("ro", 0, 100, MAPIPC_READ | MAPIPC_CREATE, &p);
    if (s != MAPIPC_ERR_PERMISSION_DENIED || errno != EACCES) return 7;
    return 0;
}

static int map_unreadable_file(void) {
    void *p = (void *)1;
    errno = 0;
    mapipc_status s = mapipc_map_file("none", 0, 10, MAPIPC_READ, &p);
    return (s == MAPIPC_ERR_PERMISSION_DENIED && errno == EACCES && p == NULL) ? 0 : 1;
}

static int create_in_unwritable_dir(void) {
    void *p = (void *)1;
    errno = 0;
    mapipc_status s = mapipc_map_file("locked/new", 0, 10, MAPIPC_WRITE | MAPIPC_CREATE, &p);
    return (s == MAPIPC_ERR_PERMISSION_DENIED && errno == EACCES && p == NULL) ? 0 : 1;
}

static void file_modes_are_enforced(void) {
    /* The harness's directory is open to the unprivileged user. */
    REQUIRE(chmod(".", 0777) == 0);
    check_write_file("ro", "0123456789abcdef", 16);
    check_write_file("none", "0123456789abcdef", 16);
    REQUIRE(chmod("ro", 0444) == 0 && chmod("none", 0) == 0);
    REQUIRE(mkdir("locked", 0555) == 0);
    CHECK(as_user(map_read_only_file_for_sharing) == 0);
    CHECK(as_user(map_unreadable_file) == 0);
    CHECK(as_user(create_in_unwritable_dir) == 0);
    /* Nothing was changed or created. */
    struct stat st;
    REQUIRE(stat("ro", &st) == 0);
    CHECK(st.st_size == 16);
    CHECK(access("locked/new", F_OK) != 0);
    CHECK(unlink("ro") == 0 && unlink("none") == 0 && rmdir("locked") == 0);
}

int main(void) {
    RUN(file_modes_are_enforced);
    return check_done();
}
