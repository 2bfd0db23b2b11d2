/* Seed 000, write.c: writes a random integer into a memory-mapped file.
 * Usage: mmap_write FILE */
#include <time.h>
#include <unistd.h>

#include "lab.h"

#define FILE_LENGTH 0x100

/* A random number in [low, high]. */
static int random_between(int low, int high) {
    unsigned range = (unsigned)(high - low + 1);
    return low + (int)((double)range * rand() / (RAND_MAX + 1.0));
}

int main(int argc, char *argv[]) {
    char *memory = NULL;
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    /* Created 0600 and sized with real blocks if missing or short: no
     * lseek + write of one byte, no unchecked MAP_FAILED. */
    TRY(mapipc_map_file(argv[1], 0, FILE_LENGTH, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE,
                        (void **)&memory));
    int value = random_between(-100, 100);
    snprintf(memory, FILE_LENGTH, "%d\n", value);
    printf("Wrote integer: %d\n", value);
    TRY(mapipc_unmap(memory));
    return 0;
}
