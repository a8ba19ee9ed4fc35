/* SPDX-License-Identifier: MIT */
/*
 * The libxsmm routes under W^X, as the shipped unit sets it (MemoryDenyWriteExecute=yes):
 * under the kernel's PR_SET_MDWE and under a seccomp filter with systemd 252's rules, the
 * xsmm and auto routes must load, name xsmm in the plan and match the openblas route, with
 * no page writable and executable at once and no writable view of the code left after
 * load. And where the dual mapping has nowhere to put its file, or LIBXSMM_SE=0 turns it
 * off, xsmm is refused with the reason and auto runs OpenBLAS alone, still matching. Each
 * case runs in a child: both restrictions are for life, and libxsmm makes its choice once
 * per process.
 *
 * usage: test_model_mdwe FIXTURE_DIR
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <linegate/model.h>

#include "fixture.h"
#include "model_check.h"
#include "../lgt_cli.h"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

static const char *const fixtures[] = {"mlp_classifier", "ae_64", "ae_1024", "ops_mix",
				       "gemm_attrs"};
/* 40 and 64: libxsmm's kernels take 32 rows at a time, so one full block and a remainder */
static const size_t batches[] = {1, 7, 40, 64};

/*
 * systemd 252's MemoryDenyWriteExecute=yes on x86-64 (seccomp_memory_deny_write_execute in
 * src/shared/seccomp-util.c): EPERM for mmap with PROT_WRITE and PROT_EXEC together, for
 * mprotect and pkey_mprotect with PROT_EXEC, for shmat with SHM_EXEC. The flags sit in the
 * low half of the third argument.
 */
static int systemd_mdwe_filter(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 0, 3),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
	    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 7, 8),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 2, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 1, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_shmat, 2, 5),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
	    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 2, 3),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
	    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SHM_EXEC, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) ? -errno : 0;
}

/* The restriction must be real, or the rest proves nothing: W+X and exec gain refused. */
static void check_restricted(const char *mode)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	CHECK(p == MAP_FAILED, "%s: a W+X mapping was allowed", mode);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		CHECK(0, "%s: mmap: %s", mode, strerror(errno));
		return;
	}
	CHECK(mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0, "%s: mprotect +X was allowed", mode);
	munmap(p, 4096);
}

/*
 * After load: nothing writable and executable, no writable view of libxsmm's code file
 * left (it is unmapped once a kernel is written), and, when `dual` is set, code in a
 * read+exec view of that file (what shows that the dual mapping made the route work).
 */
static void check_maps(const char *mode, int dual)
{
	char line[512], perm[8];
	int code = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f) {
		CHECK(0, "%s: /proc/self/maps: %s", mode, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		int jit = strstr(line, ".libxsmm_jit.") != NULL;

		if (sscanf(line, "%*x-%*x %7s", perm) != 1)
			continue;
		CHECK(!(perm[1] == 'w' && perm[2] == 'x'), "%s: W+X mapping %s", mode, line);
		CHECK(!(jit && perm[1] == 'w'), "%s: writable view of code left: %s", mode, line);
		code += jit && perm[2] == 'x';
	}
	fclose(f);
	if (dual)
		CHECK(code > 0, "%s: no read+exec mapping of libxsmm's code file", mode);
	else
		CHECK(code == 0, "%s: %d code mappings although the dual mapping should fail", mode,
		      code);
}

static struct lg_model *load(const char *dir, const char *name, enum lg_model_gemm route)
{
	char path[1024], err[256];
	struct lg_model *m = NULL;
	int ret;

	snprintf(path, sizeof(path), "%s/%s.onnx", dir, name);
	ret = lg_model_load_file(path, &m, err, sizeof(err));
	CHECK(ret == 0, "%s: %s", path, err);
	if (ret)
		return NULL;
	ret = lg_model_set_gemm(m, route);
	CHECK(ret == 0, "%s: route %s: %d (%s)", name, lg_model_gemm_name(route), ret,
	      lg_model_gemm_missing(route));
	if (ret) {
		lg_model_free(m);
		return NULL;
	}
	return m;
}

