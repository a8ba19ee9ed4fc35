// SPDX-License-Identifier: MIT
/*
 * Models from before the bands96-time5 layout and the kNN detector (issue 8) score bit for
 * bit as they did: the shipped control/defaults/model*.json (no "layout") on simulated
 * windows against the scores the code before them printed (tests/fixtures/old_models:
 * scores.txt, made by old_scores.c built against main at 079e9cd).
 */
#define OLD_SCORES_NO_MAIN
#include "../fixtures/old_models/old_scores.c"

#include "../lgt_cli.h"
#include "../lgtest.h"

static const char usage[] =
	"Usage: test_old_models [options]\n"
	"\n"
	"The shipped models (no \"layout\": the 18-feature row) score bit for bit as before the\n"
	"wide layout and the kNN detector (tests/fixtures/old_models/scores.txt).\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Environment:\n"
	"  LG_SOURCE     the source tree (default: ..)\n"
	"\n"
	"Output: \"test_old_models: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	const char *src = getenv("LG_SOURCE") ? getenv("LG_SOURCE") : "..";
	unsigned got[3 * OLD_WINDOWS], want;
	char path[600];
	FILE *f;

	lgt_cli(argc, argv, usage, 0, 0);
	snprintf(path, sizeof(path), "%s/tests/fixtures/old_models/scores.txt", src);
	f = fopen(path, "r");
	CHECK(f != NULL);
	CHECK_EQ(old_scores(src, got), 0);
	for (unsigned i = 0; f && i < 3 * OLD_WINDOWS; i++) {
		CHECK(fscanf(f, "%x", &want) == 1);
		if (got[i] != want)
			fprintf(stderr, "%s window %u: score bits %08x, before %08x\n",
				old_models[i / OLD_WINDOWS], i % OLD_WINDOWS, got[i], want);
		CHECK_EQ(got[i], want);
	}
	if (f)
		fclose(f);
	return lgt_done("test_old_models");
}
