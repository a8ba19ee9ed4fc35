/* SPDX-License-Identifier: MIT */
/*
 * The libxsmm GEMM route. libxsmm is column-major: our row-major dst[batch x n] = src[batch x k]
 * * W[k x n] is, read column-major, C[n x batch] = A[n x k] * B[k x batch] with A = W (lda n),
 * B = src (ldb k), C = dst (ldc n): no transposition. The fp32 route cuts A into panels of
 * GEMM_XSMM_PANEL rows (output columns), each stored contiguously (lda = panel width), and
 * writes each panel's slice of C in place (ldc n); bf16 keeps A whole in VNNI pairs, and a
 * bf16 layer carries the fp32 panels and kernels too: the bf16 guard (guard.c, model.c)
 * re-scores the rows near a decision threshold on them, so that their verdicts are the fp32
 * route's.
 * Kernels are generated at prepare time for every row count 1..GEMM_XSMM_BLOCK, so a run is
 * a few indirect calls: no dispatch, no lock, no allocation, no thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libxsmm.h>
#include <libxsmm_generator.h>

#include "gemm.h"
#include "model_internal.h"

struct xsmm_state {
	const float *a;	     /* fp32: the weights in panels (alpha folded in) */
	void *own;	     /* what we allocated for `a`, if anything */
	const uint16_t *a16; /* bf16 VNNI pairs (bf16 only) */
	void *own16;
	size_t kp; /* k, rounded up to even for bf16 */
	size_t pw; /* fp32: columns per panel; the last panel has n - (panels - 1) * pw */
	libxsmm_smmfunction f32[GEMM_XSMM_BLOCK + 1];	/* f32[r]: r rows of one full panel */
	libxsmm_smmfunction tail[GEMM_XSMM_BLOCK + 1];	/* r rows of a narrower last panel */
	libxsmm_bsmmfunction bf16[GEMM_XSMM_BLOCK + 1]; /* bf16 only: r rows */
};

static pthread_once_t xsmm_once = PTHREAD_ONCE_INIT;
static int xsmm_arch;
static const char *xsmm_missing = "libxsmm cannot generate kernels for this CPU";

void *lg_xsmm_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int lg_xsmm_mprotect(void *addr, size_t len, int prot);
int lg_xsmm_open(const char *path, int flags, ...);

static atomic_ulong xsmm_wx_refused;

unsigned long gemm_xsmm_wx_refused(void)
{
	return atomic_load_explicit(&xsmm_wx_refused, memory_order_relaxed);
}

/*
 * libxsmm's mmap, mprotect and open calls land here: meson.build links a copy of libxsmm.a
 * with those symbols renamed (objcopy --redefine-sym), and builds no libxsmm route where it
 * cannot.
 *
 * mmap: libxsmm 1.17's dual mapping maps one file twice, read+exec and read+write, but passes
 * neither MAP_SHARED nor MAP_PRIVATE, which the kernel refuses: such a call, and only such a
 * call, gets MAP_SHARED, without which the two views would not share their pages. Where the
 * file cannot be made ($TMPDIR or /tmp, the working directory, $HOME: missing, read-only or
 * noexec), libxsmm falls back to anonymous read+write+exec memory, and from then on maps
 * every kernel so (a static in libxsmm_malloc.c): that request, and any other asking for
 * write and exec together, is refused here, before the kernel sees it.
 */
void *lg_xsmm_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if ((prot & (PROT_WRITE | PROT_EXEC)) == (PROT_WRITE | PROT_EXEC)) {
		atomic_fetch_add_explicit(&xsmm_wx_refused, 1, memory_order_relaxed);
		errno = EACCES;
		return MAP_FAILED;
	}
	if (fd >= 0 && !(flags & (MAP_SHARED | MAP_PRIVATE)))
		flags |= MAP_SHARED;
	return mmap(addr, len, prot, flags, fd, off);
}

