/* The benchmark harness: see harness.h. */
#include "harness.h"

int reps = 7;
int quick;
long page;

void die(const char *what) {
    perror(what);
    exit(2);
}

void must(mapipc_status s, const char *what) {
    if (s != MAPIPC_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, mapipc_status_name(s), mapipc_last_error());
        exit(2);
    }
}

double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void touch_pages(volatile char *p, size_t len) {
    for (size_t i = 0; i < len; i += (size_t)page) p[i] = (char)i;
}

static void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set); /* best effort */
}

pid_t fork_placed(int pinned) {
    int two = pinned && sysconf(_SC_NPROCESSORS_ONLN) >= 2;
    if (two) pin_to(0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0 && two) pin_to(1);
    return pid;
}

double gbps(double seconds, size_t bytes) { return (double)bytes / seconds / 1e9; }

/* ---- the harness ------------------------------------------------------- */


/* Runs one side in a fresh child; returns its value, stores its peak RSS. */
static double in_child(double (*fn)(void *), void *arg, long *rss_kb) {
    int p[2];
    if (pipe(p)) die("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(p[0]);
        double v = fn(arg);
        if (write(p[1], &v, sizeof v) != sizeof v) _exit(3);
        _exit(0);
    }
    close(p[1]);
    double v = -1;
    if (read(p[0], &v, sizeof v) != sizeof v) v = -1;
    close(p[0]);
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "benchmark child failed\n");
        exit(2);
    }
    if (ru.ru_maxrss > *rss_kb) *rss_kb = ru.ru_maxrss;
    return v;
}

/* The shared-library side. make bench builds the same groups twice: this
 * program against libmapipc.a and a twin (its name + "-shared") against
 * libmapipc.so, the way users link it (-lmapipc). The twin runs as a
 * server in lockstep: it goes through the same groups, setting up the same
 * cases (in a scratch directory of its own), and at each compare() waits
 * for this process to say how often to run its mapipc side. Each rep thus
 * times the static, the shared and the baseline side one after another. */
static int server_fd = -1; /* here: the twin's socket; in the twin: ours */
static int serving;        /* this process is the twin */
static pid_t server_pid;

enum { CMD_RUN = 'R', CMD_DONE = 'D' };
struct reply { double value; long rss_kb; };

static void send_all(const void *buf, size_t len) {
    if (send(server_fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) die("bench: talking to the shared-library twin");
}

static void recv_all(void *buf, size_t len) {
    ssize_t n = recv(server_fd, buf, len, 0);
    if (n != (ssize_t)len) {
        fprintf(stderr, "bench: the shared-library twin stopped answering\n");
        exit(2);
    }
}

void start_shared_twin(char **argv, int argc, const char *dir) {
    char path[4096], fdarg[16], twin_dir[4096];
    snprintf(path, sizeof path, "%s-shared", argv[0]);
    if (access(path, X_OK) != 0) {
        fprintf(stderr, "bench: %s is missing (make bench builds it)\n", path);
        exit(2);
    }
    snprintf(twin_dir, sizeof twin_dir, "%s/shared", dir);
    if (mkdir(twin_dir, 0700) != 0 && errno != EEXIST) die(twin_dir);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) die("socketpair");
    snprintf(fdarg, sizeof fdarg, "%d", sv[1]);
    char *args[64];
    int n = 0;
    args[n++] = path;
    args[n++] = "--serve";
    args[n++] = fdarg;
    args[n++] = twin_dir;
    for (int i = 2; i < argc && n < 63; i++) args[n++] = argv[i]; /* CSV, SVG, options, groups */
    args[n] = NULL;
    fflush(stdout);
    server_pid = fork();
    if (server_pid < 0) die("fork");
    if (server_pid == 0) {
        int flags = fcntl(sv[1], F_GETFD);
        if (flags < 0 || fcntl(sv[1], F_SETFD, flags & ~FD_CLOEXEC)) _exit(3);
        execv(path, args);
        _exit(3);
    }
    close(sv[1]);
    server_fd = sv[0];
}

void serve_as_twin(int fd) {
    server_fd = fd;
    serving = 1;
}

