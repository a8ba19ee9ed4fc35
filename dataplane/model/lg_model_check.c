/* SPDX-License-Identifier: MIT */
/*
 * lg-model-check: does this ONNX file load into linegate, and into what plan?
 * For operators, before a model goes into the registry. Exit status 0 if every file loads.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <linegate/model.h>

static const char usage[] =
	"Usage: lg-model-check [options] FILE.onnx...\n"
	"\n"
	"Checks whether each ONNX model loads into linegate's inference engine, and into what\n"
	"plan, before it goes into the model registry (docs/model-engine.md).\n"
	"\n"
	"Arguments:\n"
	"  FILE.onnx     one or more model files (after --, names may start with '-')\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: for a model that loads, on stdout \"FILE: input N -> output M, KIND, L layers,\n"
	"epilogue ISA\" and one line per layer (its sgemm shape and fused epilogue ops); for one\n"
	"that does not, on stderr \"FILE: REASON\" (the node and operator at fault).\n"
	"Exit status: 0 if every file loads, 1 if any is refused, 2 on a usage error.\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, status = 0;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "lg-model-check: no model file given (see --help)\n");
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		struct lg_model *m = NULL;
		char err[512], *text;
		size_t len;
		int ret;

		ret = lg_model_load_file(argv[i], &m, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "%s: %s\n", argv[i], err);
			status = 1;
			continue;
		}
		len = lg_model_describe(m, NULL, 0) + 1;
		text = malloc(len);
		if (text) {
			lg_model_describe(m, text, len);
			printf("%s: %s", argv[i], text);
		}
		free(text);
		lg_model_free(m);
	}
	return status;
}
