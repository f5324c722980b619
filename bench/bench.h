/*
 * bench.h: what every benchmark under bench/ shares, one copy each: a
 * monotonic clock, CPU seconds (this thread, or any process or thread from
 * /proc: spans per ternd CPU-second is how the benches compare on shared,
 * noisy machines), resident memory, medians and percentiles, uniform random numbers, and
 * the machine line every bench prints.
 *
 * A bench prints `name value unit` lines, quotes medians of several runs,
 * and exits non-zero when an answer it timed was wrong.
 */
#ifndef TERN_BENCH_H
#define TERN_BENCH_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "util/hash.h"

/** Seconds on the monotonic clock. */
static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/** CPU seconds the calling thread has used. */
static inline double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/** utime + stime in seconds from a /proc/.../stat file, or -1. */
static inline double stat_cpu_s(const char *path)
{
	char buf[2048];
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return -1;
	unsigned long long ut = 0, st = 0;
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/** utime + stime of process pid in seconds, or -1. */
static inline double proc_cpu_s(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_cpu_s(path);
}

/** Resident memory of process pid in KiB (VmRSS), or -1. */
static inline long proc_rss_kb(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	char line[256];
	long kb = -1;
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = atol(line + 6);
	if (f != NULL)
		fclose(f);
	return kb;
}

/**
 * The spans a ternd accepted, from the line it prints on stdout at a clean
 * exit ("stopped accepted_spans N ...", struct ternd_proc's final_output),
 * or -1. Benches compare it with what their clients were acknowledged.
 */
static inline long long ternd_accepted_spans(const char *final_output)
{
	unsigned long long n;
	const char *p = strstr(final_output, "stopped accepted_spans ");
	if (p == NULL || sscanf(p, "stopped accepted_spans %llu", &n) != 1)
		return -1;
	return (long long)n;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/** The median of n > 0 values. Sorts v in place. */
static inline double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/**
 * The nearest-rank p-quantile (0 < p <= 1) of n > 0 values: the smallest
 * value with at least p * n values at or below it (p99 of 60 is the
 * largest). Sorts v in place.
 */
static inline double percentile(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	int i = (int)ceil(p * n - 1e-9) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/** A uniform double in (0, 1) from the splitmix64 state *s. */
static inline double uniform01(uint64_t *s)
{
	return ((double)(util_splitmix64(s) >> 11) + 0.5) / 9007199254740992.0;
}

/**
 * Prints the machine line: CPU model, CPUs online, kernel, and the load
 * average at the start (the machines are shared: it says how noisy the
 * figures after it are).
 */
static inline void print_machine(void)
{
	char model[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f != NULL) {
		char line[512];
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "model name", 10) == 0) {
				char *c = strchr(line, ':');
				if (c) {
					snprintf(model, sizeof(model), "%s", c + 2);
					model[strcspn(model, "\n")] = '\0';
				}
				break;
			}
		}
		fclose(f);
	}
	struct utsname u;
	if (uname(&u) != 0)
		snprintf(u.release, sizeof(u.release), "unknown");
	double la[3] = { 0, 0, 0 };
	if (getloadavg(la, 3) != 3)
		la[0] = la[1] = la[2] = -1;
	printf("machine \"%s\" %ld cpus, %s %s, load average %.2f %.2f %.2f\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, la[0], la[1], la[2]);
}

#endif /* TERN_BENCH_H */
