/* share_client: connects to share_server, receives its own memfd region
 * (mapipc_recv_region, MAPIPC_SEALED: it can never shrink under us), and
 * talks through the two channels in it: each line of standard input goes
 * to the server, each answer is printed. No name of any shared memory
 * anywhere; end of input closes the client's side.
 *
 * Usage: share_client SOCKET   (SOCKET as for share_server)
 * Build: cc -D_GNU_SOURCE share_client.c $(pkg-config --cflags --libs mapipc) */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <mapipc.h>

#include "share_protocol.h"

static int fail(const char *what) {
    fprintf(stderr, "share_client: %s: %s\n", what, mapipc_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: share_client SOCKET\n");
        return 2;
    }
    struct sockaddr_un addr;
    socklen_t addr_len;
    if (share_address(argv[1], &addr, &addr_len) != 0) return 2;
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, addr_len) != 0) {
        perror("share_client: connect");
        return 1;
    }
    char *region = NULL;
    mapipc_status st = mapipc_recv_region(sock, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_SEALED, 5000000000LL,
                                          (void **)&region);
    if (st != MAPIPC_OK) return fail("recv_region");
    /* sock stays open: its closing (however this process ends) tells the
     * server we are gone, even before our first message. */
    void *to_server = region + SHARE_TO_SERVER, *to_client = region + SHARE_TO_CLIENT;
    char line[SHARE_LINE], reply[SHARE_LINE + 64];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\n");
        if (mapipc_channel_send(to_server, line, n, -1) != MAPIPC_OK) return fail("send");
        size_t len;
        if (mapipc_channel_recv(to_client, reply, sizeof reply, &len, -1) != MAPIPC_OK) return fail("recv");
        printf("%.*s\n", (int)len, reply);
        fflush(stdout);
    }
    mapipc_channel_close(to_server);
    mapipc_unmap(region);
    close(sock);
    return 0;
}
