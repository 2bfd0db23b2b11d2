/* Seed 003: anonymous mapping shared by parent and child; the child prints
 * what the parent copied in. A pipe replaces the original's sleep(1). */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab.h"

int main(void) {
    char *addr = NULL;
    int ready[2];
    TRY(mapipc_map_anonymous(2048, MAPIPC_READ | MAPIPC_WRITE, (void **)&addr));
    if (pipe(ready) != 0) {
        perror("pipe");
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid > 0) {
        memcpy(addr, "1234567890", 10);
        if (write(ready[1], "x", 1) != 1) return 1;
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    } else {
        char token;
        if (read(ready[0], &token, 1) != 1) _exit(1);
        printf("read father val=%s\n", addr); /* the mapping is zero-filled: terminated */
        fflush(stdout);
    }
    TRY(mapipc_unmap(addr));
    return 0;
}
