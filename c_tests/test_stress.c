/* A seeded, randomized stress of the whole C API: random sequences of
 * calls with random arguments, good and bad (live, interior, stale, NULL,
 * stack and wild pointers; zero and huge lengths and offsets; unknown
 * flags), files truncated or deleted and segments removed underneath, fork
 * in the middle, threads at once. After every call it checks that the
 * status is a known one, that a failure set errno and left a message, and
 * that every region that was live is still live and holds its canary. At
 * the end nothing may be left: descriptors, mappings of our files, files,
 * POSIX objects, System V segments (c_tests/run.sh checks the last three).
 *
 * MAPIPC_STRESS_SEED and MAPIPC_STRESS_CALLS choose the run (make stress
 * SEED=n CALLS=n); a failure prints the seed and call number to replay. */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "check.h"

enum { MAX_REGIONS = 48, PAGE = 4096, BUF = 1 << 16 };

struct rng { uint64_t s; };

static uint64_t next(struct rng *r) {
    /* splitmix64: small, fast, and the same everywhere. */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n) { return next(r) % n; }

struct region {
    unsigned char *p;
    size_t len;
    int writable;
    int own_bytes;   /* anonymous: nothing else maps these bytes (canary kept) */
    int may_shrink;  /* a file, unguarded: objects inside would die of SIGBUS */
    unsigned char canary;
};

/* One independent player: its own regions and names, so threads can play
 * at once without sharing state. */
struct player {
    struct rng rng;
    int id;
    struct region live[MAX_REGIONS];
    int nlive;
    void *stale[8];  /* pointers of regions unmapped already */
    int nstale;
    char files[4][96];
    char shm_name[96];
    uint64_t calls, failures, budget;
    int alone;       /* no other player runs: stale pointers may be used to write */
    int no_sigbus;   /* never shrink a mapped file (see op_fork) */
    const char *failed; /* the invariant that broke, or NULL */
    uint64_t failed_at;
    char detail[400];   /* the call's status and message at that point */
};

static uint64_t seed;
static int under_valgrind, under_sanitizer;
static char wild_stack[256];

static const mapipc_status known_max = MAPIPC_ERR_TRUNCATED;

/* Checks what every call must satisfy; `object` is a string the message
 * should name on failure, unless it names the value at fault (a number, a
 * NULL argument); NULL: no requirement beyond a message. */
static void after_call(struct player *pl, mapipc_status st, int err, const char *object) {
    pl->calls++;
    if (pl->failed) return;
    if (st < 0 || st > known_max || strcmp(mapipc_status_name(st), "MAPIPC_UNKNOWN_STATUS") == 0) {
        pl->failed = "unknown status";
    } else if (st != MAPIPC_OK) {
        pl->failures++;
        const char *msg = mapipc_last_error();
        if (err == 0) pl->failed = "failure without errno";
        else if (msg == NULL || msg[0] == '\0') pl->failed = "failure without a message";
        else if (object && strstr(msg, object) == NULL && strpbrk(msg, "0123456789") == NULL &&
                 strstr(msg, "NULL") == NULL)
            pl->failed = "message does not name the object";
    }
    if (pl->failed) {
        pl->failed_at = pl->calls;
        snprintf(pl->detail, sizeof pl->detail, "%s: %s", mapipc_status_name(st), mapipc_last_error());
    }
}

/* Records a broken invariant with the last call's status and message. */
static void fail(struct player *pl, const char *what, mapipc_status st) {
    if (pl->failed) return;
    pl->failed = what;
    pl->failed_at = pl->calls;
    snprintf(pl->detail, sizeof pl->detail, "%s: %s", mapipc_status_name(st), mapipc_last_error());
}

#define CALL(pl, object, expr)                                                                     \
    do {                                                                                           \
        errno = 0;                                                                                 \
        mapipc_status st_ = (expr);                                                                \
        after_call((pl), st_, errno, (object));                                                    \
        last_status = st_;                                                                         \
    } while (0)

static mapipc_status last_status;

static uint32_t random_map_flags(struct player *pl) {
    static const uint32_t good[] = {
        MAPIPC_READ, MAPIPC_WRITE, MAPIPC_READ | MAPIPC_WRITE, MAPIPC_WRITE | MAPIPC_CREATE,
        MAPIPC_WRITE | MAPIPC_PRIVATE, MAPIPC_READ | MAPIPC_GUARDED, MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_GUARDED,
        MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE,
    };
    if (below(&pl->rng, 8) == 0) return (uint32_t)next(&pl->rng); /* anything at all */
    return good[below(&pl->rng, sizeof good / sizeof good[0])];
}

