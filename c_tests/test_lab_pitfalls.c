/* Each pitfall of the seed labs, committed through mapipc: the clear error
 * (or the safe default) that replaces the crash or the silent damage. */
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "check.h"

/* Seed 003: mmap(NULL, 2048, ...) of "test" that is empty or short. */
static void map_2048_bytes_of_empty_or_short_file(void) {
    void *p = (void *)1;
    check_write_file("test", "", 0);
    CHECK_STATUS(mapipc_map_file("test", 0, 2048, MAPIPC_READ | MAPIPC_WRITE, &p),
                 MAPIPC_ERR_EMPTY_FILE, EINVAL);
    CHECK_MESSAGE("cannot map 2048 bytes at offset 0 of \"test\": the file is 0 bytes long");
    CHECK(p == NULL);
    check_write_file("test", "0123456789", 10);
    CHECK_STATUS(mapipc_map_file("test", 0, 2048, MAPIPC_READ | MAPIPC_WRITE, &p),
                 MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    CHECK_MESSAGE("the file is 10 bytes long");
    CHECK(p == NULL);
    CHECK(unlink("test") == 0);
}

/* Seed 004: open(argv[1], O_RDWR | O_CREAT) with no mode: random bits.
 * Even with umask 0 mapipc's files are 0600. */
static void create_without_mode_is_0600(void) {
    void *p = NULL;
    umask(0);
    CHECK_OK(mapipc_map_file("chatfile", 0, 20, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, &p));
    struct stat st;
    REQUIRE(stat("chatfile", &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK_OK(mapipc_unmap(p));
    CHECK(unlink("chatfile") == 0);
}

/* Seed 001: "Mapped offset should be OS page aligned" (EINVAL otherwise). */
static void unaligned_offset_just_works(void) {
    char *p = NULL;
    check_write_file("f", "0123456789abcdefghij", 20);
    CHECK_OK(mapipc_map_file("f", 13, 5, MAPIPC_READ, (void **)&p));
    CHECK(p && memcmp(p, "defgh", 5) == 0);
    CHECK_OK(mapipc_unmap(p));
    CHECK(unlink("f") == 0);
}

/* Seed 000: "Both these flags may not be used together". */
static void ms_sync_with_ms_async(void) {
    void *p = NULL;
    check_write_file("f", "data", 4);
    CHECK_OK(mapipc_map_file("f", 0, 4, MAPIPC_READ | MAPIPC_WRITE, &p));
    CHECK_STATUS(mapipc_sync(p, 4, MAPIPC_SYNC_BLOCKING | MAPIPC_SYNC_ASYNC),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("MAPIPC_SYNC_BLOCKING and MAPIPC_SYNC_ASYNC exclude each other");
    CHECK_OK(mapipc_sync(p, 4, MAPIPC_SYNC_BLOCKING | MAPIPC_SYNC_INVALIDATE));
    CHECK_OK(mapipc_unmap(p));
    CHECK(unlink("f") == 0);
}

/* Seeds 002, 003: munmap(addr, size) run twice (both parent and child, or
 * a retry) silently unmaps whatever lives there by then. */
static void double_unmap(void) {
    void *p = NULL;
    CHECK_OK(mapipc_map_anonymous(2048, MAPIPC_READ | MAPIPC_WRITE, &p));
    CHECK_OK(mapipc_unmap(p));
    CHECK_STATUS(mapipc_unmap(p), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_MESSAGE("already unmapped");
}

/* Seed 003: the reader's shmget(key, 512, 0666) before any writer ran. */
static void attach_segment_never_created(void) {
    void *p = (void *)1;
    check_write_file("keytest", "", 0);
    CHECK_STATUS(mapipc_shm_open_key("keytest", 100, 512, MAPIPC_READ, &p),
                 MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK(p == NULL);
    CHECK(unlink("keytest") == 0);
}

/* Seeds 003, 004: shmget(..., IPC_CREAT | 0666 / 0644): anyone may read or
 * write. mapipc creates 0600. */
static void segments_are_not_world_accessible(void) {
    void *p = NULL;
    check_write_file("keytest", "", 0);
    CHECK_OK(mapipc_shm_open_key("keytest", 100, 512, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, &p));
    struct shmid_ds ds;
    int id = shmget(ftok("keytest", 100), 0, 0);
    REQUIRE(id >= 0);
    REQUIRE(shmctl(id, IPC_STAT, &ds) == 0);
    CHECK((ds.shm_perm.mode & 0777) == 0600);
    CHECK_OK(mapipc_unmap(p));
    CHECK_OK(mapipc_shm_remove_key("keytest", 100));
    CHECK(unlink("keytest") == 0);
}

/* Seed 000: mmap's result used without checking MAP_FAILED. On failure
 * mapipc's out pointer is NULL, never (void *)-1. */
static void failure_never_returns_map_failed(void) {
    void *p = (void *)-1;
    CHECK_STATUS(mapipc_map_file("mapFile", 0, 0x100, MAPIPC_READ | MAPIPC_WRITE, &p),
                 MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK(p == NULL);
}

int main(void) {
    RUN(map_2048_bytes_of_empty_or_short_file);
    RUN(create_without_mode_is_0600);
    RUN(unaligned_offset_just_works);
    RUN(ms_sync_with_ms_async);
    RUN(double_unmap);
    RUN(attach_segment_never_created);
    RUN(segments_are_not_world_accessible);
    RUN(failure_never_returns_map_failed);
    return check_done();
}
