/* Seed 003, the file-based writer: writes 'a' into the mapped file "test"
 * one byte at a time. The original mapped 2048 bytes of a file that might
 * be empty (SIGBUS) and looped with sleep(1); this one creates and sizes
 * the file and stops after COUNT bytes. Usage: file_writer FILE [COUNT] */
#include <string.h>

#include "lab.h"

#define LEN 2048

int main(int argc, char *argv[]) {
    char *addr = NULL;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [COUNT]\n", argv[0]);
        return 2;
    }
    int count = argc > 2 ? atoi(argv[2]) : LEN;
    if (count < 0 || count > LEN) count = LEN;
    TRY(mapipc_map_file(argv[1], 0, LEN, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&addr));
    for (int i = 0; i < count; i++) memcpy(addr + i, "a", 1);
    TRY(mapipc_unmap(addr));
    return 0;
}
