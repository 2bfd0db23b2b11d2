/* Helpers shared by the shared-memory tests. */
#ifndef MAPIPC_SHM_UTIL_H
#define MAPIPC_SHM_UTIL_H

#include <limits.h>

#include "check.h"

static char peer_path[PATH_MAX];

/* Where the helper program `name` lives: beside this test program. */
static inline void find_helper(const char *argv0, const char *name) {
    const char *dir = getenv("MAPIPC_TEST_BIN_DIR");
    if (dir) {
        snprintf(peer_path, sizeof peer_path, "%s/%s", dir, name);
        return;
    }
    const char *slash = strrchr(argv0, '/');
    int dir_len = slash ? (int)(slash - argv0 + 1) : 0;
    snprintf(peer_path, sizeof peer_path, "%.*s%s", dir_len, argv0, name);
}

static inline void find_peer(const char *argv0) { find_helper(argv0, "helper_shm_peer"); }

/* fork + exec the peer with up to three arguments; returns its status. */
static inline int run_peer(const char *a, const char *b, const char *c, const char *d) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        execl(peer_path, "helper_shm_peer", a, b, c, d, (char *)NULL);
        perror("exec helper_shm_peer");
        _exit(127);
    }
    return check_wait(pid);
}

/* Runs fn in a child and returns how it ended (128 + signal if killed). */
static inline int in_child(void (*fn)(void *), void *arg) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    return check_wait(pid);
}

static inline void write_first_byte(void *p) { *(volatile char *)p = 'x'; }

/* `w` and `r` map the same memory, writable and read-only: writes through
 * `w` show through `r`, a write through `r` dies with SIGSEGV. */
static inline void check_read_only_view(char *w, char *r) {
    if (!w || !r) {
        CHECK(!"both mappings exist");
        return;
    }
    strcpy(w, "visible");
    CHECK(strcmp(r, "visible") == 0);
    CHECK(in_child(write_first_byte, r) == 128 + SIGSEGV);
    CHECK(in_child(write_first_byte, w) == 0);
    CHECK(r[0] == 'x');
}

#endif
