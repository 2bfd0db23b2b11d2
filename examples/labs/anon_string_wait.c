/* Seed 003's anonymous string, coordinated with a mutex and a wake-up in
 * the shared memory instead of sleep(1): the parent copies "1234567890"
 * under the lock and wakes the child, which prints it. */
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab.h"

struct shared {
    mapipc_mutex lock;  /* guards text and length */
    uint32_t length;    /* also the word the child waits on */
    char text[64];
};

int main(void) {
    struct shared *s = NULL;
    TRY(mapipc_map_anonymous(sizeof *s, MAPIPC_READ | MAPIPC_WRITE, (void **)&s));
    TRY(mapipc_mutex_init(&s->lock));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid > 0) {
        TRY(mapipc_mutex_lock(&s->lock, -1));
        memcpy(s->text, "1234567890", 10);
        __atomic_store_n(&s->length, 10, __ATOMIC_RELEASE);
        TRY(mapipc_mutex_unlock(&s->lock));
        TRY(mapipc_wake(&s->length, 1));
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    } else {
        while (__atomic_load_n(&s->length, __ATOMIC_ACQUIRE) == 0) TRY(mapipc_wait(&s->length, 0, -1));
        TRY(mapipc_mutex_lock(&s->lock, -1));
        printf("read father val=%.*s\n", (int)s->length, s->text);
        TRY(mapipc_mutex_unlock(&s->lock));
        fflush(stdout);
    }
    TRY(mapipc_unmap(s));
    return 0;
}
