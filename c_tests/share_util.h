/* Helpers shared by the share tests and their exec'd peer: the region
 * message's layout (docs/region-message.md) for playing hostile peers,
 * sending raw messages with descriptors, and finding memfds among the
 * open descriptors. */
#ifndef MAPIPC_SHARE_UTIL_H
#define MAPIPC_SHARE_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mapipc.h"

enum { MSG_LEN = 28 };

/* A version 1 message, little-endian (the test machines are). */
static inline void make_message(unsigned char *m, uint32_t flags, uint64_t offset, uint64_t length) {
    uint16_t version = 1, size = MSG_LEN;
    memcpy(m, "MPRG", 4);
    memcpy(m + 4, &version, 2);
    memcpy(m + 6, &size, 2);
    memcpy(m + 8, &flags, 4);
    memcpy(m + 12, &offset, 8);
    memcpy(m + 20, &length, 8);
}

/* sendmsg of `len` bytes with `nfds` descriptors; returns sendmsg's value. */
static inline ssize_t send_raw(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int) * 16)]; } control;
    struct iovec iov = {(void *)buf, len};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

/* How many open descriptors of this process are memfds. */
static inline int count_memfds(void) {
    int n = 0;
    for (int fd = 0; fd < 4096; fd++) {
        char link[64], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len < 0) continue;
        target[len] = '\0';
        if (strncmp(target, "/memfd:", 7) == 0) n++;
    }
    return n;
}

/* Whether /proc/self/maps has a line containing `needle`. */
static inline int maps_mention(const char *needle) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 0;
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* The region two processes share in the cross-process cases: a mutex, a
 * counter it guards, and a channel each way. */
enum {
    SHARED_SIZE = 64 * 1024,
    SHARED_MUTEX = 0,
    SHARED_COUNTER = 64,
    SHARED_TO_PEER = 4096,
    SHARED_FROM_PEER = 4096 + 16384,
    SHARED_CHAN_SIZE = 16384,
};

#endif
