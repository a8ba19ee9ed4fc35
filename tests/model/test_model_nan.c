/* SPDX-License-Identifier: MIT */
/*
 * NaN and +-Inf through the model engine, on every epilogue ISA this CPU has: the values
 * PyTorch and onnxruntime give (IEEE 754 arithmetic, libm's expf/tanhf), never a finite
 * stand-in. One special value at a time goes into every column position of rows 1 to 40
 * wide (every lane of an 8- and a 16-wide vector, and every tail length), through each
 * kernel shape the engine has: bias + activation (wide and narrow rows), an activation
 * alone, a general element-wise chain, softmax (alone, after a bias, inside a chain) and the
 * autoencoder's squared error. The special element's result must be exactly the expected
 * NaN/Inf/0/1, and every other element bit for bit what the same kernel gives without it.
 * Then whole models, on every GEMM route (openblas, xsmm, xsmm-bf16, auto) this build and
 * CPU have: a NaN in one input row makes that row's outputs NaN and leaves the other rows as
 * they were; a +-Inf gives every output the class (NaN, +-Inf, finite) the OpenBLAS route
 * gives it.
 *
 * usage: test_model_nan FIXTURE_DIR
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linegate/model.h>

#include "epilogue.h"
#include "fixture.h"
#include "../lgt_cli.h"

static int failures;

struct kernel {
	enum lg_model_isa isa;
	epi_fn fn;
	epi_sqerr_fn sqerr;
};

static const struct kernel kernels[] = {
    {LG_MODEL_ISA_SCALAR, epi_run_scalar, epi_sqerr_scalar},
#ifdef LG_MODEL_X86
    {LG_MODEL_ISA_AVX2, epi_run_avx2, epi_sqerr_avx2},
    {LG_MODEL_ISA_AVX512, epi_run_avx512, epi_sqerr_avx512},
#endif
};
#define NKERNELS (sizeof(kernels) / sizeof(kernels[0]))

enum { ROWS = 3, MAXC = 40 };

static const float specials[] = {NAN, INFINITY, -INFINITY};

/* Equal as values, NaN equal to NaN (the sign and payload of a NaN are not specified). */
static int same(float a, float b)
{
	return (isnan(a) && isnan(b)) || (!isnan(a) && !isnan(b) && a == b);
}

/* What an activation makes of a special value (PyTorch and onnxruntime alike). */
static float expect_act(enum epi_kind act, float x)
{
	if (isnan(x))
		return NAN;
	switch (act) {
	case EPI_RELU:
		return x > 0 ? x : 0.0f; /* relu(+inf) = +inf, relu(-inf) = 0 */
	case EPI_LEAKY:
		return x; /* alpha * -inf = -inf */
	case EPI_SIGMOID:
		return x > 0 ? 1.0f : 0.0f; /* 1 / (1 + e^-x) */
	case EPI_TANH:
		return x > 0 ? 1.0f : -1.0f;
	default:
		return x; /* bias or scale by a finite value */
	}
}

static const char *sname(float x)
{
	return isnan(x) ? "nan" : x > 0 ? "+inf" : "-inf";
}

static float src[ROWS * MAXC], bias[MAXC], ones[MAXC];
static float clean[ROWS * MAXC], got[ROWS * MAXC], in[ROWS * MAXC];

/* Run ops over rows x cols with special x at [r][p]; compare with the clean run. */
static void element_case(const char *what, const struct kernel *k, const struct epi_op *ops,
			 size_t n_ops, enum epi_kind act, size_t rows, size_t cols)
{
	for (size_t s = 0; s < sizeof(specials) / sizeof(specials[0]); s++) {
		for (size_t at = 0; at < rows * cols; at++) {
			float want = expect_act(act, specials[s]);

			memcpy(in, src, rows * cols * sizeof(float));
			in[at] = specials[s];
			/* out of place, then in place as a layer after an sgemm runs it */
			for (int inplace = 0; inplace < 2; inplace++) {
				if (inplace) {
					memcpy(got, in, rows * cols * sizeof(float));
					k->fn(ops, n_ops, got, got, rows, cols);
				} else {
					k->fn(ops, n_ops, in, got, rows, cols);
				}
				for (size_t i = 0; i < rows * cols; i++) {
					float w = i == at ? want : clean[i];

					if (same(got[i], w) && (i == at || isfinite(got[i])))
						continue;
					fprintf(stderr,
						"FAIL %s/%s: %s at [%zu] of %zux%zu: [%zu] = "
						"%g, want %g\n",
						what, lg_model_isa_name(k->isa), sname(specials[s]),
						at, rows, cols, i, got[i], w);
					failures++;
					return;
				}
			}
		}
	}
}

