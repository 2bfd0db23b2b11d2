/* Many threads at once, and fork() while other threads use mapipc. */
#include <pthread.h>
#include <stdint.h>

#include "check.h"

#define THREADS 8
#define ROUNDS 200

static void *worker(void *arg) {
    long id = (long)arg;
    char path[32];
    snprintf(path, sizeof path, "thread-%ld", id);
    long bad = 0;
    for (int i = 0; i < ROUNDS && bad == 0; i++) {
        char *a = NULL, *f = NULL;
        size_t size = 0;
        if (mapipc_map_anonymous(4096 + (size_t)i, MAPIPC_WRITE, (void **)&a) != MAPIPC_OK) { bad = 1; break; }
        if (mapipc_map_file(path, (uint64_t)i, 100, MAPIPC_WRITE | MAPIPC_CREATE, (void **)&f) != MAPIPC_OK) { bad = 2; break; }
        a[i] = (char)id;
        f[0] = (char)('a' + id);
        if (mapipc_sync(f + 50, 10, MAPIPC_SYNC_ASYNC) != MAPIPC_OK) bad = 3;
        if (mapipc_region_size(a, &size) != MAPIPC_OK || size != 4096 + (size_t)i) bad = 4;
        if (mapipc_unmap(a + 1) != MAPIPC_ERR_NOT_MAPPED) bad = 5;
        if (a[i] != (char)id) bad = 6; /* nobody else touched our region */
        if (mapipc_unmap(a) != MAPIPC_OK) bad = 7;
        /* No second unmap here: another thread may already own the
         * address again (the documented limit of pointer handles). */
        if (mapipc_unmap(f) != MAPIPC_OK) bad = 9;
    }
    if (bad) fprintf(stderr, "  thread %ld: step %ld: %s\n", id, bad, mapipc_last_error());
    unlink(path);
    return (void *)bad;
}

static void eight_threads_map_and_unmap(void) {
    int fds = check_count_fds();
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
    for (int i = 0; i < THREADS; i++) {
        void *rc;
        REQUIRE(pthread_join(t[i], &rc) == 0);
        CHECK(rc == NULL);
    }
    CHECK(check_count_fds() == fds);
}

static volatile int stop_spinning;

static void *spinner(void *arg) {
    (void)arg;
    while (!stop_spinning) {
        void *p = NULL;
        if (mapipc_map_anonymous(4096, MAPIPC_WRITE, &p) == MAPIPC_OK) mapipc_unmap(p);
    }
    return NULL;
}

/* Forking while another thread holds the registry must not leave the child
 * with a lock nobody will release; the child's registry still lists what it
 * inherited. The case's watchdog alarm catches a deadlock. */
static void fork_while_threads_work(void) {
    char *keep = NULL;
    CHECK_OK(mapipc_map_anonymous(100, MAPIPC_WRITE, (void **)&keep));
    REQUIRE(keep != NULL);
    strcpy(keep, "inherited");
    pthread_t t[2];
    for (int i = 0; i < 2; i++) REQUIRE(pthread_create(&t[i], NULL, spinner, NULL) == 0);
    for (int i = 0; i < 50; i++) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            void *p = NULL;
            size_t size = 0;
            int ok = mapipc_map_anonymous(4096, MAPIPC_WRITE, &p) == MAPIPC_OK &&
                     mapipc_unmap(p) == MAPIPC_OK &&
                     mapipc_region_size(keep, &size) == MAPIPC_OK && size == 100 &&
                     strcmp(keep, "inherited") == 0 && mapipc_unmap(keep) == MAPIPC_OK;
            _exit(ok ? 0 : 1);
        }
        CHECK(check_wait(pid) == 0);
    }
    stop_spinning = 1;
    for (int i = 0; i < 2; i++) REQUIRE(pthread_join(t[i], NULL) == 0);
    /* The children's unmaps did not touch the parent's registry. */
    size_t size = 0;
    CHECK_OK(mapipc_region_size(keep, &size));
    CHECK(size == 100);
    CHECK_OK(mapipc_unmap(keep));
}

int main(void) {
    RUN(eight_threads_map_and_unmap);
    RUN(fork_while_threads_work);
    return check_done();
}
