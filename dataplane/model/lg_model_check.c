/* SPDX-License-Identifier: MIT */
/*
 * lg-model-check: does this ONNX file load into linegate, and into what plan?
 * For operators, before a model goes into the registry. Exit status 0 if every file loads.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <linegate/cli.h>
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
	int status = 0;

	lg_cli_simple(argc, argv, usage, 1, LG_CLI_ANY);
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