void stop_shared_twin(void) {
    if (serving || server_fd < 0) return;
    close(server_fd);
    int st;
    if (waitpid(server_pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: the shared-library twin failed\n");
        exit(2);
    }
}

/* In the twin: announces the row, then runs its mapipc side as often as
 * asked, each time in a fresh child. */
static void serve_row(const char *op, double (*m)(void *), void *arg) {
    char cmd;
    send_all(op, strlen(op) + 1);
    for (;;) {
        recv_all(&cmd, 1);
        if (cmd == CMD_DONE) return;
        struct reply r = {0, 0};
        r.value = in_child(m, arg, &r.rss_kb);
        send_all(&r, sizeof r);
    }
}

/* Here: waits until the twin has reached the same row (its setup done). */
static void twin_at_row(const char *op) {
    char got[128] = "";
    ssize_t n = recv(server_fd, got, sizeof got - 1, 0);
    if (n <= 0 || strcmp(got, op) != 0) {
        fprintf(stderr, "bench: the shared-library twin is at row \"%s\", not \"%s\"\n", n > 0 ? got : "(gone)",
                op);
        exit(2);
    }
}

static double twin_side(long *rss_kb) {
    char cmd = CMD_RUN;
    struct reply r;
    send_all(&cmd, 1);
    recv_all(&r, sizeof r);
    if (r.rss_kb > *rss_kb) *rss_kb = r.rss_kb;
    return r.value;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct row {
    char op[80], base[48], unit[8];
    double m[3], s[3], b[3]; /* median, min, max: static, shared, baseline */
    long m_rss, s_rss, b_rss;
    double ratio, s_ratio;
};

#define MAX_ROWS 96
static struct row rows[MAX_ROWS];
static int nrows;

static void stats(double *v, int n, double out[3]) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    out[0] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    out[1] = v[0];
    out[2] = v[n - 1];
}

static void print_row(const struct row *r) {
    printf("%-38s %9.3g (%7.3g-%-7.3g) %9.3g (%7.3g-%-7.3g) %-17s %9.3g (%7.3g-%-7.3g) %6.3f %6.3f %-5s "
           "%ld/%ld/%ld\n",
           r->op, r->m[0], r->m[1], r->m[2], r->s[0], r->s[1], r->s[2], r->base, r->b[0], r->b[1], r->b[2],
           r->ratio, r->s_ratio, r->unit, r->m_rss / 1024, r->s_rss / 1024, r->b_rss / 1024);
    fflush(stdout);
}

/* higher_better: the unit is a rate (GB/s); otherwise a time (us). */
void compare(const char *op, const char *unit, int higher_better, double (*m)(void *),
                    const char *base, double (*b)(void *), void *arg) {
    double mv[32], sv[32], bv[32];
    if (serving) {
        serve_row(op, m, arg);
        return;
    }
    if (nrows >= MAX_ROWS) {
        fprintf(stderr, "bench: more than %d rows: raise MAX_ROWS in harness.c\n", MAX_ROWS);
        exit(2);
    }
    struct row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->base, sizeof r->base, "%s", base);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    twin_at_row(op);
    for (int i = 0; i < reps; i++) { /* alternate which side goes first */
        if (i % 2 == 0) {
            mv[i] = in_child(m, arg, &r->m_rss);
            sv[i] = twin_side(&r->s_rss);
            bv[i] = in_child(b, arg, &r->b_rss);
        } else {
            bv[i] = in_child(b, arg, &r->b_rss);
            sv[i] = twin_side(&r->s_rss);
            mv[i] = in_child(m, arg, &r->m_rss);
        }
    }
    char done = CMD_DONE;
    send_all(&done, 1);
    stats(mv, reps, r->m);
    stats(sv, reps, r->s);
    stats(bv, reps, r->b);
    r->ratio = higher_better ? r->b[0] / r->m[0] : r->m[0] / r->b[0];
    r->s_ratio = higher_better ? r->b[0] / r->s[0] : r->s[0] / r->b[0];
    print_row(r);
}

void make_file(const char *path, size_t len) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die(path);
    char *buf = malloc(MIB);
    for (size_t i = 0; i < MIB; i++) buf[i] = (char)(i * 2654435761u >> 13);
    for (size_t done = 0; done < len;) {
        size_t n = len - done < MIB ? len - done : MIB;
        if (write(fd, buf, n) != (ssize_t)n) die("write");
        done += n;
    }
    free(buf);
    if (fsync(fd) != 0 || close(fd) != 0) die("close");
}

void warm(const char *path) {
    static char buf[1 << 20];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
}

