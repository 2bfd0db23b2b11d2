/* Channel defects an adversarial read found: two processes that cannot
 * tell their PID namespace (no /proc) took each other's pids as
 * comparable, and a receiver in another namespace got a spurious CLOSED. */
#include <sched.h>

#include "channel_util.h"
#include "sync_util.h"

static int receive_two(void *chan) {
    char buf[16];
    size_t n = 0;
    if (mapipc_channel_recv(chan, buf, sizeof buf, &n, -1) != MAPIPC_OK || n != 3) return 1;
    /* The sender's pid means nothing here, and neither side could say
     * which namespace it is in: not a reason to say CLOSED. */
    mapipc_status st = mapipc_channel_recv(chan, buf, sizeof buf, &n, 20000000000LL);
    if (st != MAPIPC_OK) {
        fprintf(stderr, "  receiver: %s: %s\n", mapipc_status_name(st), mapipc_last_error());
        return 2;
    }
    return n == 3 && memcmp(buf, "two", 3) == 0 ? 0 : 3;
}

static int send_to_other_namespace(void *chan) {
    if (mapipc_channel_send(chan, "one", 3, -1) != MAPIPC_OK) return 50;
    pid_t child = fork_in_new_pid_namespace(receive_two, chan);
    /* Until the receiver sleeps, or (wrongly) has given up. */
    int status = -1;
    while (chan_field(chan, CHAN_RECV_SLEEPING) == 0) {
        pid_t done = waitpid(child, &status, WNOHANG);
        if (done < 0) return 51;
        if (done == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 52;
        sched_yield();
    }
    if (mapipc_channel_send(chan, "two", 3, -1) != MAPIPC_OK) return 53;
    return check_wait(child);
}

static void no_false_close_when_namespaces_are_unknown(void) {
    if (!can_unshare_pid()) {
        printf("# skipped: no new PID namespace here (needs root)\n");
        return;
    }
    void *chan = anon(8192);
    CHECK_OK(mapipc_channel_init(chan, 0));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(hide_proc() ? send_to_other_namespace(chan) : 99);
    int rc = check_wait(pid);
    if (rc == 99)
        printf("# skipped: cannot hide /proc here (needs a private mount namespace)\n");
    else
        CHECK(rc == 0);
    CHECK_OK(mapipc_unmap(chan));
}

int main(void) {
    RUN(no_false_close_when_namespaces_are_unknown);
    return check_done();
}
