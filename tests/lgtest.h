/* SPDX-License-Identifier: MIT */
/* A few macros for plain C tests: a failed check prints where and why, and the test
 * program exits non-zero at the end. Exit code 77 means skipped (meson's convention). */
#ifndef LGTEST_H
#define LGTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int lgt_failures, lgt_checks;

#define CHECK(cond)                                                                      \
	do {                                                                             \
		lgt_checks++;                                                            \
		if (!(cond)) {                                                           \
			lgt_failures++;                                                  \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                        \
	} while (0)

#define CHECK_EQ(a, b)                                                                   \
	do {                                                                             \
		long long _a = (long long)(a), _b = (long long)(b);                     \
		lgt_checks++;                                                            \
		if (_a != _b) {                                                          \
			lgt_failures++;                                                  \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,   \
				__LINE__, #a, #b, _a, _b);                               \
		}                                                                        \
	} while (0)

#define CHECK_NEAR(a, b, tol)                                                            \
	do {                                                                             \
		double _a = (a), _b = (b);                                               \
		lgt_checks++;                                                            \
		if (!(_a - _b <= (tol) && _b - _a <= (tol))) {                           \
			lgt_failures++;                                                  \
			fprintf(stderr, "%s:%d: %s ~ %s failed: %.9g vs %.9g (tol %g)\n",     \
				__FILE__, __LINE__, #a, #b, _a, _b, (double)(tol));      \
		}                                                                        \
	} while (0)

#define CHECK_STR(got, want)                                                             \
	do {                                                                             \
		lgt_checks++;                                                            \
		if (strcmp((got), (want))) {                                             \
			lgt_failures++;                                                  \
			fprintf(stderr, "%s:%d: got '%s', want '%s'\n", __FILE__, __LINE__,  \
				(got), (want));                                          \
		}                                                                        \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                  \
	do {                                                                             \
		lgt_checks++;                                                            \
		if (!strstr((hay), (needle))) {                                          \
			lgt_failures++;                                                  \
			fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__,      \
				__LINE__, (hay), (needle));                              \
		}                                                                        \
	} while (0)

/* The source tree: $LG_SOURCE, or ".." (meson runs a test in the build folder). */
static inline const char *lgt_src_dir(void)
{
	const char *src = getenv("LG_SOURCE");

	return src ? src : "..";
}

/* A file under tests/fixtures/ (name relative to it) for reading; NULL, and a message on
 * stderr, when it cannot be opened. */
static inline FILE *lgt_open_fixture(const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", lgt_src_dir(), name);
	f = fopen(path, "r");
	if (!f)
		fprintf(stderr, "cannot open %s\n", path);
	return f;
}

static inline int lgt_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, lgt_checks, lgt_failures);
	return lgt_failures ? 1 : 0;
}

#endif
