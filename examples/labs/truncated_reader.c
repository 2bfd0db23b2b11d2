/* Seed 003's reader, while the writer truncates the file under it (as log
 * rotation or an editor would). Usage: truncated_reader FILE raw|copy|guarded
 *   raw:     reads through the pointer, as the original did: dies of SIGBUS;
 *   copy:    reads with mapipc_read: MAPIPC_ERR_TRUNCATED, exits cleanly;
 *   guarded: maps with MAPIPC_GUARDED: the vanished bytes read as zeros and
 *            mapipc_sync reports MAPIPC_ERR_TRUNCATED; exits cleanly.
 * The "writer" is a child process that truncates FILE to 0 bytes; the
 * reader waits for it to finish (waitpid), not for a second to pass. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab.h"

#define LEN 2048

static void writer_truncates(const char *path) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(truncate(path, 0) == 0 ? 0 : 1);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        perror("truncating writer");
        exit(1);
    }
    printf("the writer truncated %s to 0 bytes\n", path);
}

int main(int argc, char *argv[]) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s FILE raw|copy|guarded\n", argv[0]);
        return 2;
    }
    const char *mode = argv[2];
    uint32_t flags = MAPIPC_READ | (strcmp(mode, "guarded") == 0 ? MAPIPC_GUARDED : 0);
    char *addr = NULL;
    char buf[LEN + 1] = {0};
    TRY(mapipc_map_file(argv[1], 0, LEN, flags, (void **)&addr));
    TRY(mapipc_read(addr, buf, 10));
    printf("before: read=%s\n", buf);
    writer_truncates(argv[1]);
    fflush(stdout);
    if (strcmp(mode, "raw") == 0) {
        printf("after: read=%.10s\n", addr); /* SIGBUS: the page is gone */
    } else if (strcmp(mode, "copy") == 0) {
        mapipc_status st = mapipc_read(addr, buf, LEN);
        printf("after: mapipc_read: %s: %s\n", mapipc_status_name(st), mapipc_last_error());
    } else {
        printf("after: first byte is now %d (zeros where the file was)\n", addr[0]);
        mapipc_status st = mapipc_sync(addr, 0, 0);
        printf("after: mapipc_sync: %s: %s\n", mapipc_status_name(st), mapipc_last_error());
    }
    TRY(mapipc_unmap(addr));
    return 0;
}
