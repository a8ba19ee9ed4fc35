/* SPDX-License-Identifier: MIT */
/*
 * lg_model_run(), lg_model_scores() and lg_model_scores_guard() (the bf16 guard) must not
 * allocate: the workspace is sized once. This program replaces the allocator entry points (the executable's definitions interpose on
 * libc's for every library, OpenBLAS included) and counts calls while batches run, by
 * caller: linegate's code must make none. OpenBLAS's own calls are counted and printed
 * apart, not failed: 0.3.21's small-matrix sgemm kernels for SkylakeX/Cooperlake (chosen
 * when OPENBLAS_CORETYPE is unset on this CPU) malloc a scratch buffer per call, which the
 * engine cannot prevent (docs/model-engine.md). The Haswell kernels make none.
 * Every GEMM route is run (openblas, xsmm, xsmm-bf16, auto, where this build and CPU have
 * them); on all but the openblas route OpenBLAS's allocations fail the test too (those routes
 * do not call it where libxsmm runs), and the process must have as many threads after the
 * runs as before.
 * Not built under sanitizers, which own the allocator themselves.
 *
 * usage: test_model_noalloc FIXTURE_DIR
 */
#include <dirent.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include <cblas.h>

#include <linegate/model.h>

#include "fixture.h"
#include "../lgt_cli.h"

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t s);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t a, size_t n);

static atomic_long allocs, blas_allocs;
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Where libopenblas is mapped, found once before anything is counted. */
static uintptr_t blas_lo, blas_hi;

static int find_blas(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	if (!info->dlpi_name || !strstr(info->dlpi_name, "libopenblas"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type != PT_LOAD)
			continue;
		if (!blas_lo || lo < blas_lo)
			blas_lo = lo;
		if (hi > blas_hi)
			blas_hi = hi;
	}
	return 1;
}

static void count(void *caller)
{
	uintptr_t a = (uintptr_t)caller;

	atomic_fetch_add(a >= blas_lo && a < blas_hi ? &blas_allocs : &allocs, 1);
}

void *malloc(size_t n)
{
	count(__builtin_return_address(0));
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t s)
{
	count(__builtin_return_address(0));
	return __libc_calloc(n, s);
}

void *realloc(void *p, size_t n)
{
	count(__builtin_return_address(0));
	return __libc_realloc(p, n);
}

void *aligned_alloc(size_t a, size_t n)
{
	count(__builtin_return_address(0));
	return __libc_memalign(a, n);
}

int posix_memalign(void **p, size_t a, size_t n)
{
	count(__builtin_return_address(0));
	*p = __libc_memalign(a, n);
	return *p ? 0 : ENOMEM;
}

static const char *const names[] = {"mlp_classifier", "ae_64", "ae_1024", "ops_mix"};
static const enum lg_model_gemm routes[] = {LG_MODEL_GEMM_OPENBLAS, LG_MODEL_GEMM_XSMM,
					    LG_MODEL_GEMM_XSMM_BF16, LG_MODEL_GEMM_AUTO};

/* Threads of this process, from /proc/self/task: a GEMM route must not start any. */
static int thread_count(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static const char usage[] =
	"Usage: test_model_noalloc [options] FIXTURE_DIR\n"
	"\n"
	"lg_model_run(), lg_model_scores() and lg_model_scores_guard() must not allocate: the\n"
	"workspace is sized once.\n"
	"The program replaces the allocator entry points and counts calls while batches of the\n"
	"fixture models run (not built under sanitizers, which own the allocator).\n"
	"\n"
	"Arguments:\n"
	"  FIXTURE_DIR   tests/fixtures/models (the models gen_models.py made)\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Every GEMM route this build and CPU have (openblas, xsmm, xsmm-bf16, auto) is run; on\n"
	"all but openblas, allocations inside OpenBLAS fail the test too, and the process must\n"
	"have as many threads afterwards as before (no thread pool).\n"
	"\n"
	"Output: on stdout per model and route \"NAME ROUTE 200 calls, N allocations ...\",\n"
	"or \"skipped: REASON\"; failures on stderr.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	int failures = 0, threads0;

	/* from here on argv[1] is the first argument */
	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	dl_iterate_phdr(find_blas, NULL);
	if (!blas_hi) {
		fprintf(stderr, "FAIL: libopenblas is not mapped into this program\n");
		return 1;
	}
	threads0 = thread_count();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) * N_ROUTES; i++) {
		const char *name = names[i / N_ROUTES];
		enum lg_model_gemm route = routes[i % N_ROUTES];
		size_t len = 0, in_dim, out_dim;
		struct lg_model_ws *ws = NULL;
		struct lg_model *m = NULL;
		float *in, *out, *scores;
		void *buf;
		long before, during, blas_before, blas_during;
		char err[256];
		int threads;

		if (lg_model_gemm_missing(route)) {
			printf("%-16s %-9s skipped: %s\n", name, lg_model_gemm_name(route),
			       lg_model_gemm_missing(route));
			continue;
		}
		buf = read_all(argv[1], name, ".onnx", &len);
		before = atomic_load(&allocs);
		if (!buf || lg_model_load_mem(buf, len, &m, err, sizeof(err)) ||
		    lg_model_set_gemm(m, route) || lg_model_ws_create(m, 64, &ws)) {
			fprintf(stderr, "FAIL %s: cannot load\n", name);
			return 1;
		}
		/* proves the counter sees the library's calls: loading does allocate */
		if (atomic_load(&allocs) == before) {
			fprintf(stderr, "FAIL %s: allocator interposition is not working\n", name);
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
		blas_before = atomic_load(&blas_allocs);
		for (int rep = 0; rep < 50; rep++) {
			size_t batch = (size_t)(rep % 64) + 1;

			/* the bf16 guard too, at a level every row is near (all re-scored) */
			float level = 0;

			if (lg_model_run(m, in, batch, out, ws) ||
			    lg_model_scores(m, in, batch, scores, ws) ||
			    lg_model_scores_guard(m, in, batch, scores, ws, &level, 1, NULL) < 0 ||
			    lg_model_scores_guard(m, in, batch, scores, ws, scores, 1, NULL) < 0) {
				fprintf(stderr, "FAIL %s: run failed\n", name);
				failures++;
			}
		}
		during = atomic_load(&allocs) - before;
		blas_during = atomic_load(&blas_allocs) - blas_before;
		threads = thread_count();
		printf("%-16s %-9s 200 calls, %ld allocations by linegate, %ld inside OpenBLAS (%s), "
		       "%d thread(s)\n",
		       name, lg_model_gemm_name(route), during, blas_during,
		       openblas_get_corename(), threads);
		if (during) {
			fprintf(stderr, "FAIL %s/%s: %ld allocations while running batches\n", name,
				lg_model_gemm_name(route), during);
			failures++;
		}
		/* the other routes do not call OpenBLAS (auto: where libxsmm runs) */
		if (route != LG_MODEL_GEMM_OPENBLAS && blas_during) {
			fprintf(stderr, "FAIL %s/%s: %ld allocations inside OpenBLAS\n", name,
				lg_model_gemm_name(route), blas_during);
			failures++;
		}
		/* OpenBLAS is set to one thread; libxsmm's kernels are plain calls */
		if (threads != threads0) {
			fprintf(stderr, "FAIL %s/%s: %d threads after the runs, %d before\n", name,
				lg_model_gemm_name(route), threads, threads0);
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
