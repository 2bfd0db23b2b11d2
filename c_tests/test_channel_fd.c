/* mapipc_channel_fd: readable exactly while a receive would not wait,
 * under poll, select and epoll; woken by senders in other processes,
 * another user's included; 1,000 wakeups in a row without loss; readable
 * when the sender's process exits or the channel closes. */
#include <poll.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "channel_util.h"
#include "sync_util.h"

/* Whether poll says readable within `ms` (0: right now). */
static int readable(int fd, int ms) {
    struct pollfd p = {fd, POLLIN, 0};
    int n;
    do {
        n = poll(&p, 1, ms);
    } while (n < 0 && errno == EINTR);
    return n == 1 && (p.revents & POLLIN);
}

static int select_readable(int fd) {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    struct timeval tv = {0, 0};
    return select(fd + 1, &set, NULL, NULL, &tv) == 1 && FD_ISSET(fd, &set);
}

static void readable_exactly_when_recv_would_not_wait(uint32_t options) {
    char *chan = anon_channel(8192, options);
    int fd = -2;
    CHECK_OK(mapipc_channel_fd(chan, &fd));
    REQUIRE(fd >= 0);
    CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    REQUIRE(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
    struct epoll_event out;
    CHECK(!readable(fd, 0) && !select_readable(fd));
    CHECK(epoll_wait(ep, &out, 1, 0) == 0);
    CHECK_OK(mapipc_channel_send(chan, "a", 1, 0));
    CHECK(readable(fd, 5000));
    CHECK(select_readable(fd));
    CHECK(epoll_wait(ep, &out, 1, 5000) == 1 && out.data.u32 == 7);
    /* A peeked message keeps it readable until released. */
    const void *msg;
    size_t len;
    CHECK_OK(mapipc_channel_peek(chan, &msg, &len, 0));
    CHECK(readable(fd, 0));
    CHECK_OK(mapipc_channel_release(chan));
    CHECK(!readable(fd, 0) && !select_readable(fd));
    CHECK(epoll_wait(ep, &out, 1, 0) == 0);
    /* Two queued, one taken: still readable. */
    CHECK_OK(mapipc_channel_send(chan, "b", 1, 0));
    CHECK_OK(mapipc_channel_send(chan, "c", 1, 0));
    char buf[8];
    CHECK(readable(fd, 5000));
    CHECK_OK(mapipc_channel_recv(chan, buf, sizeof buf, &len, 0));
    CHECK(readable(fd, 0));
    CHECK_OK(mapipc_channel_recv(chan, buf, sizeof buf, &len, 0));
    CHECK(!readable(fd, 0));
    /* A second descriptor for the same channel works alike. */
    int fd2 = -1;
    CHECK_OK(mapipc_channel_fd(chan, &fd2));
    CHECK(fd2 >= 0 && fd2 != fd && !readable(fd2, 0));
    /* Closed: readable for good. */
    CHECK_OK(mapipc_channel_close(chan));
    CHECK(readable(fd, 5000) && readable(fd2, 5000));
    CHECK(epoll_wait(ep, &out, 1, 5000) == 1);
    close(ep);
    close(fd);
    close(fd2);
    CHECK_STATUS(mapipc_channel_fd(chan, NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_OK(mapipc_unmap(chan));
    int bad = 5;
    CHECK_STATUS(mapipc_channel_fd(chan, &bad), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK(bad == -1);
}

static void readable_rules_one_sender(void) { readable_exactly_when_recv_would_not_wait(0); }
static void readable_rules_many_senders(void) {
    readable_exactly_when_recv_would_not_wait(MAPIPC_CHANNEL_MANY_SENDERS);
}

/* A parent blocked in poll is woken by a child that sends; the child runs
 * as another user when the test runs as root. Children are forked before
 * the descriptor exists: a fork copies no helper thread (valgrind would
 * count its memory as leaked in the child). */
static void woken_by_another_process_and_user(void) {
    char *chan = anon_channel(8192, 0);
    int fd = -1;
    signal_pipe go;
    sp_open(&go);
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (getuid() == 0) {
            struct passwd *nobody = getpwnam("nobody");
            if (nobody && (setgid(nobody->pw_gid) != 0 || setuid(nobody->pw_uid) != 0)) _exit(3);
        }
        if (!sp_take(&go)) _exit(4);
        _exit(mapipc_channel_send(chan, "from afar", 9, -1) == MAPIPC_OK ? 0 : 1);
    }
    CHECK_OK(mapipc_channel_fd(chan, &fd));
    CHECK(!readable(fd, 0));
    sp_post(&go);
    CHECK(readable(fd, 10000));
    CHECK(check_wait(pid) == 0);
    char buf[16];
    size_t len = 0;
    CHECK_OK(mapipc_channel_recv(chan, buf, sizeof buf, &len, 0));
    CHECK(len == 9);
    /* The sender's process has exited: a recv would not wait (CLOSED). */
    CHECK(readable(fd, 10000));
    CHECK_STATUS(mapipc_channel_recv(chan, buf, sizeof buf, &len, 0), MAPIPC_ERR_CLOSED, EPIPE);
    close(fd);
    sp_close(&go);
    CHECK_OK(mapipc_unmap(chan));
}

/* 1,000 round trips where the parent always blocks in epoll_wait on its
 * channel's descriptor: no wakeup is lost. */
static void thousand_wakeups(void) {
    char *mem = NULL;
    CHECK_OK(mapipc_map_anonymous(2 * 8192, MAPIPC_WRITE, (void **)&mem));
    void *to_parent = mem, *to_child = mem + 8192;
    CHECK_OK(mapipc_channel_init(to_parent, 8192));
    CHECK_OK(mapipc_channel_init(to_child, 8192));
    enum { ROUNDS = 1000 };
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        for (uint32_t i = 0; i < ROUNDS; i++) {
            uint32_t v = 0;
            size_t len;
            if (mapipc_channel_send(to_parent, &i, sizeof i, -1) != MAPIPC_OK) _exit(1);
            if (mapipc_channel_recv(to_child, &v, sizeof v, &len, -1) != MAPIPC_OK || v != i) _exit(2);
        }
        _exit(0);
    }
    int fd = -1;
    CHECK_OK(mapipc_channel_fd(to_parent, &fd));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1};
    REQUIRE(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
    uint32_t done = 0;
    for (uint32_t i = 0; i < ROUNDS; i++) {
        struct epoll_event out;
        int n;
        do {
            n = epoll_wait(ep, &out, 1, 10000);
        } while (n < 0 && errno == EINTR);
        if (n != 1) break;
        uint32_t v = 0;
        size_t len;
        if (mapipc_channel_recv(to_parent, &v, sizeof v, &len, 0) != MAPIPC_OK || v != i) break;
        if (mapipc_channel_send(to_child, &v, sizeof v, -1) != MAPIPC_OK) break;
        done++;
    }
    CHECK(done == ROUNDS);
    CHECK(check_wait(pid) == 0);
    close(ep);
    close(fd);
    CHECK_OK(mapipc_unmap(mem));
}

/* A thread receiving on a channel with a descriptor settles it under the
 * process's list of descriptor helpers, and the helper thread works under
 * a lock of its own: a fork at that instant gave the child those locks held
 * by threads it does not have, and its next receive (or its unmap of the
 * channel) waited forever. Children of a busy receiver must all finish. */
static volatile int busy_stop;

static void *receive_busily(void *chan) {
    char buf[8];
    size_t n = 0;
    while (!__atomic_load_n(&busy_stop, __ATOMIC_RELAXED)) {
        if (mapipc_channel_send(chan, "b", 1, -1) != MAPIPC_OK) return (void *)1;
        if (mapipc_channel_recv(chan, buf, sizeof buf, &n, -1) != MAPIPC_OK) return (void *)2;
    }
    return NULL;
}

static int child_receives_and_unmaps(void *region, void *other) {
    alarm(5);
    char buf[8];
    size_t n = 0;
    if (mapipc_channel_send(other, "c", 1, -1) != MAPIPC_OK) return 3;
    if (mapipc_channel_recv(other, buf, sizeof buf, &n, -1) != MAPIPC_OK || n != 1) return 4;
    if (mapipc_unmap(region) != MAPIPC_OK) return 5;
    return 0;
}

enum { BUSY = 4, CHAN = 8192 };

static void fork_while_a_descriptor_is_busy(void) {
    if (skip_under(UNDER_VALGRIND, "thousands of forks of a busy process")) return;
    void *r = NULL;
    CHECK_OK(mapipc_map_anonymous((BUSY + 1) * CHAN, MAPIPC_WRITE, &r));
    REQUIRE(r != NULL);
    void *other = (char *)r + BUSY * CHAN;
    CHECK_OK(mapipc_channel_init(other, CHAN));
    int fd[BUSY];
    pthread_t t[BUSY];
    for (int k = 0; k < BUSY; k++) {
        void *busy = (char *)r + k * CHAN;
        CHECK_OK(mapipc_channel_init(busy, CHAN));
        CHECK_OK(mapipc_channel_fd(busy, &fd[k]));
        REQUIRE(pthread_create(&t[k], NULL, receive_busily, busy) == 0);
    }
    int hung = 0, failed = 0;
    for (int k = 0; k < 3000 && hung + failed == 0; k++) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) _exit(child_receives_and_unmaps(r, other));
        int rc = check_wait(pid);
        if (rc == 128 + SIGALRM) hung++;
        else if (rc != 0) failed++;
    }
    __atomic_store_n(&busy_stop, 1, __ATOMIC_RELAXED);
    for (int k = 0; k < BUSY; k++) {
        void *ret = NULL;
        REQUIRE(pthread_join(t[k], &ret) == 0);
        CHECK(ret == NULL);
        CHECK(close(fd[k]) == 0);
    }
    CHECK(hung == 0);
    CHECK(failed == 0);
    CHECK_OK(mapipc_unmap(r));
}

int main(void) {
    RUN(readable_rules_one_sender);
    RUN(readable_rules_many_senders);
    RUN(woken_by_another_process_and_user);
    RUN(thousand_wakeups);
    RUN(fork_while_a_descriptor_is_busy);
    return check_done();
}