static size_t random_len(struct player *pl) {
    static const size_t lens[] = {0, 1, 100, PAGE, PAGE + 1, 3 * PAGE, 65536, (size_t)1 << 40, SIZE_MAX};
    return lens[below(&pl->rng, sizeof lens / sizeof lens[0])];
}

/* What a call does with the pointer it gets. */
enum use {
    LOOK,   /* reads or checks only: any pointer at all */
    CHANGE, /* writes, unmaps, builds objects: nothing another player holds */
};

/* A pointer to hand to a function that checks it: live starts, interior
 * pointers (and, to look, past the end), stale ones, NULL, the stack, a
 * wild address. A pointer to change something never lands in another
 * player's region (a stale one may, the API's known limit, so only a player
 * alone uses those), in the first 64 bytes of a region (its canary), or in
 * a file that may have shrunk (an object there would die of SIGBUS, as the
 * API says, unless the region is guarded). */
static void *random_pointer(struct player *pl, enum use use) {
    unsigned char *p;
    switch (below(&pl->rng, 8)) {
    case 0: return NULL;
    case 1: return wild_stack + below(&pl->rng, 64);
    case 2: return (void *)(uintptr_t)(0x1000 + below(&pl->rng, 1u << 20) * 8);
    case 3:
        if (use == CHANGE && !pl->alone) return NULL;
        if (pl->nstale == 0) return NULL;
        p = pl->stale[below(&pl->rng, (uint64_t)pl->nstale)];
        break;
    default: {
        if (pl->nlive == 0) return NULL;
        struct region *r = &pl->live[below(&pl->rng, (uint64_t)pl->nlive)];
        size_t off = below(&pl->rng, 3) == 0 ? 0 : (size_t)below(&pl->rng, r->len + (use == LOOK ? 64 : 0));
        p = r->p + (off & ~(size_t)(below(&pl->rng, 2) ? 63 : 0));
    }
    }
    if (use == LOOK) return p;
    for (int i = 0; i < pl->nlive; i++) {
        struct region *r = &pl->live[i];
        if (p < r->p || p >= r->p + r->len) continue;
        if (r->may_shrink || r->len <= 64) return NULL;
        return p < r->p + 64 ? r->p + 64 : p;
    }
    return p;
}

static void remember(struct player *pl, void *p, size_t len, int writable, int own_bytes, int may_shrink) {
    if (p == NULL || pl->nlive == MAX_REGIONS) {
        if (p) mapipc_unmap(p);
        return;
    }
    struct region *r = &pl->live[pl->nlive++];
    r->p = p;
    r->len = len;
    r->writable = writable;
    r->own_bytes = own_bytes;
    r->may_shrink = may_shrink;
    r->canary = (unsigned char)next(&pl->rng);
    if (writable) mapipc_write(p, &r->canary, 1);
}

static void forget(struct player *pl, int i) {
    if (pl->nstale < 8) pl->stale[pl->nstale++] = pl->live[i].p;
    else pl->stale[below(&pl->rng, 8)] = pl->live[i].p;
    pl->live[i] = pl->live[--pl->nlive];
}

/* Every region we hold is still there, with its canary (read through
 * mapipc_read, which survives a file truncated underneath). */
static void check_regions(struct player *pl) {
    for (int i = 0; i < pl->nlive && !pl->failed; i++) {
        struct region *r = &pl->live[i];
        size_t size = 0;
        mapipc_status st = mapipc_region_size(r->p, &size);
        if (st != MAPIPC_OK || size != r->len) {
            fail(pl, "a live region was lost", st);
            return;
        }
        unsigned char c;
        st = mapipc_read(r->p, &c, 1);
        if (st == MAPIPC_OK && r->writable && r->own_bytes && c != r->canary)
            fail(pl, "a region's canary changed", st);
        else if (st != MAPIPC_OK && !(!r->own_bytes && st == MAPIPC_ERR_TRUNCATED))
            fail(pl, "a live region cannot be read", st);
    }
}

