/* Seed 003's file writer, coordinated: writes COUNT bytes of 'a' into FILE,
 * each under the file's mutex, and wakes any reader after each one. The
 * original looped with sleep(1). Usage: sync_writer FILE COUNT */
#include "sync_file.h"

int main(int argc, char *argv[]) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE COUNT\n", argv[0]);
        return 2;
    }
    int count = atoi(argv[2]);
    if (count < 0 || count > DATA_LEN) count = DATA_LEN;
    struct sync_file *f = open_sync_file(argv[1]);
    for (int i = 0; i < count; i++) {
        TRY(mapipc_mutex_lock(&f->lock, -1));
        f->data[i] = 'a';
        __atomic_store_n(&f->written, (uint32_t)i + 1, __ATOMIC_RELEASE);
        TRY(mapipc_mutex_unlock(&f->lock));
        TRY(mapipc_wake(&f->written, UINT32_MAX));
    }
    TRY(mapipc_unmap(f));
    return 0;
}
