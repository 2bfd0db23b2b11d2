/* make bench, group "cli": the mapipc command at scale. 10,000 POSIX
 * objects (one in ten holding a mapipc channel, one in ten temporary) and
 * 500 processes that map 20 of them each; `mapipc ls` (table and --json)
 * next to `ls -l /dev/shm` (the names and stats alone) and to reading
 * every /proc/PID/maps raw (what finding the users costs at least).
 *
 * Where it may (root), the group runs on a /dev/shm of its own (a tmpfs in
 * a private mount namespace), so that exactly these objects are listed
 * and other programs never see them; elsewhere it uses the real one.
 * MAPIPC_BIN names the command (default build/bin/mapipc, from the top of
 * the tree, where make runs it).
 *
 * Why an earlier version hung: each child computed the object names from
 * getpid(), its own pid and not the creator's, so every shm_open failed;
 * the child exited without saying so and the parent, which still held the
 * write end of the readiness pipe, waited forever for its byte. Here the
 * names come from a prefix fixed before fork, the parent closes its write
 * end after forking (a child that dies unready is an end of file, not a
 * hang), and every exit path kills and reaps the children and unlinks the
 * objects. */
#include "harness.h"

#include <signal.h>
#include <sys/mount.h>

enum { OBJECTS = 10000, PROCS = 500, EACH = OBJECTS / PROCS, OBJ_SIZE = 4096 };

static char prefix[64];        /* "/mapipc-bench-cli-PID-", fixed before fork */
static pid_t owner;            /* the process that cleans up */
static pid_t kids[PROCS];
static int nkids;
static int private_shm;        /* /dev/shm is our own tmpfs */

static void obj_name(char *buf, size_t len, int i) { snprintf(buf, len, "%s%d", prefix, i); }

/* Objects the children create (and keep as users) with MAPIPC_TEMPORARY. */
static int is_temporary(int i) { return i % 10 == 5; }

static const char *mapipc_bin(void) {
    const char *b = getenv("MAPIPC_BIN");
    return b ? b : "build/bin/mapipc";
}

/* Kills and reaps every child, removes every object; also at exit after a
 * failure (die, must), so nothing outlives the bench. */
static void cleanup(void) {
    if (getpid() != owner) return;
    for (int k = 0; k < nkids; k++) kill(kids[k], SIGKILL);
    for (int k = 0; k < nkids; k++) waitpid(kids[k], NULL, 0);
    nkids = 0;
    char name[96];
    for (int i = 0; i < OBJECTS; i++) {
        obj_name(name, sizeof name, i);
        shm_unlink(name);
    }
    if (private_shm && umount2("/dev/shm", MNT_DETACH) != 0) perror("umount /dev/shm");
    private_shm = 0;
}

/* A tmpfs of our own on /dev/shm, seen by this process and its children
 * only. Best effort: without the rights, the real /dev/shm is used. */
static void own_dev_shm(void) {
    if (unshare(CLONE_NEWNS) != 0) return;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return;
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m") != 0) return;
    private_shm = 1;
}

/* Runs argv with stdout to /dev/null; returns its wall time in ms. */
static double run_quiet(char *const argv[]) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    double t0 = now();
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) die(argv[0]);
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "%s failed\n", argv[0]);
        _exit(2);
    }
    double ms = (now() - t0) * 1e3;
    posix_spawn_file_actions_destroy(&fa);
    return ms;
}

static double ls_table(void *arg) {
    (void)arg;
    char *argv[] = {(char *)mapipc_bin(), "ls", NULL};
    return run_quiet(argv);
}

static double ls_json(void *arg) {
    (void)arg;
    char *argv[] = {(char *)mapipc_bin(), "ls", "--json", NULL};
    return run_quiet(argv);
}

static double ls_dir(void *arg) {
    (void)arg;
    char *argv[] = {"ls", "-l", "/dev/shm", NULL};
    return run_quiet(argv);
}

static double cat_maps(void *arg) {
    (void)arg;
    char *argv[] = {"sh", "-c", "cat /proc/[0-9]*/maps 2>/dev/null; true", NULL};
    return run_quiet(argv);
}

/* A child: maps objects first..first+EACH-1 (creating the temporary ones
 * through mapipc, so it is their user), says so on `ready`, and stays
 * until `go` reaches its end. */
static void user(int first, int ready, int go) {
    char name[96];
    for (int i = first; i < first + EACH; i++) {
        obj_name(name, sizeof name, i);
        void *p;
        if (is_temporary(i)) {
            uint32_t f = MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_TEMPORARY;
            if (mapipc_shm_open_name(name, OBJ_SIZE, f, &p) != MAPIPC_OK) _exit(1);
            continue;
        }
        int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0) _exit(1);
        p = mmap(NULL, OBJ_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (p == MAP_FAILED) _exit(1);
    }
    if (write(ready, "x", 1) != 1) _exit(1);
    char c;
    while (read(go, &c, 1) > 0) {
    }
    _exit(0);
}

static void make_objects(void) {
    char name[96];
    for (int i = 0; i < OBJECTS; i++) {
        if (is_temporary(i)) continue;
        obj_name(name, sizeof name, i);
        void *p;
        must(mapipc_shm_open_name(name, OBJ_SIZE, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE | MAPIPC_EXCLUSIVE, &p),
             name);
        if (i % 10 == 0) must(mapipc_channel_init(p, OBJ_SIZE), "channel init");
        must(mapipc_unmap(p), "unmap");
    }
}

/* Starts the users; returns once every one of them maps its objects. */
static void start_users(int go[2]) {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) die("pipe");
    fflush(stdout);
    for (int k = 0; k < PROCS; k++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            close(go[1]);
            close(ready[0]);
            user(k * EACH, ready[1], go[0]);
        }
        kids[nkids++] = pid;
    }
    close(go[0]);
    close(ready[1]); /* now a child that dies unready ends the wait below */
    for (int k = 0; k < PROCS; k++) {
        char c;
        ssize_t n;
        while ((n = read(ready[0], &c, 1)) < 0 && errno == EINTR) {
        }
        if (n != 1) {
            fprintf(stderr, "bench cli: %d of %d users got ready, then one failed\n", k, PROCS);
            exit(2);
        }
    }
    close(ready[0]);
}

void bench_cli(void) {
    owner = getpid();
    snprintf(prefix, sizeof prefix, "/mapipc-bench-cli-%d-", (int)owner);
    own_dev_shm();
    atexit(cleanup);
    make_objects();
    int go[2];
    start_users(go);
    compare("mapipc ls: 10k objects, 500 procs", "ms", 0, ls_table, "ls -l /dev/shm", ls_dir, NULL);
    compare("mapipc ls --json: 10k obj, 500 procs", "ms", 0, ls_json, "cat /proc/*/maps", cat_maps, NULL);
    printf("# mapipc ls over %d objects and %d mapping processes (%s /dev/shm)\n", OBJECTS, PROCS,
           private_shm ? "a private" : "the real");
    close(go[1]);
    cleanup();
}
