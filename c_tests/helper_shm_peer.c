/* The other side of the shared-memory tests: a separate program, started
 * with fork + exec, that finds the memory only by (path, proj_id) or by
 * name, reads the parent's request, answers it, and optionally removes it.
 *
 *   helper_shm_peer key PATH PROJ_ID [remove]
 *   helper_shm_peer name NAME [remove]
 *
 * Exit status 0 when the request was there and the answer written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapipc.h"

int main(int argc, char **argv) {
    char *p = NULL;
    mapipc_status s;
    int by_key = argc >= 4 && strcmp(argv[1], "key") == 0;
    int by_name = argc >= 3 && strcmp(argv[1], "name") == 0;
    const char *last = argv[argc - 1];
    int remove = (by_key && argc == 5 && strcmp(last, "remove") == 0) ||
                 (by_name && argc == 4 && strcmp(last, "remove") == 0);
    if (by_key)
        s = mapipc_shm_open_key(argv[2], atoi(argv[3]), 0, MAPIPC_READ | MAPIPC_WRITE, (void **)&p);
    else if (by_name)
        s = mapipc_shm_open_name(argv[2], 0, MAPIPC_READ | MAPIPC_WRITE, (void **)&p);
    else {
        fprintf(stderr, "usage: helper_shm_peer key PATH PROJ_ID [remove] | name NAME [remove]\n");
        return 2;
    }
    if (s != MAPIPC_OK) {
        fprintf(stderr, "peer: open: %s: %s\n", mapipc_status_name(s), mapipc_last_error());
        return 3;
    }
    if (strcmp(p, "request from parent") != 0) {
        fprintf(stderr, "peer: found \"%.40s\"\n", p);
        return 4;
    }
    strcpy(p + 100, "reply from peer");
    if ((s = mapipc_unmap(p)) != MAPIPC_OK) {
        fprintf(stderr, "peer: unmap: %s\n", mapipc_last_error());
        return 5;
    }
    if (remove) {
        s = by_key ? mapipc_shm_remove_key(argv[2], atoi(argv[3])) : mapipc_shm_unlink_name(argv[2]);
        if (s != MAPIPC_OK) {
            fprintf(stderr, "peer: remove: %s\n", mapipc_last_error());
            return 6;
        }
    }
    return 0;
}