/*
 * After a refused W+X mmap libxsmm writes the kernel into a heap buffer and mprotects it to
 * read+exec (a write-then-exec page, on the heap). The dual mapping never needs exec from
 * mprotect, so no exec is granted here; with libxsmm_se = 1 libxsmm then returns no kernel.
 */
int lg_xsmm_mprotect(void *addr, size_t len, int prot)
{
	if (prot & PROT_EXEC) {
		atomic_fetch_add_explicit(&xsmm_wx_refused, 1, memory_order_relaxed);
		errno = EACCES;
		return -1;
	}
	return mprotect(addr, len, prot);
}

/*
 * libxsmm 1.17's only open() is its "singleton" lock, the fixed name /tmp/.libxsmm.UID
 * opened O_WRONLY|O_CREAT without O_EXCL or O_NOFOLLOW (libxsmm_main.c): as root, a symlink
 * planted there makes it create the file the link names. The lock only decides which of
 * several libxsmm processes prints libxsmm's LIBXSMM_DUMP* reports (and at exit libxsmm
 * closes descriptor 0, which it mistook for the lock's: fcntl's return value), so every open
 * that could create a file is refused: libxsmm then runs without the lock and makes no file
 * under a fixed name. (Its dual-mapping file comes from mkstemp, O_EXCL with a random name,
 * and is unlinked at once: that one is safe as it is.)
 */
int lg_xsmm_open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & O_CREAT) {
		errno = EACCES;
		return -1;
	}
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open(path, flags, mode);
}

/*
 * Whether `code` lies in an executable mapping (/proc/self/maps). With libxsmm_se = 0,
 * libxsmm 1.17 hands out a kernel even when it could not make its buffer executable (the
 * shim refuses it exec, as do MemoryDenyWriteExecute=yes and PR_SET_MDWE): calling it would
 * crash the worker. With libxsmm_se = 1 (xsmm_init) that is an error and the kernel is NULL,
 * so only the probe is checked here, once: each kernel in the dual mapping is a mapping of its
 * own, and reading the whole map per kernel made loading quadratic (model_errors, which
 * loads some 6000 models: 12 s -> 154 s).
 */
static int code_is_executable(const void *code)
{
	uintptr_t a = (uintptr_t)code, lo, hi;
	char line[512], perm[8];
	FILE *f = fopen("/proc/self/maps", "re");
	int ok = 0;

	if (!f)
		return 0;
	while (!ok && fgets(line, sizeof(line), f))
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, perm) == 3 && a >= lo &&
		    a < hi)
			ok = perm[2] == 'x';
	fclose(f);
	return ok;
}

static void xsmm_init(void)
{
	const char *se = getenv("LIBXSMM_SE");
	libxsmm_blasint one = 1;
	libxsmm_smmfunction probe;

	/*
	 * libxsmm reads LIBXSMM_SE at its first executable allocation, over libxsmm_se: a value
	 * starting with '0' sends it straight to read+write+exec memory, which the shim refuses.
	 * An operator sets it to keep libxsmm out (docs/operations.md), so that is what it does:
	 * libxsmm is not even initialised.
	 */
	if (se && *se == '0') {
		xsmm_missing =
		    "libxsmm's generated code cannot be made executable here: "
		    "LIBXSMM_SE=0 in the environment turns its dual mapping off, and the "
		    "engine allows libxsmm no writable and executable memory";
		return;
	}
	/*
	 * Ask for libxsmm's W^X dual mapping (its "security-enhanced" mode): an unlinked file in
	 * $TMPDIR (else /tmp; then the working directory, then $HOME) mapped read+exec for the
	 * code and, while a kernel is written, read+write. Its default maps anonymous memory
	 * read+write+exec and mprotects it to read+exec afterwards; the shim refuses both, on
	 * every host (a seccomp filter cannot be detected, and no page is to be W+X anywhere).
	 * With libxsmm_se = 1 libxsmm treats code it could not make executable as an error.
	 */
	libxsmm_se = 1;
	libxsmm_init();
	/*
	 * libxsmm 1.17 generates AMX tile kernels on Sapphire Rapids and later; those need the
	 * kernel's AMX permission (arch_prctl) and a tile configuration we have never tested.
	 * Capping the target at Cooper Lake keeps AVX512-BF16 (vdpbf16ps) kernels everywhere.
	 */
	if (libxsmm_get_target_archid() > LIBXSMM_X86_AVX512_CPX)
		libxsmm_set_target_archid(LIBXSMM_X86_AVX512_CPX);
	if (libxsmm_get_target_archid() < LIBXSMM_X86_GENERIC)
		return;
	probe = libxsmm_smmdispatch(1, 1, 1, &one, &one, &one, NULL, NULL, NULL, NULL);
	if (!probe || !code_is_executable((const void *)probe)) {
		xsmm_missing =
		    "libxsmm's generated code cannot be made executable here: its dual "
		    "mapping failed (it needs TMPDIR, else /tmp, the working directory or "
		    "HOME writable and not mounted noexec), and the engine allows libxsmm "
		    "no writable and executable memory";
		return;
	}
	xsmm_arch = libxsmm_get_target_archid();
	xsmm_missing = NULL;
}

