/* Seed 002 again, coordinated through the shared memory itself: the parent
 * writes 10 and 20, then bumps a "ready" word and wakes the child, which
 * sleeps in mapipc_wait until the word changes (no sleep(1), no pipe). The
 * child prints 30. */
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab.h"

struct shared {
    uint32_t ready; /* 0 until the values are written */
    int values[2];
};

int main(void) {
    struct shared *s = NULL;
    TRY(mapipc_map_anonymous(sizeof *s, MAPIPC_READ | MAPIPC_WRITE, (void **)&s));
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child > 0) {
        s->values[0] = 10;
        s->values[1] = 20;
        __atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE); /* publish, then wake */
        TRY(mapipc_wake(&s->ready, 1));
        int status;
        if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    } else {
        /* A wait may return early: always re-check the word. */
        while (__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE) == 0) TRY(mapipc_wait(&s->ready, 0, -1));
        printf("%d\n", s->values[0] + s->values[1]);
        fflush(stdout);
    }
    TRY(mapipc_unmap(s));
    return 0;
}
