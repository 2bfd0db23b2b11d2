/* A thread that blocks SIGBUS (the usual "block every signal in workers,
 * handle them in one thread"): the kernel kills the whole process when such
 * a thread faults, whatever the handler. mapipc_read/mapipc_write notice
 * the mask and copy through the kernel instead (a system call per copy in
 * such threads only), so they still answer TRUNCATED. A plain load through
 * a guarded mapping cannot be saved: that documented limit is pinned too.
 * Where a seccomp filter refuses the kernel's copy, the copies still tell
 * a truncation from bytes that are there. */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "check.h"

enum { PAGE = 4096 };

static char *region;

static void *blocked_copies(void *arg) {
    (void)arg;
    char buf[64];
    CHECK_STATUS(mapipc_read(region + 2 * PAGE, buf, sizeof buf), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_MESSAGE("now 4096 bytes long");
    CHECK_STATUS(mapipc_read(region + PAGE - 8, buf, 16), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_STATUS(mapipc_write(region + 3 * PAGE, "x", 1), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_OK(mapipc_read(region + 100, buf, sizeof buf));
    CHECK(buf[0] == 'd' && buf[63] == 'd');
    CHECK_OK(mapipc_write(region + 200, "hello", 5));
    CHECK(memcmp(region + 200, "hello", 5) == 0);
    return NULL;
}

static void file_of_4_pages_then_1(const char *path) {
    char data[4 * PAGE];
    memset(data, 'd', sizeof data);
    check_write_file(path, data, sizeof data);
}

static void copies_in_a_thread_that_blocks_sigbus(void) {
    file_of_4_pages_then_1("data");
    CHECK_OK(mapipc_map_file("data", 0, 0, MAPIPC_READ | MAPIPC_WRITE, (void **)&region));
    char b[8];
    CHECK_OK(mapipc_read(region, b, 8)); /* handler installed; this thread seen */
    CHECK(truncate("data", PAGE) == 0);
    sigset_t all, old;
    sigfillset(&all);
    REQUIRE(pthread_sigmask(SIG_BLOCK, &all, &old) == 0); /* the worker inherits it */
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, blocked_copies, NULL) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    /* This thread blocks it too now; after a map call it is looked at again. */
    void *other = NULL;
    CHECK_OK(mapipc_map_anonymous(PAGE, MAPIPC_READ | MAPIPC_WRITE, &other));
    blocked_copies(NULL);
    REQUIRE(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
    CHECK_STATUS(mapipc_read(region + 2 * PAGE, b, 8), MAPIPC_ERR_TRUNCATED, EFAULT);
    CHECK_OK(mapipc_unmap(other));
    CHECK_OK(mapipc_unmap(region));
    unlink("data");
}

/* A seccomp filter that refuses the kernel's copy (as container profiles
 * may): ENOSYS says nothing about the bytes, so the
 * copies in a thread that blocks SIGBUS must not call it a truncation. */
static void refuse_process_vm(int err) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_writev, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    REQUIRE(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    REQUIRE(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

static void copies_in_a_blocking_thread_without_process_vm(void) {
    file_of_4_pages_then_1("data");
    CHECK_OK(mapipc_map_file("data", 0, 0, MAPIPC_READ | MAPIPC_WRITE, (void **)&region));
    char b[8];
    CHECK_OK(mapipc_read(region, b, 8));
    CHECK(truncate("data", PAGE) == 0);
    refuse_process_vm(ENOSYS);
    sigset_t all, old;
    sigfillset(&all);
    REQUIRE(pthread_sigmask(SIG_BLOCK, &all, &old) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, blocked_copies, NULL) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    REQUIRE(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
    CHECK_OK(mapipc_unmap(region));
    unlink("data");
}

/* Documented limit: a guarded plain load in a thread that blocks SIGBUS
 * dies of SIGBUS (the kernel's rule), as it would without mapipc. */
static void guarded_load_with_sigbus_blocked_dies(void) {
    file_of_4_pages_then_1("g");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        volatile char *g = NULL;
        if (mapipc_map_file("g", 0, 0, MAPIPC_READ | MAPIPC_GUARDED, (void **)&g) != MAPIPC_OK) _exit(3);
        if (truncate("g", PAGE) != 0) _exit(4);
        sigset_t bus;
        sigemptyset(&bus);
        sigaddset(&bus, SIGBUS);
        pthread_sigmask(SIG_BLOCK, &bus, NULL);
        (void)g[2 * PAGE];
        _exit(0);
    }
    CHECK(check_wait(pid) == 128 + SIGBUS);
    unlink("g");
}

int main(void) {
    RUN(copies_in_a_thread_that_blocks_sigbus);
    RUN(copies_in_a_blocking_thread_without_process_vm);
    RUN(guarded_load_with_sigbus_blocked_dies);
    return check_done();
}
