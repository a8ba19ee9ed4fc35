// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for linegate-train's two operator CSVs (control/machines.c): the first
 * byte picks the parser, odd --shaft-hz (lg_shaft_hz_read(), device,Hz), even --nameplate
 * (lg_machines_read(), device,setpoints_hz,gear_teeth[,bearing]); the rest is the file.
 *
 * What a parser accepts must keep its promises: a device name that is in the input, not
 * empty, without blanks around it, a comma or a comment; numbers in the documented ranges;
 * lines in increasing order; nameplate devices named once. A refusal must name the file
 * and a line ("f.csv:N: "), or the file alone for a read error, and leave nothing behind.
 * A UTF-8 byte order mark in front of the file changes nothing: the same file with one is
 * read to the same devices, numbers and lines, or refused with the same words.
 */
#include "machines.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PATH "f.csv"
#define BOM "\xef\xbb\xbf"

/* What a parse gave: the refusal's words, or every device's fields, as text. */
struct outcome {
	char text[16384];
	size_t len;
};

static void say(struct outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct outcome *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len >= sizeof(o->text))
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->text + o->len, sizeof(o->text) - o->len, fmt, ap);
	va_end(ap);
	o->len += n > 0 ? (size_t)n : 0;
}

/* "f.csv:N: ..." with N a line number of at least 1, or "f.csv: read error" */
static void check_refusal(const char *err)
{
	const char *p = err + strlen(PATH) + 1;

	if (strncmp(err, PATH ":", strlen(PATH) + 1))
		abort();
	if (!strcmp(p, " read error") || !strcmp(p, " out of memory"))
		return;
	if (*p < '1' || *p > '9')
		abort();
	while (*p >= '0' && *p <= '9')
		p++;
	if (strncmp(p, ": ", 2) || !p[2])
		abort();
}

/* A device name as the parsers promise it, and found in the input. */
static void check_name(const char *name, const char *text, size_t len)
{
	size_t n = strlen(name);

	if (!n || name[0] == ' ' || name[0] == '\t' || name[n - 1] == ' ' ||
	    name[n - 1] == '\t' || strpbrk(name, ",#\r\n") || !memmem(text, len, name, n))
		abort();
}

struct shaft_seen {
	const char *text;
	size_t len;
	unsigned last_line;
	struct outcome *out;
};

static int shaft_line(void *ctx, const char *device, double hz, unsigned line, char *err,
		      size_t errlen)
{
	struct shaft_seen *s = ctx;

	check_name(device, s->text, s->len);
	if (!(hz > 0) || !isfinite(hz) || hz > 1e6 || line <= s->last_line)
		abort();
	s->last_line = line;
	say(s->out, "%s=%a@%u\n", device, hz, line);
	/* the caller's own refusal (linegate-train's "is on line N already") ends the read */
	if (!strcmp(device, "stop")) {
		snprintf(err, errlen, PATH ":%u: device stop", line);
		return -EEXIST;
	}
	return 0;
}

static void shaft_hz(const char *text, size_t len, FILE *f, struct outcome *out)
{
	struct shaft_seen s = { text, len, 0, out };
	char err[1024] = "";
	int ret = lg_shaft_hz_read(f, PATH, shaft_line, &s, err, sizeof(err));

	if (ret) {
		check_refusal(err);
		out->len = 0;
		say(out, "refused %d: %s", ret, err);
	} else if (err[0]) {
		abort();
	}
}

static void nameplate(const char *text, size_t len, FILE *f, struct outcome *out)
{
	struct lg_machine *m = (struct lg_machine *)1;
	size_t n = 1;
	char err[1024] = "";

	if (lg_machines_read(f, PATH, &m, &n, err, sizeof(err))) {
		check_refusal(err);
		if (m || n)
			abort();
		say(out, "refused: %s", err);
		return;
	}
	if (err[0] || (n && !m))
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct lg_machine *a = &m[i];

		check_name(a->name, text, len);
		if (lg_machines_find(m, n, a->name) != a || (i && a->line <= m[i - 1].line) ||
		    !a->line || !a->nsp || a->nsp > LG_MACHINE_SP_MAX || a->plate.z == 1 ||
		    a->plate.z > 10000)
			abort();
		say(out, "%s@%u z%u", a->name, a->line, a->plate.z);
		for (unsigned k = 0; k < a->nsp; k++) {
			if (!(a->sp[k] > 0) || a->sp[k] > 1e5)
				abort();
			say(out, " %a", a->sp[k]);
		}
		if (a->has_bearing ? a->balls < 3 || a->balls > 1000 || !(a->plate.bpfo > 0) ||
					     !(a->plate.bpfi >= a->plate.bpfo) ||
					     !isfinite(a->plate.bpfi)
				   : a->plate.bpfo != 0 || a->plate.bpfi != 0)
			abort();
		say(out, " %u %a %a\n", a->balls, a->plate.bpfo, a->plate.bpfi);
	}
	free(m);
}

/* The parser of kind on text (len bytes, a NUL after them). */
static void parse(int shaft, const char *text, size_t len, struct outcome *out)
{
	FILE *f = fmemopen((void *)text, len, "r"); /* glibc takes 0 bytes since 2.22 */

	out->len = 0;
	out->text[0] = '\0';
	if (!f)
		abort();
	if (shaft)
		shaft_hz(text, len, f, out);
	else
		nameplate(text, len, f, out);
	fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome plain, marked;
	char *text;
	size_t len;
	int shaft;

	if (!size)
		return 0;
	shaft = data[0] & 1;
	len = size - 1;
	/* the file behind a byte order mark, and a NUL after it for memmem's needles */
	text = malloc(len + 4);
	if (!text)
		return 0;
	memcpy(text, BOM, 3);
	memcpy(text + 3, data + 1, len);
	text[len + 3] = '\0';
	parse(shaft, text + 3, len, &plain);
	if (len < 3 || memcmp(text + 3, BOM, 3)) {
		parse(shaft, text, len + 3, &marked);
		if (plain.len != marked.len || memcmp(plain.text, marked.text, plain.len))
			abort();
	}
	free(text);
	return 0;
}
