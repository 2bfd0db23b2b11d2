/* make bench, group "map": mapping cycles, sync and shared-memory cycles
 * next to the raw system calls. */
#include "harness.h"

static char file_4k[4096], file_1m[4096], file_sync[4096], key_file[4096];

/* ---- file map cycles ------------------------------------------------ */

struct cycle { const char *path; size_t len; int iters; };

static double file_cycle_mapipc(void *arg) {
    struct cycle *c = arg;
    double t0 = 0;
    for (int i = -10; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *p;
        must(mapipc_map_file(c->path, 0, c->len, MAPIPC_READ | MAPIPC_WRITE, (void **)&p), "map");
        touch_pages(p, c->len);
        must(mapipc_unmap(p), "unmap");
    }
    return (now() - t0) / c->iters * 1e6;
}

/* Raw: open, fstat (to check the size, as careful code must), mmap,
 * touch, munmap, close. `hint` controls placement: NULL lets the kernel
 * choose; otherwise a 2 MiB-aligned address that the previous iteration
 * freed, so the kernel takes it and the mapping lies in one 2 MiB block. */
static double raw_cycle(struct cycle *c, void *hint) {
    double t0 = 0;
    for (int i = -10; i < c->iters; i++) {
        if (i == 0) t0 = now();
        int fd = open(c->path, O_RDWR | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || (size_t)st.st_size < c->len) die("open/fstat");
        char *p = mmap(hint, c->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) die("mmap");
        touch_pages(p, c->len);
        if (munmap(p, c->len) != 0 || close(fd) != 0) die("munmap/close");
    }
    return (now() - t0) / c->iters * 1e6;
}

static double file_cycle_raw(void *arg) { return raw_cycle(arg, NULL); }

static void *aligned_hint(size_t len) {
    char *r = mmap(NULL, len + PMD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) die("reserve");
    char *a = (char *)(((uintptr_t)r + PMD - 1) & ~(uintptr_t)(PMD - 1));
    munmap(r, len + PMD);
    return a;
}

static double file_cycle_raw_placed(void *arg) {
    struct cycle *c = arg;
    return raw_cycle(c, aligned_hint(c->len));
}

/* ---- anonymous shared cycles ---------------------------------------- */

static double anon_mapipc(void *arg) {
    struct cycle *c = arg;
    double t0 = 0;
    for (int i = -2; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *p;
        must(mapipc_map_anonymous(c->len, MAPIPC_READ | MAPIPC_WRITE, (void **)&p), "map anon");
        touch_pages(p, c->len);
        must(mapipc_unmap(p), "unmap");
    }
    return (now() - t0) / c->iters * 1e6;
}

static double anon_raw(void *arg) {
    struct cycle *c = arg;
    double t0 = 0;
    for (int i = -2; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *p = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) die("mmap anon");
        touch_pages(p, c->len);
        if (munmap(p, c->len) != 0) die("munmap");
    }
    return (now() - t0) / c->iters * 1e6;
}

/* ---- sync of one dirty page ----------------------------------------- */

static double sync_mapipc(void *arg) {
    struct cycle *c = arg;
    char *p;
    must(mapipc_map_file(file_sync, 0, (size_t)page, MAPIPC_READ | MAPIPC_WRITE, (void **)&p), "map");
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        p[0]++;
        must(mapipc_sync(p, (size_t)page, MAPIPC_SYNC_BLOCKING), "sync");
    }
    double t = (now() - t0) / c->iters * 1e6;
    must(mapipc_unmap(p), "unmap");
    return t;
}

static double sync_raw(void *arg) {
    struct cycle *c = arg;
    int fd = open(file_sync, O_RDWR | O_CLOEXEC);
    char *p = fd < 0 ? MAP_FAILED : mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    close(fd);
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        p[0]++;
        if (msync(p, (size_t)page, MS_SYNC) != 0) die("msync");
    }
    double t = (now() - t0) / c->iters * 1e6;
    munmap(p, (size_t)page);
    return t;
}

/* ---- shared memory cycles ------------------------------------------- */

/* by_key: remove with mapipc_shm_remove_key (ftok + shmget again) instead
 * of mapipc_shm_remove_region (the id the region knows). */
static double sysv_cycle(struct cycle *c, int by_key) {
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *p;
        must(mapipc_shm_open_key(key_file, 1, c->len, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&p), "shm key");
        touch_pages(p, c->len);
        must(by_key ? mapipc_shm_remove_key(key_file, 1) : mapipc_shm_remove_region(p), "remove");
        must(mapipc_unmap(p), "detach");
    }
    return (now() - t0) / c->iters * 1e6;
}

