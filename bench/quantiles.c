/*
 * bench/quantiles.c: accuracy, size and speed of the shared sketch
 * (agent/include/tern_sketch.h, the one ternd's analytics use).
 *
 * For each of three distributions of 1,000,000 durations in ns (lognormal
 * around 5 ms, bimodal 1 ms / 80 ms, Pareto alpha 1.2 from 100 us), the
 * sketch's p50/p90/p95/p99/p99.9 are compared with the exact value of the
 * same rank (sorted[floor(q * (n - 1))]). Prints `name value unit` lines:
 * per distribution and quantile the relative error, the worst of all as
 * `worst_rel_err_pct VALUE %` (target <= 1), the serialised sketch size,
 * and inserts per second (median of 5 runs). One thread.
 *
 *   ./build-an/bench/quantiles
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "tern_sketch.h"

#define N 1000000
#define RUNS 5

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double uniform(void)
{
	return uniform01(&rng);
}

static double normal(void)
{
	return sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
}

static double lognormal(void)
{
	return 5e6 * exp(0.8 * normal());
}

static double bimodal(void)
{
	return uniform() < 0.9 ? 1e6 * exp(0.2 * normal()) : 80e6 * exp(0.3 * normal());
}

static double pareto(void)
{
	return 1e5 / pow(uniform(), 1 / 1.2);
}

int main(void)
{
	static const struct {
		const char *name;
		double (*gen)(void);
	} dists[] = { { "lognormal", lognormal }, { "bimodal", bimodal }, { "pareto", pareto } };
	static const double qs[] = { 0.5, 0.9, 0.95, 0.99, 0.999 };
	static const char *const qn[] = { "p50", "p90", "p95", "p99", "p999" };
	double *v = malloc(N * sizeof(*v));
	if (v == NULL)
		return 1;
	print_machine();
	double worst = 0;
	for (size_t d = 0; d < sizeof(dists) / sizeof(dists[0]); d++) {
		for (int i = 0; i < N; i++)
			v[i] = dists[d].gen();
		double rates[RUNS];
		struct tern_sketch *s = NULL;
		for (int r = 0; r < RUNS; r++) {
			tern_sketch_free(s);
			s = tern_sketch_new(0, 0);
			if (s == NULL)
				return 1;
			double t0 = now_s();
			for (int i = 0; i < N; i++)
				tern_sketch_add(s, v[i]);
			rates[r] = N / (now_s() - t0);
		}
		uint8_t *buf;
		size_t len;
		if (tern_sketch_serialize(s, &buf, &len) != 0)
			return 1;
		free(buf);
		qsort(v, N, sizeof(*v), cmp_double);
		for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
			double exact = v[(size_t)floor(qs[k] * (N - 1))];
			double got = tern_sketch_quantile(s, qs[k]);
			double err = fabs(got - exact) / exact * 100;
			if (err > worst)
				worst = err;
			printf("%s_%s_rel_err_pct %.4f %%\n", dists[d].name, qn[k], err);
		}
		printf("%s_sketch_bytes %zu bytes\n", dists[d].name, len);
		printf("%s_inserts_per_s %.0f 1/s\n", dists[d].name, median(rates, RUNS));
		tern_sketch_free(s);
	}
	printf("worst_rel_err_pct %.4f %%\n", worst);
	free(v);
	return worst <= 1.0 ? 0 : 1;
}
