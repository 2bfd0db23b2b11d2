/* quickstart: map a file (creating it), write through the mapping, sync,
 * unmap, and show what a misuse looks like. Build:
 *   cc quickstart.c $(pkg-config --cflags --libs mapipc) */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mapipc.h>

int main(void) {
    const char *path = "quickstart.dat";
    char *p = NULL;

    /* 4 KiB, created mode 0600 with real blocks if it does not exist. */
    mapipc_status s = mapipc_map_file(path, 0, 4096,
                                      MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE,
                                      (void **)&p);
    if (s != MAPIPC_OK) {
        fprintf(stderr, "map: %s: %s\n", mapipc_status_name(s), mapipc_last_error());
        return 1;
    }
    strcpy(p, "hello through a mapping");
    s = mapipc_sync(p, 0, MAPIPC_SYNC_BLOCKING);
    if (s != MAPIPC_OK) {
        fprintf(stderr, "sync: %s\n", mapipc_last_error());
        return 1;
    }
    printf("wrote \"%s\" to %s\n", p, path);
    if (mapipc_unmap(p) != MAPIPC_OK) {
        fprintf(stderr, "unmap: %s\n", mapipc_last_error());
        return 1;
    }

    /* A mistake: unmapping twice. mapipc says so instead of corrupting memory. */
    s = mapipc_unmap(p);
    printf("second unmap: %s: %s\n", mapipc_status_name(s), mapipc_last_error());
    p = NULL;

    unlink(path);
    return s == MAPIPC_ERR_NOT_MAPPED ? 0 : 1;
}
