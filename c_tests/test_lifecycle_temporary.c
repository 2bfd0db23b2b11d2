/* MAPIPC_TEMPORARY: the object lives while a process maps it through
 * mapipc and goes with its last user, however that user ended. */
#include <sys/mman.h>
#include <sys/stat.h>

#include "lifecycle_util.h"

#define RWCT (MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_TEMPORARY)

static char name[128], path[160];

static void goes_with_the_last_unmap(void) {
    life_name(name, sizeof name, path, sizeof path, "last");
    int fds = check_count_fds(), entries = count_dev_shm();
    void *a = NULL, *b = NULL;
    CHECK_OK(mapipc_shm_open_name(name, 4096, RWCT, &a));
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    CHECK((st.st_mode & S_ISVTX) != 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(st.st_size == 4096);
    /* A second user in this process: opening never makes it permanent. */
    CHECK_OK(mapipc_shm_open_name(name, 0, MAPIPC_READ, &b));
    strcpy(a, "shared");
    CHECK(strcmp(b, "shared") == 0);
    /* A live temporary object exists for MAPIPC_EXCLUSIVE. */
    void *c = (void *)1;
    CHECK_STATUS(mapipc_shm_open_name(name, 4096, RWCT | MAPIPC_EXCLUSIVE, &c),
                 MAPIPC_ERR_ALREADY_EXISTS, EEXIST);
    CHECK(c == NULL);
    CHECK_OK(mapipc_unmap(a));
    CHECK(shm_exists(path));
    CHECK_OK(mapipc_unmap(b));
    CHECK(!shm_exists(path));
    CHECK_STATUS(mapipc_shm_open_name(name, 0, MAPIPC_READ, &a), MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK(check_count_fds() == fds);
    CHECK(count_dev_shm() == entries);
}

static void temporary_files_too(void) {
    int fds = check_count_fds();
    char *p = NULL;
    CHECK_OK(mapipc_map_file("tmpfile", 10, 100, RWCT, (void **)&p));
    struct stat st;
    REQUIRE(stat("tmpfile", &st) == 0);
    CHECK((st.st_mode & S_ISVTX) != 0 && st.st_size == 110);
    /* Failing calls leave it as it is. */
    void *q = (void *)1;
    CHECK_STATUS(mapipc_map_file("tmpfile", 0, 500, MAPIPC_READ, &q), MAPIPC_ERR_OUT_OF_RANGE, 0);
    CHECK(q == NULL && access("tmpfile", F_OK) == 0);
    CHECK_OK(mapipc_unmap(p));
    CHECK(access("tmpfile", F_OK) != 0);
    CHECK(check_count_fds() == fds);
    /* No hidden name was left in the directory. */
    DIR *d = opendir(".");
    REQUIRE(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) CHECK(strncmp(e->d_name, ".mapipc", 7) != 0);
    closedir(d);
}

static void flag_rules(void) {
    void *p = (void *)1;
    life_name(name, sizeof name, path, sizeof path, "flags");
    CHECK_STATUS(mapipc_shm_open_name(name, 4096, MAPIPC_READ | MAPIPC_TEMPORARY, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(p == NULL);
    CHECK_STATUS(mapipc_map_anonymous(4096, MAPIPC_WRITE | MAPIPC_TEMPORARY, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    check_write_file("keyfile", "k", 1);
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 7, 4096, RWCT, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* Flag errors come before any lookup: a missing path is not reported. */
    CHECK_STATUS(mapipc_shm_open_key("missing", 7, 4096, RWCT, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_map_file("missing", 0, 10, MAPIPC_READ | MAPIPC_TEMPORARY, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(unlink("keyfile") == 0);
    /* TEMPORARY on an existing permanent object is ignored. */
    void *a = NULL;
    CHECK_OK(mapipc_shm_open_name(name, 4096, MAPIPC_WRITE | MAPIPC_CREATE, &a));
    CHECK_OK(mapipc_shm_open_name(name, 4096, RWCT, &p));
    CHECK_OK(mapipc_unmap(p));
    CHECK_OK(mapipc_unmap(a));
    CHECK(shm_exists(path));
    CHECK_OK(mapipc_shm_unlink_name(name));
}

/* A forked child that inherited the mapping is a user; so is a process
 * that opened it; the object goes with whichever ends last. */
static void children_count(void) {
    life_name(name, sizeof name, path, sizeof path, "fork");
    char *p = NULL;
    CHECK_OK(mapipc_shm_open_name(name, 4096, RWCT, (void **)&p));
    int go[2], done[2];
    REQUIRE(pipe(go) == 0 && pipe(done) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        pipe_wait(go[0]);               /* the parent has unmapped */
        int ok = shm_exists(path) && strcmp(p, "from parent") == 0;
        ok = ok && mapipc_unmap(p) == MAPIPC_OK && !shm_exists(path);
        _exit(ok ? 0 : 1);
    }
    strcpy(p, "from parent");
    CHECK_OK(mapipc_unmap(p));
    CHECK(shm_exists(path));            /* the child still maps it */
    pipe_signal(go[1]);
    CHECK(check_wait(pid) == 0);
    CHECK(!shm_exists(path));
    close(go[0]); close(go[1]); close(done[0]); close(done[1]);
}

/* exec ends a user: the descriptor behind its lock is close-on-exec. */
static void exec_ends_a_user(void) {
    life_name(name, sizeof name, path, sizeof path, "exec");
    int in[2], execd[2];
    REQUIRE(pipe(in) == 0 && pipe2(execd, O_CLOEXEC) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        void *p = NULL;
        if (mapipc_shm_open_name(name, 4096, RWCT, &p) != MAPIPC_OK) _exit(1);
        pipe_signal(execd[1]);          /* created */
        REQUIRE(dup2(in[0], 0) == 0);
        close(in[1]);
        execl("/bin/cat", "cat", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(execd[1]);
    CHECK(pipe_wait(execd[0]) == 1);    /* created */
    CHECK(pipe_wait(execd[0]) == 0);    /* exec happened: the write end closed */
    /* cat lives on, but it is no user: the object counts as absent. */
    void *q = (void *)1;
    CHECK_STATUS(mapipc_shm_open_name(name, 0, MAPIPC_READ, &q), MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK(!shm_exists(path));
    close(in[1]);
    CHECK(check_wait(pid) == 0);
    close(execd[0]);
}

/* The last user killed: the object is stale even while the killed process
 * is an unreaped zombie; a lookup sees it as absent, a create makes a
 * fresh zero-filled one, and gc removes a stale one. */
static void killed_user(void) {
    life_name(name, sizeof name, path, sizeof path, "kill");
    for (int how = 0; how < 3; how++) {
        int ready[2];
        REQUIRE(pipe(ready) == 0);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            char *p = NULL;
            if (mapipc_shm_open_name(name, 4096, RWCT, (void **)&p) != MAPIPC_OK) _exit(1);
            strcpy(p, "old contents");
            pipe_signal(ready[1]);
            for (;;) pause();
        }
        CHECK(pipe_wait(ready[0]) == 1);
        REQUIRE(kill(pid, SIGKILL) == 0);
        wait_dead_unreaped(pid);
        CHECK(shm_exists(path));        /* nobody noticed yet */
        char *p = (char *)1;
        size_t removed = 99;
        if (how == 0) {
            CHECK_STATUS(mapipc_shm_open_name(name, 0, MAPIPC_READ, (void **)&p),
                         MAPIPC_ERR_NOT_FOUND, ENOENT);
        } else if (how == 1) {
            CHECK_OK(mapipc_shm_open_name(name, 4096,
                                          MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE,
                                          (void **)&p));
            CHECK(p != NULL && p[0] == 0);  /* fresh, zero-filled */
            struct stat st;
            REQUIRE(stat(path, &st) == 0);
            CHECK((st.st_mode & S_ISVTX) == 0);  /* permanent: no TEMPORARY this time */
            CHECK_OK(mapipc_unmap(p));
            CHECK(shm_exists(path));
            CHECK_OK(mapipc_shm_unlink_name(name));
        } else {
            CHECK_OK(mapipc_gc(&removed));
            CHECK(removed >= 1);
            CHECK_OK(mapipc_gc(NULL));
        }
        CHECK(!shm_exists(path));
        CHECK(check_wait(pid) == 128 + SIGKILL);
        close(ready[0]);
        close(ready[1]);
    }
}

/* gc removes nothing that is permanent or in use. */
static void gc_spares_what_lives(void) {
    char tname[128], tpath[160];
    life_name(name, sizeof name, path, sizeof path, "perm");
    life_name(tname, sizeof tname, tpath, sizeof tpath, "inuse");
    void *perm = NULL, *tmp = NULL;
    CHECK_OK(mapipc_shm_open_name(name, 4096, MAPIPC_WRITE | MAPIPC_CREATE, &perm));
    CHECK_OK(mapipc_unmap(perm));       /* nobody maps it, and it stays */
    CHECK_OK(mapipc_shm_open_name(tname, 4096, RWCT, &tmp));
    /* A raw mapping is no user, but mapipc's is: still in use. */
    size_t removed = 99;
    CHECK_OK(mapipc_gc(&removed));
    CHECK(shm_exists(path) && shm_exists(tpath));
    CHECK_OK(mapipc_unmap(tmp));
    CHECK(!shm_exists(tpath));
    CHECK_OK(mapipc_gc(NULL));
    CHECK(shm_exists(path));
    CHECK_OK(mapipc_shm_unlink_name(name));
}

int main(void) {
    RUN(goes_with_the_last_unmap);
    RUN(temporary_files_too);
    RUN(flag_rules);
    RUN(children_count);
    RUN(exec_ends_a_user);
    RUN(killed_user);
    RUN(gc_spares_what_lives);
    return check_done();
}