static int run(const struct lg_model *m, const float *in, size_t batch, float *out)
{
	struct lg_model_ws *ws;
	int ret = lg_model_ws_create(m, batch, &ws);

	if (ret)
		return ret;
	ret = lg_model_run(m, in, batch, out, ws);
	lg_model_ws_free(ws);
	return ret;
}

/* One fixture: auto (and xsmm when `dual`) against openblas, at every batch size. */
static void check_fixture(const char *mode, const char *dir, const char *name, int dual)
{
	struct lg_model *ref = load(dir, name, LG_MODEL_GEMM_OPENBLAS);
	struct lg_model *m[2] = {load(dir, name, LG_MODEL_GEMM_AUTO),
				 dual ? load(dir, name, LG_MODEL_GEMM_XSMM) : NULL};
	char plan[4096];

	if (!ref || !m[0] || (dual && !m[1]))
		goto out;
	lg_model_describe(m[0], plan, sizeof(plan));
	if (dual)
		CHECK(strstr(plan, "gemm auto\n"), "%s %s: plan %s", mode, name, plan);
	else
		CHECK(strstr(plan, "gemm auto (OpenBLAS alone)\n"), "%s %s: plan %s", mode, name,
		      plan);
	for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
		size_t batch = batches[b], in_dim = lg_model_input_dim(ref);
		size_t out_dim = lg_model_output_dim(ref);
		float *in = malloc(batch * in_dim * sizeof(float));
		float *want = malloc(batch * out_dim * sizeof(float));
		float *got = malloc(batch * out_dim * sizeof(float));

		if (!in || !want || !got) {
			CHECK(0, "oom");
			goto next;
		}
		for (size_t i = 0; i < batch * in_dim; i++)
			in[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
		CHECK(run(ref, in, batch, want) == 0, "%s %s: openblas batch %zu", mode, name,
		      batch);
		for (int r = 0; r < 2; r++) {
			size_t bad = 0;

			if (!m[r])
				continue;
			memset(got, 0xff, batch * out_dim * sizeof(float));
			CHECK(run(m[r], in, batch, got) == 0, "%s %s: run batch %zu", mode, name,
			      batch);
			for (size_t i = 0; i < batch * out_dim; i++)
				bad += !close_enough(got[i], want[i]);
			CHECK(!bad, "%s %s %s batch %zu: %zu of %zu values differ from openblas",
			      mode, name, lg_model_gemm_name(lg_model_get_gemm(m[r])), batch, bad,
			      batch * out_dim);
			if (!bad)
				printf("%s %s %s batch %zu ok\n", mode, name,
				       lg_model_gemm_name(lg_model_get_gemm(m[r])), batch);
		}
	next:
		free(in);
		free(want);
		free(got);
	}
out:
	lg_model_free(ref);
	lg_model_free(m[0]);
	lg_model_free(m[1]);
}

enum mode { MODE_PRCTL, MODE_SECCOMP, MODE_SECCOMP_NO_DIR, MODE_SECCOMP_SE0 };
static const char *const mode_names[] = {"prctl-mdwe", "seccomp-mdwe", "seccomp-mdwe-no-dir",
					 "seccomp-mdwe-se0"};

/* The child: restrict, then load and compare. Exits normally, so libxsmm's exit handler runs. */
static int child(enum mode mode, const char *dir)
{
	const char *name = mode_names[mode];
	int dual = mode == MODE_PRCTL || mode == MODE_SECCOMP;
	const char *why;

	if (mode == MODE_PRCTL) {
		if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0)) {
			printf("%s skipped: PR_SET_MDWE: %s (Linux 6.3 or later)\n", name,
			       strerror(errno));
			return 77;
		}
	} else {
		int ret = systemd_mdwe_filter();

		if (ret) {
			CHECK(0, "%s: seccomp: %s", name, strerror(-ret));
			return 1;
		}
	}
#if defined(__SANITIZE_ADDRESS__)
	/*
	 * Where libxsmm cannot make a kernel executable (with libxsmm_se = 1, as the engine
	 * sets), it frees its heap buffer with glibc's free, which aborts under ASan
	 * (munmap_chunk(): invalid pointer) inside the first dispatch; without ASan it runs.
	 */
	if (mode == MODE_SECCOMP_NO_DIR) { /* LIBXSMM_SE=0: libxsmm is not even initialised */
		printf("%s skipped under ASan: libxsmm frees its failed buffer with glibc's free\n",
		       name);
		return 0;
	}
