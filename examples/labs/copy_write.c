/* Seed 001, exercise 2: copy a file with a mapped read and write(2).
 * Usage: copy_write SRC DST */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "lab.h"

int main(int argc, char *argv[]) {
    char *src = NULL;
    size_t size = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: %s SRC DST\n", argv[0]);
        return 2;
    }
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(argv[2]);
        return 1;
    }
    mapipc_status s = mapipc_map_file(argv[1], 0, 0, MAPIPC_READ, (void **)&src);
    if (s == MAPIPC_ERR_EMPTY_FILE) return close(fd) == 0 ? 0 : 1;
    TRY(s);
    TRY(mapipc_region_size(src, &size));
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, src + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            perror("write");
            return 1;
        }
        done += (size_t)n;
    }
    TRY(mapipc_unmap(src));
    if (close(fd) != 0) {
        perror("close");
        return 1;
    }
    return 0;
}
