/* Seed 004's pipe example with a mapipc channel in place of pipe(): the
 * child sends "test" (5 bytes, with its NUL), the parent receives it. As
 * with a pipe, the parent's receive waits for the message; unlike a pipe,
 * the bytes never pass through the kernel. */
#include <sys/wait.h>
#include <unistd.h>

#include "lab.h"

int main(void) {
    void *chan = NULL;
    char buf[30];
    size_t len = 0;
    TRY(mapipc_map_anonymous(4096, MAPIPC_READ | MAPIPC_WRITE, &chan));
    TRY(mapipc_channel_init(chan, 0));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        printf(" CHILD: writing to the channel\n");
        TRY(mapipc_channel_send(chan, "test", 5, -1));
        printf(" CHILD: exiting\n");
        return 0;
    }
    printf("PARENT: reading from the channel\n");
    TRY(mapipc_channel_recv(chan, buf, sizeof buf, &len, -1));
    printf("PARENT: read \"%s\"\n", buf);
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    TRY(mapipc_unmap(chan));
    return 0;
}
