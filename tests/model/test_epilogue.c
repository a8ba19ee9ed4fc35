/* SPDX-License-Identifier: MIT */
/*
 * White-box test of the epilogue kernels: every ISA against a double-precision reference,
 * over row widths that exercise every tail length, every op kind, op chains with a softmax in
 * the middle, in place and out of place, and the saturated ends of sigmoid/tanh. The bound is
 * far tighter than the 1e-4 model parity bound, so a sloppy polynomial shows up here first.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linegate/model.h>

#include "epilogue.h"
#include "../lgt_cli.h"

/* ~20 float ulps: the exp/tanh polynomials are good to a few ulps */
#define TIGHT_RTOL 2.5e-6
#define TIGHT_ATOL 1e-30

static int failures;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float frand(float lo, float hi)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return lo + (hi - lo) * (float)((rng >> 40) * (1.0 / (1ull << 24)));
}

static double ref_apply(const struct epi_op *op, double x, size_t j)
{
	switch (op->kind) {
	case EPI_ADD:
		return x + op->vec[j];
	case EPI_SUB:
		return x - op->vec[j];
	case EPI_RSUB:
		return op->vec[j] - x;
	case EPI_MUL:
		return x * op->vec[j];
	case EPI_DIV:
		return x / op->vec[j];
	case EPI_RDIV:
		return op->vec[j] / x;
	case EPI_RELU:
		return x > 0 ? x : 0;
	case EPI_LEAKY:
		return x < 0 ? op->alpha * x : x;
	case EPI_SIGMOID:
		return 1.0 / (1.0 + exp(-x));
	case EPI_TANH:
		return tanh(x);
	case EPI_SOFTMAX:
		break;
	}
	return x;
}

/* Reference in double; each op rounds to float like the kernels do between ops. */
static void reference(const struct epi_op *ops, size_t n_ops, const float *src, float *dst,
		      size_t rows, size_t cols)
{
	for (size_t r = 0; r < rows; r++) {
		float *d = dst + r * cols;

		memcpy(d, src + r * cols, cols * sizeof(float));
		for (size_t k = 0; k < n_ops; k++) {
			if (ops[k].kind != EPI_SOFTMAX) {
				for (size_t j = 0; j < cols; j++)
					d[j] = (float)ref_apply(&ops[k], d[j], j);
				continue;
			}
			for (size_t g = 0; g < cols; g += ops[k].group) {
				double mx = d[g], sum = 0;

				for (size_t j = 0; j < ops[k].group; j++)
					mx = d[g + j] > mx ? d[g + j] : mx;
				for (size_t j = 0; j < ops[k].group; j++)
					sum += exp(d[g + j] - mx);
				for (size_t j = 0; j < ops[k].group; j++)
					d[g + j] = (float)(exp(d[g + j] - mx) / sum);
			}
		}
	}
}

struct kernel {
	enum lg_model_isa isa;
	epi_fn fn;
};

static const struct kernel kernels[] = {
    {LG_MODEL_ISA_SCALAR, epi_run_scalar},
#ifdef LG_MODEL_X86 /* the SIMD kernels are only built for x86-64 */
    {LG_MODEL_ISA_AVX2, epi_run_avx2},
    {LG_MODEL_ISA_AVX512, epi_run_avx512},
#endif
};

static void check(const char *what, const struct kernel *k, const float *got, const float *want,
		  size_t n, double rtol)
{
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]);

		if (!(d <= TIGHT_ATOL + rtol * fabs((double)want[i]))) {
			fprintf(stderr, "FAIL %s/%s: [%zu] got %.9g want %.9g (rel %.3g)\n", what,
				lg_model_isa_name(k->isa), i, got[i], want[i],
				d / fabs((double)want[i]));
			failures++;
			return;
		}
	}
}

static void run_case(const char *what, const struct epi_op *ops, size_t n_ops, const float *src,
		     size_t rows, size_t cols, double rtol)
{
	float *want = malloc(rows * cols * sizeof(float));
	float *got = malloc(rows * cols * sizeof(float));

	reference(ops, n_ops, src, want, rows, cols);
	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		const struct kernel *k = &kernels[i];

		if (!lg_model_isa_supported(k->isa))
			continue;
		memset(got, 0xff, rows * cols * sizeof(float));
		k->fn(ops, n_ops, src, got, rows, cols);
		check(what, k, got, want, rows * cols, rtol);
		/* in place, as layers with a gemm run it */
		memcpy(got, src, rows * cols * sizeof(float));
		k->fn(ops, n_ops, got, got, rows, cols);
		check(what, k, got, want, rows * cols, rtol);
	}
	free(want);
	free(got);
}

