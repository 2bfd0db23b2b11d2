/* Seed 001, exercise 1: copy a file with a mapped read and a mapped write.
 * Usage: copy_mapped SRC DST */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "lab.h"

int main(int argc, char *argv[]) {
    char *src = NULL, *dst = NULL;
    size_t size = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: %s SRC DST\n", argv[0]);
        return 2;
    }
    /* Start DST empty (mode 0600); the mapping below gives it its size. */
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || close(fd) != 0) {
        perror(argv[2]);
        return 1;
    }
    mapipc_status s = mapipc_map_file(argv[1], 0, 0, MAPIPC_READ, (void **)&src);
    if (s == MAPIPC_ERR_EMPTY_FILE) return 0; /* nothing to copy: DST is empty too */
    TRY(s);
    TRY(mapipc_region_size(src, &size));
    TRY(mapipc_map_file(argv[2], 0, size, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&dst));
    memcpy(dst, src, size);
    TRY(mapipc_sync(dst, 0, MAPIPC_SYNC_BLOCKING));
    TRY(mapipc_unmap(dst));
    TRY(mapipc_unmap(src));
    return 0;
}
