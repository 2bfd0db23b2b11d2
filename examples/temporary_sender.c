/* temporary_sender: creates a temporary POSIX object (MAPIPC_TEMPORARY:
 * it goes with its last user, however that user ends), starts a channel in
 * it, sends COUNT messages nobody receives yet, prints "ready NAME" and
 * waits for the end of its standard input. Kill it with SIGKILL and the
 * object is stale: `mapipc ls` says so, and `mapipc gc` (or the next
 * lookup of the name) removes it. make demo uses it.
 *
 * Usage: temporary_sender /NAME [COUNT]
 * Build: cc -D_GNU_SOURCE temporary_sender.c $(pkg-config --cflags --libs mapipc) */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mapipc.h>

#define SIZE (64 * 1024)

static int fail(const char *what) {
    fprintf(stderr, "temporary_sender: %s: %s\n", what, mapipc_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: temporary_sender /NAME [COUNT]\n");
        return 2;
    }
    int count = argc == 3 ? atoi(argv[2]) : 3;
    void *mem = NULL;
    uint32_t flags = MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE | MAPIPC_TEMPORARY;
    if (mapipc_shm_open_name(argv[1], SIZE, flags, &mem) != MAPIPC_OK) return fail(argv[1]);
    if (mapipc_channel_init(mem, SIZE) != MAPIPC_OK) return fail("channel_init");
    for (int i = 1; i <= count; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "message %d", i);
        if (mapipc_channel_send(mem, msg, (size_t)len, 0) != MAPIPC_OK) return fail("channel_send");
    }
    printf("ready %s\n", argv[1]);
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
    /* A clean end removes the object at once: this process is its last user. */
    if (mapipc_unmap(mem) != MAPIPC_OK) return fail("unmap");
    return 0;
}