static void test_elementwise(const struct kernel *k)
{
	static const enum epi_kind acts[] = {EPI_ADD, EPI_RELU, EPI_LEAKY, EPI_SIGMOID, EPI_TANH};
	char what[64];

	for (size_t a = 0; a < sizeof(acts) / sizeof(acts[0]); a++) {
		for (size_t cols = 1; cols <= MAXC; cols++) {
			/* bias + activation, the layer shape almost every Gemm has */
			struct epi_op ba[2] = {{.kind = EPI_ADD, .vec = bias},
					       {.kind = acts[a], .alpha = 0.3f}};
			size_t nba = acts[a] == EPI_ADD ? 1 : 2;
			/* the general fused path: three ops, no specialised loop */
			struct epi_op chain[3] = {{.kind = EPI_MUL, .vec = ones},
						  {.kind = acts[a] == EPI_ADD ? EPI_MUL : acts[a],
						   .alpha = 0.3f,
						   .vec = ones},
						  {.kind = EPI_MUL, .vec = ones}};

			/* one row (wide path) and three (narrow rows run as one flat array) */
			for (size_t rows = 1; rows <= ROWS; rows += ROWS - 1) {
				k->fn(ba, nba, src, clean, rows, cols);
				snprintf(what, sizeof(what), "bias+act %d", acts[a]);
				element_case(what, k, ba, nba, acts[a], rows, cols);
				if (acts[a] != EPI_ADD) {
					k->fn(ba + 1, 1, src, clean, rows, cols);
					snprintf(what, sizeof(what), "act %d", acts[a]);
					element_case(what, k, ba + 1, 1, acts[a], rows, cols);
				}
				k->fn(chain, 3, src, clean, rows, cols);
				snprintf(what, sizeof(what), "chain %d", acts[a]);
				element_case(what, k, chain, 3, acts[a], rows, cols);
			}
		}
	}
}

/*
 * Softmax of a group holding the special value: NaN for NaN and +inf (e^(inf - inf) is
 * NaN in PyTorch and onnxruntime alike), for -inf that element 0 and the rest a softmax of
 * the others (a group of -inf alone is NaN: -inf - -inf). Other groups are untouched.
 */
static void softmax_case(const char *what, const struct kernel *k, const struct epi_op *ops,
			 size_t n_ops, size_t cols, size_t group)
{
	for (size_t s = 0; s < sizeof(specials) / sizeof(specials[0]); s++) {
		for (size_t at = 0; at < cols; at++) {
			size_t g0 = at - at % group;
			double sum = 0;
			int bad = 0;

			memcpy(in, src, cols * sizeof(float));
			in[at] = specials[s];
			k->fn(ops, n_ops, in, got, 1, cols);
			for (size_t i = 0; i < cols && !bad; i++) {
				int mine = i >= g0 && i < g0 + group;

				if (!mine)
					bad = !same(got[i], clean[i]) || !isfinite(got[i]);
				else if (isnan(specials[s]) || specials[s] > 0 || group == 1)
					bad = !isnan(got[i]);
				else if (i == at)
					bad = got[i] != 0.0f;
				else
					bad = !isfinite(got[i]) || got[i] <= 0.0f;
				if (mine && isfinite(got[i]))
					sum += got[i];
				if (bad) {
					fprintf(stderr,
						"FAIL %s/%s: %s at [%zu] of %zu, group %zu: "
						"[%zu] = %g\n",
						what, lg_model_isa_name(k->isa), sname(specials[s]),
						at, cols, group, i, got[i]);
					failures++;
					return;
				}
			}
			if (specials[s] < 0 && group > 1 && !(fabs(sum - 1.0) < 1e-5)) {
				fprintf(stderr,
					"FAIL %s/%s: -inf at [%zu] of %zu, group %zu: the "
					"others sum to %.9g\n",
					what, lg_model_isa_name(k->isa), at, cols, group, sum);
				failures++;
				return;
			}
		}
	}
}

static void test_softmax(const struct kernel *k)
{
	char what[64];

	for (size_t cols = 1; cols <= MAXC; cols++) {
		for (size_t group = 1; group <= cols; group++) {
			struct epi_op alone = {.kind = EPI_SOFTMAX, .group = group};
			struct epi_op biased[2] = {{.kind = EPI_ADD, .vec = bias},
						   {.kind = EPI_SOFTMAX, .group = group}};
			struct epi_op chain[3] = {{.kind = EPI_MUL, .vec = ones},
						  {.kind = EPI_SOFTMAX, .group = group},
						  {.kind = EPI_MUL, .vec = ones}};

			if (cols % group)
				continue;
			snprintf(what, sizeof(what), "softmax");
			k->fn(&alone, 1, src, clean, 1, cols);
			softmax_case(what, k, &alone, 1, cols, group);
			snprintf(what, sizeof(what), "bias+softmax");
			k->fn(biased, 2, src, clean, 1, cols);
			softmax_case(what, k, biased, 2, cols, group);
			snprintf(what, sizeof(what), "chain softmax");
			k->fn(chain, 3, src, clean, 1, cols);
			softmax_case(what, k, chain, 3, cols, group);
		}
	}
}

