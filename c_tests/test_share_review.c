/* A hostile peer against mapipc_map_fd and mapipc_recv_region, found in
 * review: an object shrunk and then sealed while mapipc checks it (the size
 * must be read after the seals, or MAPIPC_SEALED maps pages that fault), a
 * receiver that asked the kernel for credentials or a pidfd with every
 * message, and descriptors of kinds that can never be mapped. Every case
 * counts the descriptors it ends with. */
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "check.h"
#include "share_util.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

/* This program's fcntl, which mapipc's calls reach too (static and shared
 * builds alike): the race a peer would have to win, made certain. When
 * armed, the first F_GET_SEALS first shrinks the object to `shrink_to`
 * through the peer's own descriptor and seals its size. */
static int peer_fd = -1;
static off_t shrink_to;

int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    if (cmd == F_GET_SEALS && peer_fd >= 0) {
        int peer = peer_fd;
        peer_fd = -1;
        REQUIRE(ftruncate(peer, shrink_to) == 0);
        REQUIRE(syscall(SYS_fcntl, peer, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
    }
    return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

static int unsealed_memfd(size_t size) {
    int fd = memfd_create("peer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    REQUIRE(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
    return fd;
}

/* If a SEALED mapping was made anyway, every byte of it must be readable. */
static void no_page_faults(void *p, size_t len) {
    if (p == NULL) return;
    size_t size = 0;
    CHECK_OK(mapipc_region_size(p, &size));
    volatile const char *c = p;
    for (size_t i = 0; i < size && i < len; i += 4096) (void)c[i];
    CHECK_OK(mapipc_unmap(p));
}

static void sealed_map_fd_reads_the_size_after_the_seals(void) {
    int fds = check_count_fds();
    int fd = unsealed_memfd(4 * 4096);
    peer_fd = fd;
    shrink_to = 4096;
    void *p = NULL;
    CHECK_STATUS(mapipc_map_fd(fd, 0, 4 * 4096, MAPIPC_READ | MAPIPC_SEALED, &p),
                 MAPIPC_ERR_OUT_OF_RANGE, 0);
    CHECK(peer_fd == -1); /* the race was run */
    no_page_faults(p, 4 * 4096);
    close(fd);
    CHECK(check_count_fds() == fds);
}

static void sealed_recv_reads_the_size_after_the_seals(void) {
    int fds = check_count_fds();
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    int fd = unsealed_memfd(4 * 4096);
    unsigned char m[MSG_LEN];
    make_message(m, 0, 0, 4 * 4096);
    REQUIRE(send_raw(sv[0], m, MSG_LEN, &fd, 1) == MSG_LEN);
    peer_fd = fd; /* the peer keeps its descriptor and shrinks the object */
    shrink_to = 0;
    void *p = NULL;
    mapipc_status st = mapipc_recv_region(sv[1], MAPIPC_READ | MAPIPC_SEALED, 0, &p);
    CHECK(st == MAPIPC_ERR_OUT_OF_RANGE || st == MAPIPC_ERR_EMPTY_FILE);
    CHECK(peer_fd == -1);
    no_page_faults(p, 4 * 4096);
    close(fd);
    close(sv[0]);
    close(sv[1]);
    CHECK(check_count_fds() == fds);
}

/* A receiver that set SO_PASSCRED or SO_PASSPIDFD gets that message with
 * every receive: the region still arrives, and a pidfd is closed. */
static void receiver_with_credentials(int option) {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int on = 1;
    if (setsockopt(sv[1], SOL_SOCKET, option, &on, sizeof on) != 0) {
        printf("# skipped: socket option %d (%s)\n", option, strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return;
    }
    void *mine = NULL, *theirs = NULL;
    CHECK_OK(mapipc_memfd("creds", 4096, MAPIPC_WRITE, &mine));
    strcpy(mine, "with credentials");
    int fds = check_count_fds();
    CHECK_OK(mapipc_send_region(sv[0], mine, -1));
    CHECK_OK(mapipc_recv_region(sv[1], MAPIPC_READ, 0, &theirs));
    CHECK(theirs != NULL && strcmp(theirs, "with credentials") == 0);
    CHECK(check_count_fds() == fds + (theirs != NULL));
    /* A message refused still closes the pidfd that came with it. */
    unsigned char m[MSG_LEN];
    make_message(m, 0, 0, 4096);
    REQUIRE(send_raw(sv[0], m, MSG_LEN, NULL, 0) == MSG_LEN);
    void *none = (void *)1;
    CHECK_STATUS(mapipc_recv_region(sv[1], MAPIPC_READ, 0, &none), MAPIPC_ERR_INVALID_ARGUMENT, 0);
    CHECK(none == NULL);
    CHECK(check_count_fds() == fds + (theirs != NULL));
    if (theirs) CHECK_OK(mapipc_unmap(theirs));
    CHECK_OK(mapipc_unmap(mine));
    close(sv[0]);
    close(sv[1]);
}

static void receiver_with_so_passcred(void) { receiver_with_credentials(SO_PASSCRED); }
static void receiver_with_so_passpidfd(void) { receiver_with_credentials(SO_PASSPIDFD); }

/* Descriptors that are no mappable object: refused, and closed. */
static void unmappable_descriptors(void) {
    check_write_file("plain", "0123456789", 10);
    struct {
        const char *what;
        int fd;
        uint32_t flags;
        mapipc_status want;
    } cases[] = {
        {"O_PATH file", open("plain", O_PATH | O_CLOEXEC), MAPIPC_READ, MAPIPC_ERR_PERMISSION_DENIED},
        {"/dev/zero", open("/dev/zero", O_RDWR | O_CLOEXEC), MAPIPC_READ, MAPIPC_ERR_NOT_MAPPABLE},
        {"a socket", socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), MAPIPC_READ, MAPIPC_ERR_NOT_MAPPABLE},
        {"write-only file", open("plain", O_WRONLY | O_CLOEXEC), MAPIPC_READ, MAPIPC_ERR_PERMISSION_DENIED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        REQUIRE(cases[i].fd >= 0);
        int fds = check_count_fds() - 1;
        int sv[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        unsigned char m[MSG_LEN];
        make_message(m, 0, 0, 10);
        REQUIRE(send_raw(sv[0], m, MSG_LEN, &cases[i].fd, 1) == MSG_LEN);
        close(cases[i].fd);
        void *p = (void *)1;
        mapipc_status st = mapipc_recv_region(sv[1], cases[i].flags, 0, &p);
        if (st != cases[i].want)
            fprintf(stderr, "  %s: got %s, expected %s (%s)\n", cases[i].what, mapipc_status_name(st),
                    mapipc_status_name(cases[i].want), mapipc_last_error());
        CHECK(st == cases[i].want && p == NULL);
        close(sv[0]);
        close(sv[1]);
        CHECK(check_count_fds() == fds);
    }
    CHECK(unlink("plain") == 0);
}

int main(void) {
    RUN(sealed_map_fd_reads_the_size_after_the_seals);
    RUN(sealed_recv_reads_the_size_after_the_seals);
    RUN(receiver_with_so_passcred);
    RUN(receiver_with_so_passpidfd);
    RUN(unmappable_descriptors);
    return check_done();
}