static double sysv_mapipc(void *arg) { return sysv_cycle(arg, 0); }
static double sysv_mapipc_by_key(void *arg) { return sysv_cycle(arg, 1); }

static double sysv_raw(void *arg) {
    struct cycle *c = arg;
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        key_t key = ftok(key_file, 2);
        int id = key == -1 ? -1 : shmget(key, c->len, IPC_CREAT | 0600);
        char *p = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
        if (p == (char *)-1) die("shmget/shmat");
        touch_pages(p, c->len);
        if (shmdt(p) != 0 || shmctl(id, IPC_RMID, NULL) != 0) die("shmdt/shmctl");
    }
    return (now() - t0) / c->iters * 1e6;
}

static double posix_mapipc(void *arg) {
    struct cycle *c = arg;
    char name[64];
    snprintf(name, sizeof name, "/mapipc-bench-%d", (int)getpid());
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        char *p;
        must(mapipc_shm_open_name(name, c->len, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&p), "shm name");
        touch_pages(p, c->len);
        must(mapipc_unmap(p), "unmap");
        must(mapipc_shm_unlink_name(name), "unlink");
    }
    return (now() - t0) / c->iters * 1e6;
}

static double posix_raw(void *arg) {
    struct cycle *c = arg;
    char name[64];
    snprintf(name, sizeof name, "/mapipc-bench-raw-%d", (int)getpid());
    double t0 = 0;
    for (int i = -5; i < c->iters; i++) {
        if (i == 0) t0 = now();
        int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)c->len) != 0) die("shm_open/ftruncate");
        char *p = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) die("mmap");
        close(fd);
        touch_pages(p, c->len);
        if (munmap(p, c->len) != 0 || shm_unlink(name) != 0) die("munmap/shm_unlink");
    }
    return (now() - t0) / c->iters * 1e6;
}
void bench_map(const char *dir) {
    snprintf(file_4k, sizeof file_4k, "%s/f4k", dir);
    snprintf(file_1m, sizeof file_1m, "%s/f1m", dir);
    snprintf(file_sync, sizeof file_sync, "%s/fsync", dir);
    snprintf(key_file, sizeof key_file, "%s/key", dir);
    make_file(file_4k, 4 * KIB);
    make_file(file_1m, MIB);
    make_file(file_sync, (size_t)page);
    make_file(key_file, 1);

    struct cycle c4k = {file_4k, 4 * KIB, quick ? 500 : 5000};
    struct cycle c1m = {file_1m, MIB, quick ? 50 : 500};
    compare("file map cycle 4 KiB", "us", 0, file_cycle_mapipc, "open+mmap", file_cycle_raw, &c4k);
    compare("file map cycle 1 MiB", "us", 0, file_cycle_mapipc, "open+mmap, placed", file_cycle_raw_placed, &c1m);
    compare("file map cycle 1 MiB", "us", 0, file_cycle_mapipc, "open+mmap(NULL)", file_cycle_raw, &c1m);

    struct cycle a4k = {NULL, 4 * KIB, quick ? 500 : 5000};
    struct cycle a64m = {NULL, 64 * MIB, quick ? 2 : 5};
    compare("anonymous shared cycle 4 KiB", "us", 0, anon_mapipc, "mmap anon", anon_raw, &a4k);
    compare("anonymous shared cycle 64 MiB", "us", 0, anon_mapipc, "mmap anon", anon_raw, &a64m);

    struct cycle s1 = {NULL, 0, quick ? 50 : 500};
    compare("sync one dirty page", "us", 0, sync_mapipc, "msync(MS_SYNC)", sync_raw, &s1);

    struct cycle shm = {NULL, 4 * KIB, quick ? 200 : 3000};
    compare("System V cycle 4 KiB", "us", 0, sysv_mapipc, "ftok+shmget+shmat", sysv_raw, &shm);
    compare("System V cycle 4 KiB, remove by key", "us", 0, sysv_mapipc_by_key, "ftok+shmget+shmat", sysv_raw,
            &shm);
    compare("POSIX named cycle 4 KiB", "us", 0, posix_mapipc, "shm_open+mmap", posix_raw, &shm);

    unlink(file_4k);
    unlink(file_1m);
    unlink(file_sync);
    unlink(key_file);
}
