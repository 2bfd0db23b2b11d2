/* demo: a narrated tour of mapipc. Each step says what it does and what
 * happened. Run it with `make demo`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mapipc.h>

#define STEP(...) (printf("\n== "), printf(__VA_ARGS__), printf("\n"))

static int fail(const char *what, mapipc_status s) {
    fprintf(stderr, "%s failed: %s: %s\n", what, mapipc_status_name(s), mapipc_last_error());
    return 1;
}

/* Two processes share one file: the writer maps it and writes, the reader
 * maps the same file on its own and reads. A pipe orders the two. */
static int file_between_processes(const char *path) {
    STEP("two processes share the mapped file \"%s\"", path);
    int turn[2];
    if (pipe(turn) != 0) return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        char *q = NULL, token;
        close(turn[1]);
        if (read(turn[0], &token, 1) != 1) _exit(1);
        mapipc_status s = mapipc_map_file(path, 0, 0, MAPIPC_READ, (void **)&q);
        if (s != MAPIPC_OK) _exit(fail("reader: map", s));
        printf("   reader (pid %d) mapped the file on its own and reads: \"%s\"\n", (int)getpid(), q);
        mapipc_unmap(q);
        fflush(stdout);
        _exit(0);
    }
    close(turn[0]);
    char *p = NULL;
    mapipc_status s = mapipc_map_file(path, 0, 64, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&p);
    if (s != MAPIPC_OK) return fail("writer: map", s);
    snprintf(p, 64, "hello from pid %d", (int)getpid());
    printf("   writer (pid %d) created the file (mode 0600, 64 bytes) and wrote: \"%s\"\n", (int)getpid(), p);
    mapipc_sync(p, 0, MAPIPC_SYNC_BLOCKING);
    fflush(stdout);
    if (write(turn[1], "go", 1) != 1) return 1;
    int st;
    waitpid(pid, &st, 0);
    close(turn[1]);
    mapipc_unmap(p);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* The lab's anonymous mapping: the child writes, the parent waits for it
 * with waitpid (not sleep) and reads. */
static int anonymous_parent_child(void) {
    STEP("parent and child share anonymous memory");
    int *shared = NULL;
    mapipc_status s = mapipc_map_anonymous(2 * sizeof(int), MAPIPC_READ | MAPIPC_WRITE, (void **)&shared);
    if (s != MAPIPC_OK) return fail("map anonymous", s);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        shared[0] = 10;
        shared[1] = 20;
        printf("   child wrote 10 and 20\n");
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("   parent, after waitpid, reads %d + %d = %d\n", shared[0], shared[1], shared[0] + shared[1]);
    mapipc_unmap(shared);
    return 0;
}

/* What the lab programs got wrong, each now a clear error. */
static void misuse(const char *path) {
    STEP("misuse is an error, not a crash");
    void *p = NULL;
    FILE *f = fopen("empty.dat", "w");
    if (f) fclose(f);
    mapipc_status s = mapipc_map_file("empty.dat", 0, 2048, MAPIPC_READ | MAPIPC_WRITE, &p);
    printf("   2048 bytes of an empty file  -> %s: %s\n", mapipc_status_name(s), mapipc_last_error());
    s = mapipc_map_file(path, 0, 2048, MAPIPC_READ, &p);
    printf("   2048 bytes of a 64-byte file -> %s: %s\n", mapipc_status_name(s), mapipc_last_error());
    s = mapipc_map_file(path, 0, 0, MAPIPC_READ, &p);
    s = mapipc_sync(p, 0, MAPIPC_SYNC_BLOCKING | MAPIPC_SYNC_ASYNC);
    printf("   MS_SYNC | MS_ASYNC           -> %s: %s\n", mapipc_status_name(s), mapipc_last_error());
    mapipc_unmap(p);
    s = mapipc_unmap(p);
    printf("   unmapping twice              -> %s: %s\n", mapipc_status_name(s), mapipc_last_error());
    unlink("empty.dat");
}

int main(void) {
    const char *path = "demo.dat";
    printf("mapipc %s demo\n", mapipc_version());
    int rc = file_between_processes(path);
    rc |= anonymous_parent_child();
    misuse(path);
    unlink(path);
    printf("\n%s\n", rc == 0 ? "demo finished" : "demo FAILED");
    return rc;
}
