/* SPDX-License-Identifier: MIT */
/*
 * The inference engine's epilogue kernels alone: ns per row for the layer tails the fixture
 * models have (bias + activation at their widths, the classifier's bias + softmax), on each
 * ISA this CPU has, 256 rows per call. White-box: it links the kernels directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <linegate/cli.h>
#include <linegate/model.h>

#include "bench_time.h"
#include "epilogue.h"

#define ROWS 256
#define TRIALS 7

static const char usage[] =
	"Usage: epilogue_bench [SECONDS]\n"
	"\n"
	"Times the model epilogue kernels alone (dataplane/model/epilogue_*.c): bias + ReLU,\n"
	"tanh, sigmoid and LeakyReLU at the widths of the fixture models' layers, bias + softmax\n"
	"over 5 columns (mlp_classifier's tail) and a bias alone, on 256-row blocks, on every\n"
	"ISA this CPU supports. Each point is the best of 7 trials of SECONDS/7 (default 0.2).\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: one JSON line per case and ISA: {\"bench\":\"epilogue\", case, isa, cols,\n"
	"ns_per_row, ns_per_elem}.\n"
	"Exit status: 0, 2 on a usage error.\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum epi_kind act;
		size_t cols;
	} cases[] = {
	    {"bias+relu", EPI_RELU, 64},	 {"bias+tanh", EPI_TANH, 32},
	    {"bias+sigmoid", EPI_SIGMOID, 64}, {"bias+tanh", EPI_TANH, 8},
	    {"bias+leaky", EPI_LEAKY, 32},	 {"bias+softmax", EPI_SOFTMAX, 5},
	    {"bias", EPI_ADD, 64},
	};
	static const struct {
		enum lg_model_isa isa;
		epi_fn fn;
	} isas[] = {
	    {LG_MODEL_ISA_SCALAR, epi_run_scalar},
#ifdef LG_MODEL_X86
	    {LG_MODEL_ISA_AVX2, epi_run_avx2},
	    {LG_MODEL_ISA_AVX512, epi_run_avx512},
#endif
	};
	static float src[ROWS * 64], dst[ROWS * 64], bias[64];
	double seconds = 0.2;
	int first = lg_cli_simple(argc, argv, usage, 0, 1);

	if (first < argc)
		seconds = atof(argv[first]);
	for (size_t i = 0; i < ROWS * 64; i++)
		src[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
	for (size_t i = 0; i < 64; i++)
		bias[i] = 0.01f * (float)i;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct epi_op ops[2] = {
		    {.kind = EPI_ADD, .vec = bias},
		    {.kind = cases[c].act, .alpha = 0.1f, .group = cases[c].cols},
		};
		size_t n_ops = cases[c].act == EPI_ADD ? 1 : 2;

		for (size_t k = 0; k < sizeof(isas) / sizeof(isas[0]); k++) {
			double best = 1e30;

			if (!lg_model_isa_supported(isas[k].isa))
				continue;
			for (int t = 0; t < TRIALS; t++) {
				double t0 = now(), t1;
				long it = 0;

				do {
					for (int r = 0; r < 16; r++)
						isas[k].fn(ops, n_ops, src, dst, ROWS, cases[c].cols);
					it += 16;
					t1 = now();
				} while (t1 - t0 < seconds / TRIALS);
				if ((t1 - t0) / (double)it < best)
					best = (t1 - t0) / (double)it;
			}
			printf("{\"bench\":\"epilogue\",\"case\":\"%s\",\"isa\":\"%s\",\"cols\":%zu,"
			       "\"ns_per_row\":%.2f,\"ns_per_elem\":%.3f}\n",
			       cases[c].name, lg_model_isa_name(isas[k].isa), cases[c].cols,
			       best * 1e9 / ROWS, best * 1e9 / ROWS / (double)cases[c].cols);
		}
	}
	return 0;
}