/* The autoencoder's mean squared error: NaN stays NaN, +-inf gives +inf, per row. */
static void test_sqerr(const struct kernel *k)
{
	static float y[ROWS * MAXC];
	float want_rows[ROWS], out[ROWS];

	for (size_t i = 0; i < ROWS * MAXC; i++)
		y[i] = src[i] * 0.5f;
	for (size_t cols = 1; cols <= MAXC; cols++) {
		k->sqerr(src, y, ROWS, cols, want_rows);
		for (size_t s = 0; s < sizeof(specials) / sizeof(specials[0]); s++) {
			for (size_t at = 0; at < ROWS * cols; at++) {
				memcpy(in, src, ROWS * cols * sizeof(float));
				in[at] = specials[s];
				/* in x (the input) once, in y (the reconstruction) once */
				for (int side = 0; side < 2; side++) {
					size_t r0 = at / cols;

					if (side)
						k->sqerr(y, in, ROWS, cols, out);
					else
						k->sqerr(in, y, ROWS, cols, out);
					for (size_t r = 0; r < ROWS; r++) {
						float w = r != r0	       ? want_rows[r]
							  : isnan(specials[s]) ? NAN
									       : INFINITY;

						if (same(out[r], w))
							continue;
						fprintf(stderr,
							"FAIL sqerr/%s: %s at [%zu] of %zux%zu: "
							"row %zu = %g, want %g\n",
							lg_model_isa_name(k->isa),
							sname(specials[s]), at, (size_t)ROWS, cols,
							r, out[r], w);
						failures++;
						return;
					}
				}
			}
		}
	}
}

/* Whole models: a NaN feature in row 1 makes all of row 1's outputs NaN, the rest unchanged. */
/* NaN, +Inf, -Inf or finite: what must agree between GEMM routes */
static int fclass(float x)
{
	return isnan(x) ? 0 : isinf(x) ? (x > 0 ? 1 : 2) : 3;
}

static const enum lg_model_gemm routes[] = {LG_MODEL_GEMM_OPENBLAS, LG_MODEL_GEMM_XSMM,
					    LG_MODEL_GEMM_XSMM_BF16, LG_MODEL_GEMM_AUTO};

/*
 * Whole models, on every GEMM route and epilogue ISA: a NaN in one row's input makes that
 * row's outputs and scores NaN and leaves every other row exactly as it was; a +-Inf gives
 * each output the same class (NaN, +Inf, -Inf, finite) as on the OpenBLAS route.
 */
