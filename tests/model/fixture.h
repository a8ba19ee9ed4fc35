/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the model tests: reading fixture files, comparing floats. */
#ifndef LG_TEST_FIXTURE_H
#define LG_TEST_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Whole file into a malloc'd buffer; NULL (and a message) on failure. */
static inline void *read_all(const char *dir, const char *name, const char *ext, size_t *len)
{
	char path[1024];
	void *buf = NULL;
	long sz;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto out;
	buf = malloc(sz ? (size_t)sz : 1);
	if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		free(buf);
		buf = NULL;
	}
	*len = (size_t)sz;
out:
	fclose(f);
	if (!buf)
		fprintf(stderr, "cannot read %s\n", path);
	return buf;
}

/*
 * PyTorch and OpenBLAS sum in different orders, so exact equality is not expected: a value
 * matches when it is within RTOL of the reference, or within ATOL of it for values near 0
 * where a relative bound means nothing.
 */
#define RTOL 1e-4
#define ATOL 1e-5

static inline int close_enough(float got, float want)
{
	return fabs((double)got - (double)want) <= ATOL + RTOL * fabs((double)want);
}

#endif
