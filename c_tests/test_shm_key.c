/* System V shared memory by (path, proj_id). */
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>

#include "shm_util.h"

/* The segment id behind (path, proj), or -1 when there is none. */
static int segment_id(const char *path, int proj) {
    key_t key = ftok(path, proj);
    REQUIRE(key != -1);
    return shmget(key, 0, 0);
}

static struct shmid_ds segment_stat(const char *path, int proj) {
    struct shmid_ds ds;
    int id = segment_id(path, proj);
    REQUIRE(id >= 0);
    REQUIRE(shmctl(id, IPC_STAT, &ds) == 0);
    return ds;
}

/* Removes a segment a failed check may have left. */
static void scrub(const char *path, int proj) {
    key_t key = ftok(path, proj);
    int id = key == -1 ? -1 : shmget(key, 0, 0);
    if (id >= 0) shmctl(id, IPC_RMID, NULL);
}

static void bad_arguments(void) {
    void *p = (void *)1;
    check_write_file("keyfile", "k", 1);
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 0, 64, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("project id 0");
    CHECK(p == NULL);
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 256, 64, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_shm_open_key("keyfile", -1, 64, MAPIPC_WRITE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_shm_open_key(NULL, 1, 64, MAPIPC_WRITE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 1, 64, MAPIPC_WRITE, NULL),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 1, 0, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("size 0");
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 1, 64, MAPIPC_WRITE | MAPIPC_PRIVATE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 1, 64, MAPIPC_WRITE | 0x1000, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* The ftok path must exist. */
    CHECK_STATUS(mapipc_shm_open_key("no-such-file", 1, 64, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK_MESSAGE("\"no-such-file\"");
    CHECK_STATUS(mapipc_shm_remove_key("no-such-file", 1), MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK_STATUS(mapipc_shm_remove_key("keyfile", 0), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(p == NULL);
    CHECK(segment_id("keyfile", 1) == -1);
    CHECK(unlink("keyfile") == 0);
}

static void missing_segment_is_not_found(void) {
    void *p = (void *)1;
    check_write_file("keyfile", "k", 1);
    /* The lab's reader run before any writer created the segment. */
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 7, 512, MAPIPC_READ, &p),
                 MAPIPC_ERR_NOT_FOUND, ENOENT);
    char hex[32];
    snprintf(hex, sizeof hex, "%#010x", (unsigned)ftok("keyfile", 7));
    CHECK_MESSAGE(hex);
    CHECK_MESSAGE("project id 7");
    CHECK(p == NULL);
    CHECK_STATUS(mapipc_shm_remove_key("keyfile", 7), MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK(unlink("keyfile") == 0);
}

static void create_open_and_sizes(void) {
    char *p = NULL, *q = NULL;
    size_t size = 0;
    check_write_file("keyfile", "k", 1);
    CHECK_OK(mapipc_shm_open_key("keyfile", 2, 10000,
                                 MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE,
                                 (void **)&p));
    if (p == NULL) { scrub("keyfile", 2); unlink("keyfile"); return; }
    struct shmid_ds ds = segment_stat("keyfile", 2);
    CHECK((ds.shm_perm.mode & 0777) == 0600);
    CHECK(ds.shm_segsz == 10000);
    CHECK(ds.shm_nattch == 1);
    CHECK_OK(mapipc_region_size(p, &size));
    CHECK(size == 10000);
    strcpy(p, "first");

    /* Exclusive again: refused, segment untouched. */
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 2, 10000,
                                     MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE, (void **)&q),
                 MAPIPC_ERR_ALREADY_EXISTS, EEXIST);
    CHECK(q == NULL);
    /* Larger than the segment. */
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 2, 10001, MAPIPC_READ, (void **)&q),
                 MAPIPC_ERR_SIZE_MISMATCH, EINVAL);
    CHECK_MESSAGE("10000 bytes, smaller than the 10001 bytes");
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 2, 20000, MAPIPC_WRITE | MAPIPC_CREATE, (void **)&q),
                 MAPIPC_ERR_SIZE_MISMATCH, EINVAL);
    /* size 0: all of it; smaller: what was asked for; create: opens it. */
    CHECK_OK(mapipc_shm_open_key("keyfile", 2, 0, MAPIPC_READ, (void **)&q));
    CHECK_OK(mapipc_region_size(q, &size));
    CHECK(size == 10000);
    CHECK(q && strcmp(q, "first") == 0);
    CHECK_OK(mapipc_unmap(q));
    CHECK_OK(mapipc_shm_open_key("keyfile", 2, 100, MAPIPC_WRITE | MAPIPC_CREATE, (void **)&q));
    CHECK_OK(mapipc_region_size(q, &size));
    CHECK(size == 100);
    /* Sync checks the range against what was asked for, and does nothing else. */
    CHECK_OK(mapipc_sync(q, 0, 0));
    CHECK_STATUS(mapipc_sync(q + 50, 51, 0), MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    CHECK_OK(mapipc_unmap(q));

    CHECK_OK(mapipc_unmap(p));
    CHECK_STATUS(mapipc_unmap(p), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_OK(mapipc_shm_remove_key("keyfile", 2));
    CHECK(segment_id("keyfile", 2) == -1);
    CHECK(unlink("keyfile") == 0);
}

static void attach_counts_and_removal(void) {
    char *a = NULL, *b = NULL;
    check_write_file("keyfile", "k", 1);
    CHECK_OK(mapipc_shm_open_key("keyfile", 3, 4096, MAPIPC_WRITE | MAPIPC_CREATE, (void **)&a));
    CHECK_OK(mapipc_shm_open_key("keyfile", 3, 0, MAPIPC_WRITE, (void **)&b));
    if (!a || !b) { scrub("keyfile", 3); unlink("keyfile"); return; }
    int id = segment_id("keyfile", 3);
    struct shmid_ds ds;
    REQUIRE(shmctl(id, IPC_STAT, &ds) == 0);
    CHECK(ds.shm_nattch == 2);
    CHECK_OK(mapipc_unmap(b));
    REQUIRE(shmctl(id, IPC_STAT, &ds) == 0);
    CHECK(ds.shm_nattch == 1);

    /* Removed while attached: the name is gone, the memory stays usable. */
    CHECK_OK(mapipc_shm_remove_key("keyfile", 3));
    CHECK(segment_id("keyfile", 3) == -1);
    strcpy(a, "still here");
    CHECK(strcmp(a, "still here") == 0);
    CHECK(shmctl(id, IPC_STAT, &ds) == 0);
    /* Last detach destroys it. */
    CHECK_OK(mapipc_unmap(a));
    CHECK(shmctl(id, IPC_STAT, &ds) == -1 && (errno == EINVAL || errno == EIDRM));
    CHECK_STATUS(mapipc_shm_remove_key("keyfile", 3), MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK(unlink("keyfile") == 0);
}

static void remove_by_region(void) {
    char *a = NULL;
    void *anon = NULL;
    check_write_file("keyfile", "k", 1);
    CHECK_OK(mapipc_shm_open_key("keyfile", 6, 4096, MAPIPC_WRITE | MAPIPC_CREATE, (void **)&a));
    if (!a) { scrub("keyfile", 6); unlink("keyfile"); return; }
    int id = segment_id("keyfile", 6);
    CHECK_OK(mapipc_shm_remove_region(a));
    CHECK(segment_id("keyfile", 6) == -1);
    strcpy(a, "still attached");
    struct shmid_ds ds;
    CHECK(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 1);
    CHECK_STATUS(mapipc_shm_remove_region(a + 1), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_OK(mapipc_unmap(a));
    CHECK(shmctl(id, IPC_STAT, &ds) == -1);
    CHECK_STATUS(mapipc_shm_remove_region(a), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_OK(mapipc_map_anonymous(100, MAPIPC_WRITE, &anon));
    CHECK_STATUS(mapipc_shm_remove_region(anon), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("not a System V segment");
    CHECK_OK(mapipc_unmap(anon));
    CHECK(unlink("keyfile") == 0);
}

static void read_only_attach_is_read_only(void) {
    char *w = NULL, *r = NULL;
    check_write_file("keyfile", "k", 1);
    CHECK_OK(mapipc_shm_open_key("keyfile", 4, 4096, MAPIPC_WRITE | MAPIPC_CREATE, (void **)&w));
    CHECK_OK(mapipc_shm_open_key("keyfile", 4, 0, MAPIPC_READ, (void **)&r));
    check_read_only_view(w, r);
    CHECK_OK(mapipc_unmap(r));
    CHECK_OK(mapipc_unmap(w));
    CHECK_OK(mapipc_shm_remove_key("keyfile", 4));
    CHECK(unlink("keyfile") == 0);
}

static void failures_leave_no_segment(void) {
    void *p = (void *)1;
    check_write_file("keyfile", "k", 1);
    /* Beyond SHMMAX. */
    CHECK_STATUS(mapipc_shm_open_key("keyfile", 5, SIZE_MAX - 4096, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_NO_SPACE, 0);
    CHECK(p == NULL);
    CHECK(segment_id("keyfile", 5) == -1);
    /* Created, then the attach fails (address space limit): the segment
     * this call created must be gone again. valgrind does not apply the
     * limit to its client, so this part runs natively only. */
    if (!skip_under(UNDER_VALGRIND | UNDER_SANITIZER, "failures_leave_no_segment: attach past RLIMIT_AS")) {
        struct rlimit lim = {(rlim_t)256 << 20, (rlim_t)256 << 20};
        REQUIRE(setrlimit(RLIMIT_AS, &lim) == 0);
        CHECK_STATUS(mapipc_shm_open_key("keyfile", 5, (size_t)1 << 30, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                     MAPIPC_ERR_NO_SPACE, ENOMEM);
        CHECK_MESSAGE("cannot attach segment");
        CHECK(p == NULL);
        if (segment_id("keyfile", 5) != -1) {
            CHECK(!"segment left behind");
            scrub("keyfile", 5);
        }
    }
    CHECK(unlink("keyfile") == 0);
}

/* Writer and reader are separate programs that meet only by (path, proj). */
static void processes_exchange_by_key(void) {
    char *p = NULL;
    check_write_file("keyfile", "k", 1);
    CHECK_OK(mapipc_shm_open_key("keyfile", 9, 512,
                                 MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE, (void **)&p));
    if (!p) { scrub("keyfile", 9); unlink("keyfile"); return; }
    strcpy(p, "request from parent");
    CHECK(run_peer("key", "keyfile", "9", NULL) == 0);
    CHECK(strcmp(p + 100, "reply from peer") == 0);
    CHECK(segment_stat("keyfile", 9).shm_nattch == 1);
    /* Second round: the peer removes it, like the lab's reader. */
    strcpy(p + 100, "");
    CHECK(run_peer("key", "keyfile", "9", "remove") == 0);
    CHECK(strcmp(p + 100, "reply from peer") == 0);
    CHECK(segment_id("keyfile", 9) == -1);
    CHECK_OK(mapipc_unmap(p));
    CHECK(unlink("keyfile") == 0);
}

int main(int argc, char **argv) {
    (void)argc;
    find_peer(argv[0]);
    RUN(bad_arguments);
    RUN(missing_segment_is_not_found);
    RUN(create_open_and_sizes);
    RUN(attach_counts_and_removal);
    RUN(remove_by_region);
    RUN(read_only_attach_is_read_only);
    RUN(failures_leave_no_segment);
    RUN(processes_exchange_by_key);
    return check_done();
}