static void test_models(const char *dir)
{
	static const char *const names[] = {"mlp_classifier", "ops_mix", "mlp_bn", "ae_64"};
	enum { B = 7 };

	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
		char err[256];
		size_t len = 0, in_len = 0;
		void *buf = read_all(dir, names[n], ".onnx", &len);
		float *x = read_all(dir, names[n], ".in.f32", &in_len);
		struct lg_model *m = NULL, *mob = NULL;
		struct lg_model_ws *ws = NULL;

		if (!buf || !x || lg_model_load_mem(buf, len, &m, err, sizeof(err)) ||
		    lg_model_load_mem(buf, len, &mob, err, sizeof(err)) ||
		    lg_model_set_gemm(mob, LG_MODEL_GEMM_OPENBLAS) || lg_model_ws_create(m, B, &ws)) {
			fprintf(stderr, "FAIL %s: cannot load\n", names[n]);
			failures++;
			goto next;
		}
		size_t di = lg_model_input_dim(m), dout = lg_model_output_dim(m);
		size_t ds = lg_model_score_dim(m);
		float *ref = malloc(B * dout * sizeof(float)),
		      *out = malloc(B * dout * sizeof(float));
		float *sref = malloc(B * ds * sizeof(float)), *sc = malloc(B * ds * sizeof(float));
		float *oob = malloc(B * dout * sizeof(float));

		for (size_t g = 0; g < sizeof(routes) / sizeof(routes[0]); g++) {
			const char *rn = lg_model_gemm_name(routes[g]);

			if (lg_model_gemm_missing(routes[g])) {
				printf("model %-14s route %-9s skipped: %s\n", names[n], rn,
				       lg_model_gemm_missing(routes[g]));
				continue;
			}
			if (lg_model_set_gemm(m, routes[g])) {
				fprintf(stderr, "FAIL model %s: set_gemm(%s)\n", names[n], rn);
				failures++;
				continue;
			}
			for (size_t i = 0; i < NKERNELS && ref && out && sref && sc && oob; i++) {
				const char *isn = lg_model_isa_name(kernels[i].isa);

				if (!lg_model_isa_supported(kernels[i].isa) ||
				    lg_model_set_isa(m, kernels[i].isa) ||
				    lg_model_set_isa(mob, kernels[i].isa))
					continue;
				for (size_t col = 0; col < di; col += di / 5 + 1) {
					float keep = x[di + col];

					lg_model_run(m, x, B, ref, ws);
					lg_model_scores(m, x, B, sref, ws);
					x[di + col] = NAN;
					lg_model_run(m, x, B, out, ws);
					lg_model_scores(m, x, B, sc, ws);
					x[di + col] = keep;
					for (size_t j = 0; j < B * dout; j++) {
						int row1 = j / dout == 1;

						if (row1 ? isnan(out[j]) : same(out[j], ref[j]))
							continue;
						fprintf(stderr,
							"FAIL model %s/%s/%s: NaN in row 1 column "
							"%zu: output [%zu] = %g\n",
							names[n], rn, isn, col, j, out[j]);
						failures++;
						break;
					}
					for (size_t j = 0; j < B * ds; j++) {
						int row1 = j / ds == 1;

						if (row1 ? isnan(sc[j]) : same(sc[j], sref[j]))
							continue;
						fprintf(stderr,
							"FAIL model %s/%s/%s: NaN in row 1 column "
							"%zu: score [%zu] = %g\n",
							names[n], rn, isn, col, j, sc[j]);
						failures++;
						break;
					}
					for (int sign = 0; sign < 2; sign++) {
						x[di + col] = sign ? -INFINITY : INFINITY;
						lg_model_run(m, x, B, out, ws);
						lg_model_run(mob, x, B, oob, ws);
						x[di + col] = keep;
						for (size_t j = 0; j < B * dout; j++) {
							if (fclass(out[j]) == fclass(oob[j]) &&
							    (j / dout == 1 || same(out[j], ref[j])))
								continue;
							fprintf(stderr,
								"FAIL model %s/%s/%s: %cInf in row 1 "
								"column %zu: output [%zu] = %g, "
								"openblas route %g\n",
								names[n], rn, isn, sign ? '-' : '+',
								col, j, out[j], oob[j]);
							failures++;
							break;
						}
					}
				}
			}
			printf("model %-14s route %-9s tested\n", names[n], rn);
		}
		free(ref);
		free(out);
		free(sref);
		free(sc);
		free(oob);
	next:
		lg_model_ws_free(ws);
		lg_model_free(m);
		lg_model_free(mob);
		free(buf);
		free(x);
	}
}

static const char usage[] =
    "Usage: test_model_nan [options] FIXTURE_DIR\n"
    "\n"
    "NaN, +inf and -inf through the model engine on every epilogue ISA this CPU has\n"
    "(scalar, AVX2, AVX-512): each in every column position of rows 1 to 40 wide, through\n"
    "bias + activation, activations alone, element-wise chains, softmax and the squared\n"
    "error, must give exactly what PyTorch and onnxruntime give (relu(NaN) = NaN,\n"
    "relu(-inf) = 0, sigmoid(+inf) = 1, softmax of a group with NaN or +inf is NaN, ...) and\n"
    "leave every other element as it was; a NaN feature through the fixture models makes\n"
    "its row's outputs NaN and no other row's, on every GEMM route (openblas, xsmm,\n"
    "xsmm-bf16, auto), and a +-inf feature gives each output the class (NaN, +-inf,\n"
    "finite) the openblas route gives it.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: on stdout each ISA and each model's GEMM route, \"tested\" or \"skipped:\n"
    "REASON\", then \"all NaN\n"
    "checks passed\"; failures and their count on stderr.\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	int a = lgt_cli(argc, argv, usage, 1, 1);
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < ROWS * MAXC; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		src[i] = -4.0f + 8.0f * (float)((rng >> 40) * (1.0 / (1ull << 24)));
	}
	for (size_t i = 0; i < MAXC; i++) {
		bias[i] = src[i] * 0.25f;
		ones[i] = 1.0f;
	}
	for (size_t i = 0; i < NKERNELS; i++) {
		const char *name = lg_model_isa_name(kernels[i].isa);

		if (!lg_model_isa_supported(kernels[i].isa)) {
			printf("%-6s skipped: CPU lacks %s\n", name, name);
			continue;
		}
		printf("%-6s tested\n", name);
		test_elementwise(&kernels[i]);
		test_softmax(&kernels[i]);
		test_sqerr(&kernels[i]);
	}
	test_models(argv[a]);
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all NaN checks passed\n");
	return 0;
}