static void op_map(struct player *pl) {
    void *p = NULL;
    const char *file = pl->files[below(&pl->rng, 4)];
    size_t len = random_len(pl);
    uint32_t flags = random_map_flags(pl);
    switch (below(&pl->rng, 4)) {
    case 0: {
        uint64_t offsets[] = {0, 1, PAGE, PAGE + 7, (uint64_t)1 << 62};
        uint64_t off = offsets[below(&pl->rng, 5)];
        if (len > (size_t)1 << 24 && (flags & MAPIPC_CREATE)) len = 3 * PAGE; /* no 1 TiB files */
        CALL(pl, file, mapipc_map_file(file, off, len, flags, &p));
        if (last_status == MAPIPC_OK) {
            size_t size = 0;
            mapipc_region_size(p, &size);
            /* valgrind cannot retry an access whose page a handler replaced:
             * there, guarded regions get no objects either. */
            remember(pl, p, size, (flags & MAPIPC_WRITE) != 0, 0, (flags & MAPIPC_GUARDED) == 0 || under_valgrind);
        } else if (p != NULL) {
            fail(pl, "out pointer not NULL after a failure", last_status);
        }
        break;
    }
    case 1:
        CALL(pl, NULL, mapipc_map_anonymous(len, flags, &p));
        if (last_status == MAPIPC_OK) remember(pl, p, len, (flags & MAPIPC_WRITE) != 0, 1, 0);
        break;
    case 2:
    {
        const char *name = below(&pl->rng, 6) ? pl->shm_name : "bad/name";
        CALL(pl, name, mapipc_shm_open_name(name, len > (1 << 20) ? PAGE : len, flags, &p));
    }
        if (last_status == MAPIPC_OK) {
            size_t size = 0;
            mapipc_region_size(p, &size);
            remember(pl, p, size, (flags & MAPIPC_WRITE) != 0, 0, 0);
        }
        break;
    default: {
        /* Only one valid project id per player, so that cleaning up can
         * name every segment it may have created; the others are bad. */
        static const int bad_proj[] = {0, -1, 256, 1000, INT32_MIN};
        int proj = below(&pl->rng, 5) == 0 ? bad_proj[below(&pl->rng, 5)] : 11 + pl->id;
        CALL(pl, file, mapipc_shm_open_key(file, proj, len > (1 << 20) ? PAGE : len, flags, &p));
        if (last_status == MAPIPC_OK) {
            size_t size = 0;
            mapipc_region_size(p, &size);
            /* Half the time removed at once: it lives while attached, and
             * can never outlive the test. */
            if (below(&pl->rng, 2)) CALL(pl, NULL, mapipc_shm_remove_region(p));
            remember(pl, p, size, (flags & MAPIPC_WRITE) != 0, 0, 0);
        }
    }
    }
}

static void op_unmap(struct player *pl) {
    if (pl->nlive > 0 && below(&pl->rng, 3) != 0) {
        int i = (int)below(&pl->rng, (uint64_t)pl->nlive);
        CALL(pl, NULL, mapipc_unmap(pl->live[i].p));
        if (last_status == MAPIPC_OK) forget(pl, i);
        else if (last_status != MAPIPC_ERR_BUSY) fail(pl, "unmap of a live region failed", last_status);
        return;
    }
    void *p = random_pointer(pl, CHANGE);
    for (int i = 0; i < pl->nlive; i++)
        if (pl->live[i].p == p) return; /* a live start: the branch above covers it */
    CALL(pl, NULL, mapipc_unmap(p));
    if (last_status == MAPIPC_OK && p != NULL) fail(pl, "unmap of a dead pointer succeeded", last_status);
}

static void op_region_calls(struct player *pl) {
    void *p = random_pointer(pl, LOOK);
    size_t len = random_len(pl), out = 0;
    switch (below(&pl->rng, 5)) {
    case 0: CALL(pl, "0x", mapipc_sync(p, len, (uint32_t)below(&pl->rng, 9))); break;
    case 1: CALL(pl, "0x", mapipc_advise(p, len, (uint32_t)below(&pl->rng, 8))); break;
    case 2: CALL(pl, "0x", mapipc_region_size(p, below(&pl->rng, 8) ? &out : NULL)); break;
    case 3: CALL(pl, NULL, mapipc_shm_remove_region(p)); break;
    default: CALL(pl, "0x", mapipc_wake(p, (uint32_t)next(&pl->rng))); break;
    }
}

