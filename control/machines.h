/* SPDX-License-Identifier: MIT */
/*
 * What an operator declares of each machine for the impact features (issue 8 step 6e.2,
 * include/linegate/impact.h), read by linegate-train: a CSV, one line per device,
 *
 *     device,setpoints_hz,gear_teeth,balls,pitch_mm,ball_mm,contact_deg
 *     press-1,20 25 30,31,9,50,10,0
 *
 * setpoints_hz the speeds the machine is run at (its recipes, the PLC's set points), one or
 * more separated by spaces or ';'; gear_teeth of the gear whose mesh the sensor hears; the
 * bearing's geometry (balls, pitch and ball diameter in mm, contact angle in degrees), all
 * four or none (none: the bearing orders are not computed). '#' starts a comment; a first
 * line whose gear_teeth is not a number is a header; a UTF-8 byte order mark before the
 * first line is skipped. Errors name FILE:LINE.
 *
 * And linegate-train --shaft-hz's CSV (--window revR), one line per device, its lowest
 * shaft speed (the nameplate's or the PLC's lowest set point):
 *
 *     device,hz
 *     press-1,20
 *
 * with comments, a header on the first line (its Hz not a number) and a byte order mark as
 * above.
 */
#ifndef LG_MACHINES_H
#define LG_MACHINES_H

#include <linegate/impact.h>

#include <stddef.h>
#include <stdio.h>

#define LG_MACHINE_SP_MAX 16

struct lg_machine {
	char name[64];
	double sp[LG_MACHINE_SP_MAX];
	unsigned nsp;
	unsigned line; /* of the file */
	int has_bearing;
	unsigned balls;
	double pitch_mm, ball_mm, contact_deg;
	struct lg_imp_plate plate; /* z; bpfo, bpfi (0 without a bearing) */
};

/* The longest line each file takes, without its line end. */
#define LG_MACHINE_LINE_MAX 1022
#define LG_SHAFT_HZ_LINE_MAX 510

/* The machines of path (*out malloc'd, *n of them); -EINVAL with "path:line: why" in err. */
int lg_machines_load(const char *path, struct lg_machine **out, size_t *n, char *err,
		     size_t errlen);
/* The same from an open file (a fmemopen()ed buffer: fuzz_machines.c), named path in err. */
int lg_machines_read(FILE *f, const char *path, struct lg_machine **out, size_t *n, char *err,
		     size_t errlen);

/*
 * Each line of a --shaft-hz file: the device (not empty, blanks around it cut) and its speed
 * (above 0 Hz, at most 1 MHz) and the line's number. 0 to go on, else an error (with its
 * words in err) that ends the reading.
 */
typedef int lg_shaft_hz_fn(void *ctx, const char *device, double hz, unsigned line, char *err,
			   size_t errlen);
/* Reads f (named path in err) to its end, calling each per line: 0, or the first error
 * (-EINVAL with "path:line: why" in err, or each's). */
int lg_shaft_hz_read(FILE *f, const char *path, lg_shaft_hz_fn *each, void *ctx, char *err,
		     size_t errlen);
/* The machine named device, or NULL. */
const struct lg_machine *lg_machines_find(const struct lg_machine *m, size_t n, const char *device);

#endif
