/* Pages of a guarded region that vanished (the file shrank) are replaced
 * with zeros once, all at once past the file's end, by one thread; and
 * every report of them says TRUNCATED naming the file and its size now:
 * mapipc_read/mapipc_write on them (also after the file grew back),
 * mapipc_sync, and mapipc_advise(POPULATE_READ) on a truncated region. */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "check.h"

enum { PAGE = 4096 };

static void make_file(const char *path, off_t size, int pattern) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    if (pattern) {
        char page[PAGE];
        for (off_t at = 0; at < size; at += PAGE) {
            memset(page, 'A' + (int)(at / PAGE) % 26, PAGE);
            REQUIRE(write(fd, page, PAGE) == PAGE);
        }
    } else {
        REQUIRE(ftruncate(fd, size) == 0);
    }
    close(fd);
}

static void *map_guarded(const char *path, uint32_t access) {
    void *p = NULL;
    CHECK_OK(mapipc_map_file(path, 0, 0, access | MAPIPC_GUARDED, &p));
    REQUIRE(p != NULL);
    return p;
}

/* After a plain load absorbed a vanished page, copies of it say TRUNCATED,
 * also once the file has grown back (the process keeps zeros there). */
static void copies_of_lost_pages_say_truncated(void) {
    if (skip_under(UNDER_VALGRIND, "copies_of_lost_pages_say_truncated: retries a replaced page")) return;
    make_file("data", 2 * PAGE, 1);
    char *p = map_guarded("data", MAPIPC_READ | MAPIPC_WRITE);
    CHECK(truncate("data", PAGE) == 0);
    CHECK(((volatile char *)p)[PAGE] == 0);
    char buf[8];
    memset(buf, 1, sizeof buf);
    CHECK_STATUS(mapipc_read(p + PAGE, buf, 8), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_MESSAGE("data\" (now 4096 bytes long)");
    CHECK_STATUS(mapipc_write(p + PAGE, "hello", 5), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_STATUS(mapipc_read(p + PAGE - 4, buf, 8), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_OK(mapipc_read(p + PAGE - 8, buf, 8));
    CHECK(memcmp(buf, "AAAAAAAA", 8) == 0);
    /* The file grows back: this process's view of that page does not. */
    int fd = open("data", O_RDWR);
    REQUIRE(fd >= 0);
    char page[PAGE];
    memset(page, 'N', PAGE);
    REQUIRE(pwrite(fd, page, PAGE, PAGE) == PAGE);
    close(fd);
    CHECK_STATUS(mapipc_read(p + PAGE, buf, 5), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_MESSAGE("now 8192 bytes long");
    CHECK_STATUS(mapipc_sync(p, 0, 0), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_MESSAGE("data\" (now 8192 bytes long)");
    CHECK_MESSAGE("1 of its pages");
    CHECK_OK(mapipc_unmap(p));
    unlink("data");
}

/* A sparse read of a large truncated guarded region: one replacement for
 * the whole part past the end, not one mapping per page (which ran into
 * vm.max_map_count at about 32k pages and died). The program's own
 * handler, installed first, is never called. */
static volatile sig_atomic_t programs_calls;
static void programs(int sig) {
    (void)sig;
    programs_calls++;
    _exit(42);
}

static void sparse_reads_of_a_large_region(void) {
    if (skip_under(UNDER_VALGRIND, "sparse_reads_of_a_large_region: retries a replaced page")) return;
    signal(SIGBUS, programs);
    const size_t pages = (size_t)1 << 17; /* 512 MiB, sparse */
    make_file("big", (off_t)(pages * PAGE), 0);
    volatile char *p = map_guarded("big", MAPIPC_READ);
    CHECK(truncate("big", 3 * PAGE + 1) == 0);
    long sum = 0;
    for (size_t i = 0; i < pages; i += 2) sum += p[i * PAGE];
    CHECK(sum == 0);
    CHECK(programs_calls == 0);
    CHECK_STATUS(mapipc_sync((void *)p, 0, 0), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_MESSAGE("131068 of its pages");
    /* One zero mapping past the end: few lines in /proc/self/maps. */
    FILE *m = fopen("/proc/self/maps", "r");
    REQUIRE(m != NULL);
    int lines = 0;
    char line[512];
    while (fgets(line, sizeof line, m)) lines++;
    fclose(m);
    CHECK(lines < 1000);
    CHECK_OK(mapipc_unmap((void *)p));
    unlink("big");
}

/* Two threads store into the same vanished pages at the same moment: no
 * store made after a thread's access went through is wiped by the other's
 * replacement, and each page counts once. */
enum { RACE_PAGES = 1024 };
static volatile char *race_p;
static pthread_barrier_t race_bar;

static void *race_walk(void *arg) {
    long me = (long)(intptr_t)arg;
    for (int i = 0; i < RACE_PAGES; i++) {
        pthread_barrier_wait(&race_bar);
        race_p[(size_t)i * PAGE + me * 64] = (char)('a' + me);
    }
    return NULL;
}

static void racing_faults_keep_stores(void) {
    if (skip_under(UNDER_VALGRIND, "racing_faults_keep_stores: retries a replaced page")) return;
    for (int round = 0; round < 20; round++) {
        make_file("race", (off_t)RACE_PAGES * PAGE, 0);
        race_p = map_guarded("race", MAPIPC_READ | MAPIPC_WRITE);
        CHECK(truncate("race", 0) == 0);
        REQUIRE(pthread_barrier_init(&race_bar, NULL, 2) == 0);
        pthread_t t[2];
        for (long i = 0; i < 2; i++) REQUIRE(pthread_create(&t[i], NULL, race_walk, (void *)(intptr_t)i) == 0);
        for (int i = 0; i < 2; i++) REQUIRE(pthread_join(t[i], NULL) == 0);
        pthread_barrier_destroy(&race_bar);
        long missing = 0;
        for (int i = 0; i < RACE_PAGES; i++)
            for (int me = 0; me < 2; me++)
                if (race_p[(size_t)i * PAGE + me * 64] != 'a' + me) missing++;
        CHECK(missing == 0);
        CHECK_STATUS(mapipc_sync((void *)race_p, 0, 0), MAPIPC_ERR_TRUNCATED, EFAULT);
        CHECK_MESSAGE("1024 of its pages");
        CHECK_OK(mapipc_unmap((void *)race_p));
        unlink("race");
        if (check_failures) break;
    }
}

/* Populating pages the file no longer has is TRUNCATED, not OUT_OF_RANGE. */
static void populate_of_truncated_region(void) {
    make_file("pop", 4 * PAGE, 1);
    char *p = NULL;
    CHECK_OK(mapipc_map_file("pop", 0, 0, MAPIPC_READ, (void **)&p));
    CHECK_OK(mapipc_advise(p, 0, MAPIPC_ADVICE_POPULATE_READ));
    CHECK(truncate("pop", PAGE) == 0);
    CHECK_STATUS(mapipc_advise(p, 0, MAPIPC_ADVICE_POPULATE_READ), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_MESSAGE("pop\" (now 4096 bytes long)");
    CHECK_OK(mapipc_advise(p, PAGE, MAPIPC_ADVICE_POPULATE_READ)); /* what is left */
    CHECK_OK(mapipc_unmap(p));
    unlink("pop");
}

int main(void) {
    RUN(copies_of_lost_pages_say_truncated);
    RUN(sparse_reads_of_a_large_region);
    RUN(racing_faults_keep_stores);
    RUN(populate_of_truncated_region);
    return check_done();
}
