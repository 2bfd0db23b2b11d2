/* Surviving a file that shrinks under its mapping: mapipc_read and
 * mapipc_write report MAPIPC_ERR_TRUNCATED, MAPIPC_GUARDED regions read
 * zeros and report the loss at the next sync, and every SIGBUS that is not
 * mapipc's still reaches the program's handler or kills it. Another process
 * truncates the file, as in the seed labs. Each case runs in its own child
 * (check.h), so a SIGBUS that got through shows as a failed case. */
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "check.h"

enum { PAGE = 4096 };

/* Valgrind cannot retry an access after a handler replaced the page it
 * faulted on: such cases print why they were skipped. */
static int skip_under_valgrind(const char *why) { return skip_under(UNDER_VALGRIND, why); }

/* Another process shrinks the file, and is gone before we go on. */
static void truncate_elsewhere(const char *path, off_t size) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(truncate(path, size) == 0 ? 0 : 1);
    REQUIRE(check_wait(pid) == 0);
}

static off_t size_of(const char *path) {
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    return st.st_size;
}

/* A file of `pages` pages, byte i holding i % 251, mapped read-write. */
static unsigned char *patterned(const char *path, int pages, uint32_t extra_flags) {
    unsigned char *p = NULL;
    CHECK_OK(mapipc_map_file(path, 0, (size_t)pages * PAGE, MAPIPC_WRITE | MAPIPC_CREATE | extra_flags,
                             (void **)&p));
    REQUIRE(p != NULL);
    for (int i = 0; i < pages * PAGE; i++) p[i] = (unsigned char)(i % 251);
    return p;
}