static void op_objects(struct player *pl) {
    static __thread unsigned char buf[BUF];
    void *p = random_pointer(pl, CHANGE);
    size_t len = (size_t)below(&pl->rng, 3000), got = 0;
    switch (below(&pl->rng, 11)) {
    case 0: CALL(pl, NULL, mapipc_mutex_init(p)); break;
    case 1:
        CALL(pl, NULL, mapipc_mutex_lock(p, 0));
        /* Never keep a lock: unlock at once (also after OWNER_DIED). */
        if (last_status == MAPIPC_OK || last_status == MAPIPC_ERR_OWNER_DIED) {
            mapipc_mutex_consistent(p);
            CALL(pl, NULL, mapipc_mutex_unlock(p));
        }
        break;
    case 2: CALL(pl, NULL, mapipc_mutex_unlock(p)); break;
    case 3: CALL(pl, NULL, mapipc_wait(p, (uint32_t)next(&pl->rng), 0)); break;
    case 4: CALL(pl, NULL, mapipc_channel_init(p, below(&pl->rng, 2) ? 0 : random_len(pl))); break;
    case 5: CALL(pl, NULL, mapipc_channel_send(p, buf, len, 0)); break;
    case 6: CALL(pl, NULL, mapipc_channel_recv(p, buf, below(&pl->rng, 2) ? sizeof buf : 10, &got, 0)); break;
    case 7: CALL(pl, NULL, mapipc_channel_max_message(p, &got)); break;
    case 8: CALL(pl, NULL, mapipc_channel_close(p)); break;
    case 9: CALL(pl, NULL, mapipc_read(p, buf, below(&pl->rng, 2) ? len : (size_t)below(&pl->rng, BUF))); break;
    default: CALL(pl, NULL, mapipc_write(p, buf, len)); break;
    }
}

/* Things happening underneath: files truncated or deleted, segments
 * removed while attached, names unlinked. */
static void op_underneath(struct player *pl) {
    const char *file = pl->files[below(&pl->rng, 4)];
    switch (below(&pl->rng, 5)) {
    case 0:
        if (!pl->no_sigbus) (void)!truncate(file, (off_t)below(&pl->rng, 3) * PAGE);
        break;
    case 1:
        /* A segment keyed on the file must go first, or nothing could
         * name it again. */
        mapipc_shm_remove_key(file, 11 + pl->id);
        unlink(file);
        break;
    case 2: {
        if (pl->no_sigbus) break;
        FILE *f = fopen(file, "wb"); /* may be the directory "." */
        if (f) {
            fputs("stress", f);
            fclose(f);
        }
        break;
    }
    case 3: CALL(pl, file, mapipc_shm_remove_key(file, 11 + pl->id)); break;
    default: CALL(pl, pl->shm_name, mapipc_shm_unlink_name(pl->shm_name)); break;
    }
}

static void play(struct player *pl, uint64_t calls, int allow_fork);
static void clean_up(struct player *pl);
static void report(const char *who, struct player *pl);

/* A child plays on from here and must end cleanly. */
static void op_fork(struct player *pl) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return;
    if (pid == 0) {
        struct player child = *pl;
        child.id = pl->id + 100;
        snprintf(child.shm_name, sizeof child.shm_name, "%.80s-child", pl->shm_name);
        for (int i = 0; i < 4; i++) snprintf(child.files[i], sizeof child.files[i], "%.80s-child", pl->files[i]);
        child.rng.s ^= 0xabcdef;
        child.nlive = 0; /* the inherited regions stay the parent's to track */
        child.nstale = 0;
        child.alone = 1;
        /* valgrind cannot grow a forked child's stack to deliver SIGBUS. */
        child.no_sigbus = under_valgrind;
        play(&child, 200, 0);
        clean_up(&child);
        if (child.failed) report("forked child", &child);
        fflush(stdout);
        _exit(child.failed ? 1 : 0);
    }
    int rc = check_wait(pid);
    if (rc != 0) {
        fail(pl, "a forked child failed or crashed", MAPIPC_OK);
        snprintf(pl->detail, sizeof pl->detail, "child ended with %d", rc);
    }
}

static void play(struct player *pl, uint64_t calls, int allow_fork) {
    for (uint64_t n = 0; n < calls && !pl->failed; n++) {
        uint64_t dice = below(&pl->rng, 100);
        if (dice < 22) op_map(pl);
        else if (dice < 40) op_unmap(pl);
        else if (dice < 60) op_region_calls(pl);
        else if (dice < 92) op_objects(pl);
        else if (dice < 99) op_underneath(pl);
        else if (allow_fork) op_fork(pl);
        if (n % 16 == 0) check_regions(pl);
    }
    check_regions(pl);
}

