// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the fleet bundle manifest parser (control/bundle.c), which reads
 * what linegated fetched from the object store before anything is verified (the watch
 * thread parses it to learn the parts' names). An accepted manifest must keep the parser's
 * promises (names that are key tokens and plain file names, parts unique, the policy and
 * the model with its .sig among them) and come back identical through the text publish
 * writes; a refused one must say why, starting "manifest: ".
 */
#include "bundle.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_bundle_manifest m, back;
	char err[512] = "", *text;
	size_t len;

	if (lg_bundle_manifest_parse((const char *)data, size, &m, err, sizeof(err))) {
		if (strncmp(err, "manifest: ", 10))
			abort();
		return 0;
	}
	if (!lg_bundle_token_ok(m.plant) || !lg_bundle_token_ok(m.line) ||
	    !lg_bundle_token_ok(m.version) || !lg_bundle_part(&m, m.policy) || !m.nparts ||
	    m.nparts > LG_BUNDLE_MAX_PARTS)
		abort();
	for (size_t i = 0; i < m.nparts; i++) {
		if (!lg_bundle_part_name_ok(m.parts[i].name) || strchr(m.parts[i].name, '/') ||
		    lg_bundle_part(&m, m.parts[i].name) != &m.parts[i])
			abort();
	}
	if (m.model_file[0] && (!lg_bundle_token_ok(m.model_name) ||
				!lg_bundle_part(&m, m.model_file)))
		abort();
	if (lg_bundle_manifest_text(&m, &text, &len))
		return 0; /* out of memory */
	if (lg_bundle_manifest_parse(text, len, &back, err, sizeof(err)) ||
	    memcmp(&back, &m, sizeof(m)))
		abort();
	free(text);
	return 0;
}
