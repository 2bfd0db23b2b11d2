/* Passing regions over UNIX sockets: mapipc_send_region and
 * mapipc_recv_region on stream and seqpacket sockets, with exec'd peers
 * (a mutex and channels in a received region), a peer of another user,
 * either side killed mid-transfer, timeouts that send nothing, and hostile
 * peers. Every failing case checks that no descriptor stayed open. */
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "channel_util.h"
#include "check.h"
#include "shm_util.h"
#include "share_util.h"

static void pair(int type, int sv[2]) { REQUIRE(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) == 0); }

static void round_trip(int type) {
    int sv[2];
    pair(type, sv);
    void *mine = NULL, *theirs = NULL;
    CHECK_OK(mapipc_memfd("trip", 3 * 4096 + 5, MAPIPC_WRITE, &mine));
    strcpy(mine, "sent");
    int fds = check_count_fds();
    CHECK_OK(mapipc_send_region(sv[0], mine, -1));
    CHECK(check_count_fds() == fds);
    CHECK_OK(mapipc_recv_region(sv[1], MAPIPC_WRITE | MAPIPC_SEALED, 1000000000, &theirs));
    REQUIRE(theirs != NULL && theirs != mine);
    CHECK(check_count_fds() == fds + 1);
    size_t size = 0;
    CHECK_OK(mapipc_region_size(theirs, &size));
    CHECK(size == 3 * 4096 + 5);
    CHECK(strcmp(theirs, "sent") == 0);
    strcpy((char *)theirs + 3 * 4096, "back");
    CHECK(strcmp((char *)mine + 3 * 4096, "back") == 0);
    /* A received region can be passed on and named by descriptor too. */
    int fd = -1;
    CHECK_OK(mapipc_region_fd(theirs, &fd));
    CHECK(fd >= 0 && fcntl(fd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    close(fd);
    CHECK_OK(mapipc_unmap(theirs));
    CHECK_OK(mapipc_unmap(mine));
    CHECK(check_count_fds() == fds - 1);
    close(sv[0]);
    close(sv[1]);
}

static void stream_round_trip(void) { round_trip(SOCK_STREAM); }
static void seqpacket_round_trip(void) { round_trip(SOCK_SEQPACKET); }

/* A file region: the same bytes (offset and length) of the same file; its
 * access goes with it; a truncatable file is refused to a SEALED receiver. */
static void file_regions_keep_offset_and_access(void) {
    char buf[8192];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)('A' + i % 23);
    check_write_file("f", buf, sizeof buf);
    int sv[2];
    pair(SOCK_STREAM, sv);
    void *w = NULL, *r = NULL, *got = NULL;
    CHECK_OK(mapipc_map_file("f", 5000, 100, MAPIPC_WRITE, &w));
    CHECK_OK(mapipc_map_file("f", 0, 0, MAPIPC_READ, &r));
    CHECK_OK(mapipc_send_region(sv[0], w, -1));
    CHECK_OK(mapipc_recv_region(sv[1], MAPIPC_WRITE, -1, &got));
    size_t size = 0;
    CHECK_OK(mapipc_region_size(got, &size));
    CHECK(size == 100 && ((char *)got)[0] == buf[5000] && ((char *)got)[99] == buf[5099]);
    ((char *)got)[1] = '*';
    CHECK(((char *)w)[1] == '*');
    buf[5001] = '*';
    CHECK_OK(mapipc_unmap(got));
    int fds = check_count_fds();
    CHECK_OK(mapipc_send_region(sv[0], r, -1));
    got = (void *)1;
    CHECK_STATUS(mapipc_recv_region(sv[1], MAPIPC_WRITE, -1, &got), MAPIPC_ERR_PERMISSION_DENIED, EACCES);
    CHECK_MESSAGE("read-only");
    CHECK(got == NULL && check_count_fds() == fds);
    CHECK_OK(mapipc_send_region(sv[0], r, -1));
    CHECK_STATUS(mapipc_recv_region(sv[1], MAPIPC_READ | MAPIPC_SEALED, -1, &got), MAPIPC_ERR_NOT_SEALED, EPERM);
    CHECK(got == NULL && check_count_fds() == fds);
    CHECK_OK(mapipc_send_region(sv[0], r, -1));
    CHECK_OK(mapipc_recv_region(sv[1], MAPIPC_READ | MAPIPC_GUARDED, -1, &got));
    CHECK(memcmp(got, buf, sizeof buf) == 0);
    /* Received read-only: its descriptor is read-only too. */
    int fd = -1;
    CHECK_OK(mapipc_region_fd(got, &fd));
    CHECK(fd >= 0 && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
    close(fd);
    CHECK_OK(mapipc_unmap(got));
    CHECK_OK(mapipc_unmap(w));
    CHECK_OK(mapipc_unmap(r));
    close(sv[0]);
    close(sv[1]);
    CHECK(unlink("f") == 0);
}

static void send_refusals(void) {
    int sv[2], dg[2], pipefd[2];
    pair(SOCK_STREAM, sv);
    REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg) == 0 && pipe2(pipefd, O_CLOEXEC) == 0);
    int inet = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int lonely = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(inet >= 0 && lonely >= 0);
    void *anon = NULL, *mem = NULL, *sysv = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_WRITE, &anon));
    check_write_file("key", "k", 1);
    CHECK_OK(mapipc_shm_open_key("key", 9, 4096, MAPIPC_WRITE | MAPIPC_CREATE, &sysv));
    CHECK_OK(mapipc_memfd("refused", 4096, MAPIPC_WRITE, &mem));
    int fds = check_count_fds();
    CHECK_STATUS(mapipc_send_region(sv[0], anon, -1), MAPIPC_ERR_NOT_MAPPABLE, ENODEV);
    CHECK_STATUS(mapipc_send_region(sv[0], sysv, -1), MAPIPC_ERR_NOT_MAPPABLE, ENODEV);
    CHECK_STATUS(mapipc_send_region(sv[0], (char *)mem + 8, -1), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_send_region(pipefd[1], mem, -1), MAPIPC_ERR_INVALID_ARGUMENT, ENOTSOCK);
    CHECK_STATUS(mapipc_send_region(inet, mem, -1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("AF_UNIX");
    CHECK_STATUS(mapipc_send_region(dg[0], mem, -1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_send_region(lonely, mem, -1), MAPIPC_ERR_INVALID_ARGUMENT, ENOTCONN);
    CHECK_STATUS(mapipc_send_region(-1, mem, -1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* The peer gone: CLOSED, and no SIGPIPE (it would end this case). */
    close(sv[1]);
    CHECK_STATUS(mapipc_send_region(sv[0], mem, -1), MAPIPC_ERR_CLOSED, EPIPE);
    CHECK(check_count_fds() == fds - 1);
    CHECK_OK(mapipc_unmap(anon));
    CHECK_OK(mapipc_unmap(mem));
    CHECK_OK(mapipc_shm_remove_key("key", 9));
    CHECK_OK(mapipc_unmap(sysv));
    CHECK(unlink("key") == 0);
    close(sv[0]); close(dg[0]); close(dg[1]); close(pipefd[0]); close(pipefd[1]); close(inet); close(lonely);
}

/* No room: TIMED_OUT, and not a byte of the message went. */
static void send_timeout_sends_nothing(void) {
    int sv[2];
    pair(SOCK_STREAM, sv);
    void *mem = NULL, *got = NULL;
    CHECK_OK(mapipc_memfd("full", 4096, MAPIPC_WRITE, &mem));
    char chunk[512];
    memset(chunk, 'f', sizeof chunk);
    size_t filled = 0;
    for (;;) {
        ssize_t n = send(sv[0], chunk, sizeof chunk, MSG_DONTWAIT);
        if (n < 0) {
            REQUIRE(errno == EAGAIN);
            break;
        }
        filled += (size_t)n;
    }
    int fds = check_count_fds();
    CHECK_STATUS(mapipc_send_region(sv[0], mem, 0), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    CHECK_STATUS(mapipc_send_region(sv[0], mem, 2000000), MAPIPC_ERR_TIMED_OUT, ETIMEDOUT);
    CHECK(check_count_fds() == fds);
    /* The other side finds the filler and nothing after it. */
    size_t drained = 0;
    char buf[4096];
    while (drained < filled) {
        ssize_t n = recv(sv[1], buf, sizeof buf < filled - drained ? sizeof buf : filled - drained, 0);
        REQUIRE(n > 0);
        for (ssize_t i = 0; i < n; i++) CHECK(buf[i] == 'f');
        drained += (size_t)n;
    }
    CHECK_STATUS(mapipc_recv_region(sv[1], MAPIPC_READ, 0, &got), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    CHECK(recv(sv[1], buf, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN);
    /* The framing is intact: the next region goes through. */
    CHECK_OK(mapipc_send_region(sv[0], mem, -1));
    CHECK_OK(mapipc_recv_region(sv[1], MAPIPC_READ, -1, &got));
    CHECK_OK(mapipc_unmap(got));
    CHECK_OK(mapipc_unmap(mem));
    close(sv[0]);
    close(sv[1]);
}

static void recv_refusals(void) {
    int sv[2], pipefd[2];
    pair(SOCK_SEQPACKET, sv);
    REQUIRE(pipe2(pipefd, O_CLOEXEC) == 0);
    void *mem = NULL, *got = NULL;
    CHECK_OK(mapipc_memfd("flags", 4096, MAPIPC_WRITE, &mem));
    int fds = check_count_fds();
    CHECK_STATUS(mapipc_recv_region(sv[1], MAPIPC_READ, 0, &got), MAPIPC_ERR_TIMED_OUT, EAGAIN);
    CHECK_STATUS(mapipc_recv_region(sv[1], MAPIPC_READ, 3000000, &got), MAPIPC_ERR_TIMED_OUT, ETIMEDOUT);
    CHECK_OK(mapipc_send_region(sv[0], mem, -1));
    /* Flags are checked before anything is received: the message stays. */
    const uint32_t bad[] = {0, MAPIPC_WRITE | MAPIPC_PRIVATE, MAPIPC_WRITE | MAPIPC_CREATE,
                            MAPIPC_READ | MAPIPC_EXCLUSIVE, MAPIPC_READ | 0x80};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        got = (void *)1;
        CHECK_STATUS(mapipc_recv_region(sv[1], bad[i], 0, &got), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
        CHECK(got == NULL);
    }
    CHECK_STATUS(mapipc_recv_region(sv[1], MAPIPC_WRITE, 0, NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_recv_region(pipefd[0], MAPIPC_WRITE, 0, &got), MAPIPC_ERR_INVALID_ARGUMENT, ENOTSOCK);
    CHECK(check_count_fds() == fds);
    CHECK_OK(mapipc_recv_region(sv[1], MAPIPC_WRITE, 0, &got));
    CHECK_OK(mapipc_unmap(got));
    close(sv[0]);
    fds = check_count_fds();
    CHECK_STATUS(mapipc_recv_region(sv[1], MAPIPC_WRITE, -1, &got), MAPIPC_ERR_CLOSED, EPIPE);
    CHECK(check_count_fds() == fds);
    CHECK_OK(mapipc_unmap(mem));
    close(sv[1]); close(pipefd[0]); close(pipefd[1]);
}

/* One hostile message: `send` writes it into a fresh socket pair; the
 * receiver must answer `want` and end with the descriptors it had. */
struct hostile {
    const char *what;
    int type;
    unsigned char bytes[128];
    size_t len;
    int fds[8];
    int nfds;
    int close_after; /* the peer closes once the message is out */
    uint32_t flags;
    mapipc_status want;
};

static void run_hostile(const struct hostile *h) {
    /* What is left once this case's descriptors are closed. */
    int before = check_count_fds() - h->nfds;
    int sv[2];
    pair(h->type, sv);
    REQUIRE(send_raw(sv[0], h->bytes, h->len, h->fds, h->nfds) == (ssize_t)h->len);
    for (int i = 0; i < h->nfds; i++) close(h->fds[i]);
    if (h->close_after) close(sv[0]);
    void *got = (void *)1;
    mapipc_status st = mapipc_recv_region(sv[1], h->flags, 20000000, &got);
    if (st != h->want)
        fprintf(stderr, "  %s: got %s, expected %s (%s)\n", h->what, mapipc_status_name(st),
                mapipc_status_name(h->want), mapipc_last_error());
    CHECK(st == h->want);
    CHECK(got == NULL);
    if (!h->close_after) close(sv[0]);
    close(sv[1]);
    int after = check_count_fds();
    if (after != before) fprintf(stderr, "  %s: %d descriptors before, %d after\n", h->what, before, after);
    CHECK(after == before);
}

static int sealed_memfd(size_t size) {
    int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    REQUIRE(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
    REQUIRE(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
    return fd;
}

static void hostile_peers_are_refused_and_leak_nothing(void) {
    int fds = check_count_fds();
    void *own = NULL;
    CHECK_OK(mapipc_memfd("own", 4096, MAPIPC_WRITE, &own));
    check_write_file("plain", "plain file that anyone may truncate", 35);
    const uint32_t rw = MAPIPC_READ | MAPIPC_WRITE;
    struct hostile cases[32];
    int n = 0;
#define CASE(...) cases[n++] = (struct hostile){__VA_ARGS__}
    CASE(.what = "garbage", .type = SOCK_STREAM, .len = MSG_LEN, .flags = rw, .want = MAPIPC_ERR_INVALID_ARGUMENT);
    memset(cases[n - 1].bytes, 0xa5, MSG_LEN);
    CASE(.what = "garbage with a descriptor", .type = SOCK_SEQPACKET, .len = MSG_LEN, .nfds = 1,
         .flags = rw, .want = MAPIPC_ERR_INVALID_ARGUMENT);
    memcpy(cases[n - 1].bytes, "GET / HTTP/1.1\r\n\r\nxxxxxxxxxx", MSG_LEN);
    cases[n - 1].fds[0] = sealed_memfd(4096);
    CASE(.what = "no descriptor", .type = SOCK_STREAM, .len = MSG_LEN, .flags = rw,
         .want = MAPIPC_ERR_INVALID_ARGUMENT);
    make_message(cases[n - 1].bytes, 1, 0, 4096);
    CASE(.what = "two descriptors", .type = SOCK_SEQPACKET, .len = MSG_LEN, .nfds = 2, .flags = rw,
         .want = MAPIPC_ERR_INVALID_ARGUMENT);
    make_message(cases[n - 1].bytes, 1, 0, 4096);
    cases[n - 1].fds[0] = sealed_memfd(4096);
    cases[n - 1].fds[1] = sealed_memfd(4096);
    CASE(.what = "eight descriptors", .type = SOCK_STREAM, .len = MSG_LEN, .nfds = 8, .flags = rw,
         .want = MAPIPC_ERR_INVALID_ARGUMENT);
    make_message(cases[n - 1].bytes, 1, 0, 4096);
    for (int i = 0; i < 8; i++) cases[n - 1].fds[i] = sealed_memfd(4096);
    CASE(.what = "a pipe", .type = SOCK_STREAM, .len = MSG_LEN, .nfds = 1, .flags = rw,
         .want = MAPIPC_ERR_NOT_MAPPABLE);
    make_message(cases[n - 1].bytes, 1, 0, 4096);
    {
        int p[2];
        REQUIRE(pipe2(p, O_CLOEXEC) == 0);
        close(p[1]);
        cases[n - 1].fds[0] = p[0];
    }
    CASE(.what = "a directory", .type = SOCK_SEQPACKET, .len = MSG_LEN, .nfds = 1, .flags = MAPIPC_READ,
         .want = MAPIPC_ERR_NOT_MAPPABLE);
    make_message(cases[n - 1].bytes, 0, 0, 4096);
    cases[n - 1].fds[0] = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CASE(.what = "a range past the object's end", .type = SOCK_STREAM, .len = MSG_LEN, .nfds = 1, .flags = rw,
         .want = MAPIPC_ERR_OUT_OF_RANGE);
    make_message(cases[n - 1].bytes, 1, 4096, 4096);
    cases[n - 1].fds[0] = sealed_memfd(4096);
    CASE(.what = "an overflowing range", .type = SOCK_STREAM, .len = MSG_LEN, .nfds = 1, .flags = rw,
         .want = MAPIPC_ERR_INVALID_ARGUMENT);
    make_message(cases[n - 1].bytes, 1, UINT64_MAX - 10, 4096);
    cases[n - 1].fds[0] = sealed_memfd(4096);
    CASE(.what = "length 0", .type = SOCK_STREAM, .len = MSG_LEN, .nfds = 1, .flags = rw,
         .want = MAPIPC_ERR_INVALID_ARGUMENT);
    make_message(cases[n - 1].bytes, 1, 0, 0);
    cases[n - 1].fds[0] = sealed_memfd(4096);
    CASE(.what = "a later version", .type = SOCK_SEQPACKET, .len = MSG_LEN, .nfds = 1, .flags = rw,
         .want = MAPIPC_ERR_INVALID_ARGUMENT);
    make_message(cases[n - 1].bytes, 1, 0, 4096);
    cases[n - 1].bytes[4] = 2;
    cases[n - 1].fds[0] = sealed_memfd(4096);
    CASE(.what = "unknown flag bits", .type = SOCK_STREAM, .len = MSG_LEN, .nfds = 1, .flags = rw,
         .want = MAPIPC_ERR_INVALID_ARGUMENT);
    make_message(cases[n - 1].bytes, 0x11, 0, 4096);
    cases[n - 1].fds[0] = sealed_memfd(4096);
    CASE(.what = "writable claimed, read-only descriptor", .type = SOCK_STREAM, .len = MSG_LEN, .nfds = 1,
         .flags = rw, .want = MAPIPC_ERR_PERMISSION_DENIED);
    make_message(cases[n - 1].bytes, 1, 0, 35);
    cases[n - 1].fds[0] = open("plain", O_RDONLY | O_CLOEXEC);
    CASE(.what = "a truncatable file to a SEALED receiver", .type = SOCK_STREAM, .len = MSG_LEN, .nfds = 1,
         .flags = MAPIPC_READ | MAPIPC_SEALED, .want = MAPIPC_ERR_NOT_SEALED);
    make_message(cases[n - 1].bytes, 0, 0, 35);
    cases[n - 1].fds[0] = open("plain", O_RDONLY | O_CLOEXEC);
    CASE(.what = "half a message, then gone", .type = SOCK_STREAM, .len = 10, .nfds = 1, .close_after = 1,
         .flags = rw, .want = MAPIPC_ERR_CLOSED);
    make_message(cases[n - 1].bytes, 1, 0, 4096);
    cases[n - 1].fds[0] = sealed_memfd(4096);
    CASE(.what = "half a message, then silence", .type = SOCK_STREAM, .len = 10, .nfds = 1, .flags = rw,
         .want = MAPIPC_ERR_INVALID_ARGUMENT);
    make_message(cases[n - 1].bytes, 1, 0, 4096);
    cases[n - 1].fds[0] = sealed_memfd(4096);
    CASE(.what = "a short record", .type = SOCK_SEQPACKET, .len = 10, .nfds = 1, .flags = rw,
         .want = MAPIPC_ERR_INVALID_ARGUMENT);
    make_message(cases[n - 1].bytes, 1, 0, 4096);
    cases[n - 1].fds[0] = sealed_memfd(4096);
    CASE(.what = "a long record", .type = SOCK_SEQPACKET, .len = 100, .nfds = 1, .flags = rw,
         .want = MAPIPC_ERR_INVALID_ARGUMENT);
    make_message(cases[n - 1].bytes, 1, 0, 4096);
    cases[n - 1].fds[0] = sealed_memfd(4096);
#undef CASE
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < cases[i].nfds; k++) REQUIRE(cases[i].fds[k] >= 0);
        run_hostile(&cases[i]);
    }
    CHECK(count_memfds() == 1); /* only the test's own region */
    CHECK_OK(mapipc_unmap(own));
    CHECK(check_count_fds() == fds);
    CHECK(unlink("plain") == 0);
}

static pid_t spawn_peer(int sock, const char *mode, const char *arg) {
    char fdtext[16];
    snprintf(fdtext, sizeof fdtext, "%d", sock);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        /* Only the socket goes through exec. */
        int flags = fcntl(sock, F_GETFD);
        fcntl(sock, F_SETFD, flags & ~FD_CLOEXEC);
        execl(peer_path, "helper_share_peer", fdtext, mode, arg, (char *)NULL);
        perror("exec helper_share_peer");
        _exit(127);
    }
    return pid;
}

/* A mutex and a channel each way, in a memfd region received by an exec'd
 * process that knows no name. */
static void exec_peer_shares_a_mutex_and_channels(void) {
    enum { COUNT = 2000 };
    int sv[2];
    pair(SOCK_STREAM, sv);
    void *mem = NULL;
    CHECK_OK(mapipc_memfd("mutex-and-channels", SHARED_SIZE, MAPIPC_WRITE, &mem));
    char *base = mem;
    mapipc_mutex *m = (mapipc_mutex *)(base + SHARED_MUTEX);
    CHECK_OK(mapipc_mutex_init(m));
    CHECK_OK(mapipc_channel_init(base + SHARED_TO_PEER, SHARED_CHAN_SIZE));
    CHECK_OK(mapipc_channel_init(base + SHARED_FROM_PEER, SHARED_CHAN_SIZE));
    char count[16];
    snprintf(count, sizeof count, "%d", COUNT);
    pid_t pid = spawn_peer(sv[1], "serve", count);
    close(sv[1]);
    CHECK_OK(mapipc_send_region(sv[0], mem, -1));
    volatile uint64_t *counter = (volatile uint64_t *)(base + SHARED_COUNTER);
    for (int i = 0; i < COUNT; i++) {
        CHECK_OK(mapipc_mutex_lock(m, -1));
        *counter += 1;
        CHECK_OK(mapipc_mutex_unlock(m));
    }
    static unsigned char buf[MIXED_MAX];
    for (uint32_t i = 0; i < COUNT; i++) {
        size_t len = mixed_len(i);
        mixed_fill(i, buf, len);
        CHECK_OK(mapipc_channel_send(base + SHARED_TO_PEER, buf, len, 30000000000LL));
        CHECK_OK(mapipc_channel_recv(base + SHARED_FROM_PEER, buf, sizeof buf, &len, 30000000000LL));
        if (!mixed_check(i, buf, len)) {
            CHECK(!"the echo is byte-exact");
            break;
        }
    }
    CHECK(check_wait(pid) == 0);
    CHECK_OK(mapipc_mutex_lock(m, 0));
    CHECK(*counter == 2 * COUNT);
    CHECK_OK(mapipc_mutex_unlock(m));
    CHECK_OK(mapipc_unmap(mem));
    close(sv[0]);
}

/* The sender is killed with its region still in the socket: the region
 * arrives whole, and lives on in the receiver alone. */
static void sender_killed_mid_transfer(void) {
    int sv[2];
    pair(SOCK_STREAM, sv);
    pid_t pid = spawn_peer(sv[1], "send", NULL);
    close(sv[1]);
    struct pollfd pfd = {sv[0], POLLIN, 0};
    REQUIRE(poll(&pfd, 1, 30000) == 1);
    kill(pid, SIGKILL);
    CHECK(check_wait(pid) == 128 + SIGKILL);
    int fds = check_count_fds();
    void *got = NULL;
    CHECK_OK(mapipc_recv_region(sv[0], MAPIPC_WRITE | MAPIPC_SEALED, -1, &got));
    CHECK(got != NULL && strcmp(got, "peer data") == 0);
    CHECK(count_memfds() == 1);
    CHECK_OK(mapipc_unmap(got));
    CHECK(count_memfds() == 0 && check_count_fds() == fds);
    CHECK_STATUS(mapipc_recv_region(sv[0], MAPIPC_READ, -1, &got), MAPIPC_ERR_CLOSED, EPIPE);
    close(sv[0]);
}

/* The receiver is killed before it read the region: the sender keeps its
 * region, and its next send is CLOSED, without SIGPIPE. */
static void receiver_killed_mid_transfer(void) {
    int sv[2];
    pair(SOCK_SEQPACKET, sv);
    pid_t pid = spawn_peer(sv[1], "idle", NULL);
    close(sv[1]);
    void *mem = NULL;
    CHECK_OK(mapipc_memfd("orphan", 4096, MAPIPC_WRITE, &mem));
    int fds = check_count_fds();
    CHECK_OK(mapipc_send_region(sv[0], mem, -1));
    kill(pid, SIGKILL);
    CHECK(check_wait(pid) == 128 + SIGKILL);
    CHECK_STATUS(mapipc_send_region(sv[0], mem, -1), MAPIPC_ERR_CLOSED, EPIPE);
    CHECK(check_count_fds() == fds);
    strcpy(mem, "still mine");
    CHECK(strcmp(mem, "still mine") == 0);
    CHECK_OK(mapipc_unmap(mem));
    close(sv[0]);
}

/* A peer running as another user maps what it is sent, with the access the
 * descriptor carries, whatever the object's owner and mode. */
static void peer_of_another_user(void) {
    check_write_file("secret", "root's 0600 file", 16);
    REQUIRE(chmod("secret", 0600) == 0);
    int sv[2];
    pair(SOCK_STREAM, sv);
    void *mem = NULL, *file = NULL;
    CHECK_OK(mapipc_memfd("for-nobody", 4096, MAPIPC_WRITE, &mem));
    CHECK_OK(mapipc_map_file("secret", 0, 0, MAPIPC_READ, &file));
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) _exit(99);
        void *a = NULL, *b = NULL;
        if (mapipc_recv_region(sv[1], MAPIPC_WRITE | MAPIPC_SEALED, -1, &a) != MAPIPC_OK) _exit(1);
        strcpy(a, "written by nobody");
        if (mapipc_recv_region(sv[1], MAPIPC_READ, -1, &b) != MAPIPC_OK) _exit(2);
        if (memcmp(b, "root's 0600 file", 16) != 0) _exit(3);
        void *c = NULL;
        if (mapipc_recv_region(sv[1], MAPIPC_WRITE, -1, &c) != MAPIPC_ERR_PERMISSION_DENIED) _exit(4);
        _exit(0);
    }
    close(sv[1]);
    CHECK_OK(mapipc_send_region(sv[0], mem, -1));
    CHECK_OK(mapipc_send_region(sv[0], file, -1));
    CHECK_OK(mapipc_send_region(sv[0], file, -1));
    CHECK(check_wait(pid) == 0);
    CHECK(strcmp(mem, "written by nobody") == 0);
    CHECK_OK(mapipc_unmap(mem));
    CHECK_OK(mapipc_unmap(file));
    close(sv[0]);
    CHECK(unlink("secret") == 0);
}

/* At the descriptor limit: NO_SPACE with EMFILE, and nothing left open
 * (a region that arrived and could not be installed is dropped). */
static void descriptor_limit_is_no_space(void) {
    if (skip_under(UNDER_VALGRIND, "descriptor_limit_is_no_space: valgrind emulates RLIMIT_NOFILE")) return;
    int sv[2];
    pair(SOCK_SEQPACKET, sv);
    void *mem = NULL, *p = (void *)1;
    CHECK_OK(mapipc_memfd("limit", 4096, MAPIPC_WRITE, &mem));
    CHECK_OK(mapipc_send_region(sv[0], mem, -1));
    int fds = check_count_fds();
    int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(probe >= 0);
    close(probe);
    struct rlimit old, lim;
    REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
    lim.rlim_cur = (rlim_t)probe;
    lim.rlim_max = old.rlim_max;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    CHECK_STATUS(mapipc_memfd("x", 4096, MAPIPC_WRITE, &p), MAPIPC_ERR_NO_SPACE, EMFILE);
    CHECK(p == NULL);
    int fd = 5;
    CHECK_STATUS(mapipc_region_fd(mem, &fd), MAPIPC_ERR_NO_SPACE, EMFILE);
    CHECK(fd == -1);
    CHECK_STATUS(mapipc_map_fd(sv[0], 0, 0, MAPIPC_READ, &p), MAPIPC_ERR_NO_SPACE, EMFILE);
    CHECK_STATUS(mapipc_recv_region(sv[1], MAPIPC_WRITE, -1, &p), MAPIPC_ERR_NO_SPACE, EMFILE);
    CHECK(p == NULL);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
    CHECK(check_count_fds() == fds);
    /* The message was consumed: the next receive finds the next one. */
    CHECK_OK(mapipc_send_region(sv[0], mem, -1));
    CHECK_OK(mapipc_recv_region(sv[1], MAPIPC_WRITE, -1, &p));
    CHECK_OK(mapipc_unmap(p));
    CHECK_OK(mapipc_unmap(mem));
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv) {
    (void)argc;
    find_helper(argv[0], "helper_share_peer");
    RUN(stream_round_trip);
    RUN(seqpacket_round_trip);
    RUN(file_regions_keep_offset_and_access);
    RUN(send_refusals);
    RUN(send_timeout_sends_nothing);
    RUN(recv_refusals);
    RUN(hostile_peers_are_refused_and_leak_nothing);
    RUN(exec_peer_shares_a_mutex_and_channels);
    RUN(sender_killed_mid_transfer);
    RUN(receiver_killed_mid_transfer);
    RUN(peer_of_another_user);
    RUN(descriptor_limit_is_no_space);
    return check_done();
}
