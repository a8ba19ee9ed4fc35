/* SPDX-License-Identifier: MIT */
/*
 * Parity with PyTorch: every fixture model, on every fp32 GEMM route and every epilogue ISA
 * this build and CPU have, at batch sizes 1, 7, 40 and 64, must reproduce the outputs torch
 * computed when it exported the model
 * (tests/fixtures/models/gen_models.py). Also checks the plan's layer count (that bias and
 * activations were fused into the sgemm layers) and the scores helper.
 *
 * usage: test_model_parity FIXTURE_DIR
 */
#include <errno.h>
#include <string.h>

#include <linegate/model.h>

#include "fixture.h"
#include "model_check.h"
#include "../lgt_cli.h"

struct fixture {
	const char *name;
	size_t in_dim, out_dim, layers;
	enum lg_model_kind kind;
};

static const struct fixture fixtures[] = {
    /* 3 x (Gemm + bias + act), the Softmax joins the last layer */
    {"mlp_classifier", 24, 5, 3, LG_MODEL_CLASSIFIER},
    {"ae_64", 64, 64, 4, LG_MODEL_AUTOENCODER},
    {"ae_1024", 1024, 1024, 4, LG_MODEL_AUTOENCODER},
    /* (x - mean) / std on the input is a layer of its own, then two MatMul layers */
    {"ops_mix", 32, 10, 3, LG_MODEL_CLASSIFIER},
    {"gemm_attrs", 20, 12, 1, LG_MODEL_CLASSIFIER},
    /* Constant value_floats / value_float / value_ints fold into the Gemm's epilogue */
    {"constants", 20, 12, 1, LG_MODEL_CLASSIFIER},
    /* Gemm + BatchNormalization + Relu is one layer; Dropout is gone in eval mode */
    {"mlp_bn", 16, 4, 2, LG_MODEL_CLASSIFIER},
};

/* Known-answer plans: what fusion must produce (epilogue names as lg_model_describe writes) */
static const struct {
	const char *name, *plan;
} plans[] = {
    {"mlp_classifier", "input 24 -> output 5, classifier, 3 layers, epilogue scalar, "
		       "gemm openblas\n"
		       "layer 0: sgemm 24x64 | add, relu\n"
		       "layer 1: sgemm 64x32 | add, tanh\n"
		       "layer 2: sgemm 32x5 | add, softmax\n"},
    {"ops_mix", "input 32 -> output 10, classifier, 3 layers, epilogue scalar, "
		"gemm openblas\n"
		"layer 0: width 32 | sub, div\n"
		"layer 1: sgemm 32x48 | add, sigmoid, mul, leaky(0.2), rsub\n"
		"layer 2: sgemm 48x10 | tanh, softmax\n"},
    {"mlp_bn", "input 16 -> output 4, classifier, 2 layers, epilogue scalar, "
	       "gemm openblas\n"
	       "layer 0: sgemm 16x32 | add, sub, mul, add, relu\n"
	       "layer 1: sgemm 32x4 | add\n"},
};

/* 40 and 64: libxsmm's kernels take 32 rows at a time, so one full block and a remainder */
static const size_t batches[] = {1, 7, 40, 64};
/* every fp32 GEMM route: each must reproduce torch's outputs to the same tolerance */
static const enum lg_model_gemm routes[] = {LG_MODEL_GEMM_OPENBLAS, LG_MODEL_GEMM_XSMM,
					    LG_MODEL_GEMM_AUTO};

static const enum lg_model_isa isas[] = {LG_MODEL_ISA_SCALAR, LG_MODEL_ISA_AVX2,
					 LG_MODEL_ISA_AVX512};

static int compare(const char *what, const float *got, const float *want, size_t rows, size_t cols)
{
	size_t bad = 0;
	double worst = 0;

	for (size_t i = 0; i < rows * cols; i++) {
		double d = fabs((double)got[i] - (double)want[i]);

		if (!close_enough(got[i], want[i])) {
			if (!bad)
				fprintf(stderr, "  %s: row %zu col %zu got %.9g want %.9g\n", what,
					i / cols, i % cols, got[i], want[i]);
			bad++;
		}
		if (d > worst)
			worst = d;
	}
	if (bad)
		fprintf(stderr, "  %s: %zu of %zu values off, worst abs diff %.3g\n", what, bad,
			rows * cols, worst);
	return bad ? -1 : 0;
}

