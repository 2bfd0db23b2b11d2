/* The file shared by sync_writer and sync_reader (seed 003's writer and
 * reader, without polling): a mutex and a counter in front of the data. */
#ifndef LAB_SYNC_FILE_H
#define LAB_SYNC_FILE_H

#include <stdint.h>

#include "lab.h"

#define DATA_LEN 2048

struct sync_file {
    mapipc_mutex lock; /* guards written and data */
    uint32_t written;  /* bytes written so far; also the word readers wait on */
    uint32_t pad[15];
    char data[DATA_LEN];
};

/* Maps FILE (created 0600 and sized if missing) and makes sure the mutex
 * exists: either side may start first, and both may call init at once. */
static inline struct sync_file *open_sync_file(const char *path) {
    struct sync_file *f = NULL;
    TRY(mapipc_map_file(path, 0, sizeof *f, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&f));
    TRY(mapipc_mutex_init(&f->lock));
    return f;
}

#endif