const char *gemm_xsmm_missing(void)
{
	pthread_once(&xsmm_once, xsmm_init);
	return xsmm_missing;
}

int gemm_xsmm_available(void)
{
	return !gemm_xsmm_missing();
}

int gemm_xsmm_bf16_available(void)
{
	return gemm_xsmm_available() && gemm_cpu_has_avx512_bf16() &&
	       xsmm_arch >= LIBXSMM_X86_AVX512_CPX;
}

void gemm_xsmm_release(void *state)
{
	struct xsmm_state *x = state;

	if (!x)
		return;
	free(x->own);
	free(x->own16);
	free(x);
}

int gemm_xsmm_prepare(struct model_layer *l, int bf16)
{
	libxsmm_blasint m = (libxsmm_blasint)l->n, k = (libxsmm_blasint)l->k, k16, lda = m,
			ldc = (libxsmm_blasint)l->n;
	struct xsmm_state *x;
	float alpha = 1.0f, beta = 0.0f;

	if (!(bf16 ? gemm_xsmm_bf16_available() : gemm_xsmm_available()))
		return -ENOTSUP;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->kp = bf16 ? (l->k + 1) & ~(size_t)1 : l->k;
	k16 = (libxsmm_blasint)x->kp;
	if (bf16) {
		/* VNNI: element (row r of W = k index, column c) at [r/2][c][r%2]; odd k padded */
		size_t n = l->n;
		uint16_t *a = aligned_alloc(64, ((x->kp * n * 2) + 63) & ~(size_t)63);

		if (!a)
			goto err_nomem;
		for (size_t r = 0; r < x->kp; r++)
			for (size_t c = 0; c < n; c++)
				a[(r / 2) * n * 2 + c * 2 + (r & 1)] =
				    r < l->k ? gemm_to_bf16(l->alpha * l->w[r * n + c]) : 0;
		x->a16 = x->own16 = a;
	}
	{
		/*
		 * Panels of GEMM_XSMM_PANEL columns, each k x pw contiguous (the last one
		 * narrower when pw does not divide n): a kernel then streams its panel
		 * sequentially, and the row blocks of a batch reuse it from L1/L2 instead of
		 * striding through the whole k x n matrix once per block. A single panel is W
		 * itself, used in place unless alpha has to be folded in (libxsmm's kernels
		 * take alpha = 1 only).
		 */
		size_t n = l->n, pw = n < GEMM_XSMM_PANEL ? n : GEMM_XSMM_PANEL;

		x->pw = pw;
		if (pw == n && l->alpha == 1.0f) {
			x->a = l->w;
		} else {
			size_t bytes = (l->k * n * sizeof(float) + 63) & ~(size_t)63;
			float *a = aligned_alloc(64, bytes);

			if (!a)
				goto err_nomem;
			for (size_t c = 0; c < n; c += pw) {
				size_t w = n - c < pw ? n - c : pw;
				float *panel = a + c * l->k;

				for (size_t r = 0; r < l->k; r++)
					for (size_t j = 0; j < w; j++)
						panel[r * w + j] = l->alpha * l->w[r * n + c + j];
			}
			x->a = x->own = a;
		}
	}
	for (libxsmm_blasint r = 1; r <= GEMM_XSMM_BLOCK; r++) {
		if (bf16) {
			int flags = LIBXSMM_GEMM_FLAG_VNNI_A;

			x->bf16[r] = libxsmm_bsmmdispatch(m, r, k16, &lda, &k16, &ldc, &alpha, &beta,
							  &flags, NULL);
			if (!x->bf16[r])
				goto err_kernel;
		}
		libxsmm_blasint pw = (libxsmm_blasint)x->pw;
		libxsmm_blasint tw = (libxsmm_blasint)(l->n % x->pw);

		x->f32[r] = libxsmm_smmdispatch(pw, r, k, &pw, &k, &ldc, &alpha, &beta, NULL, NULL);
		if (!x->f32[r])
			goto err_kernel;
		if (!tw)
			continue;
		x->tail[r] = libxsmm_smmdispatch(tw, r, k, &tw, &k, &ldc, &alpha, &beta, NULL, NULL);
		if (!x->tail[r])
			goto err_kernel;
	}
	gemm_xsmm_release(l->gemm_state);
	l->gemm_state = x;
	return 0;
err_kernel:
	gemm_xsmm_release(x);
	return -ENOTSUP;
err_nomem:
	gemm_xsmm_release(x);
	return -ENOMEM;
}

