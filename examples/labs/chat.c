/* Seed 004, the mapped-file chat: `chat FILE write` copies lines from stdin
 * into the mapping until end of input; `chat FILE read` prints what the
 * mapping holds. The original opened with O_CREAT and no mode, mapped 20
 * bytes of a possibly empty file, and looped forever with sleep(1).
 * Usage: chat FILE read|write */
#include <string.h>

#include "lab.h"

#define MAX_INPUT_LENGTH 20

int main(int argc, char **argv) {
    char *shared_mem = NULL;
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE read|write\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[2], "read") == 0) {
        char text[MAX_INPUT_LENGTH];
        TRY(mapipc_map_file(argv[1], 0, MAX_INPUT_LENGTH, MAPIPC_READ, (void **)&shared_mem));
        memcpy(text, shared_mem, MAX_INPUT_LENGTH);
        text[MAX_INPUT_LENGTH - 1] = '\0';
        printf("%s", text);
        TRY(mapipc_unmap(shared_mem));
    } else if (strcmp(argv[2], "write") == 0) {
        TRY(mapipc_map_file(argv[1], 0, MAX_INPUT_LENGTH, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE,
                            (void **)&shared_mem));
        while (fgets(shared_mem, MAX_INPUT_LENGTH, stdin) != NULL) {
        }
        TRY(mapipc_unmap(shared_mem));
    } else {
        fprintf(stderr, "Unrecognized command\n");
        return 2;
    }
    return 0;
}
