/* make bench, group "map_copy": copying and checksumming a large file through
 * mappings next to read(2), write(2), cp and copy_file_range. */
#include "harness.h"

extern char **environ;

static char big_file[4096], copy_dst[4096];
/* ---- copying a large file ------------------------------------------- */

static size_t big_len;

/* The lab's exercise 1: mapped read, mapped write. */
static double copy_mapped_both(void *arg) {
    (void)arg;
    unlink(copy_dst);
    double t0 = now();
    char *src, *dst;
    size_t len;
    must(mapipc_map_file(big_file, 0, 0, MAPIPC_READ, (void **)&src), "map src");
    must(mapipc_region_size(src, &len), "size");
    must(mapipc_advise(src, 0, MAPIPC_ADVICE_POPULATE_READ), "advise src");
    must(mapipc_map_file(copy_dst, 0, len, MAPIPC_READ | MAPIPC_WRITE | MAPIPC_CREATE, (void **)&dst), "map dst");
    must(mapipc_advise(dst, 0, MAPIPC_ADVICE_POPULATE_WRITE), "advise dst");
    memcpy(dst, src, len);
    must(mapipc_unmap(dst), "unmap dst");
    must(mapipc_unmap(src), "unmap src");
    double t = now() - t0;
    unlink(copy_dst);
    return gbps(t, len);
}

/* The lab's exercise 2: mapped read, write(2). */
static double copy_mapped_write(void *arg) {
    (void)arg;
    unlink(copy_dst);
    double t0 = now();
    char *src;
    size_t len;
    must(mapipc_map_file(big_file, 0, 0, MAPIPC_READ, (void **)&src), "map src");
    must(mapipc_region_size(src, &len), "size");
    must(mapipc_advise(src, 0, MAPIPC_ADVICE_POPULATE_READ), "advise src");
    int fd = open(copy_dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die("open dst");
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, src + done, len - done > 64 * MIB ? 64 * MIB : len - done);
        if (n <= 0) die("write");
        done += (size_t)n;
    }
    close(fd);
    must(mapipc_unmap(src), "unmap src");
    double t = now() - t0;
    unlink(copy_dst);
    return gbps(t, len);
}

static double copy_read_write(void *arg) {
    (void)arg;
    unlink(copy_dst);
    static char buf[128 * 1024];
    double t0 = now();
    int in = open(big_file, O_RDONLY | O_CLOEXEC);
    int out = open(copy_dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0) die("open");
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) die("write");
    close(in);
    close(out);
    double t = now() - t0;
    unlink(copy_dst);
    return gbps(t, big_len);
}

static double copy_cfr(void *arg) {
    (void)arg;
    unlink(copy_dst);
    double t0 = now();
    int in = open(big_file, O_RDONLY | O_CLOEXEC);
    int out = open(copy_dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0) die("open");
    for (size_t done = 0; done < big_len;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, big_len - done, 0);
        if (n <= 0) die("copy_file_range");
        done += (size_t)n;
    }
    close(in);
    close(out);
    double t = now() - t0;
    unlink(copy_dst);
    return gbps(t, big_len);
}

static double copy_cp(void *arg) {
    (void)arg;
    unlink(copy_dst);
    char *argv[] = {"cp", big_file, copy_dst, NULL};
    double t0 = now();
    pid_t pid;
    if (posix_spawnp(&pid, "cp", NULL, NULL, argv, environ) != 0) die("spawn cp");
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die("cp");
    double t = now() - t0;
    unlink(copy_dst);
    return gbps(t, big_len);
}

/* ---- sequential checksum -------------------------------------------- */

/* Four independent chains keep several loads in flight on either side. */
static uint64_t sum_words(const uint64_t *w, size_t n) {
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 3 < n; i += 4) {
        a += w[i];
        b ^= w[i + 1];
        c += w[i + 2];
        d ^= w[i + 3];
    }
    return a + b + c + d;
}

static volatile uint64_t sink;

/* arg: the advice to give, or NULL for none. Map, advise, sum, unmap. */
static double checksum_mapped(void *arg) {
    double t0 = now();
    uint64_t *p;
    size_t len;
    must(mapipc_map_file(big_file, 0, 0, MAPIPC_READ, (void **)&p), "map");
    must(mapipc_region_size(p, &len), "size");
    if (arg) must(mapipc_advise(p, 0, *(const uint32_t *)arg), "advise");
    sink = sum_words(p, len / 8);
    must(mapipc_unmap(p), "unmap");
    return gbps(now() - t0, len);
}

/* A second pass over a mapping that stays: the page tables are already
 * there, so only the reading is timed (against a second read loop). */
static double checksum_mapped_again(void *arg) {
    (void)arg;
    uint64_t *p;
    size_t len;
    must(mapipc_map_file(big_file, 0, 0, MAPIPC_READ, (void **)&p), "map");
    must(mapipc_region_size(p, &len), "size");
    sink = sum_words(p, len / 8);
    double t0 = now();
    sink = sum_words(p, len / 8);
    double t = now() - t0;
    must(mapipc_unmap(p), "unmap");
    return gbps(t, len);
}

static double checksum_read(void *arg) {
    (void)arg;
    static uint64_t buf[128 * 1024 / 8];
    double t0 = now();
    int fd = open(big_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open");
    uint64_t s = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) s += sum_words(buf, (size_t)n / 8);
    close(fd);
    sink = s;
    return gbps(now() - t0, big_len);
}

void bench_map_copy(const char *dir) {
    snprintf(big_file, sizeof big_file, "%s/big", dir);
    snprintf(copy_dst, sizeof copy_dst, "%s/copy", dir);
    big_len = quick ? 64 * MIB : GIB;
    make_file(big_file, big_len);
    warm(big_file);

    char op[80];
    snprintf(op, sizeof op, "copy %zu MiB, mapped read + mapped write", big_len / MIB);
    compare(op, "GB/s", 1, copy_mapped_both, "read/write 128K", copy_read_write, NULL);
    snprintf(op, sizeof op, "copy %zu MiB, mapped read + write(2)", big_len / MIB);
    compare(op, "GB/s", 1, copy_mapped_write, "read/write 128K", copy_read_write, NULL);
    compare(op, "GB/s", 1, copy_mapped_write, "cp", copy_cp, NULL);
    compare(op, "GB/s", 1, copy_mapped_write, "copy_file_range", copy_cfr, NULL);
    static const uint32_t sequential = MAPIPC_ADVICE_SEQUENTIAL, populate = MAPIPC_ADVICE_POPULATE_READ;
    snprintf(op, sizeof op, "checksum %zu MiB, mapped, no advice", big_len / MIB);
    compare(op, "GB/s", 1, checksum_mapped, "read 128K", checksum_read, NULL);
    snprintf(op, sizeof op, "checksum %zu MiB, mapped, SEQUENTIAL", big_len / MIB);
    compare(op, "GB/s", 1, checksum_mapped, "read 128K", checksum_read, (void *)&sequential);
    snprintf(op, sizeof op, "checksum %zu MiB, mapped, POPULATE_READ", big_len / MIB);
    compare(op, "GB/s", 1, checksum_mapped, "read 128K", checksum_read, (void *)&populate);
    snprintf(op, sizeof op, "checksum %zu MiB, 2nd pass, mapping kept", big_len / MIB);
    compare(op, "GB/s", 1, checksum_mapped_again, "read 128K", checksum_read, NULL);
    unlink(big_file);
    unlink(copy_dst);
}
