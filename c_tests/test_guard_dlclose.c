/* A plugin loads libmapipc.so, uses a fault-proof copy (which installs the
 * SIGBUS handler) and is unloaded: the library stays mapped (-z nodelete),
 * so the SIGBUS disposition never points into unmapped code, and a SIGBUS
 * the program never handled still kills it with SIGBUS. */
#include <dlfcn.h>
#include <limits.h>

#include "check.h"

static void handler_survives_dlclose(void) {
    if (skip_under(UNDER_VALGRIND | UNDER_SANITIZER, "handler_survives_dlclose: dlopens a second copy")) return;
    const char *bin = getenv("MAPIPC_TEST_BIN_DIR");
    char so[PATH_MAX];
    snprintf(so, sizeof so, "%s/../../lib/libmapipc.so", bin ? bin : "build/c_tests/static");
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "  dlopen %s: %s\n", so, dlerror());
            _exit(3);
        }
        mapipc_status (*map)(const char *, uint64_t, size_t, uint32_t, void **);
        mapipc_status (*rd)(const void *, void *, size_t);
        mapipc_status (*un)(void *);
        /* POSIX's way to turn dlsym's object pointer into a function pointer. */
        *(void **)&map = dlsym(h, "mapipc_map_file");
        *(void **)&rd = dlsym(h, "mapipc_read");
        *(void **)&un = dlsym(h, "mapipc_unmap");
        if (!map || !rd || !un) _exit(4);
        check_write_file("plugin", "12345678", 8);
        void *p = NULL;
        char b[8];
        if (map("plugin", 0, 0, MAPIPC_READ, &p) != MAPIPC_OK) _exit(5);
        if (rd(p, b, 8) != MAPIPC_OK || memcmp(b, "12345678", 8) != 0) _exit(6);
        if (un(p) != MAPIPC_OK) _exit(7);
        unlink("plugin");
        dlclose(h);
        struct sigaction cur;
        REQUIRE(sigaction(SIGBUS, NULL, &cur) == 0);
        Dl_info di;
        void *fn;
        memcpy(&fn, &cur.sa_sigaction, sizeof fn);
        if (cur.sa_handler != SIG_DFL && dladdr(fn, &di) == 0) _exit(8);
        raise(SIGBUS); /* the program never had a handler: dies of SIGBUS */
        _exit(0);
    }
    int rc = check_wait(pid);
    if (rc != 128 + SIGBUS) fprintf(stderr, "  child ended with %d\n", rc);
    CHECK(rc == 128 + SIGBUS);
    unlink("plugin");
}

int main(void) {
    RUN(handler_survives_dlclose);
    return check_done();
}
