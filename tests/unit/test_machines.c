// SPDX-License-Identifier: MIT
/*
 * The operator's machine declarations for the impact features (control/machines.h): a
 * file read field by field, and every refusal naming FILE:LINE.
 */
#include "machines.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static void good(void)
{
	struct lg_machine *m = NULL;
	const struct lg_machine *a, *b;
	size_t n = 0;
	char err[512] = "";

	write_file("test_machines.csv",
		   "device,setpoints_hz,gear_teeth,balls,pitch_mm,ball_mm,contact_deg\n"
		   "# the press line\n"
		   "\n"
		   " press-1 , 20 25;30 , 31 , 9 , 50 , 10 , 0   # nameplate\r\n"
		   "press-2,12.5,27\n"
		   "press-3,40,55,,,,\n");
	CHECK_EQ(lg_machines_load("test_machines.csv", &m, &n, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(n, 3);
	a = lg_machines_find(m, n, "press-1");
	b = lg_machines_find(m, n, "press-2");
	CHECK(a && b && lg_machines_find(m, n, "press-3"));
	CHECK(!lg_machines_find(m, n, "press-4"));
	if (a && b) {
		CHECK_EQ(a->nsp, 3);
		CHECK_NEAR(a->sp[0], 20, 0);
		CHECK_NEAR(a->sp[1], 25, 0);
		CHECK_NEAR(a->sp[2], 30, 0);
		CHECK_EQ(a->plate.z, 31);
		CHECK_EQ(a->has_bearing, 1);
		CHECK_EQ(a->balls, 9);
		CHECK_NEAR(a->plate.bpfo, 3.6, 1e-12);
		CHECK_NEAR(a->plate.bpfi, 5.4, 1e-12);
		CHECK_EQ(a->line, 4);
		CHECK_EQ(b->nsp, 1);
		CHECK_NEAR(b->sp[0], 12.5, 0);
		CHECK_EQ(b->plate.z, 27);
		CHECK_EQ(b->has_bearing, 0);
		CHECK_NEAR(b->plate.bpfo, 0, 0);
	}
	free(m);
}

static void bad(void)
{
	static const char *const cases[][2] = {
	    {"a,20,31\na,25,31\n", "test_machines.csv:2: device a is on line 1 already"},
	    {"a,20,31,9,50,10\n", "test_machines.csv:1: want device,setpoints_hz,gear_teeth"},
	    {"a,20,31,9,50,10,0,1\n", "test_machines.csv:1: more than 7 fields"},
	    {"a,20,31,9,50,,0\n", "test_machines.csv:1: the bearing needs all of balls"},
	    {"a,20,31,9,10,50,0\n", "test_machines.csv:1: the bearing's geometry must have"},
	    {"a,20,31,2,50,10,0\n", "test_machines.csv:1: balls must be a whole number"},
	    {"a,20,31,9,50,10,90\n", "test_machines.csv:1: the bearing's geometry"},
	    {"# c\na,20 -5,31\n", "test_machines.csv:2: setpoints_hz: each set point"},
	    {"a,,31\n", "test_machines.csv:1: setpoints_hz: at least one set point"},
	    {"a,20,31.5\n", "test_machines.csv:1: gear_teeth must be a whole number"},
	    {"a,20,x\n", "test_machines.csv:1: gear_teeth must be a whole number"},
	    {"h,s,z\nb,20,x\n", "test_machines.csv:2: gear_teeth must be a whole number"},
	    {",20,31\n", "test_machines.csv:1: the device name must be 1 to 63"},
	    {"a,1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17,31\n",
	     "test_machines.csv:1: setpoints_hz: more than 16 set points"},
	};
	struct lg_machine *m = (struct lg_machine *)1;
	size_t n = 1;
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file("test_machines.csv", cases[i][0]);
		err[0] = '\0';
		CHECK_EQ(lg_machines_load("test_machines.csv", &m, &n, err, sizeof(err)), -EINVAL);
		CHECK_STR_CONTAINS(err, cases[i][1]);
		CHECK(m == NULL && n == 0);
	}
	{
		static char longl[1100];

		memset(longl, 'a', sizeof(longl) - 2);
		longl[sizeof(longl) - 2] = '\n';
		write_file("test_machines.csv", longl);
		CHECK_EQ(lg_machines_load("test_machines.csv", &m, &n, err, sizeof(err)), -EINVAL);
		CHECK_STR_CONTAINS(err, "test_machines.csv:1: line longer than");
	}
	CHECK_EQ(lg_machines_load("test_machines_none.csv", &m, &n, err, sizeof(err)), -ENOENT);
	CHECK_STR_CONTAINS(err, "test_machines_none.csv: No such file");
	remove("test_machines.csv");
}

static const char usage[] =
    "Usage: test_machines [options]\n"
    "\n"
    "The operator's machine declarations for the impact features (control/machines.h):\n"
    "a file read field by field, every refusal naming FILE:LINE.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: \"test_machines: N checks, M failed\" on stdout.\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	good();
	bad();
	return lgt_done("test_machines");
}
