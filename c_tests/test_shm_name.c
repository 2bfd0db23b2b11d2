/* POSIX shared memory by name. Names carry the pid so that parallel runs
 * never meet. */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "shm_util.h"

static char name[64];

static void set_name(const char *what) {
    snprintf(name, sizeof name, "/mapipc-test-%ld-%s", (long)getpid(), what);
}

static int object_exists(void) {
    char path[128];
    snprintf(path, sizeof path, "/dev/shm%s", name);
    return access(path, F_OK) == 0;
}

static struct stat object_stat(void) {
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm%s", name);
    REQUIRE(stat(path, &st) == 0);
    return st;
}

static void bad_names(void) {
    void *p = (void *)1;
    char longname[300];
    longname[0] = '/';
    memset(longname + 1, 'n', 256);
    longname[257] = '\0';
    const char *bad[] = {"", "noslash", "/", "/a/b", "//", "/..", longname};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(mapipc_shm_open_name(bad[i], 64, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                     MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
        CHECK(p == NULL);
        CHECK_STATUS(mapipc_shm_unlink_name(bad[i]), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    }
    CHECK_STATUS(mapipc_shm_open_name(NULL, 64, MAPIPC_READ, &p), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_shm_unlink_name(NULL), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    /* 255 characters after the slash is the longest name. */
    longname[256] = '\0';
    CHECK_STATUS(mapipc_shm_open_name(longname, 64, MAPIPC_READ, &p), MAPIPC_ERR_NOT_FOUND, ENOENT);
    set_name("bad");
    CHECK_STATUS(mapipc_shm_open_name(name, 0, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_shm_open_name(name, 64, MAPIPC_WRITE | MAPIPC_EXCLUSIVE, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK(!object_exists());
}

static void missing_object_is_not_found(void) {
    void *p = (void *)1;
    set_name("missing");
    CHECK_STATUS(mapipc_shm_open_name(name, 64, MAPIPC_READ, &p), MAPIPC_ERR_NOT_FOUND, ENOENT);
    CHECK_MESSAGE(name);
    CHECK(p == NULL);
    CHECK_STATUS(mapipc_shm_unlink_name(name), MAPIPC_ERR_NOT_FOUND, ENOENT);
}

static void create_open_and_sizes(void) {
    char *p = NULL, *q = NULL;
    size_t size = 0;
    set_name("sizes");
    umask(022);
    CHECK_OK(mapipc_shm_open_name(name, 100000, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE,
                                  (void **)&p));
    if (!p) { shm_unlink(name); return; }
    struct stat st = object_stat();
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_size == 100000);
    CHECK((long long)st.st_blocks * 512 >= 100000); /* memory reserved, no hole */
    strcpy(p, "first");
    CHECK_OK(mapipc_sync(p, 0, 0));

    CHECK_STATUS(mapipc_shm_open_name(name, 100, MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE, (void **)&q),
                 MAPIPC_ERR_ALREADY_EXISTS, EEXIST);
    CHECK_STATUS(mapipc_shm_open_name(name, 100001, MAPIPC_READ, (void **)&q),
                 MAPIPC_ERR_SIZE_MISMATCH, EINVAL);
    CHECK_MESSAGE("100000 bytes, smaller than the 100001 bytes");
    CHECK(q == NULL);
    CHECK_OK(mapipc_shm_open_name(name, 0, MAPIPC_READ, (void **)&q));
    CHECK_OK(mapipc_region_size(q, &size));
    CHECK(size == 100000);
    CHECK(q && strcmp(q, "first") == 0);
    CHECK_OK(mapipc_unmap(q));
    /* A private mapping's writes stay in this process. */
    CHECK_OK(mapipc_shm_open_name(name, 10, MAPIPC_WRITE | MAPIPC_PRIVATE, (void **)&q));
    if (q) strcpy(q, "mine");
    CHECK(strcmp(p, "first") == 0);
    CHECK_OK(mapipc_unmap(q));

    CHECK_OK(mapipc_shm_unlink_name(name));
    CHECK(!object_exists());
    CHECK(strcmp(p, "first") == 0); /* mapping outlives the name */
    CHECK_OK(mapipc_unmap(p));
}

static void empty_object_is_refused(void) {
    void *p = (void *)1;
    set_name("empty");
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    close(fd);
    CHECK_STATUS(mapipc_shm_open_name(name, 0, MAPIPC_READ, &p), MAPIPC_ERR_EMPTY_FILE, EINVAL);
    CHECK_STATUS(mapipc_shm_open_name(name, 64, MAPIPC_WRITE | MAPIPC_CREATE, &p), MAPIPC_ERR_EMPTY_FILE, EINVAL);
    CHECK(p == NULL);
    CHECK_OK(mapipc_shm_unlink_name(name));
}

static void read_only_mapping_is_read_only(void) {
    char *w = NULL, *r = NULL;
    set_name("ro");
    CHECK_OK(mapipc_shm_open_name(name, 4096, MAPIPC_WRITE | MAPIPC_CREATE, (void **)&w));
    CHECK_OK(mapipc_shm_open_name(name, 0, MAPIPC_READ, (void **)&r));
    check_read_only_view(w, r);
    CHECK_OK(mapipc_unmap(r));
    CHECK_OK(mapipc_unmap(w));
    CHECK_OK(mapipc_shm_unlink_name(name));
}

/* No room for the object: reported now, and nothing left behind. A file
 * size limit stands in for a full /dev/shm (both fail the reservation). */
static void no_space_is_reported_up_front(void) {
    void *p = (void *)1;
    set_name("full");
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {4096, 4096};
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK_STATUS(mapipc_shm_open_name(name, 1 << 20, MAPIPC_WRITE | MAPIPC_CREATE, &p),
                 MAPIPC_ERR_NO_SPACE, EFBIG);
    CHECK_MESSAGE("cannot reserve 1048576 bytes");
    CHECK(p == NULL);
    CHECK(!object_exists());
}

static void processes_exchange_by_name(void) {
    char *p = NULL;
    set_name("peer");
    CHECK_OK(mapipc_shm_open_name(name, 512, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE,
                                  (void **)&p));
    if (!p) { shm_unlink(name); return; }
    strcpy(p, "request from parent");
    CHECK(run_peer("name", name, NULL, NULL) == 0);
    CHECK(strcmp(p + 100, "reply from peer") == 0);
    strcpy(p + 100, "");
    CHECK(run_peer("name", name, "remove", NULL) == 0);
    CHECK(strcmp(p + 100, "reply from peer") == 0);
    CHECK(!object_exists());
    CHECK_OK(mapipc_unmap(p));
}

int main(int argc, char **argv) {
    (void)argc;
    find_peer(argv[0]);
    RUN(bad_names);
    RUN(missing_object_is_not_found);
    RUN(create_open_and_sizes);
    RUN(empty_object_is_refused);
    RUN(read_only_mapping_is_read_only);
    RUN(no_space_is_reported_up_front);
    RUN(processes_exchange_by_name);
    return check_done();
}
