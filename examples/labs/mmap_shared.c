/* Seed 001, mmap_shared.c: fills a 1 MiB shared file mapping with the
 * alphabet and shows the mapping's line from /proc/self/maps (rw-s: shared
 * and writable, with the file's inode). Usage: mmap_shared [FILE] */
#include <stdint.h>
#include <string.h>

#include "lab.h"

#define SZ (1024 * 1024)

/* Prints the /proc/self/maps line of the mapping that starts at `start`. */
static int print_maps_line(const void *start) {
    char line[512];
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return -1;
    int found = -1;
    while (fgets(line, sizeof line, maps)) {
        /* Addresses are zero-padded hex: compare numbers, not text. */
        if (strtoul(line, NULL, 16) == (unsigned long)(uintptr_t)start) {
            printf("maps: %s", line);
            found = 0;
            break;
        }
    }
    fclose(maps);
    return found;
}

int main(int argc, char *argv[]) {
    const char *path = argc > 1 ? argv[1] : "./lmfile";
    char *buf = NULL;
    /* The original needed `truncate -s 1G` first (and named the file
     * "1mfile" there, "lmfile" in the code); CREATE sizes it. */
    TRY(mapipc_map_file(path, 0, SZ, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&buf));
    for (int i = 0; i < SZ; i++) buf[i] = (char)(65 + i % 26);
    if (print_maps_line(buf) != 0) {
        fprintf(stderr, "mapping not found in /proc/self/maps\n");
        return 1;
    }
    TRY(mapipc_sync(buf, 0, MAPIPC_SYNC_BLOCKING));
    TRY(mapipc_unmap(buf));
    return 0;
}
