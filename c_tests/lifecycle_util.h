/* Helpers shared by the lifecycle tests: names unique to this process,
 * what /dev/shm holds, waiting for a death without reaping. */
#ifndef MAPIPC_LIFECYCLE_UTIL_H
#define MAPIPC_LIFECYCLE_UTIL_H

#include <dirent.h>
#include <sys/stat.h>

#include "check.h"

/* "/mapipc-life-<pid>-<tag>" in `buf` (and "/dev/shm/..." in `path`). */
static inline void life_name(char *buf, size_t n, char *path, size_t pn, const char *tag) {
    snprintf(buf, n, "/mapipc-life-%d-%s", (int)getpid(), tag);
    snprintf(path, pn, "/dev/shm%s", buf);
}

static inline int shm_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static inline int count_dev_shm(void) {
    DIR *d = opendir("/dev/shm");
    REQUIRE(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.' || strncmp(e->d_name, ".mapipc", 7) == 0;
    closedir(d);
    return n;
}

/* Waits until `pid` has ended, leaving it an unreaped zombie. */
static inline void wait_dead_unreaped(pid_t pid) {
    siginfo_t info;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) != 0) REQUIRE(errno == EINTR);
}

/* A pipe's read end returns one byte once the other side wrote it. */
static inline void pipe_signal(int fd) { REQUIRE(write(fd, "x", 1) == 1); }
static inline int pipe_wait(int fd) {
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) < 0 && errno == EINTR) {}
    return (int)r;
}

#endif
