/* share_server: shared memory with no name anywhere. It listens on a UNIX
 * socket; each client that connects gets its own memfd region holding two
 * channels (one each way), sent over the connection with
 * mapipc_send_region. From then on they talk through the region alone.
 * The server answers every line with what it heard and a count.
 *
 * Usage: share_server SOCKET [CLIENTS]
 *   SOCKET   a path, or @name for Linux's abstract namespace (no file)
 *   CLIENTS  serve that many clients, wait for them, then exit (default:
 *            serve for ever)
 * Prints "listening on SOCKET" once clients may connect. Each client is
 * served by a child process, which dies with the server (PR_SET_PDEATHSIG).
 * Build: cc -D_GNU_SOURCE share_server.c $(pkg-config --cflags --libs mapipc) */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mapipc.h>

#include "share_protocol.h"

static int fail(const char *what) {
    fprintf(stderr, "share_server: %s: %s\n", what, mapipc_last_error());
    return 1;
}

/* One client: make its region, send it, then answer until it closes. */
static int serve(int conn, unsigned client) {
    char label[64];
    snprintf(label, sizeof label, "share_server client %u", client);
    char *region = NULL;
    if (mapipc_memfd(label, SHARE_REGION_SIZE, MAPIPC_READ | MAPIPC_WRITE, (void **)&region) != MAPIPC_OK)
        return fail("memfd");
    void *to_server = region + SHARE_TO_SERVER, *to_client = region + SHARE_TO_CLIENT;
    if (mapipc_channel_init(to_server, SHARE_CHANNEL_SIZE) != MAPIPC_OK ||
        mapipc_channel_init(to_client, SHARE_CHANNEL_SIZE) != MAPIPC_OK)
        return fail("channel_init");
    /* 5 s for the client to take the region. The connection stays open
     * only to tell when the client is gone before it sent anything (from
     * its first message on, the channel itself notices). */
    if (mapipc_send_region(conn, region, 5000000000LL) != MAPIPC_OK) return fail("send_region");
    char line[SHARE_LINE], reply[SHARE_LINE + 64];
    size_t len;
    mapipc_status st;
    unsigned heard = 0;
    for (;;) {
        st = mapipc_channel_recv(to_server, line, sizeof line, &len, 200000000);
        if (st == MAPIPC_ERR_TIMED_OUT) {
            struct pollfd gone = {conn, POLLIN, 0};
            if (poll(&gone, 1, 0) == 1 && (gone.revents & (POLLHUP | POLLERR))) break;
            continue;
        }
        if (st != MAPIPC_OK) break;
        int n = snprintf(reply, sizeof reply, "client %u, line %u: %.*s", client, ++heard, (int)len, line);
        if (mapipc_channel_send(to_client, reply, (size_t)n, -1) != MAPIPC_OK) break;
    }
    close(conn);
    /* CLOSED: the client closed its side or exited; either ends the talk. */
    mapipc_channel_close(to_client);
    mapipc_unmap(region);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: share_server SOCKET [CLIENTS]\n");
        return 2;
    }
    unsigned max = argc == 3 ? (unsigned)strtoul(argv[2], NULL, 10) : 0;
    struct sockaddr_un addr;
    socklen_t addr_len;
    if (share_address(argv[1], &addr, &addr_len) != 0) {
        fprintf(stderr, "share_server: socket name too long\n");
        return 2;
    }
    int lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, addr_len) != 0 || listen(lsock, 16) != 0) {
        perror("share_server: listen");
        return 1;
    }
    printf("listening on %s\n", argv[1]);
    fflush(stdout);
    pid_t self = getpid();
    for (unsigned client = 1; max == 0 || client <= max; client++) {
        int conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            perror("share_server: accept");
            break;
        }
        pid_t pid = fork();
        if (pid == 0) {
            /* The child ends with the server, however the server ends. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != self) _exit(1);
            close(lsock);
            _exit(serve(conn, client));
        }
        close(conn);
        if (pid < 0) perror("share_server: fork");
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
    }
    close(lsock);
    if (argv[1][0] != '@') unlink(argv[1]);
    int status, rc = 0;
    while (wait(&status) > 0) rc |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    printf("served %u clients\n", max);
    return rc;
}