static void machine(FILE *out) {
    struct utsname u;
    char cpu[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) snprintf(cpu, sizeof cpu, "%s", c + 2);
            cpu[strcspn(cpu, "\n")] = 0;
            break;
        }
    }
    if (f) fclose(f);
    uname(&u);
    fprintf(out, "%s, %ld cores, %ld GiB RAM, Linux %s, page %ld bytes", cpu, sysconf(_SC_NPROCESSORS_ONLN),
            (long)(sysconf(_SC_PHYS_PAGES) * (sysconf(_SC_PAGESIZE) / 1024) / (1024 * 1024)), u.release, page);
}

/* One bar of the chart: a ratio on the log scale, from the line at 1. */
static void bar(FILE *f, int left, int plot, int y, int h, double ratio, const char *color) {
    double lr = ratio > 0 ? log2(ratio) : -3;
    if (lr < -3) lr = -3;
    if (lr > 3) lr = 3;
    double x1 = left + plot / 2.0, x2 = left + plot * (lr + 3) / 6.0;
    fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", x2 < x1 ? x2 : x1, y,
            x2 < x1 ? x1 - x2 : x2 - x1 + 1, h, color);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"#333\" font-size=\"10\">%.2f</text>\n", (x2 > x1 ? x2 : x1) + 4,
            y + h - 1, ratio);
}

void write_outputs(const char *csv, const char *svg) {
    FILE *f = fopen(csv, "w");
    if (!f) die(csv);
    fprintf(f, "operation,static_median,static_min,static_max,shared_median,shared_min,shared_max,baseline,"
               "baseline_median,baseline_min,baseline_max,static_ratio,shared_ratio,unit,static_rss_kib,"
               "shared_rss_kib,baseline_rss_kib\n");
    for (int i = 0; i < nrows; i++) {
        struct row *r = &rows[i];
        fprintf(f, "\"%s\",%.4g,%.4g,%.4g,%.4g,%.4g,%.4g,\"%s\",%.4g,%.4g,%.4g,%.4f,%.4f,%s,%ld,%ld,%ld\n", r->op,
                r->m[0], r->m[1], r->m[2], r->s[0], r->s[1], r->s[2], r->base, r->b[0], r->b[1], r->b[2], r->ratio,
                r->s_ratio, r->unit, r->m_rss, r->s_rss, r->b_rss);
    }
    fclose(f);

    /* Horizontal bars on a log scale from 1/8 to 8, a line at 1. */
    f = fopen(svg, "w");
    if (!f) die(svg);
    int w = 1000, left = 450, bar_h = 20, top = 68, plot = w - left - 50;
    int h = top + nrows * (bar_h + 6) + 40;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", w, h);
    fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"14\">mapipc cost / baseline cost (log scale; left of 1 = "
               "mapipc faster)</text>\n<text x=\"10\" y=\"38\" fill=\"#555\">");
    machine(f);
    fprintf(f, "</text>\n<text x=\"10\" y=\"56\" fill=\"#555\">upper bar: linked statically (libmapipc.a); "
               "lower bar: linked as users do (-lmapipc, the shared library)</text>\n");
    for (int k = -3; k <= 3; k++) {
        double x = left + plot * (k + 3) / 6.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>\n", x, top - 5, x,
                h - 30, k == 0 ? "black" : "#ddd");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, h - 15,
                k < 0 ? 1.0 / (1 << -k) : (double)(1 << k));
    }
    for (int i = 0; i < nrows; i++) {
        struct row *r = &rows[i];
        int y = top + i * (bar_h + 6);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s vs %s</text>\n", left - 8, y + 14, r->op,
                r->base);
        bar(f, left, plot, y, bar_h / 2, r->ratio, r->ratio <= 1.05 ? "#4a8" : "#d64");
        bar(f, left, plot, y + bar_h / 2, bar_h / 2, r->s_ratio, r->s_ratio <= 1.05 ? "#286" : "#a32");
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

void print_header(void) {
    printf("mapipc %s benchmarks on ", mapipc_version());
    machine(stdout);
    printf("\n%d repetitions per side, alternating, each in a fresh process; median (min-max)\n"
           "ratio = mapipc cost / baseline cost (time, or 1/rate): below 1 means mapipc is faster;\n"
           "mapipc linked statically (libmapipc.a) and as users link it (-lmapipc), side by side\n\n",
           reps);
    printf("%-38s %-29s %-29s %-17s %-29s %-6s %-6s %-5s %s\n", "operation", "mapipc, static", "mapipc, shared",
           "baseline", "baseline value", "static", "shared", "unit", "RSS MiB st/sh/base");
}
