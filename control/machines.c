// SPDX-License-Identifier: MIT
/* The operator's declaration of each machine (machines.h). */
#include "machines.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define NFIELD 7

static char *trim(char *p)
{
	char *e;

	while (*p == ' ' || *p == '\t')
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return p;
}

/* A number filling the whole field, else NAN. */
static double num(const char *s)
{
	char *end;
	double v;

	if (!*s)
		return NAN;
	v = strtod(s, &end);
	return *end ? NAN : v;
}

static const char *parse_line(char *buf, struct lg_machine *m, int first)
{
	char *f[NFIELD], *p = buf, *tok, *save = NULL;
	size_t nf = 0;
	double z, b[4];
	int nb = 0;

	for (;;) {
		char *c = strchr(p, ',');

		if (nf == NFIELD)
			return "more than 7 fields";
		f[nf++] = p;
		if (!c)
			break;
		*c = '\0';
		p = c + 1;
	}
	for (size_t i = 0; i < nf; i++)
		f[i] = trim(f[i]);
	if (nf >= 3 && first && !isfinite(num(f[2])) && !isfinite(num(f[1])))
		return ""; /* a header (device,setpoints_hz,gear_teeth,...) */
	if (nf != NFIELD && nf != 3)
		return "want device,setpoints_hz,gear_teeth[,balls,pitch_mm,ball_mm,contact_deg]";
	if (!*f[0] || strlen(f[0]) >= sizeof(m->name))
		return "the device name must be 1 to 63 characters";
	snprintf(m->name, sizeof(m->name), "%s", f[0]);
	m->nsp = 0;
	for (tok = strtok_r(f[1], " ;\t", &save); tok; tok = strtok_r(NULL, " ;\t", &save)) {
		double v = num(tok);

		if (!isfinite(v))
			return "setpoints_hz: a set point is not a number (speeds in Hz, separated "
			       "by spaces)";
		if (!(v > 0) || v > 1e5)
			return "setpoints_hz: each set point must be a speed above 0 Hz, at most "
			       "100000";
		if (m->nsp == LG_MACHINE_SP_MAX)
			return "setpoints_hz: more than 16 set points";
		m->sp[m->nsp++] = v;
	}
	if (!m->nsp)
		return "setpoints_hz: at least one set point (Hz)";
	z = num(f[2]);
	if (!(z == 0 || z >= 2) || z > 10000 || z != floor(z))
		return "gear_teeth must be 0 (no gear) or a whole number from 2 to 10000";
	m->plate.z = (unsigned)z;
	m->plate.bpfo = m->plate.bpfi = 0;
	m->has_bearing = 0;
	for (int i = 0; nf == NFIELD && i < 4; i++) {
		b[i] = num(f[3 + i]);
		nb += *f[3 + i] != '\0';
	}
	if (nb && nb != 4)
		return "the bearing needs all of balls, pitch_mm, ball_mm, contact_deg, or none";
	if (nb) {
		if (!(b[0] >= 3) || b[0] > 1000 || b[0] != floor(b[0]))
			return "balls must be a whole number from 3 to 1000";
		if (lg_imp_ball_pass((unsigned)b[0], b[1], b[2], b[3], &m->plate.bpfo,
				     &m->plate.bpfi))
			return "the bearing's geometry must have 0 < ball_mm < pitch_mm and a "
			       "contact angle from 0 to under 90 degrees";
		m->has_bearing = 1;
		m->balls = (unsigned)b[0];
		m->pitch_mm = b[1];
		m->ball_mm = b[2];
		m->contact_deg = b[3];
	}
	return NULL;
}

/*
 * The next line of f into *buf (getline's), without its comment and line end, nor a UTF-8
 * byte order mark in front of the first (as spreadsheets write one): 1, 0 at the end, or
 * -EINVAL with "path:line: why" in err for a line too long or holding a NUL byte (fgets
 * would have cut it there and read the rest as the next line, or not at all).
 */