static void check_scores(const struct fixture *fx, struct lg_model *m, struct lg_model_ws *ws,
			 const float *in, const float *ref, size_t batch, const char *tag)
{
	size_t sd = lg_model_score_dim(m);
	float *scores = calloc(batch * sd, sizeof(float));
	int ret;

	if (!scores) {
		CHECK(0, "oom");
		return;
	}
	ret = lg_model_scores(m, in, batch, scores, ws);
	CHECK(ret == 0, "%s: lg_model_scores = %d", tag, ret);
	if (fx->kind == LG_MODEL_AUTOENCODER) {
		CHECK(sd == 1, "%s: score dim %zu", tag, sd);
		for (size_t r = 0; r < batch; r++) {
			double mse = 0;

			for (size_t j = 0; j < fx->in_dim; j++) {
				double e = (double)in[r * fx->in_dim + j] - ref[r * fx->in_dim + j];

				mse += e * e;
			}
			mse /= (double)fx->in_dim;
			CHECK(fabs(scores[r] - mse) <= 1e-5 + 1e-3 * mse,
			      "%s: row %zu mse %.9g want %.9g", tag, r, scores[r], mse);
		}
	} else {
		CHECK(sd == fx->out_dim, "%s: score dim %zu", tag, sd);
		for (size_t r = 0; r < batch; r++) {
			double sum = 0;

			for (size_t j = 0; j < sd; j++)
				sum += scores[r * sd + j];
			CHECK(fabs(sum - 1.0) < 1e-5, "%s: row %zu probabilities sum to %.9g", tag,
			      r, sum);
		}
		/* the two fixtures that end in Softmax: the scores are their outputs */
		if (!strcmp(fx->name, "mlp_classifier") || !strcmp(fx->name, "ops_mix")) {
			CHECK(compare(tag, scores, ref, batch, sd) == 0, "%s: scores", tag);
		} else {
			/* otherwise the softmax of the reference output */
			float *p = malloc(batch * sd * sizeof(float));

			for (size_t r = 0; p && r < batch; r++) {
				const float *y = ref + r * sd;
				double mx = y[0], sum = 0;

				for (size_t j = 1; j < sd; j++)
					mx = y[j] > mx ? y[j] : mx;
				for (size_t j = 0; j < sd; j++)
					sum += exp(y[j] - mx);
				for (size_t j = 0; j < sd; j++)
					p[r * sd + j] = (float)(exp(y[j] - mx) / sum);
			}
			CHECK(p && compare(tag, scores, p, batch, sd) == 0, "%s: softmax scores",
			      tag);
			free(p);
		}
	}
	free(scores);
}

