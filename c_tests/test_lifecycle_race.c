/* Several processes race opens, unmaps, gc and deaths on one temporary
 * POSIX object and one temporary file, beside a permanent object, and
 * check after every step that nothing in use was removed or replaced:
 * while a process maps the object, a lookup by name finds that very
 * object (the cookie its first user wrote), and the permanent object
 * never goes. */
#include <stdint.h>
#include <time.h>

#include "lifecycle_util.h"

#define RWCT (MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_TEMPORARY)
#define PROCS 4

static char name[128], path[160], perm[128], perm_path[160];
static const char *file = "racefile";

/* Opens the temporary object (shm or file) with `flags`. */
static mapipc_status open_it(int use_file, uint32_t flags, void **out) {
    if (use_file) return mapipc_map_file(file, 0, (flags & MAPIPC_CREATE) ? 4096 : 0, flags, out);
    return mapipc_shm_open_name(name, (flags & MAPIPC_CREATE) ? 4096 : 0, flags, out);
}

/* This object's cookie: the first user's, or ours if we are first. */
static uint64_t cookie_of(void *p, uint64_t mine) {
    uint64_t expected = 0;
    __atomic_compare_exchange_n((uint64_t *)p, &expected, mine, 0, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    return expected ? expected : mine;
}

static int one_round(unsigned *seed, int round) {
    int use_file = rand_r(seed) % 2;
    int action = rand_r(seed) % 6;
    void *perm_p = NULL;
    if (mapipc_shm_open_name(perm, 0, MAPIPC_READ, &perm_p) != MAPIPC_OK) return 10;
    if (mapipc_unmap(perm_p) != MAPIPC_OK) return 11;
    if (action == 0) return mapipc_gc(NULL) == MAPIPC_OK ? 0 : 12;
    if (action == 1) {
        /* A user that dies by SIGKILL while mapping it. */
        pid_t pid = fork();
        if (pid < 0) return 13;
        if (pid == 0) {
            void *p = NULL;
            if (open_it(use_file, RWCT, &p) == MAPIPC_OK) raise(SIGKILL);
            fprintf(stderr, "  round %d, killed user: %s\n", round, mapipc_last_error());
            _exit(1);
        }
        return check_wait(pid) == 128 + SIGKILL ? 0 : 14;
    }
    void *p = NULL;
    uint32_t flags = action == 2 ? MAPIPC_READ : RWCT;
    mapipc_status s = open_it(use_file, flags, &p);
    if (action == 2) return s == MAPIPC_OK ? (mapipc_unmap(p) == MAPIPC_OK ? 0 : 15)
                          : s == MAPIPC_ERR_NOT_FOUND ? 0 : 16;
    if (s != MAPIPC_OK) {
        fprintf(stderr, "  round %d: %s\n", round, mapipc_last_error());
        return 17;
    }
    uint64_t cookie = cookie_of(p, ((uint64_t)getpid() << 32) | (uint64_t)round << 1 | 1);
    if (action == 4) mapipc_gc(NULL);
    if (action == 5) {
        /* A child that inherited the mapping keeps it alive past our unmap. */
        pid_t pid = fork();
        if (pid < 0) return 18;
        if (pid == 0) {
            void *q = NULL;
            int ok = open_it(use_file, MAPIPC_READ, &q) == MAPIPC_OK && *(uint64_t *)q == cookie;
            _exit(ok && mapipc_unmap(q) == MAPIPC_OK && mapipc_unmap(p) == MAPIPC_OK ? 0 : 1);
        }
        if (mapipc_unmap(p) != MAPIPC_OK) return 19;
        return check_wait(pid) == 0 ? 0 : 20;
    }
    void *q = NULL;
    if (open_it(use_file, MAPIPC_READ, &q) != MAPIPC_OK) {
        fprintf(stderr, "  round %d: in use, yet %s\n", round, mapipc_last_error());
        return 21;
    }
    if (*(uint64_t *)q != cookie) return 22;
    if (mapipc_unmap(q) != MAPIPC_OK || mapipc_unmap(p) != MAPIPC_OK) return 23;
    return 0;
}

static void racing_processes_keep_the_invariants(void) {
    int rounds = 300;
    if (getenv("MAPIPC_TEST_UNDER_VALGRIND")) rounds = 15;
    else if (getenv("MAPIPC_TEST_UNDER_SANITIZER")) rounds = 100;
    life_name(name, sizeof name, path, sizeof path, "race");
    life_name(perm, sizeof perm, perm_path, sizeof perm_path, "raceperm");
    int entries = count_dev_shm(), fds = check_count_fds();
    void *p = NULL;
    CHECK_OK(mapipc_shm_open_name(perm, 4096, MAPIPC_WRITE | MAPIPC_CREATE, &p));
    CHECK_OK(mapipc_unmap(p));
    unsigned base = (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("# %d processes x %d rounds, seed %u\n", PROCS, rounds, base);
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        REQUIRE(pids[i] >= 0);
        if (pids[i] == 0) {
            unsigned seed = base + (unsigned)i;
            for (int r = 0; r < rounds; r++) {
                int rc = one_round(&seed, r);
                if (rc != 0) {
                    fprintf(stderr, "  process %d round %d failed: %d\n", i, r, rc);
                    _exit(rc);
                }
            }
            _exit(0);
        }
    }
    for (int i = 0; i < PROCS; i++) CHECK(check_wait(pids[i]) == 0);
    /* Nobody maps them now: killed users' leftovers are absent to lookups
     * (which remove them) and to gc. */
    void *q = (void *)1;
    CHECK_STATUS(mapipc_map_file(file, 0, 0, MAPIPC_READ, &q), MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK(access(file, F_OK) != 0);
    CHECK_OK(mapipc_gc(NULL));
    CHECK(!shm_exists(path));
    CHECK(shm_exists(perm_path));
    CHECK_OK(mapipc_shm_unlink_name(perm));
    CHECK(count_dev_shm() == entries);
    CHECK(check_count_fds() == fds);
}

int main(void) {
    RUN(racing_processes_keep_the_invariants);
    return check_done();
}