void gemm_run_xsmm(const struct model_layer *l, const float *src, size_t batch, float *dst,
		   const struct gemm_scratch *s)
{
	const struct xsmm_state *x = l->gemm_state;
	const float *a = x->a;

	(void)s;
	/*
	 * Panel by panel: one panel's weights serve every row block of a chunk of up to
	 * GEMM_XSMM_ROWS rows; larger batches go chunk by chunk, so that the chunk's input
	 * rows stay in L2 across the panels instead of streaming from L3 for each of them.
	 */
	for (size_t r0 = 0; r0 < batch; r0 += GEMM_XSMM_ROWS) {
		size_t end = batch - r0 < GEMM_XSMM_ROWS ? batch : r0 + GEMM_XSMM_ROWS;

		for (size_t c = 0; c < l->n; c += x->pw) {
			const float *panel = a + c * l->k;
			int full = l->n - c >= x->pw;

			for (size_t r = r0; r < end; r += GEMM_XSMM_BLOCK) {
				size_t rows = end - r < GEMM_XSMM_BLOCK ? end - r : GEMM_XSMM_BLOCK;
				libxsmm_smmfunction f = full ? x->f32[rows] : x->tail[rows];

				f(panel, src + r * l->k, dst + r * l->n + c);
			}
		}
	}
}

void gemm_run_xsmm_bf16(const struct model_layer *l, const float *src, size_t batch, float *dst,
			const struct gemm_scratch *s)
{
	const struct xsmm_state *x = l->gemm_state;
	const uint16_t *a = x->a16;

	for (size_t r = 0; r < batch; r += GEMM_XSMM_BLOCK) {
		size_t rows = batch - r < GEMM_XSMM_BLOCK ? batch - r : GEMM_XSMM_BLOCK;
		uint16_t *b = s->bf16;

		/* B is rows x kp bf16, ldb = kp; the pad column of an odd k stays zero */
		for (size_t i = 0; i < rows; i++) {
			const float *row = src + (r + i) * l->k;

			for (size_t c = 0; c < l->k; c++)
				b[i * x->kp + c] = gemm_to_bf16(row[c]);
			if (x->kp != l->k)
				b[i * x->kp + l->k] = 0;
		}
		x->bf16[rows]((const libxsmm_bfloat16 *)a, (const libxsmm_bfloat16 *)b,
				   dst + r * l->n);
	}
}
