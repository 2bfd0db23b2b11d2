/* Seed 000, read.c: reads the integer from a mapped file, prints it and
 * writes back its double. Usage: mmap_read FILE */
#include <string.h>

#include "lab.h"

#define FILE_LENGTH 0x100

int main(int argc, char *const argv[]) {
    char *memory = NULL;
    char text[FILE_LENGTH + 1];
    int integer;
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    /* A missing or short file is a clear error here, not SIGBUS later. */
    TRY(mapipc_map_file(argv[1], 0, FILE_LENGTH, MAPIPC_READ | MAPIPC_WRITE, (void **)&memory));
    /* The original called scanf (stdin!) where it meant sscanf, on memory
     * that need not hold a terminating NUL. */
    memcpy(text, memory, FILE_LENGTH);
    text[FILE_LENGTH] = '\0';
    if (sscanf(text, "%d", &integer) != 1) {
        fprintf(stderr, "%s holds no integer\n", argv[1]);
        mapipc_unmap(memory);
        return 1;
    }
    printf("Read integer: %d\n", integer);
    snprintf(memory, FILE_LENGTH, "%d\n", 2 * integer);
    TRY(mapipc_unmap(memory));
    return 0;
}
