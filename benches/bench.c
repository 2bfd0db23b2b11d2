/* make bench: every mapipc operation next to the raw code a careful C
 * programmer would write, in the same run, alternating, each repetition in
 * a fresh child process (so each side's peak RSS is its own).
 *
 * Usage: bench SCRATCH_DIR CSV_OUT SVG_OUT [quick] [GROUP...]
 * GROUP: map, map_copy, shm_ipc, sync, guard, channel, share, cli (default: all). Prints one table; writes the
 * rows to CSV_OUT and a chart of the ratios to SVG_OUT.
 * ratio = mapipc cost / baseline cost: below 1, mapipc is faster. */
#include "harness.h"

struct group {
    const char *name;
    void (*run)(const char *dir);
};

static void run_shm_ipc(const char *dir) { (void)dir; bench_shm_ipc(); }
static void run_sync(const char *dir) { (void)dir; bench_sync(); }
static void run_channel(const char *dir) { (void)dir; bench_channel(); }
static void run_share(const char *dir) { (void)dir; bench_share(); }
static void run_cli(const char *dir) { (void)dir; bench_cli(); }

static const struct group groups[] = {
    {"map", bench_map}, {"map_copy", bench_map_copy}, {"shm_ipc", run_shm_ipc}, {"sync", run_sync}, {"guard", bench_guard},
    {"channel", run_channel}, {"share", run_share}, {"cli", run_cli},
};
enum { NGROUPS = sizeof groups / sizeof groups[0] };

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench SCRATCH_DIR CSV_OUT SVG_OUT [quick] [map|map_copy|shm_ipc|sync|guard|channel|share|cli...]\n");
        return 2;
    }
    page = sysconf(_SC_PAGESIZE);
    int chosen[NGROUPS] = {0}, any = 0;
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "quick") == 0) {
            quick = 1;
            continue;
        }
        int found = 0;
        for (int g = 0; g < NGROUPS; g++) {
            if (strcmp(argv[i], groups[g].name) == 0) chosen[g] = found = any = 1;
        }
        if (!found) {
            fprintf(stderr, "bench: unknown group \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (quick) reps = 3;
    print_header();
    for (int g = 0; g < NGROUPS; g++) {
        if (!any || chosen[g]) groups[g].run(argv[1]);
    }
    write_outputs(argv[2], argv[3]);
    return 0;
}
