/* A hostile peer rewrites the addresses a holder leaves in shared memory
 * (the robust-list links of a held mutex or of a channel side inside a
 * send or recv) to point into the holder's own memory or at a PROT_NONE
 * page. Found by the hostile_mutex fuzz target: unlock wrote through the
 * forged links, a store anywhere the peer liked. The library must follow
 * no such address: nothing outside the object changes, nothing faults.
 *
 * The tests do not know the layouts: every 8-byte word that holds an
 * address near this thread's TLS or inside the object is taken for a link
 * the peer may forge. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "check.h"
#include "sync_util.h"

/* What the peer's forged links point at. */
static uint64_t canary[64];
static char *no_access;

/* The links of a lock this thread holds name its robust list head, which
 * glibc keeps beside the thread's TLS, or other entries of the object. */
static __thread char tls_marker;
static uintptr_t tls_near, obj_start, obj_end;

static int looks_like_address(uint64_t v) {
    uint64_t d = v > tls_near ? v - tls_near : tls_near - v;
    return d < (1u << 20) || (v >= obj_start && v < obj_end);
}

/* Replaces every address-like word of the `len` bytes at `p` with `to`;
 * returns how many it replaced. */
static int forge(void *p, size_t len, uint64_t to) {
    int n = 0;
    for (size_t i = 0; i + 8 <= len; i += 8) {
        uint64_t *w = (uint64_t *)((char *)p + i);
        if (looks_like_address(__atomic_load_n(w, __ATOMIC_RELAXED))) {
            __atomic_store_n(w, to, __ATOMIC_RELAXED);
            n++;
        }
    }
    return n;
}

static void setup(void *obj, size_t len) {
    tls_near = (uintptr_t)&tls_marker;
    obj_start = (uintptr_t)obj;
    obj_end = obj_start + len;
    for (size_t i = 0; i < 64; i++) canary[i] = 0x5a5a5a5a5a5a5a5aull;
    no_access = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(no_access != MAP_FAILED);
}

static int canary_intact(void) {
    for (size_t i = 0; i < 64; i++)
        if (canary[i] != 0x5a5a5a5a5a5a5a5aull) return 0;
    return 1;
}

static void unlock_ignores_forged_links(uint64_t target) {
    mapipc_mutex *m = anon(4096);
    setup(m, 4096);
    CHECK_OK(mapipc_mutex_init(m));
    CHECK_OK(mapipc_mutex_lock(m, 0));
    CHECK(forge(m, sizeof *m, target) > 0); /* the hostile write */
    CHECK_OK(mapipc_mutex_unlock(m));
    CHECK(canary_intact());
    /* Still a working mutex, for this thread and another. */
    CHECK_OK(mapipc_mutex_lock(m, 0));
    CHECK_OK(mapipc_mutex_unlock(m));
}

static void forged_links_into_the_holder(void) { unlock_ignores_forged_links((uintptr_t)&canary[8]); }

static void forged_links_to_no_access(void) { unlock_ignores_forged_links((uintptr_t)no_access + 64); }

/* Two held locks, the later one's links forged: the earlier one unlocks
 * normally and the thread's other locks keep working. */
static void forged_links_beside_another_lock(void) {
    mapipc_mutex *a = anon(4096), *b = anon(4096);
    setup(b, 4096);
    CHECK_OK(mapipc_mutex_init(a));
    CHECK_OK(mapipc_mutex_init(b));
    CHECK_OK(mapipc_mutex_lock(a, 0));
    CHECK_OK(mapipc_mutex_lock(b, 0));
    CHECK(forge(b, sizeof *b, (uintptr_t)&canary[8]) > 0);
    CHECK_OK(mapipc_mutex_unlock(b));
    CHECK_OK(mapipc_mutex_unlock(a));
    CHECK(canary_intact());
    CHECK_OK(mapipc_mutex_lock(a, 0));
    CHECK_OK(mapipc_mutex_unlock(a));
}

/* The peer keeps forging every address in the channel's first lines while
 * this thread sends and receives: a side's links are there only during
 * the call, so this races them. */
struct peer {
    void *chan;
    int stop;
};

static void *forger(void *arg) {
    struct peer *p = arg;
    while (!__atomic_load_n(&p->stop, __ATOMIC_RELAXED)) {
        forge(p->chan, 512, (uintptr_t)&canary[8]);
        forge(p->chan, 512, (uintptr_t)no_access + 64);
    }
    return NULL;
}

static void channel_calls_ignore_forged_links(void) {
    void *chan = anon(8192);
    setup(chan, 8192);
    CHECK_OK(mapipc_channel_init(chan, 8192));
    struct peer p = {chan, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, forger, &p) == 0);
    char msg[64] = "hello", buf[64];
    size_t got;
    /* Valgrind runs one thread at a time: fewer rounds, same checks. */
    int rounds = getenv("MAPIPC_TEST_UNDER_VALGRIND") ? 5000 : 50000;
    for (int i = 0; i < rounds; i++) {
        mapipc_status s = mapipc_channel_send(chan, msg, sizeof msg, 0);
        CHECK(s == MAPIPC_OK || s == MAPIPC_ERR_TIMED_OUT);
        s = mapipc_channel_recv(chan, buf, sizeof buf, &got, 0);
        CHECK(s == MAPIPC_OK || s == MAPIPC_ERR_TIMED_OUT);
    }
    __atomic_store_n(&p.stop, 1, __ATOMIC_RELAXED);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK(canary_intact());
}

int main(void) {
    RUN(forged_links_into_the_holder);
    RUN(forged_links_to_no_access);
    RUN(forged_links_beside_another_lock);
    RUN(channel_calls_ignore_forged_links);
    return check_done();
}
