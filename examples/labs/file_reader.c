/* Seed 003, the file-based reader: prints what the mapped file "test"
 * holds, once (the original printed forever, once a second). A missing or
 * short file is reported, not a SIGBUS. Usage: file_reader FILE */
#include "lab.h"

#define LEN 2048

int main(int argc, char *argv[]) {
    char *addr = NULL;
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    TRY(mapipc_map_file(argv[1], 0, LEN, MAPIPC_READ, (void **)&addr));
    /* The bytes need not end in NUL: print at most LEN of them. */
    printf("read=%.*s\n", LEN, addr);
    TRY(mapipc_unmap(addr));
    return 0;
}
