/* The other process of test_share_pass's exec'd cases: it gets the socket
 * as an inherited descriptor and knows nothing else (no name anywhere).
 * Usage: helper_share_peer SOCKFD serve COUNT   receive the shared region,
 *            add 1 to its counter COUNT times under its mutex, then echo
 *            COUNT messages from one channel to the other
 *        helper_share_peer SOCKFD send          send a memfd holding
 *            "peer data", then wait to be killed
 *        helper_share_peer SOCKFD idle          never read; wait to be killed
 * Exit status 0 if everything went as expected. */
#include <stdint.h>
#include <stdlib.h>

#include "channel_util.h"
#include "share_util.h"

static int serve(int sock, uint32_t count) {
    /* Nothing of the parent's regions came through exec. */
    if (count_memfds() != 0) return 10;
    void *mem = NULL;
    if (mapipc_recv_region(sock, MAPIPC_WRITE | MAPIPC_SEALED, 30000000000LL, &mem) != MAPIPC_OK) {
        fprintf(stderr, "helper: recv_region: %s\n", mapipc_last_error());
        return 11;
    }
    if (count_memfds() != 1) return 12;
    char *base = mem;
    mapipc_mutex *m = (mapipc_mutex *)(base + SHARED_MUTEX);
    volatile uint64_t *counter = (volatile uint64_t *)(base + SHARED_COUNTER);
    for (uint32_t i = 0; i < count; i++) {
        if (mapipc_mutex_lock(m, -1) != MAPIPC_OK) return 13;
        *counter += 1;
        if (mapipc_mutex_unlock(m) != MAPIPC_OK) return 14;
    }
    static unsigned char buf[MIXED_MAX];
    for (uint32_t i = 0; i < count; i++) {
        size_t len = 0;
        if (mapipc_channel_recv(base + SHARED_TO_PEER, buf, sizeof buf, &len, 30000000000LL) != MAPIPC_OK)
            return 15;
        if (!mixed_check(i, buf, len)) return 16;
        if (mapipc_channel_send(base + SHARED_FROM_PEER, buf, len, 30000000000LL) != MAPIPC_OK) return 17;
    }
    return mapipc_unmap(mem) == MAPIPC_OK ? 0 : 18;
}

static int send_and_wait(int sock) {
    void *mem = NULL;
    if (mapipc_memfd("peer", 8192, MAPIPC_WRITE, &mem) != MAPIPC_OK) return 20;
    strcpy(mem, "peer data");
    if (mapipc_send_region(sock, mem, -1) != MAPIPC_OK) return 21;
    char c;
    /* Killed while blocked here; a read that ends means the test broke. */
    return read(sock, &c, 1) >= 0 ? 22 : 23;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: helper_share_peer SOCKFD serve COUNT|send|idle\n");
        return 2;
    }
    int sock = atoi(argv[1]);
    if (strcmp(argv[2], "serve") == 0 && argc == 4) return serve(sock, (uint32_t)strtoul(argv[3], NULL, 10));
    if (strcmp(argv[2], "send") == 0) return send_and_wait(sock);
    if (strcmp(argv[2], "idle") == 0) {
        for (;;) pause();
    }
    return 2;
}