static void test_transcendentals(void)
{
	enum { N = 20000 };
	static float x[N];
	struct epi_op sig = {.kind = EPI_SIGMOID}, th = {.kind = EPI_TANH};

	/* dense over the interesting range, then tiny magnitudes where tanh cancels */
	for (size_t i = 0; i < N / 2; i++)
		x[i] = -80.0f + 160.0f * (float)i / (N / 2);
	for (size_t i = N / 2; i < N; i++)
		x[i] = ((i & 1) ? -1.0f : 1.0f) *
		       powf(10.0f, -8.0f + 8.0f * (float)(i - N / 2) / (N / 2));
	/* both sides of the tanh branch point */
	x[0] = 0.625f;
	x[1] = nextafterf(0.625f, 0.0f);
	x[2] = -0.625f;
	x[3] = 0.0f;
	x[4] = -0.0f;
	run_case("sigmoid", &sig, 1, x, 1, N, TIGHT_RTOL);
	run_case("tanh", &th, 1, x, 1, N, TIGHT_RTOL);
}

static void test_saturation(void)
{
	static const float x[] = {100.0f,   -100.0f,   1e30f, -1e30f, 88.5f, -88.5f, 87.0f, -87.0f,
				  INFINITY, -INFINITY, 30.0f, -30.0f, 9.0f,  -9.0f,  20.0f, -20.0f};
	enum { N = sizeof(x) / sizeof(x[0]) };
	struct epi_op sig = {.kind = EPI_SIGMOID}, th = {.kind = EPI_TANH};
	float out[N];

	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++) {
		const struct kernel *k = &kernels[i];

		if (!lg_model_isa_supported(k->isa))
			continue;
		k->fn(&sig, 1, x, out, 1, N);
		for (size_t j = 0; j < N; j++) {
			double want = 1.0 / (1.0 + exp(-(double)x[j]));

			if (!(fabs(out[j] - want) <= 1e-7 + 1e-6 * want)) {
				fprintf(stderr, "FAIL saturation/%s: sigmoid(%g) = %g\n",
					lg_model_isa_name(k->isa), x[j], out[j]);
				failures++;
			}
		}
		k->fn(&th, 1, x, out, 1, N);
		for (size_t j = 0; j < N; j++) {
			if (!(fabs(out[j] - tanh((double)x[j])) <= 1e-7)) {
				fprintf(stderr, "FAIL saturation/%s: tanh(%g) = %g\n",
					lg_model_isa_name(k->isa), x[j], out[j]);
				failures++;
			}
		}
	}
}

