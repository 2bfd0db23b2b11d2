/* Seed 004, shmdemo: with an argument, writes it into the segment; without,
 * prints what the segment holds; -r removes the segment (the original had
 * no way to, so its segment outlived every run). The original's key file
 * was its own source, "shmdemo.c"; here it is "shmdemo.key", created if
 * missing. Usage: shmdemo [TEXT | -r] */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "lab.h"

#define KEYFILE "shmdemo.key"
#define SHM_SIZE 1024

int main(int argc, char *argv[]) {
    char *data = NULL;
    int fd = open(KEYFILE, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || close(fd) != 0) {
        perror(KEYFILE);
        return 1;
    }
    if (argc == 2 && strcmp(argv[1], "-r") == 0) {
        TRY(mapipc_shm_remove_key(KEYFILE, 'R'));
        printf("segment removed\n");
        return 0;
    }
    /* 0600, not the original's 0644. */
    TRY(mapipc_shm_open_key(KEYFILE, 'R', SHM_SIZE, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&data));
    if (argc == 2) {
        printf("writing to segment: \"%s\"\n", argv[1]);
        /* strncpy left the text unterminated when it filled the segment. */
        snprintf(data, SHM_SIZE, "%s", argv[1]);
    } else {
        printf("segment contains: \"%.*s\"\n", SHM_SIZE, data);
    }
    TRY(mapipc_unmap(data));
    return 0;
}
