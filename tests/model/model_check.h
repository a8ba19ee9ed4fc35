/* SPDX-License-Identifier: MIT */
/*
 * The failure counter and the printf-style CHECK of the model tests that report each failure
 * as "FAIL FILE:LINE: WHY" and go on: main() ends with a non-zero status if failures is.
 */
#ifndef LG_TEST_MODEL_CHECK_H
#define LG_TEST_MODEL_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#endif /* LG_TEST_MODEL_CHECK_H */