static void test_ops_and_tails(void)
{
	enum { ROWS = 3, MAXC = 70 };
	static float src[ROWS * MAXC], v1[MAXC], v2[MAXC], v3[MAXC];
	static const enum epi_kind acts[] = {EPI_RELU, EPI_LEAKY, EPI_SIGMOID, EPI_TANH};
	static const enum epi_kind binary[] = {EPI_ADD, EPI_SUB, EPI_RSUB,
					       EPI_MUL, EPI_DIV, EPI_RDIV};
	char what[64];

	for (size_t i = 0; i < ROWS * MAXC; i++)
		src[i] = frand(-4.0f, 4.0f);
	for (size_t i = 0; i < MAXC; i++) {
		v1[i] = frand(-1.0f, 1.0f);
		v2[i] = frand(0.5f, 2.0f); /* divisors away from 0 */
		v3[i] = frand(-3.0f, 3.0f);
	}
	for (size_t cols = 1; cols <= MAXC; cols++) {
		for (size_t b = 0; b < sizeof(binary) / sizeof(binary[0]); b++) {
			/* RDIV divides by x itself: keep x away from 0 by adding 5 first */
			struct epi_op ops[2] = {
			    {.kind = EPI_ADD, .vec = v2},
			    {.kind = binary[b], .vec = binary[b] == EPI_DIV ? v2 : v1},
			};

			if (binary[b] == EPI_RDIV) {
				static float five[MAXC];

				for (size_t i = 0; i < MAXC; i++)
					five[i] = 5.0f;
				ops[0].vec = five;
			}
			snprintf(what, sizeof(what), "binary %d cols %zu", binary[b], cols);
			run_case(what, ops, 2, src, ROWS, cols, 1e-6);
		}
		{
			/* a Gemm tail: bias, activation, scale, another activation */
			struct epi_op ops[] = {
			    {.kind = EPI_ADD, .vec = v1}, {.kind = EPI_LEAKY, .alpha = 0.2f},
			    {.kind = EPI_MUL, .vec = v3}, {.kind = EPI_TANH},
			    {.kind = EPI_SUB, .vec = v1}, {.kind = EPI_RELU},
			    {.kind = EPI_SIGMOID},
			};

			snprintf(what, sizeof(what), "chain cols %zu", cols);
			run_case(what, ops, sizeof(ops) / sizeof(ops[0]), src, ROWS, cols,
				 TIGHT_RTOL);
		}
		/* the specialised bias + activation loops: with and without either part */
		for (size_t a = 0; a < sizeof(acts) / sizeof(acts[0]); a++) {
			struct epi_op ops[2] = {
			    {.kind = EPI_ADD, .vec = v1},
			    {.kind = acts[a], .alpha = 0.3f},
			};

			snprintf(what, sizeof(what), "bias+act %d cols %zu", acts[a], cols);
			run_case(what, ops, 2, src, ROWS, cols, TIGHT_RTOL);
			snprintf(what, sizeof(what), "act %d cols %zu", acts[a], cols);
			run_case(what, ops + 1, 1, src, ROWS, cols, TIGHT_RTOL);
		}
		snprintf(what, sizeof(what), "bias cols %zu", cols);
		run_case(what, (struct epi_op[]){{.kind = EPI_ADD, .vec = v1}}, 1, src, ROWS, cols,
			 1e-6);
		for (size_t group = 1; group <= cols; group++) {
			struct epi_op ops[] = {
			    {.kind = EPI_MUL, .vec = v3},
			    {.kind = EPI_SOFTMAX, .group = group},
			    /* a multiply, not an add: x + v near 0 would amplify rounding */
			    {.kind = EPI_MUL, .vec = v1},
			};

			if (cols % group)
				continue;
			snprintf(what, sizeof(what), "softmax cols %zu group %zu", cols, group);
			run_case(what, ops, 3, src, ROWS, cols, 4 * TIGHT_RTOL);
			/* the classifier tail kernels: bias + softmax, and softmax alone */
			snprintf(what, sizeof(what), "bias+softmax cols %zu group %zu", cols, group);
			run_case(what, (struct epi_op[]){{.kind = EPI_ADD, .vec = v3},
							 {.kind = EPI_SOFTMAX, .group = group}},
				 2, src, ROWS, cols, 4 * TIGHT_RTOL);
			snprintf(what, sizeof(what), "softmax alone cols %zu group %zu", cols, group);
			run_case(what, (struct epi_op[]){{.kind = EPI_SOFTMAX, .group = group}}, 1, src,
				 ROWS, cols, 4 * TIGHT_RTOL);
		}
	}
	/* no ops at all: a copy */
	run_case("copy", NULL, 0, src, ROWS, MAXC, 0);
}

/*
 * Narrow layers (fewer columns than a vector) run as one flat array with the bias repeated
 * in a tile: enough rows that the tile wraps around several times, every width below 16.
 */
