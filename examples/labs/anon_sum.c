/* Seed 002: parent and child share anonymous memory; the child prints the
 * sum of what the parent wrote (30). The original made the child sleep(1)
 * and hope; here a pipe tells it when the values are there. */
#include <sys/wait.h>
#include <unistd.h>

#include "lab.h"

int main(void) {
    int *shared = NULL;
    int ready[2];
    TRY(mapipc_map_anonymous(100 * sizeof(int), MAPIPC_READ | MAPIPC_WRITE, (void **)&shared));
    if (pipe(ready) != 0) {
        perror("pipe");
        return 1;
    }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child > 0) {
        shared[0] = 10;
        shared[1] = 20;
        if (write(ready[1], "x", 1) != 1) return 1;
        int status;
        if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    } else {
        char token;
        if (read(ready[0], &token, 1) != 1) _exit(1);
        printf("%d\n", shared[1] + shared[0]);
        fflush(stdout);
    }
    TRY(mapipc_unmap(shared));
    return 0;
}
