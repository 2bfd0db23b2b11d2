/* The benchmark harness shared by every group of make bench: each side of
 * a comparison runs in a fresh child process, alternating, and the rows
 * become a table, a CSV file and a chart (see bench.c). */
#ifndef MAPIPC_BENCH_HARNESS_H
#define MAPIPC_BENCH_HARNESS_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "mapipc.h"


#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)
#define PMD (2 * MIB)

extern int reps;  /* repetitions per side */
extern int quick; /* a short run: fewer repetitions and iterations */
extern long page;

void die(const char *what);
void must(mapipc_status s, const char *what);
double now(void);
void touch_pages(volatile char *p, size_t len);
/* fork() for the two-process benchmarks. pinned: the caller runs on CPU 0
 * and the child on CPU 1, so that spinning sides are measured on two cores
 * and not by the scheduler's luck (on one CPU a spinner waits out the
 * other's time slice); not pinned: where the scheduler puts them, the
 * natural setting of pipes and sockets. Both sides of a comparison use the
 * same placement. */
pid_t fork_placed(int pinned);
double gbps(double seconds, size_t bytes);
/* A file of `len` pseudo-random bytes, written and fsync'ed. */
void make_file(const char *path, size_t len);
/* Reads a file through once so that its pages are cached. */
void warm(const char *path);

/* Measures `m` (mapipc) against `b` (the baseline) on `arg`, reps times
 * each, and records a row. higher_better: the unit is a rate (GB/s),
 * otherwise a cost (us). */
void compare(const char *op, const char *unit, int higher_better, double (*m)(void *), const char *base,
             double (*b)(void *), void *arg);
void print_header(void);
void write_outputs(const char *csv, const char *svg);

/* Baselines the ipc group defines and the channel group reuses: a
 * hand-written SPSC ring in shared memory, pipes and socketpairs. */
struct ipc { size_t msg; size_t count; size_t slots; int pinned; };
double ipc_ring(void *arg);    /* one-way throughput, GB/s */
double rtt_ring(void *arg);    /* 64-byte round trip through a mailbox, us */
double rtt_spsc(void *arg);    /* 64-byte round trip through two rings, us */
double rtt_pipe(void *arg);
double rtt_socket(void *arg);

/* The groups; each makes (and removes) its own files under dir. */
void bench_map(const char *dir);
void bench_map_copy(const char *dir);
void bench_shm_ipc(void);
void bench_sync(void);
void bench_guard(const char *dir);
void bench_channel(void);
void bench_share(void);
/* Runs the mapipc command (make cli builds it; MAPIPC_BIN overrides where). */
void bench_cli(void);

#endif
