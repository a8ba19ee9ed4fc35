/* SPDX-License-Identifier: MIT */
/*
 * The importer on bad input:
 *  - every model in bad_models.txt is refused with the listed errno and a message naming the
 *    node and operator (or tensor) at fault;
 *  - a valid model cut short at any length is refused with a message, never loaded or crashed
 *    on, and the full length loads;
 *  - random bytes are refused; single-byte corruptions either load (and then run) or are
 *    refused with a message;
 *  - lg_model_load_file() reports a missing file and a directory.
 *
 * usage: test_model_errors FIXTURE_DIR
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <linegate/model.h>

#include "fixture.h"
#include "model_check.h"
#include "../lgt_cli.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int errno_by_name(const char *s)
{
	if (!strcmp(s, "EINVAL"))
		return EINVAL;
	if (!strcmp(s, "EOPNOTSUPP"))
		return EOPNOTSUPP;
	if (!strcmp(s, "EBADMSG"))
		return EBADMSG;
	return -1;
}

static void test_bad_models(const char *dir)
{
	char path[1024], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/bad_models.txt", dir);
	f = fopen(path, "r");
	CHECK(f, "cannot open %s", path);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char file[128], ename[32], *msg, err[256];
		struct lg_model *m = NULL;
		int want, ret, off = 0;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%127s %31s %n", file, ename, &off) != 2 || !off) {
			CHECK(0, "bad manifest line: %s", line);
			continue;
		}
		msg = line + off;
		want = errno_by_name(ename);
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		ret = lg_model_load_file(path, &m, err, sizeof(err));
		CHECK(ret == -want, "%s: ret %d, want -%s", file, ret, ename);
		CHECK(strstr(err, msg), "%s: message \"%s\" lacks \"%s\"", file, err, msg);
		printf("%-24s %-10s %s\n", file, ename, err);
		lg_model_free(m);
		n++;
	}
	fclose(f);
	CHECK(n >= 10, "only %d bad models listed", n);
}

/* The brief's own example: a Cos after a valid Gemm. */
static void test_unsupported_op(const char *dir)
{
	struct lg_model *m = NULL;
	char path[1024], err[256];
	int ret;

	snprintf(path, sizeof(path), "%s/unsupported_cos.onnx", dir);
	ret = lg_model_load_file(path, &m, err, sizeof(err));
	CHECK(ret == -EOPNOTSUPP && !m, "unsupported_cos: ret %d", ret);
	CHECK(!strcmp(err, "node \"weird_cos\" (Cos): unsupported operator"),
	      "unsupported_cos: message \"%s\"", err);
}

/* Every strict prefix of a valid model must be refused, with a message. */
static void test_truncation(const char *dir, const char *name, size_t max_tries)
{
	size_t len = 0, step, tried = 0, refused = 0;
	char err[256];
	void *buf = read_all(dir, name, ".onnx", &len);
	struct lg_model *m = NULL;
	int ret;

	CHECK(buf, "%s: missing", name);
	if (!buf)
		return;
	ret = lg_model_load_mem(buf, len, &m, err, sizeof(err));
	CHECK(ret == 0, "%s: full file does not load: %s", name, err);
	lg_model_free(m);

	step = len / max_tries + 1;
	for (size_t cut = 0; cut < len; cut += step) {
		/* an exact-size copy, so a read past the end is caught by ASan in CI */
		void *copy = malloc(cut ? cut : 1);

		memcpy(copy, buf, cut);
		m = NULL;
		err[0] = '\0';
		ret = lg_model_load_mem(copy, cut, &m, err, sizeof(err));
		tried++;
		if (ret < 0 && err[0] && !m)
			refused++;
		else
			CHECK(0, "%s cut at %zu of %zu: ret %d err \"%s\"", name, cut, len, ret,
			      err);
		lg_model_free(m);
		free(copy);
		/* every length near the end too, where the last tensors are cut */
		if (cut + step >= len && step > 1)
			step = 1, cut = len > 300 ? len - 300 : cut;
	}
	printf("%-16s truncated at %zu lengths: %zu refused\n", name, tried, refused);
	free(buf);
}

static void test_garbage(void)
{
	size_t refused = 0;
	char err[256];
	uint8_t buf[4096];

	for (int i = 0; i < 2000; i++) {
		size_t len = next() % sizeof(buf);
		struct lg_model *m = NULL;
		int ret;

		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)next();
		err[0] = '\0';
		ret = lg_model_load_mem(buf, len, &m, err, sizeof(err));
		if (ret < 0 && err[0] && !m)
			refused++;
		else
			CHECK(0, "garbage #%d (%zu bytes): ret %d", i, len, ret);
		lg_model_free(m);
	}
	printf("random garbage: %zu of 2000 refused\n", refused);
}

