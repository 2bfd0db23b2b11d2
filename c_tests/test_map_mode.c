/* MAPIPC_MODE(m): created objects get exactly m, whatever the umask;
 * existing ones keep theirs; bad m is refused; another user opens an
 * object exactly as its mode allows (tests run as root, so the other user
 * is a child that drops to an unprivileged uid and gid). */
#include <grp.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "check.h"

#define RWC (MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE)

static char name[64], shm_path[96];

static void names(void) {
    snprintf(name, sizeof name, "/mapipc-mode-%d", (int)getpid());
    snprintf(shm_path, sizeof shm_path, "/dev/shm%s", name);
}

static mode_t mode_of(const char *path) {
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    return st.st_mode & 07777;
}

static mode_t sysv_mode(void *p) {
    (void)p;
    int id = shmget(ftok("keyfile", 9), 0, 0);
    struct shmid_ds ds;
    REQUIRE(id >= 0 && shmctl(id, IPC_STAT, &ds) == 0);
    return ds.shm_perm.mode & 0777;
}

static void exact_modes_whatever_the_umask(void) {
    names();
    umask(077);
    void *p = NULL;
    CHECK_OK(mapipc_map_file("f", 0, 10, RWC | MAPIPC_MODE(0644), &p));
    CHECK(mode_of("f") == 0644);
    CHECK_OK(mapipc_unmap(p));
    /* An existing file keeps its mode. */
    CHECK_OK(mapipc_map_file("f", 0, 10, RWC | MAPIPC_MODE(0600), &p));
    CHECK(mode_of("f") == 0644);
    CHECK_OK(mapipc_unmap(p));
    CHECK_OK(mapipc_shm_open_name(name, 4096, RWC | MAPIPC_MODE(0), &p));
    CHECK(mode_of(shm_path) == 0);
    CHECK_OK(mapipc_unmap(p));
    CHECK_OK(mapipc_shm_unlink_name(name));
    CHECK_OK(mapipc_shm_open_name(name, 4096, RWC | MAPIPC_TEMPORARY | MAPIPC_MODE(0660), &p));
    CHECK(mode_of(shm_path) == (01000 | 0660));  /* the sticky bit marks it temporary */
    CHECK_OK(mapipc_unmap(p));
    check_write_file("keyfile", "k", 1);
    CHECK_OK(mapipc_shm_open_key("keyfile", 9, 4096, RWC | MAPIPC_MODE(0640), &p));
    CHECK(sysv_mode(p) == 0640);
    CHECK_OK(mapipc_unmap(p));
    CHECK_OK(mapipc_shm_remove_key("keyfile", 9));
    /* Without MAPIPC_MODE: 0600 filtered by the umask, as open(2) does. */
    umask(0277);
    CHECK_OK(mapipc_map_file("g", 0, 10, RWC, &p));
    CHECK(mode_of("g") == 0400);
    CHECK_OK(mapipc_unmap(p));
    CHECK_OK(mapipc_map_file("h", 0, 10, RWC | MAPIPC_TEMPORARY, &p));
    CHECK(mode_of("h") == (01000 | 0400));
    CHECK_OK(mapipc_unmap(p));
    CHECK(access("h", F_OK) != 0);
    CHECK(unlink("f") == 0 && unlink("g") == 0 && unlink("keyfile") == 0);
}

