/* make bench, group "share": handing a memfd region to another socket end
 * (made, sent, received, first touch, both unmapped) next to the same done
 * by hand with memfd_create, seals, sendmsg/recvmsg and mmap. Both ends are
 * in one process, so the cost measured is the calls', not a scheduler's. */
#include "harness.h"

struct pass { size_t len; int iters; };

static double pass_mapipc(void *arg) {
    struct pass *c = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    double t0 = 0;
    for (int i = -10; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *mine, *theirs;
        must(mapipc_memfd("bench", c->len, MAPIPC_READ | MAPIPC_WRITE, (void **)&mine), "memfd");
        mine[0] = 1;
        must(mapipc_send_region(sv[0], mine, -1), "send_region");
        must(mapipc_recv_region(sv[1], MAPIPC_READ | MAPIPC_WRITE | MAPIPC_SEALED, -1, (void **)&theirs),
             "recv_region");
        theirs[0] += 1;
        must(mapipc_unmap(theirs), "unmap");
        must(mapipc_unmap(mine), "unmap");
    }
    close(sv[0]);
    close(sv[1]);
    return (now() - t0) / c->iters * 1e6;
}

/* What careful code does by hand: the same reservation and seals, the
 * descriptor with a small header in one message, and on the other end the
 * size checked with fstat and the shrink seal with F_GET_SEALS (what
 * MAPIPC_SEALED asks) before mapping. */
static void send_fd(int sock, int fd, const void *head, size_t len) {
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct iovec iov = {(void *)head, len};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t)len) die("sendmsg");
}

static int recv_fd(int sock, void *head, size_t len) {
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct iovec iov = {head, len};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != (ssize_t)len) die("recvmsg");
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_type != SCM_RIGHTS) die("no descriptor");
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    return fd;
}

static double pass_raw(void *arg) {
    struct pass *c = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    double t0 = 0;
    for (int i = -10; i < c->iters; i++) {
        if (i == 0) t0 = now();
        int fd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || fallocate(fd, 0, 0, (off_t)c->len) != 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
            die("memfd");
        char *mine = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (mine == MAP_FAILED) die("mmap");
        mine[0] = 1;
        uint64_t head[3] = {1, 0, c->len}, got[3];
        send_fd(sv[0], fd, head, sizeof head);
        int rfd = recv_fd(sv[1], got, sizeof got);
        struct stat st;
        if (fstat(rfd, &st) != 0 || (uint64_t)st.st_size < got[2]) die("fstat");
        /* The receiver wants a size that can never shrink (MAPIPC_SEALED). */
        if (!(fcntl(rfd, F_GET_SEALS) & F_SEAL_SHRINK)) die("not sealed");
        char *theirs = mmap(NULL, got[2], PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
        if (theirs == MAP_FAILED) die("mmap");
        theirs[0] += 1;
        if (munmap(theirs, got[2]) != 0 || close(rfd) != 0 || munmap(mine, c->len) != 0 || close(fd) != 0)
            die("munmap/close");
    }
    close(sv[0]);
    close(sv[1]);
    return (now() - t0) / c->iters * 1e6;
}

void bench_share(void) {
    int iters = quick ? 2000 : 20000;
    struct pass small = {4096, iters}, mid = {64 * KIB, iters / 4};
    compare("pass a memfd region 4 KiB", "us", 0, pass_mapipc, "memfd+sendmsg+mmap", pass_raw, &small);
    compare("pass a memfd region 64 KiB", "us", 0, pass_mapipc, "memfd+sendmsg+mmap", pass_raw, &mid);
}