/* A corrupted byte may still decode (a weight changed): then the model must run. */
static void test_bitflips(const char *dir, const char *name)
{
	size_t len = 0, loaded = 0, refused = 0;
	uint8_t *buf = read_all(dir, name, ".onnx", &len);
	char err[256];

	if (!buf) {
		CHECK(0, "%s: missing", name);
		return;
	}
	for (int i = 0; i < 3000; i++) {
		size_t pos = next() % len;
		uint8_t old = buf[pos];
		struct lg_model *m = NULL;
		int ret;

		buf[pos] ^= (uint8_t)(1u << (next() % 8));
		err[0] = '\0';
		ret = lg_model_load_mem(buf, len, &m, err, sizeof(err));
		if (ret == 0) {
			struct lg_model_ws *ws = NULL;
			size_t in = lg_model_input_dim(m), out = lg_model_output_dim(m);
			float *x = calloc(3 * in, sizeof(float)),
			      *y = calloc(3 * out, sizeof(float));

			CHECK(in && out && !lg_model_ws_create(m, 3, &ws) && x && y &&
				  lg_model_run(m, x, 3, y, ws) == 0,
			      "%s flip at %zu: loaded but does not run", name, pos);
			lg_model_ws_free(ws);
			free(x);
			free(y);
			loaded++;
		} else {
			CHECK(err[0], "%s flip at %zu: refused (%d) without a message", name, pos,
			      ret);
			refused++;
		}
		lg_model_free(m);
		buf[pos] = old;
	}
	printf("%-16s 3000 bit flips: %zu loaded and ran, %zu refused\n", name, loaded, refused);
	free(buf);
}

static void test_files(const char *dir)
{
	struct lg_model *m = NULL;
	char path[1024], err[256];
	int ret;

	ret = lg_model_load_file("/nonexistent/model.onnx", &m, err, sizeof(err));
	CHECK(ret == -ENOENT && strstr(err, "/nonexistent/model.onnx"), "missing file: %d %s", ret,
	      err);
	ret = lg_model_load_file(dir, &m, err, sizeof(err));
	CHECK(ret == -EINVAL && err[0], "directory: %d %s", ret, err);
	snprintf(path, sizeof(path), "%s/ae_64.onnx", dir);
	ret = lg_model_load_file(path, &m, err, sizeof(err));
	CHECK(ret == 0 && lg_model_input_dim(m) == 64, "ae_64 by path: %d %s", ret, err);
	lg_model_free(m);
	/* a NULL error buffer is allowed */
	ret = lg_model_load_mem("\xff\xff", 2, &m, NULL, 0);
	CHECK(ret < 0, "2 garbage bytes loaded");
	lg_model_free(NULL);
	lg_model_ws_free(NULL);
}

static const char usage[] =
	"Usage: test_model_errors [options] FIXTURE_DIR\n"
	"\n"
	"The ONNX importer on bad input: every model in FIXTURE_DIR/bad_models.txt is refused\n"
	"with the listed errno and a message naming the node and operator (or tensor) at fault;\n"
	"a valid model cut short at any length is refused, and the full length loads; random\n"
	"bytes are refused; single-byte corruptions either load (and then run) or are refused\n"
	"with a message; lg_model_load_file() reports a missing file and a folder.\n"
	"\n"
	"Arguments:\n"
	"  FIXTURE_DIR   tests/fixtures/models (the models gen_models.py made)\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout each bad model's errno and message, the truncation, garbage and\n"
	"bit-flip counts, then \"all error-path checks passed\"; failures (FAIL FILE:LINE) on\n"
	"stderr.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	/* from here on argv[1] is the first argument */
	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	test_bad_models(argv[1]);
	test_unsupported_op(argv[1]);
	test_truncation(argv[1], "gemm_attrs", 100000);
	test_truncation(argv[1], "mlp_classifier", 100000);
	test_truncation(argv[1], "ae_64", 100000);
	test_truncation(argv[1], "ops_mix", 100000);
	test_truncation(argv[1], "mlp_bn", 100000);
	test_truncation(argv[1], "ae_1024", 600);
	test_garbage();
	test_bitflips(argv[1], "mlp_classifier");
	test_bitflips(argv[1], "ops_mix");
	test_files(argv[1]);
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all error-path checks passed\n");
	return 0;
}