#endif
	if (mode == MODE_SECCOMP_NO_DIR) {
		/* libxsmm tries $TMPDIR, then the working directory, then $HOME */
		if (setenv("TMPDIR", "/nonexistent", 1) || setenv("HOME", "/nonexistent", 1) ||
		    chdir("/proc")) {
			CHECK(0, "%s: environment: %s", name, strerror(errno));
			return 1;
		}
	}
	/* how an operator keeps libxsmm out under MemoryDenyWriteExecute: OpenBLAS alone */
	if (mode == MODE_SECCOMP_SE0 && setenv("LIBXSMM_SE", "0", 1)) {
		CHECK(0, "%s: environment: %s", name, strerror(errno));
		return 1;
	}
	check_restricted(name);
	why = lg_model_gemm_missing(LG_MODEL_GEMM_XSMM);
	if (why && !strncmp(why, "built without", 13)) {
		printf("skipped: %s\n", why);
		return 77;
	}
	if (dual) {
		CHECK(!why, "%s: xsmm refused: %s", name, why);
	} else {
		CHECK(why && (mode == MODE_SECCOMP_SE0
				  ? strstr(why, "LIBXSMM_SE=0") != NULL
				  : strstr(why, "dual mapping failed") && strstr(why, "TMPDIR")),
		      "%s: xsmm refused for %s", name, why ? why : "(not refused)");
		if (why)
			printf("%s: xsmm refused: %s\n", name, why);
	}
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		check_fixture(name, dir, fixtures[i], dual && !why);
	check_maps(name, dual && !why);
	fflush(stdout);
	return failures ? 1 : 0;
}

static const char usage[] =
    "Usage: test_model_mdwe [options] FIXTURE_DIR\n"
    "\n"
    "The libxsmm GEMM routes under W^X (MemoryDenyWriteExecute=yes), each case in its own\n"
    "child process: under prctl(PR_SET_MDWE) and under a seccomp filter with systemd 252's\n"
    "MemoryDenyWriteExecute rules, the xsmm and auto routes load (the plan says \"gemm auto\")\n"
    "and match the openblas route at batch sizes 1, 7, 40 and 64 on five fixture models,\n"
    "with no W+X mapping and no writable view of the generated code left after load. With\n"
    "nowhere to put libxsmm's code file (TMPDIR, the working directory and HOME unusable),\n"
    "xsmm is refused with a reason naming TMPDIR and auto runs OpenBLAS alone, matching;\n"
    "so it is with LIBXSMM_SE=0 in the environment (how an operator keeps libxsmm out),\n"
    "with a reason naming LIBXSMM_SE=0.\n"
    "\n"
    "Arguments:\n"
    "  FIXTURE_DIR   tests/fixtures/models\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: \"CASE MODEL ROUTE batch N ok\" per point on stdout; failures on "
    "stderr.\n" LGT_EXIT_STATUS_SKIP;

int main(int argc, char **argv)
{
	int skipped = 0, failed = 0;
	char *dir;

	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	/* one case changes the working directory */
	dir = realpath(argv[1], NULL);
	if (!dir) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* nothing here may touch libxsmm: the children must each make its first allocation */
	fflush(stdout);
	/* the operator's choice would override the engine's; the cases set it themselves */
	unsetenv("LIBXSMM_SE");
	for (int mode = MODE_PRCTL; mode <= MODE_SECCOMP_SE0; mode++) {
		pid_t pid = fork();
		int status;

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (!pid) {
			int ret = child((enum mode)mode, dir);

			exit(ret);
		}
		if (waitpid(pid, &status, 0) != pid) {
			perror("waitpid");
			return 1;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
			if (mode != MODE_PRCTL) {
				free(dir);
				return 77; /* built without libxsmm */
			}
			skipped++;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "FAIL: %s: child %s %d\n", mode_names[mode],
				WIFEXITED(status) ? "exited" : "killed by signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			failed++;
		}
	}
	free(dir);
	if (failed)
		return 1;
	printf("all W^X checks passed%s\n", skipped ? " (PR_SET_MDWE skipped)" : "");
	return 0;
}
