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

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct row {
    char op[80], base[48], unit[8];
    double m[3], b[3]; /* median, min, max */
    long m_rss, b_rss;
    double ratio;
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
    printf("%-38s %9.3g (%7.3g-%-7.3g) %-17s %9.3g (%7.3g-%-7.3g) %6.3f %-5s %6ld/%-6ld\n", r->op, r->m[0],
           r->m[1], r->m[2], r->base, r->b[0], r->b[1], r->b[2], r->ratio, r->unit, r->m_rss / 1024,
           r->b_rss / 1024);
    fflush(stdout);
}

/* higher_better: the unit is a rate (GB/s); otherwise a time (us). */
void compare(const char *op, const char *unit, int higher_better, double (*m)(void *),
                    const char *base, double (*b)(void *), void *arg) {
    double mv[32], bv[32];
    if (nrows >= MAX_ROWS) {
        fprintf(stderr, "bench: more than %d rows: raise MAX_ROWS in harness.c\n", MAX_ROWS);
        exit(2);
    }
    struct row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->base, sizeof r->base, "%s", base);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    for (int i = 0; i < reps; i++) { /* alternate which side goes first */
        if (i % 2 == 0) {
            mv[i] = in_child(m, arg, &r->m_rss);
            bv[i] = in_child(b, arg, &r->b_rss);
        } else {
            bv[i] = in_child(b, arg, &r->b_rss);
            mv[i] = in_child(m, arg, &r->m_rss);
        }
    }
    stats(mv, reps, r->m);
    stats(bv, reps, r->b);
    r->ratio = higher_better ? r->b[0] / r->m[0] : r->m[0] / r->b[0];
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

void write_outputs(const char *csv, const char *svg) {
    FILE *f = fopen(csv, "w");
    if (!f) die(csv);
    fprintf(f, "operation,mapipc_median,mapipc_min,mapipc_max,baseline,baseline_median,baseline_min,"
               "baseline_max,ratio,unit,mapipc_rss_kib,baseline_rss_kib\n");
    for (int i = 0; i < nrows; i++) {
        struct row *r = &rows[i];
        fprintf(f, "\"%s\",%.4g,%.4g,%.4g,\"%s\",%.4g,%.4g,%.4g,%.4f,%s,%ld,%ld\n", r->op, r->m[0], r->m[1],
                r->m[2], r->base, r->b[0], r->b[1], r->b[2], r->ratio, r->unit, r->m_rss, r->b_rss);
    }
    fclose(f);

    /* Horizontal bars on a log scale from 1/8 to 8, a line at 1. */
    f = fopen(svg, "w");
    if (!f) die(svg);
    int w = 1000, left = 450, bar_h = 18, top = 50, plot = w - left - 30;
    int h = top + nrows * (bar_h + 6) + 40;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", w, h);
    fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"14\">mapipc cost / baseline cost (log scale; left of 1 = "
               "mapipc faster)</text>\n<text x=\"10\" y=\"38\" fill=\"#555\">");
    machine(f);
    fprintf(f, "</text>\n");
    for (int k = -3; k <= 3; k++) {
        double x = left + plot * (k + 3) / 6.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>\n", x, top - 5, x,
                h - 30, k == 0 ? "black" : "#ddd");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, h - 15,
                k < 0 ? 1.0 / (1 << -k) : (double)(1 << k));
    }
    for (int i = 0; i < nrows; i++) {
        struct row *r = &rows[i];
        double lr = r->ratio > 0 ? log2(r->ratio) : -3;
        if (lr < -3) lr = -3;
        if (lr > 3) lr = 3;
        double x1 = left + plot / 2.0, x2 = left + plot * (lr + 3) / 6.0;
        int y = top + i * (bar_h + 6);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s vs %s</text>\n", left - 8, y + 13, r->op,
                r->base);
        fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", x2 < x1 ? x2 : x1, y,
                x2 < x1 ? x1 - x2 : x2 - x1 + 1, bar_h, r->ratio <= 1.05 ? "#4a8" : "#d64");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"#333\">%.2f</text>\n", (x2 > x1 ? x2 : x1) + 4, y + 13,
                r->ratio);
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

void print_header(void) {
    printf("mapipc %s benchmarks on ", mapipc_version());
    machine(stdout);
    printf("\n%d repetitions per side, alternating, each in a fresh process; median (min-max)\n"
           "ratio = mapipc cost / baseline cost (time, or 1/rate): below 1 means mapipc is faster\n\n",
           reps);
    printf("%-38s %-29s %-17s %-29s %-6s %-5s %s\n", "operation", "mapipc", "baseline", "baseline value",
           "ratio", "unit", "RSS MiB m/b");
}