static void clean_up(struct player *pl) {
    while (pl->nlive > 0) {
        mapipc_status st = mapipc_unmap(pl->live[0].p);
        if (st != MAPIPC_OK) fail(pl, "final unmap failed", st);
        forget(pl, 0);
    }
    for (int i = 0; i < 4; i++) {
        mapipc_shm_remove_key(pl->files[i], 11 + pl->id);
        for (int k = 0; k < 4; k++) {
            char child[112];
            snprintf(child, sizeof child, "%.80s-child", pl->files[k]);
            mapipc_shm_remove_key(child, 11 + pl->id + 100);
            mapipc_shm_remove_key(pl->files[k], 11 + pl->id + 100);
            if (k == i) unlink(child);
        }
        unlink(pl->files[i]);
    }
    char child[112];
    snprintf(child, sizeof child, "%.80s-child", pl->shm_name);
    mapipc_shm_unlink_name(child);
    mapipc_shm_unlink_name(pl->shm_name);
}

static void setup(struct player *pl, int id, uint64_t s) {
    memset(pl, 0, sizeof *pl);
    pl->id = id;
    pl->rng.s = s;
    for (int i = 0; i < 4; i++) {
        snprintf(pl->files[i], sizeof pl->files[i], "f%d-%d", id, i);
        if (i < 3) check_write_file(pl->files[i], "0123456789abcdef", 16);
    }
    if (pl->id == 0) {
        /* f0-3 stays missing; a directory for the mapper to refuse. */
        snprintf(pl->files[3], sizeof pl->files[3], ".");
    }
    snprintf(pl->shm_name, sizeof pl->shm_name, "/mapipc-stress-%ld-%d", (long)getpid(), id);
}

static void *thread_player(void *arg) {
    struct player *pl = arg;
    play(pl, pl->budget, 0);
    return NULL;
}

static int count_our_mappings(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "/f") && strstr(line, "-") && (strstr(line, "/f0-") || strstr(line, "/f1-") || strstr(line, "/f2-") || strstr(line, "/f3-")))
            n++;
    if (f) fclose(f);
    return n;
}

static void report(const char *who, struct player *pl) {
    if (pl->failed)
        printf("  %s: FAILED (%s) at call %" PRIu64 " [%s]; replay: make stress SEED=%" PRIu64 " CALLS=%" PRIu64
               "\n",
               who, pl->failed, pl->failed_at, pl->detail, seed, pl->failed_at);
    printf("# %s: %" PRIu64 " calls, %" PRIu64 " refused with an error\n", who, pl->calls, pl->failures);
}

static void randomized_api_stress(void) {
    const char *s = getenv("MAPIPC_STRESS_SEED"), *c = getenv("MAPIPC_STRESS_CALLS");
    seed = s ? strtoull(s, NULL, 10) : 1;
    uint64_t calls = c ? strtoull(c, NULL, 10) : 20000;
    under_valgrind = skip_under(UNDER_VALGRIND, "objects inside guarded regions (a replaced page cannot be "
                                                "retried), truncation in forked children (no stack for SIGBUS), fork beside threads");
    under_sanitizer = skip_under(UNDER_SANITIZER, "fork beside threads (the allocator's lock may be held by a "
                                                  "thread that is gone in the child)");
    int fds = check_count_fds();

    struct player main_player;
    setup(&main_player, 0, seed);
    main_player.alone = 1;
    play(&main_player, calls / 2, 1);
    main_player.alone = 0;

    /* Then three players at once, each on its own names. */
    struct player threads[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        setup(&threads[i], i + 1, seed * 7919 + (uint64_t)i);
        threads[i].budget = calls / 6;
        REQUIRE(pthread_create(&t[i], NULL, thread_player, &threads[i]) == 0);
    }
    /* Under the tools no fork while the other players run: valgrind shows
     * the other threads' thread-local buffers as lost in the child, and
     * ASan's allocator may still be locked there by a thread that is gone
     * (the child hangs in malloc). */
    play(&main_player, calls / 2, !under_valgrind && !under_sanitizer);
    for (int i = 0; i < 3; i++) REQUIRE(pthread_join(t[i], NULL) == 0);

    clean_up(&main_player);
    report("main", &main_player);
    CHECK(main_player.failed == NULL);
    for (int i = 0; i < 3; i++) {
        clean_up(&threads[i]);
        char who[16];
        snprintf(who, sizeof who, "thread %d", i + 1);
        report(who, &threads[i]);
        CHECK(threads[i].failed == NULL);
    }
    CHECK(check_count_fds() == fds);
    CHECK(count_our_mappings() == 0);
    printf("# seed %" PRIu64 "\n", seed);
}

int main(void) {
    RUN(randomized_api_stress);
    return check_done();
}