static void bad_modes_are_refused(void) {
    names();
    const unsigned bad[] = {04600, 02600, 01600, 07777, 010000, 0x12345678u, (unsigned)-1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p = (void *)1;
        CHECK_STATUS(mapipc_map_file("f", 0, 10, RWC | MAPIPC_MODE(bad[i]), &p),
                     MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
        CHECK(p == NULL);
        CHECK_STATUS(mapipc_shm_open_name(name, 4096, RWC | MAPIPC_MODE(bad[i]), &p),
                     MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    }
    CHECK_MESSAGE("0777");
    void *p = (void *)1;
    /* Only with MAPIPC_CREATE, and only for the listed functions. */
    check_write_file("f", "0123456789", 10);
    REQUIRE(chmod("f", 0600) == 0);
    CHECK_STATUS(mapipc_map_file("f", 0, 10, MAPIPC_READ | MAPIPC_MODE(0644), &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_map_anonymous(4096, MAPIPC_WRITE | MAPIPC_MODE(0600), &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* Mode bits without MAPIPC_MODE's marker are unknown bits. */
    CHECK_STATUS(mapipc_map_file("f", 0, 10, RWC | (0600u << 16), &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(access(shm_path, F_OK) != 0 && mode_of("f") == 0600);
    CHECK(unlink("f") == 0);
}

/* Become an unprivileged user (when root); returns 0 on success. */
static int drop_root(void) {
    if (geteuid() != 0) return 0;
    if (setgroups(0, NULL) != 0) return -1;
    if (setgid(65534) != 0 || setuid(65534) != 0) return -1;
    return geteuid() == 0 ? -1 : 0;
}

/* What another user gets: 0 read-write, 1 read-only, 2 nothing; for a
 * file, a POSIX name or a System V key. */
static int other_user_access(int kind) {
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (drop_root() != 0) _exit(99);
        void *p = NULL;
        mapipc_status rw, ro;
        if (kind == 0) rw = mapipc_map_file("obj", 0, 0, MAPIPC_WRITE, &p);
        else if (kind == 1) rw = mapipc_shm_open_name(name, 0, MAPIPC_WRITE, &p);
        else rw = mapipc_shm_open_key("keyfile", 9, 0, MAPIPC_WRITE, &p);
        if (rw == MAPIPC_OK) _exit(mapipc_unmap(p) == MAPIPC_OK ? 0 : 98);
        if (rw != MAPIPC_ERR_PERMISSION_DENIED) _exit(97);
        if (kind == 0) ro = mapipc_map_file("obj", 0, 0, MAPIPC_READ, &p);
        else if (kind == 1) ro = mapipc_shm_open_name(name, 0, MAPIPC_READ, &p);
        else ro = mapipc_shm_open_key("keyfile", 9, 0, MAPIPC_READ, &p);
        if (ro == MAPIPC_OK) _exit(mapipc_unmap(p) == MAPIPC_OK ? 1 : 98);
        _exit(ro == MAPIPC_ERR_PERMISSION_DENIED ? 2 : 96);
    }
    return check_wait(pid);
}

static void other_users_open_as_the_mode_allows(void) {
    names();
    REQUIRE(chmod(".", 0777) == 0);
    check_write_file("keyfile", "k", 1);
    REQUIRE(chmod("keyfile", 0644) == 0);
    const struct { unsigned mode; int want; } cases[] = {
        {0600, 2}, {0640, 2}, {0644, 1}, {0604, 1}, {0666, 0}, {0606, 0}, {0622, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *p = NULL;
        uint32_t flags = RWC | MAPIPC_EXCLUSIVE | MAPIPC_MODE(cases[i].mode);
        CHECK_OK(mapipc_map_file("obj", 0, 4096, flags, &p));
        CHECK_OK(mapipc_unmap(p));
        CHECK(other_user_access(0) == cases[i].want);
        CHECK(unlink("obj") == 0);
        CHECK_OK(mapipc_shm_open_name(name, 4096, flags, &p));
        CHECK_OK(mapipc_unmap(p));
        CHECK(other_user_access(1) == cases[i].want);
        CHECK_OK(mapipc_shm_unlink_name(name));
        CHECK_OK(mapipc_shm_open_key("keyfile", 9, 4096, flags, &p));
        CHECK_OK(mapipc_unmap(p));
        CHECK(other_user_access(2) == cases[i].want);
        CHECK_OK(mapipc_shm_remove_key("keyfile", 9));
        if (check_failures) fprintf(stderr, "  mode %04o\n", cases[i].mode);
    }
    CHECK(unlink("keyfile") == 0);
}

int main(void) {
    RUN(exact_modes_whatever_the_umask);
    RUN(bad_modes_are_refused);
    RUN(other_users_open_as_the_mode_allows);
    return check_done();
}
