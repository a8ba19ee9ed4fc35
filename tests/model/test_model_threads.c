/* SPDX-License-Identifier: MIT */
/*
 * One loaded model shared by several workers, each with its own workspace, as the data plane
 * runs it: every thread's output must equal, bit for bit, what a lone thread computed first
 * (the same kernels on the same rows are deterministic), for every batch size in the mix, on
 * every GEMM route.
 *
 * usage: test_model_threads FIXTURE_DIR
 */
#include <pthread.h>
#include <string.h>

#include <linegate/model.h>

#include "fixture.h"
#include "../lgt_cli.h"

#define THREADS 4
#define ROUNDS 200
#define MAXB 64

static const size_t mix[] = {1, 7, 16, 64, 3};
/* every GEMM route: the bf16 one converts activations into the workspace, one per thread */
static const enum lg_model_gemm routes[] = {LG_MODEL_GEMM_OPENBLAS, LG_MODEL_GEMM_XSMM,
					    LG_MODEL_GEMM_XSMM_BF16, LG_MODEL_GEMM_AUTO};

struct shared {
	const struct lg_model *m;
	const float *in;
	const float *want[sizeof(mix) / sizeof(mix[0])];
};

struct worker {
	pthread_t tid;
	const struct shared *sh;
	long mismatches;
	int err;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	const struct shared *sh = w->sh;
	size_t od = lg_model_output_dim(sh->m);
	struct lg_model_ws *ws = NULL;
	float *out = malloc(MAXB * od * sizeof(float));

	if (!out || lg_model_ws_create(sh->m, MAXB, &ws)) {
		w->err = 1;
		goto out;
	}
	for (int r = 0; r < ROUNDS; r++) {
		size_t k = (size_t)r % (sizeof(mix) / sizeof(mix[0]));

		if (lg_model_run(sh->m, sh->in, mix[k], out, ws)) {
			w->err = 1;
			break;
		}
		if (memcmp(out, sh->want[k], mix[k] * od * sizeof(float)))
			w->mismatches++;
	}
out:
	lg_model_ws_free(ws);
	free(out);
	return NULL;
}

static int run(const char *dir, const char *name, enum lg_model_gemm route)
{
	size_t len = 0, ilen = 0, nmix = sizeof(mix) / sizeof(mix[0]);
	struct worker workers[THREADS] = {0};
	struct lg_model_ws *ws = NULL;
	struct shared sh = {0};
	struct lg_model *m = NULL;
	void *buf = read_all(dir, name, ".onnx", &len);
	float *in = read_all(dir, name, ".in.f32", &ilen);
	char err[256];
	int fails = 0;

	if (!buf || !in || lg_model_load_mem(buf, len, &m, err, sizeof(err)) ||
	    lg_model_set_gemm(m, route) || lg_model_ws_create(m, MAXB, &ws)) {
		fprintf(stderr, "FAIL %s: cannot load\n", name);
		return 1;
	}
	sh.m = m;
	sh.in = in;
	for (size_t k = 0; k < nmix; k++) {
		float *w = malloc(mix[k] * lg_model_output_dim(m) * sizeof(float));

		if (!w || lg_model_run(m, in, mix[k], w, ws)) {
			fprintf(stderr, "FAIL %s: reference run\n", name);
			return 1;
		}
		sh.want[k] = w;
	}
	for (int t = 0; t < THREADS; t++) {
		workers[t].sh = &sh;
		if (pthread_create(&workers[t].tid, NULL, work, &workers[t])) {
			fprintf(stderr, "FAIL: pthread_create\n");
			return 1;
		}
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(workers[t].tid, NULL);
		if (workers[t].err || workers[t].mismatches) {
			fprintf(stderr, "FAIL %s thread %d: err %d, %ld of %d rounds differ\n", name,
				t, workers[t].err, workers[t].mismatches, ROUNDS);
			fails++;
		}
	}
	printf("%-16s %-9s %d threads x %d rounds: %s\n", name, lg_model_gemm_name(route),
	       THREADS, ROUNDS, fails ? "MISMATCH" : "identical to the single-thread result");
	for (size_t k = 0; k < nmix; k++)
		free((void *)sh.want[k]);
	lg_model_ws_free(ws);
	lg_model_free(m);
	free(buf);
	free(in);
	return fails;
}

static const char usage[] =
	"Usage: test_model_threads [options] FIXTURE_DIR\n"
	"\n"
	"One loaded model shared by several worker threads, each with its own workspace, as the\n"
	"data plane runs it: every thread's output equals, bit for bit, what a lone thread\n"
	"computed first, for every batch size in the mix (mlp_classifier, ops_mix, ae_1024),\n"
	"on every GEMM route this build and CPU have (openblas, xsmm, xsmm-bf16, auto).\n"
	"\n"
	"Arguments:\n"
	"  FIXTURE_DIR   tests/fixtures/models (the models gen_models.py made)\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout per model and route \"NAME ROUTE T threads x R rounds: ...\" (or\n"
	"\"ROUTE skipped: REASON\"); failures on stderr.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	int fails = 0;

	/* from here on argv[1] is the first argument */
	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
		if (lg_model_gemm_missing(routes[r])) {
			printf("%-9s skipped: %s\n", lg_model_gemm_name(routes[r]),
			       lg_model_gemm_missing(routes[r]));
			continue;
		}
		fails += run(argv[1], "mlp_classifier", routes[r]);
		fails += run(argv[1], "ops_mix", routes[r]);
		fails += run(argv[1], "ae_1024", routes[r]);
	}
	return fails ? 1 : 0;
}
