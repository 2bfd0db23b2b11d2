/* Seed 003, the System V reader: prints the segment of ftok("keytest", 100),
 * detaches and removes it. Run before any writer, it reports the missing
 * segment. Usage: sysv_reader [KEYFILE] */
#include "lab.h"

int main(int argc, char *argv[]) {
    const char *keyfile = argc > 1 ? argv[1] : "keytest";
    char *buf = NULL;
    TRY(mapipc_shm_open_key(keyfile, 100, 0, MAPIPC_READ, (void **)&buf));
    printf("share mem=%.512s\n", buf);
    TRY(mapipc_unmap(buf));
    TRY(mapipc_shm_remove_key(keyfile, 100));
    return 0;
}
