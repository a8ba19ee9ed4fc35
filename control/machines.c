// SPDX-License-Identifier: MIT
/* The operator's declaration of each machine (machines.h). */
#include "machines.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

		if (!(v > 0) || v > 1e5)
			return "setpoints_hz: each set point must be a speed above 0 Hz";
		if (m->nsp == LG_MACHINE_SP_MAX)
			return "setpoints_hz: more than 16 set points";
		m->sp[m->nsp++] = v;
	}
	if (!m->nsp)
		return "setpoints_hz: at least one set point (Hz)";
	z = num(f[2]);
	if (!(z >= 2) || z > 10000 || z != floor(z))
		return "gear_teeth must be a whole number from 2 to 10000";
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

int lg_machines_load(const char *path, struct lg_machine **out, size_t *n, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	struct lg_machine *m = NULL;
	size_t nm = 0;
	unsigned ln = 0;
	char buf[1024];
	int first = 1;

	*out = NULL;
	*n = 0;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(buf, sizeof(buf), f)) {
		struct lg_machine one;
		const char *why;
		char *p;

		ln++;
		if (!strchr(buf, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line longer than %zu characters", path, ln,
				 sizeof(buf) - 2);
			goto fail;
		}
		buf[strcspn(buf, "#\r\n")] = '\0';
		p = trim(buf);
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
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	*out = m;
	*n = nm;
	return 0;
fail:
	fclose(f);
	free(m);
	return -EINVAL;
}

const struct lg_machine *lg_machines_find(const struct lg_machine *m, size_t n, const char *device)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].name, device))
			return &m[i];
	return NULL;
}
