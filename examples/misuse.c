/* misuse: the mistakes of the lab programs, made on purpose. Each comes
 * back as a status and a message instead of a crash. */
#include <stdio.h>
#include <unistd.h>

#include <mapipc.h>

static void show(const char *what, mapipc_status s) {
    printf("   %-32s -> %s: %s\n", what, mapipc_status_name(s), mapipc_last_error());
}

int main(void) {
    void *p = NULL;
    FILE *f = fopen("empty.dat", "w");
    if (!f || fclose(f) != 0) return 1;
    f = fopen("short.dat", "w");
    if (!f || fputs("64 bytes? no, 16", f) < 0 || fclose(f) != 0) return 1;

    show("2048 bytes of an empty file", mapipc_map_file("empty.dat", 0, 2048, MAPIPC_READ | MAPIPC_WRITE, &p));
    show("2048 bytes of a 16-byte file", mapipc_map_file("short.dat", 0, 2048, MAPIPC_READ, &p));
    show("mapping a directory", mapipc_map_file(".", 0, 0, MAPIPC_READ, &p));
    show("attaching a missing segment", mapipc_shm_open_key("short.dat", 100, 512, MAPIPC_READ, &p));

    mapipc_status s = mapipc_map_file("short.dat", 0, 0, MAPIPC_READ, &p);
    if (s != MAPIPC_OK) return 1;
    show("msync with MS_SYNC | MS_ASYNC", mapipc_sync(p, 0, MAPIPC_SYNC_BLOCKING | MAPIPC_SYNC_ASYNC));
    show("unmapping an interior pointer", mapipc_unmap((char *)p + 1));
    if (mapipc_unmap(p) != MAPIPC_OK) return 1;
    show("unmapping twice", mapipc_unmap(p));

    unlink("empty.dat");
    unlink("short.dat");
    return 0;
}