static void test_narrow_rows(void)
{
	enum { ROWS = 37, MAXC = 20 };
	static float src[ROWS * MAXC], bias[MAXC];
	static const enum epi_kind acts[] = {EPI_ADD, EPI_RELU, EPI_LEAKY, EPI_SIGMOID, EPI_TANH};
	char what[64];

	for (size_t i = 0; i < ROWS * MAXC; i++)
		src[i] = frand(-4.0f, 4.0f);
	for (size_t i = 0; i < MAXC; i++)
		bias[i] = frand(-1.0f, 1.0f);
	for (size_t cols = 1; cols <= MAXC; cols++) {
		for (size_t a = 0; a < sizeof(acts) / sizeof(acts[0]); a++) {
			struct epi_op ops[2] = {
			    {.kind = EPI_ADD, .vec = bias},
			    {.kind = acts[a], .alpha = 0.3f},
			};
			size_t n = acts[a] == EPI_ADD ? 1 : 2;

			for (size_t rows = 1; rows <= ROWS; rows += 12) {
				snprintf(what, sizeof(what), "narrow bias+act %d cols %zu rows %zu",
					 acts[a], cols, rows);
				run_case(what, ops, n, src, rows, cols, TIGHT_RTOL);
				if (acts[a] == EPI_ADD)
					continue;
				snprintf(what, sizeof(what), "narrow act %d cols %zu rows %zu",
					 acts[a], cols, rows);
				run_case(what, ops + 1, 1, src, rows, cols, TIGHT_RTOL);
			}
		}
	}
}

/* The autoencoder score of every ISA against a double-precision sum, every tail length. */
static void test_sqerr(void)
{
	static const struct {
		enum lg_model_isa isa;
		epi_sqerr_fn fn;
	} sq[] = {
	    {LG_MODEL_ISA_SCALAR, epi_sqerr_scalar},
#ifdef LG_MODEL_X86
	    {LG_MODEL_ISA_AVX2, epi_sqerr_avx2},
	    {LG_MODEL_ISA_AVX512, epi_sqerr_avx512},
#endif
	};
	enum { R = 5, MAXW = 1100 };
	static float x[R * MAXW], y[R * MAXW];
	float got[R];

	for (size_t i = 0; i < R * MAXW; i++) {
		x[i] = frand(-3.0f, 3.0f);
		y[i] = x[i] + frand(-0.5f, 0.5f);
	}
	for (size_t cols = 1; cols <= MAXW; cols += cols < 70 ? 1 : 97) {
		for (size_t k = 0; k < sizeof(sq) / sizeof(sq[0]); k++) {
			if (!lg_model_isa_supported(sq[k].isa))
				continue;
			for (size_t r = 0; r < R; r++)
				got[r] = -1.0f;
			sq[k].fn(x, y, R, cols, got);
			for (size_t r = 0; r < R; r++) {
				double want = 0.0;

				for (size_t j = 0; j < cols; j++) {
					double e = (double)x[r * cols + j] - (double)y[r * cols + j];

					want += e * e;
				}
				want /= (double)cols;
				/* a float sum of cols positive terms: cols * eps bounds its error */
				if (!(fabs(got[r] - want) <= 1e-6 * (double)cols * want + 1e-30)) {
					fprintf(stderr, "FAIL sqerr/%s: cols %zu row %zu got %.9g want %.9g\n",
						lg_model_isa_name(sq[k].isa), cols, r, got[r], want);
					failures++;
				}
			}
		}
	}
	/* identical rows score exactly 0 */
	for (size_t k = 0; k < sizeof(sq) / sizeof(sq[0]); k++) {
		if (!lg_model_isa_supported(sq[k].isa))
			continue;
		sq[k].fn(x, x, R, 37, got);
		for (size_t r = 0; r < R; r++)
			if (got[r] != 0.0f) {
				fprintf(stderr, "FAIL sqerr/%s: x against itself gave %g\n",
					lg_model_isa_name(sq[k].isa), got[r]);
				failures++;
			}
	}
}

static const char usage[] =
	"Usage: test_epilogue [options]\n"
	"\n"
	"White-box test of the model epilogue kernels: every ISA this CPU has against a\n"
	"double-precision reference, over row widths that exercise every tail length, every op\n"
	"kind, op chains with a softmax in the middle, in place and out of place, and the\n"
	"saturated ends of sigmoid and tanh, to about 20 float ulps; and the autoencoder score\n"
	"(mean squared error per row) of every ISA against a double-precision sum.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout each ISA, \"tested\" or \"skipped: CPU lacks it\", then \"all epilogue\n"
	"checks passed\"; failures and their count on stderr.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++)
		printf("%-6s %s\n", lg_model_isa_name(kernels[i].isa),
		       lg_model_isa_supported(kernels[i].isa) ? "tested" : "skipped: CPU lacks it");
	test_transcendentals();
	test_saturation();
	test_ops_and_tails();
	test_narrow_rows();
	test_sqerr();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all epilogue checks passed\n");
	return 0;
}
