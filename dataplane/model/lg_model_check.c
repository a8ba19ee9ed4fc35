/* SPDX-License-Identifier: MIT */
/*
 * lg-model-check: does this ONNX file load into linegate, and into what plan?
 * For operators, before a model goes into the registry. Exit status 0 if every file loads.
 *
 * usage: lg-model-check FILE.onnx...
 */
#include <stdio.h>
#include <stdlib.h>

#include <linegate/model.h>

int main(int argc, char **argv)
{
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE.onnx...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
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
