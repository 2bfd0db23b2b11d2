/* make bench, group "guard": copies that cannot crash (mapipc_read,
 * mapipc_write) next to memcpy on the same mapping, and loads through a
 * guarded mapping next to an unguarded one. */
#include "harness.h"

static char file[4096];

enum { FILE_LEN = 64 << 20 };

struct copy_case { size_t len; int write; };

static void *map(uint32_t flags) {
    void *p = NULL;
    must(mapipc_map_file(file, 0, 0, flags, &p), "map");
    return p;
}

/* Copies len bytes between the mapping and a buffer, walking through the
 * first 1 MiB of the file (kept in cache) so every page is resident. */
static double copy_loop(struct copy_case *c, int use_mapipc) {
    char *p = map(MAPIPC_WRITE);
    /* Cache-line aligned in both builds (static and shared): a buffer that
     * is not would make every 64-byte copy straddle two lines in one of
     * them and not in the other. */
    static _Alignas(64) char buf[64 << 10];
    size_t window = MIB - c->len;
    long iters = (long)(quick ? 200 : 2000) * (long)(MIB / c->len);
    if (iters > 20000000) iters = 20000000;
    size_t at = 0;
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        char *m = p + at;
        if (use_mapipc) {
            if ((c->write ? mapipc_write(m, buf, c->len) : mapipc_read(m, buf, c->len)) != MAPIPC_OK) die("copy");
        } else if (c->write) {
            memcpy(m, buf, c->len);
        } else {
            memcpy(buf, m, c->len);
        }
        __asm__ volatile("" ::"r"(buf) : "memory");
        at += c->len;
        if (at > window) at = 0;
    }
    double t = now() - t0;
    must(mapipc_unmap(p), "unmap");
    return t / (double)iters * 1e9;
}

static double copy_mapipc(void *arg) { return copy_loop(arg, 1); }
static double copy_memcpy(void *arg) { return copy_loop(arg, 0); }

static uint64_t sum_words(const volatile uint64_t *w, size_t n) {
    uint64_t a = 0, b = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        a += w[i];
        b ^= w[i + 1];
    }
    return a + b;
}

static volatile uint64_t sink;

/* Reads the whole (cached) file through a mapping, 4 passes, timing only
 * the loads: faulting the pages in is the same for both sides. */
static double loads(uint32_t flags) {
    uint64_t *p = map(MAPIPC_READ | flags);
    must(mapipc_advise(p, 0, MAPIPC_ADVICE_POPULATE_READ), "populate");
    double t0 = now();
    for (int pass = 0; pass < 4; pass++) sink = sum_words(p, FILE_LEN / 8);
    double t = now() - t0;
    must(mapipc_unmap(p), "unmap");
    return gbps(t, 4 * (size_t)FILE_LEN);
}

static double loads_guarded(void *arg) { (void)arg; return loads(MAPIPC_GUARDED); }
static double loads_plain(void *arg) { (void)arg; return loads(0); }

void bench_guard(const char *dir) {
    snprintf(file, sizeof file, "%s/guarded", dir);
    make_file(file, FILE_LEN);
    warm(file);
    static struct copy_case reads[] = {{64, 0}, {4 * KIB, 0}, {64 * KIB, 0}};
    static struct copy_case writes[] = {{64, 1}, {4 * KIB, 1}, {64 * KIB, 1}};
    char op[80];
    for (int i = 0; i < 3; i++) {
        snprintf(op, sizeof op, "mapipc_read %zu B", reads[i].len);
        compare(op, "ns", 0, copy_mapipc, "memcpy", copy_memcpy, &reads[i]);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(op, sizeof op, "mapipc_write %zu B", writes[i].len);
        compare(op, "ns", 0, copy_mapipc, "memcpy", copy_memcpy, &writes[i]);
    }
    compare("loads through a 64 MiB mapping, GUARDED", "GB/s", 1, loads_guarded, "unguarded", loads_plain, NULL);
    unlink(file);
}
