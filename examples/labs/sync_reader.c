/* Seed 003's file reader, coordinated: sleeps until FILE holds COUNT bytes
 * (woken by the writer, no polling), then prints them once. If the writer
 * died holding the lock, says so and repairs the counter from the data.
 * Gives up after 30 s without progress. Usage: sync_reader FILE COUNT */
#include <string.h>

#include "sync_file.h"

/* Locks, repairing the shared state if a writer died holding the lock. */
static void lock(struct sync_file *f) {
    mapipc_status st = mapipc_mutex_lock(&f->lock, -1);
    if (st == MAPIPC_ERR_OWNER_DIED) {
        uint32_t n = 0;
        while (n < DATA_LEN && f->data[n] == 'a') n++;
        fprintf(stderr, "the writer died holding the lock; %u bytes are there\n", n);
        __atomic_store_n(&f->written, n, __ATOMIC_RELEASE);
        TRY(mapipc_mutex_consistent(&f->lock));
        return;
    }
    TRY(st);
}

int main(int argc, char *argv[]) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE COUNT\n", argv[0]);
        return 2;
    }
    uint32_t want = (uint32_t)atoi(argv[2]);
    if (want > DATA_LEN) want = DATA_LEN;
    struct sync_file *f = open_sync_file(argv[1]);
    uint32_t seen;
    while ((seen = __atomic_load_n(&f->written, __ATOMIC_ACQUIRE)) < want) {
        mapipc_status st = mapipc_wait(&f->written, seen, 30000000000LL);
        if (st == MAPIPC_ERR_TIMED_OUT) {
            fprintf(stderr, "no progress for 30 s: %u of %u bytes\n", seen, want);
            return 1;
        }
        TRY(st);
    }
    lock(f);
    printf("read=%.*s\n", (int)f->written, f->data);
    TRY(mapipc_mutex_unlock(&f->lock));
    TRY(mapipc_unmap(f));
    return 0;
}
