/* SPDX-License-Identifier: MIT */
/*
 * lg_model_run() and lg_model_scores() must not allocate: the workspace is sized once. This
 * program replaces the allocator entry points (the executable's definitions interpose on
 * libc's for every library, OpenBLAS included) and counts calls while batches run.
 * Not built under sanitizers, which own the allocator themselves.
 *
 * usage: test_model_noalloc FIXTURE_DIR
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include <linegate/model.h>

#include "fixture.h"
#include "../lgt_cli.h"

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t s);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t a, size_t n);

static atomic_long allocs;

void *malloc(size_t n)
{
	atomic_fetch_add(&allocs, 1);
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t s)
{
	atomic_fetch_add(&allocs, 1);
	return __libc_calloc(n, s);
}

void *realloc(void *p, size_t n)
{
	atomic_fetch_add(&allocs, 1);
	return __libc_realloc(p, n);
}

void *aligned_alloc(size_t a, size_t n)
{
	atomic_fetch_add(&allocs, 1);
	return __libc_memalign(a, n);
}

int posix_memalign(void **p, size_t a, size_t n)
{
	atomic_fetch_add(&allocs, 1);
	*p = __libc_memalign(a, n);
	return *p ? 0 : ENOMEM;
}

static const char *const names[] = {"mlp_classifier", "ae_64", "ae_1024", "ops_mix"};

static const char usage[] =
	"Usage: test_model_noalloc [options] FIXTURE_DIR\n"
	"\n"
	"lg_model_run() and lg_model_scores() must not allocate: the workspace is sized once.\n"
	"The program replaces the allocator entry points and counts calls while batches of the\n"
	"fixture models run (not built under sanitizers, which own the allocator).\n"
	"\n"
	"Arguments:\n"
	"  FIXTURE_DIR   tests/fixtures/models (the models gen_models.py made)\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout per model \"NAME 100 calls, N allocations\"; failures on stderr.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	int failures = 0;

	/* from here on argv[1] is the first argument */
	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = 0, in_dim, out_dim;
		struct lg_model_ws *ws = NULL;
		struct lg_model *m = NULL;
		float *in, *out, *scores;
		void *buf = read_all(argv[1], names[i], ".onnx", &len);
		long before, during;
		char err[256];

		before = atomic_load(&allocs);
		if (!buf || lg_model_load_mem(buf, len, &m, err, sizeof(err)) ||
		    lg_model_ws_create(m, 64, &ws)) {
			fprintf(stderr, "FAIL %s: cannot load\n", names[i]);
			return 1;
		}
		/* proves the counter sees the library's calls: loading does allocate */
		if (atomic_load(&allocs) == before) {
			fprintf(stderr, "FAIL %s: allocator interposition is not working\n",
				names[i]);
			return 1;
		}
		in_dim = lg_model_input_dim(m);
		out_dim = lg_model_output_dim(m);
		in = calloc(64 * in_dim, sizeof(float));
		out = calloc(64 * out_dim, sizeof(float));
		scores = calloc(64 * out_dim, sizeof(float));
		for (size_t j = 0; j < 64 * in_dim; j++)
			in[j] = (float)((j * 7919) % 101) / 50.0f - 1.0f;
		/* first call: OpenBLAS may set up its buffers once, that is fine */
		lg_model_run(m, in, 64, out, ws);
		before = atomic_load(&allocs);
		for (int rep = 0; rep < 50; rep++) {
			size_t batch = (size_t)(rep % 64) + 1;

			if (lg_model_run(m, in, batch, out, ws) ||
			    lg_model_scores(m, in, batch, scores, ws)) {
				fprintf(stderr, "FAIL %s: run failed\n", names[i]);
				failures++;
			}
		}
		during = atomic_load(&allocs) - before;
		printf("%-16s 100 calls, %ld allocations\n", names[i], during);
		if (during) {
			fprintf(stderr, "FAIL %s: %ld allocations while running batches\n",
				names[i], during);
			failures++;
		}
		free(in);
		free(out);
		free(scores);
		free(buf);
		lg_model_ws_free(ws);
		lg_model_free(m);
	}
	return failures ? 1 : 0;
}