static void copies_before_and_after_truncation(void) {
    unsigned char *p = patterned("data", 4, 0);
    static unsigned char buf[4 * PAGE];
    CHECK_OK(mapipc_read(p, buf, sizeof buf));
    CHECK(memcmp(buf, p, sizeof buf) == 0);
    truncate_elsewhere("data", PAGE + 100);
    /* Bytes still there (the tail of the last page reads as zeros). */
    memset(buf, 0xee, sizeof buf);
    CHECK_OK(mapipc_read(p + 10, buf, PAGE));
    CHECK(buf[0] == 10 % 251 && buf[PAGE - 1] == (PAGE + 9) % 251);
    CHECK_OK(mapipc_read(p + PAGE, buf, PAGE));
    CHECK(buf[99] == (PAGE + 99) % 251 && buf[100] == 0);
    /* Vanished bytes. */
    CHECK_STATUS(mapipc_read(p, buf, 3 * PAGE), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_MESSAGE("data");
    CHECK_MESSAGE("now 4196 bytes long");
    CHECK_STATUS(mapipc_read(p + 3 * PAGE, buf, 1), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_STATUS(mapipc_write(p + 2 * PAGE, "x", 1), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_MESSAGE("byte 8192 of");
    /* Writes that land in what is left reach the file; the file never grows. */
    CHECK_OK(mapipc_write(p + 5, "hello", 5));
    CHECK(size_of("data") == PAGE + 100);
    FILE *f = fopen("data", "rb");
    REQUIRE(f != NULL);
    char head[10];
    REQUIRE(fread(head, 1, 10, f) == 10);
    fclose(f);
    CHECK(memcmp(head + 5, "hello", 5) == 0);
    CHECK_OK(mapipc_unmap(p));
    unlink("data");
}

static void copy_argument_errors(void) {
    unsigned char *p = patterned("data", 1, 0);
    char buf[64];
    char on_stack[64];
    CHECK_STATUS(mapipc_read(NULL, buf, 1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_read(p, NULL, 1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_write(NULL, buf, 1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_write(p, NULL, 1), MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_STATUS(mapipc_read(on_stack, buf, 1), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_write(on_stack, buf, 1), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_read(p + PAGE - 10, buf, 11), MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    CHECK_STATUS(mapipc_write(p + 1, buf, PAGE), MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    CHECK_STATUS(mapipc_read(p, buf, SIZE_MAX), MAPIPC_ERR_OUT_OF_RANGE, ENXIO);
    CHECK_OK(mapipc_read(p + PAGE - 1, buf, 1));
    CHECK_OK(mapipc_read(p, buf, 0));
    CHECK_OK(mapipc_read(p, NULL, 0));
    /* A read-only region can be read, not written. */
    unsigned char *r = NULL;
    CHECK_OK(mapipc_map_file("data", 0, 0, MAPIPC_READ, (void **)&r));
    REQUIRE(r != NULL);
    CHECK_OK(mapipc_read(r + 7, buf, 3));
    CHECK(buf[0] == 7 && buf[2] == 9);
    CHECK_STATUS(mapipc_write(r, "x", 1), MAPIPC_ERR_PERMISSION_DENIED, EACCES);
    CHECK(r[0] == 0);
    CHECK_OK(mapipc_unmap(r));
    CHECK_OK(mapipc_unmap(p));
    /* Gone regions. */
    CHECK_STATUS(mapipc_read(p, buf, 1), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    CHECK_STATUS(mapipc_write(p, buf, 1), MAPIPC_ERR_NOT_MAPPED, EINVAL);
    unlink("data");
}

static void guarded_mapping_survives(void) {
    if (skip_under_valgrind("guarded_mapping_survives")) return;
    unsigned char *p = patterned("data", 4, MAPIPC_GUARDED);
    CHECK_OK(mapipc_sync(p, 0, 0));
    truncate_elsewhere("data", PAGE);
    CHECK(p[10] == 10);                 /* still there */
    CHECK(p[2 * PAGE + 5] == 0);        /* vanished: zeros */
    p[3 * PAGE] = 'z';                  /* a store that cannot reach the file */
    CHECK_STATUS(mapipc_sync(p, 0, 0), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_MESSAGE("shrank");
    CHECK_MESSAGE("3 of its pages"); /* all pages past the end go at once */
    /* A sync of any part says so again: lost writes are never silent. */
    CHECK_STATUS(mapipc_sync(p, PAGE, MAPIPC_SYNC_ASYNC), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK(size_of("data") == PAGE);
    CHECK_OK(mapipc_unmap(p));
    CHECK(size_of("data") == PAGE);
    unlink("data");
}

struct reader_arg { volatile unsigned char *p; int pages; long sum; };

static void *read_all(void *arg) {
    struct reader_arg *a = arg;
    for (int i = 0; i < a->pages * PAGE; i += 64) a->sum += a->p[i];
    return NULL;
}

static void threads_fault_together(void) {
    if (skip_under_valgrind("threads_fault_together")) return;
    enum { PAGES = 64, THREADS = 4 };
    unsigned char *p = patterned("data", PAGES, MAPIPC_GUARDED);
    truncate_elsewhere("data", 0);
    pthread_t t[THREADS];
    struct reader_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct reader_arg){p, PAGES, 0};
        REQUIRE(pthread_create(&t[i], NULL, read_all, &args[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        REQUIRE(pthread_join(t[i], NULL) == 0);
        CHECK(args[i].sum == 0);
    }
    CHECK_STATUS(mapipc_sync(p, 0, 0), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_OK(mapipc_unmap(p));
    unlink("data");
}

static volatile sig_atomic_t own_handler_calls;
static sigjmp_buf own_escape;

static void own_handler(int sig, siginfo_t *info, void *ctx) {
    (void)sig, (void)info, (void)ctx;
    own_handler_calls++;
    siglongjmp(own_escape, 1);
}

/* The program's own handler still gets the faults of its raw mappings,
 * with a guarded region beside them. */
static void programs_own_handler_still_called(void) {
    if (skip_under_valgrind("programs_own_handler_still_called")) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = own_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    REQUIRE(sigaction(SIGBUS, &sa, NULL) == 0);
    unsigned char *g = patterned("guarded", 2, MAPIPC_GUARDED);
    check_write_file("raw", "0123456789", 10);
    int fd = open("raw", O_RDWR);
    REQUIRE(fd >= 0);
    volatile unsigned char *raw = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(raw != MAP_FAILED);
    close(fd);
    if (sigsetjmp(own_escape, 1) == 0) {
        (void)raw[PAGE + 1]; /* past the end of a 10-byte file: SIGBUS */
        CHECK(!"the raw access past the end faulted");
    }
    CHECK(own_handler_calls == 1);
    truncate_elsewhere("guarded", 0);
    CHECK(g[PAGE] == 0);
    CHECK(own_handler_calls == 1);
    munmap((void *)raw, 2 * PAGE);
    CHECK_OK(mapipc_unmap(g));
    unlink("raw");
    unlink("guarded");
}

static void touch_page_two(void *p) { (void)((volatile unsigned char *)p)[2 * PAGE]; }

/* In a child: map guarded (so the handler is installed), then fault on an
 * unguarded region; the child must die of SIGBUS as before. */
static void unguarded_fault_in_child(void) {
    unsigned char *g = patterned("guarded", 1, MAPIPC_GUARDED);
    unsigned char *p = patterned("plain", 4, 0);
    truncate_elsewhere("plain", PAGE);
    touch_page_two(p);
    (void)g;
    _exit(0);
}

static void unguarded_region_still_dies(void) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) unguarded_fault_in_child();
    CHECK(check_wait(pid) == 128 + SIGBUS);
    /* A SIGBUS sent with kill() kills too, handler installed or not. */
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        unsigned char *g = patterned("guarded2", 1, MAPIPC_GUARDED);
        (void)g;
        raise(SIGBUS);
        _exit(0);
    }
    CHECK(check_wait(pid) == 128 + SIGBUS);
    unlink("guarded");
    unlink("plain");
    unlink("guarded2");
}

static void guarded_flag_rules(void) {
    void *p = (void *)1;
    CHECK_STATUS(mapipc_map_anonymous(PAGE, MAPIPC_WRITE | MAPIPC_GUARDED, &p), MAPIPC_ERR_INVALID_ARGUMENT,
                 EINVAL);
    CHECK(p == NULL);
    check_write_file("key", "k", 1);
    CHECK_STATUS(mapipc_shm_open_key("key", 9, PAGE, MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_GUARDED, &p),
                 MAPIPC_ERR_INVALID_ARGUMENT, EINVAL);
    CHECK_MESSAGE("never shrinks");
    unlink("key");
    /* A read-only guarded mapping reads zeros too. */
    if (!skip_under(UNDER_VALGRIND, "guarded_flag_rules: a read-only guarded mapping")) {
        check_write_file("ro", "abcdefgh", 8);
        CHECK(truncate("ro", 2 * PAGE) == 0);
        unsigned char *r = NULL;
        CHECK_OK(mapipc_map_file("ro", 0, 0, MAPIPC_READ | MAPIPC_GUARDED, (void **)&r));
        REQUIRE(r != NULL);
        truncate_elsewhere("ro", 4);
        CHECK(r[3] == 'd' && r[4] == 0 && r[PAGE + 1] == 0);
        CHECK_STATUS(mapipc_sync(r, 0, 0), MAPIPC_ERR_TRUNCATED, EFAULT);
        CHECK_OK(mapipc_unmap(r));
        unlink("ro");
    }
}

int main(void) {
    RUN(copies_before_and_after_truncation);
    RUN(copy_argument_errors);
    RUN(guarded_mapping_survives);
    RUN(threads_fault_together);
    RUN(programs_own_handler_still_called);
    RUN(unguarded_region_still_dies);
    RUN(guarded_flag_rules);
    return check_done();
}