static int next_line(FILE *f, const char *path, unsigned ln, size_t max, char **buf,
		     size_t *cap, char *err, size_t errlen)
{
	ssize_t len = getline(buf, cap, f);

	if (len < 0)
		return 0;
	if (ln == 1 && len >= 3 && !memcmp(*buf, "\xef\xbb\xbf", 3)) {
		len -= 3;
		memmove(*buf, *buf + 3, (size_t)len + 1);
	}
	if ((size_t)len > max + 1 || ((size_t)len == max + 1 && (*buf)[len - 1] != '\n')) {
		snprintf(err, errlen, "%s:%u: line longer than %zu characters", path, ln, max);
		return -EINVAL;
	}
	if (memchr(*buf, '\0', (size_t)len)) {
		snprintf(err, errlen, "%s:%u: a NUL byte: not a CSV text file", path, ln);
		return -EINVAL;
	}
	(*buf)[strcspn(*buf, "#\r\n")] = '\0';
	return 1;
}

int lg_machines_read(FILE *f, const char *path, struct lg_machine **out, size_t *n, char *err,
		     size_t errlen)
{
	struct lg_machine *m = NULL;
	size_t nm = 0, cap = 0;
	unsigned ln = 0;
	char *buf = NULL;
	int first = 1, r;

	*out = NULL;
	*n = 0;
	while ((r = next_line(f, path, ++ln, LG_MACHINE_LINE_MAX, &buf, &cap, err, errlen)) > 0) {
		struct lg_machine one;
		const char *why;
		char *p = trim(buf);

		if (!*p)
			continue;
		memset(&one, 0, sizeof(one));
		why = parse_line(p, &one, first);
		first = 0;
		if (why && !*why)
			continue;
		if (why) {
			snprintf(err, errlen, "%s:%u: %s", path, ln, why);
			goto fail;
		}
		if (lg_machines_find(m, nm, one.name)) {
			snprintf(err, errlen, "%s:%u: device %s is on line %u already", path, ln,
				 one.name, lg_machines_find(m, nm, one.name)->line);
			goto fail;
		}
		one.line = ln;
		{
			struct lg_machine *a = realloc(m, sizeof(*m) * (nm + 1));

			if (!a) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			m = a;
		}
		m[nm++] = one;
	}
	if (r < 0)
		goto fail;
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	free(buf);
	*out = m;
	*n = nm;
	return 0;
fail:
	free(buf);
	free(m);
	return -EINVAL;
}

int lg_machines_load(const char *path, struct lg_machine **out, size_t *n, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	int ret;

	*out = NULL;
	*n = 0;
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	ret = lg_machines_read(f, path, out, n, err, errlen);
	fclose(f);
	return ret;
}

int lg_shaft_hz_read(FILE *f, const char *path, lg_shaft_hz_fn *each, void *ctx, char *err,
		     size_t errlen)
{
	unsigned ln = 0;
	size_t cap = 0;
	char *buf = NULL;
	int r, ret = -EINVAL;

	while ((r = next_line(f, path, ++ln, LG_SHAFT_HZ_LINE_MAX, &buf, &cap, err, errlen)) > 0) {
		char *p = buf, *name, *num, *end;
		double v;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			continue;
		name = p;
		num = strchr(p, ',');
		if (!num) {
			snprintf(err, errlen, "%s:%u: want device,Hz (the device's lowest shaft "
				 "speed)", path, ln);
			goto out;
		}
		*num++ = '\0';
		for (char *e = num - 2; e >= name && (*e == ' ' || *e == '\t'); e--)
			*e = '\0';
		while (*num == ' ' || *num == '\t')
			num++;
		v = strtod(num, &end);
		while (*end == ' ' || *end == '\t')
			end++;
		if (end == num || *end) {
			if (ln == 1)
				continue; /* a header (device,hz) */
			snprintf(err, errlen, "%s:%u: '%s' is not a speed in Hz", path, ln, num);
			goto out;
		}
		if (!*name) {
			snprintf(err, errlen, "%s:%u: want device,Hz: the device name is empty", path,
				 ln);
			goto out;
		}
		if (!(v > 0) || !isfinite(v) || v > 1e6) {
			snprintf(err, errlen, "%s:%u: device %s: the lowest shaft speed must be above "
				 "0 Hz and at most 1 MHz (got %s)", path, ln, name, num);
			goto out;
		}
		if ((ret = each(ctx, name, v, ln, err, errlen)))
			goto out;
		ret = -EINVAL;
	}
	if (r < 0)
		goto out;
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

const struct lg_machine *lg_machines_find(const struct lg_machine *m, size_t n, const char *device)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].name, device))
			return &m[i];
	return NULL;
}
