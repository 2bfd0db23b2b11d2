/* The other end of test_channel's exec'd cases: opens a channel in named
 * shared memory on its own and receives (or sends) the mixed stream.
 * Usage: helper_channel_peer posix NAME recv|send COUNT
 *        helper_channel_peer sysv KEYFILE recv|send COUNT
 * Exit status 0 if all COUNT messages went through byte-exact, in order. */
#include <stdio.h>
#include <stdlib.h>

#include "channel_util.h"

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: helper_channel_peer posix|sysv NAME recv|send COUNT\n");
        return 2;
    }
    void *mem = NULL;
    mapipc_status st = strcmp(argv[1], "posix") == 0
                           ? mapipc_shm_open_name(argv[2], 0, MAPIPC_WRITE, &mem)
                           : mapipc_shm_open_key(argv[2], 3, 0, MAPIPC_WRITE, &mem);
    if (st != MAPIPC_OK) {
        fprintf(stderr, "helper: open: %s\n", mapipc_last_error());
        return 3;
    }
    /* Both ends may init: a no-op on the existing channel. */
    if (mapipc_channel_init(mem, 0) != MAPIPC_OK) {
        fprintf(stderr, "helper: init: %s\n", mapipc_last_error());
        return 4;
    }
    uint32_t count = (uint32_t)strtoul(argv[4], NULL, 10);
    int ok;
    if (strcmp(argv[3], "recv") == 0) {
        uint32_t got = recv_mixed(mem, 0, count, 30000000000LL);
        ok = got == count;
        if (!ok) fprintf(stderr, "helper: message %u wrong or missing: %s\n", got, mapipc_last_error());
    } else {
        ok = send_mixed(mem, 0, count) == MAPIPC_OK;
        if (!ok) fprintf(stderr, "helper: send: %s\n", mapipc_last_error());
    }
    mapipc_unmap(mem);
    return ok ? 0 : 1;
}