static void run_fixture(const char *dir, const struct fixture *fx)
{
	size_t mlen = 0, ilen = 0, olen = 0, rows;
	float *in = NULL, *ref = NULL, *out = NULL;
	struct lg_model_ws *ws = NULL;
	struct lg_model *m = NULL;
	void *onnx = NULL;
	char err[256];
	int ret;

	onnx = read_all(dir, fx->name, ".onnx", &mlen);
	in = read_all(dir, fx->name, ".in.f32", &ilen);
	ref = read_all(dir, fx->name, ".out.f32", &olen);
	if (!onnx || !in || !ref) {
		CHECK(0, "%s: fixture files missing", fx->name);
		goto out;
	}
	ret = lg_model_load_mem(onnx, mlen, &m, err, sizeof(err));
	CHECK(ret == 0, "%s: load = %d (%s)", fx->name, ret, err);
	if (ret)
		goto out;
	CHECK(lg_model_input_dim(m) == fx->in_dim, "%s: in dim %zu", fx->name,
	      lg_model_input_dim(m));
	CHECK(lg_model_output_dim(m) == fx->out_dim, "%s: out dim %zu", fx->name,
	      lg_model_output_dim(m));
	CHECK(lg_model_n_layers(m) == fx->layers, "%s: %zu layers, want %zu", fx->name,
	      lg_model_n_layers(m), fx->layers);
	CHECK(lg_model_kind(m) == fx->kind, "%s: kind %d", fx->name, lg_model_kind(m));
	for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
		char text[1024], small[16];
		size_t need;

		if (strcmp(plans[i].name, fx->name))
			continue;
		lg_model_set_isa(m, LG_MODEL_ISA_SCALAR);
		lg_model_set_gemm(m, LG_MODEL_GEMM_OPENBLAS);
		need = lg_model_describe(m, text, sizeof(text));
		CHECK(!strcmp(text, plans[i].plan), "%s: plan is\n%swant\n%s", fx->name, text,
		      plans[i].plan);
		CHECK(need == strlen(plans[i].plan), "%s: describe returned %zu", fx->name, need);
		/* a short buffer gets a terminated prefix and the full length back */
		need = lg_model_describe(m, small, sizeof(small));
		CHECK(need == strlen(plans[i].plan) && strlen(small) == sizeof(small) - 1 &&
			  !strncmp(small, plans[i].plan, sizeof(small) - 1),
		      "%s: truncated describe", fx->name);
	}
	rows = ilen / (fx->in_dim * sizeof(float));
	CHECK(rows >= 64 && olen == rows * fx->out_dim * sizeof(float), "%s: fixture sizes",
	      fx->name);
	if (rows < 64 || lg_model_input_dim(m) != fx->in_dim ||
	    lg_model_output_dim(m) != fx->out_dim)
		goto out;
	ret = lg_model_ws_create(m, 64, &ws);
	CHECK(ret == 0, "%s: ws_create = %d", fx->name, ret);
	out = malloc(64 * fx->out_dim * sizeof(float));
	if (ret || !out)
		goto out;

	for (size_t g = 0; g < sizeof(routes) / sizeof(routes[0]); g++) {
		const char *rname = lg_model_gemm_name(routes[g]);

		if (lg_model_gemm_missing(routes[g])) {
			printf("%-15s %-8s skipped: %s\n", fx->name, rname,
			       lg_model_gemm_missing(routes[g]));
			CHECK(lg_model_set_gemm(m, routes[g]) == -ENOTSUP, "set_gemm should refuse");
			continue;
		}
		ret = lg_model_set_gemm(m, routes[g]);
		CHECK(ret == 0 && lg_model_get_gemm(m) == routes[g], "%s: set_gemm(%s) = %d",
		      fx->name, rname, ret);
		for (size_t i = 0; i < sizeof(isas) / sizeof(isas[0]); i++) {
			if (!lg_model_isa_supported(isas[i])) {
				printf("%-15s %-8s %-6s skipped: CPU lacks it\n", fx->name, rname,
				       lg_model_isa_name(isas[i]));
				CHECK(lg_model_set_isa(m, isas[i]) == -ENOTSUP,
				      "set_isa should refuse");
				continue;
			}
			ret = lg_model_set_isa(m, isas[i]);
			CHECK(ret == 0 && lg_model_get_isa(m) == isas[i], "%s: set_isa(%s) = %d",
			      fx->name, lg_model_isa_name(isas[i]), ret);
			for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
				size_t batch = batches[b];
				char tag[96];

				snprintf(tag, sizeof(tag), "%s/%s/%s/batch %zu", fx->name, rname,
					 lg_model_isa_name(isas[i]), batch);
				/* poison the output so a row the engine skipped cannot pass */
				memset(out, 0xff, 64 * fx->out_dim * sizeof(float));
				ret = lg_model_run(m, in, batch, out, ws);
				CHECK(ret == 0, "%s: run = %d", tag, ret);
				CHECK(compare(tag, out, ref, batch, fx->out_dim) == 0, "%s: parity",
				      tag);
				check_scores(fx, m, ws, in, ref, batch, tag);
				printf("%-15s %-8s %-6s batch %2zu ok\n", fx->name, rname,
				       lg_model_isa_name(isas[i]), batch);
			}
		}
	}
	CHECK(lg_model_run(m, in, 65, out, ws) == -EINVAL, "%s: batch over max accepted", fx->name);
	CHECK(lg_model_run(m, in, 0, out, ws) == -EINVAL, "%s: batch 0 accepted", fx->name);
out:
	lg_model_ws_free(ws);
	lg_model_free(m);
	free(out);
	free(onnx);
	free(in);
	free(ref);
}

static const char usage[] =
	"Usage: test_model_parity [options] FIXTURE_DIR\n"
	"\n"
	"Parity with PyTorch: every fixture model, on every fp32 GEMM route (openblas, xsmm,\n"
	"auto) and every epilogue ISA this build and CPU have, at batch sizes 1, 7, 40 and 64,\n"
	"reproduces the outputs torch computed when it exported the model\n"
	"(FIXTURE_DIR/NAME.out.f32); also the plan's layer count (bias and activations fused\n"
	"into the sgemm layers), known-answer plans and the scores helper.\n"
	"\n"
	"Arguments:\n"
	"  FIXTURE_DIR   tests/fixtures/models (the models gen_models.py made)\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout \"MODEL ROUTE ISA batch N ok\" (or \"skipped: REASON\") per point,\n"
	"then \"all parity checks passed\"; failures on stderr.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	/* from here on argv[1] is the first argument */
	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		run_fixture(argv[1], &fixtures[i]);
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all parity checks passed\n");
	return 0;
}
