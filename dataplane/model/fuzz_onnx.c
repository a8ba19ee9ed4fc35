/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the ONNX importer: any byte string must either load or be rejected
 * with an error message, never crash or leak. A model that loads is also run once, so the
 * compiled plan's shapes are exercised too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linegate/model.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_model_ws *ws = NULL;
	struct lg_model *m = NULL;
	char err[256];
	float *in, *out;

	if (lg_model_load_mem(data, size, &m, err, sizeof(err))) {
		if (!err[0])
			abort(); /* every rejection must say why */
		return 0;
	}
	/* keep the run small: the point is the importer, not big sgemms */
	if (lg_model_input_dim(m) <= 4096 && lg_model_output_dim(m) <= 4096 &&
	    !lg_model_ws_create(m, 2, &ws)) {
		in = calloc(2 * lg_model_input_dim(m), sizeof(float));
		out = calloc(2 * lg_model_output_dim(m), sizeof(float));
		if (in && out && lg_model_run(m, in, 2, out, ws))
			abort();
		free(in);
		free(out);
	}
	{
		char text[64];

		if (lg_model_describe(m, text, sizeof(text)) < strlen(text))
			abort();
	}
	lg_model_ws_free(ws);
	lg_model_free(m);
	return 0;
}
