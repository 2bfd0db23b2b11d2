/* mapipc_map_anonymous: sharing with children, privacy, bad lengths. */
#include <stdint.h>
#include <sys/resource.h>

#include "check.h"

static void shared_memory_reaches_the_child_and_back(void) {
    int *shared = NULL;
    CHECK_OK(mapipc_map_anonymous(100 * sizeof(int), MAPIPC_READ | MAPIPC_WRITE, (void **)&shared));
    REQUIRE(shared != NULL);
    int go[2];
    REQUIRE(pipe(go) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char c;
        /* Wait for the parent's values, then answer with their sum. */
        if (read(go[0], &c, 1) != 1) _exit(10);
        shared[2] = shared[0] + shared[1];
        _exit(0);
    }
    shared[0] = 10;
    shared[1] = 20;
    REQUIRE(write(go[1], "x", 1) == 1);
    CHECK(check_wait(pid) == 0);
    CHECK(shared[2] == 30);
    CHECK_OK(mapipc_unmap(shared));
    close(go[0]);
    close(go[1]);
}

static void private_memory_is_not_shared(void) {
    char *p = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_WRITE | MAPIPC_PRIVATE, (void **)&p));
    REQUIRE(p != NULL);
    CHECK(p[0] == 0 && p[4095] == 0);
    strcpy(p, "parent");
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int ok = strcmp(p, "parent") == 0;
        strcpy(p, "child");
        /* The child's registry still knows the inherited region. */
        ok = ok && mapipc_unmap(p) == MAPIPC_OK;
        _exit(ok ? 0 : 1);
    }
    CHECK(check_wait(pid) == 0);
    CHECK(strcmp(p, "parent") == 0);
    CHECK_OK(mapipc_unmap(p));
}

static void read_only_memory_is_read_only(void) {
    char *p = NULL;
    CHECK_OK(mapipc_map_anonymous(4096, MAPIPC_READ, (void **)&p));
    REQUIRE(p != NULL);
    CHECK(p[100] == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        p[100] = 1; /* must fault */
        _exit(0);
    }
    CHECK(check_wait(pid) == 128 + SIGSEGV);
    CHECK_OK(mapipc_unmap(p));
}

static void bad_lengths_and_flags(void) {
    void *p = (void *)1;
    CHECK_STATUS(mapipc_map_anonymous(0, MAPIPC_READ, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(p == NULL);
    CHECK_STATUS(mapipc_map_anonymous(SIZE_MAX, MAPIPC_READ, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* More than the address-space limit allows. (valgrind answers EINVAL
     * for any mapping it cannot place, so this is checked natively only.) */
    if (!skip_under(UNDER_VALGRIND | UNDER_SANITIZER, "bad_lengths_and_flags: mapping past RLIMIT_AS")) {
        struct rlimit lim = {(rlim_t)1 << 30, (rlim_t)1 << 30};
        REQUIRE(setrlimit(RLIMIT_AS, &lim) == 0);
        CHECK_STATUS(mapipc_map_anonymous((size_t)2 << 30, MAPIPC_READ | MAPIPC_WRITE, &p),
                     MAPIPC_ERR_NO_SPACE, ENOMEM);
        CHECK_MESSAGE("cannot map 2147483648 bytes of shared anonymous memory");
    }
    CHECK_STATUS(mapipc_map_anonymous(100, 0, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_map_anonymous(100, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_map_anonymous(100, MAPIPC_WRITE | 0x400, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_map_anonymous(100, MAPIPC_WRITE, NULL),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(p == NULL);
}

int main(void) {
    RUN(shared_memory_reaches_the_child_and_back);
    RUN(private_memory_is_not_shared);
    RUN(read_only_memory_is_read_only);
    RUN(bad_lengths_and_flags);
    return check_done();
}
