// SPDX-License-Identifier: MIT
/* linegate-loadgen --from's cutting of a recording in frames (bench/loadgen_files.h): a CSV
 * whose bad rows cut it in segments gives frames of whole segments only, each due when its
 * last sample falls, and a label's onset is the frame its sample is in (the next segment's
 * first where it falls in a gap or a segment's left-out tail). Exact answers. */
#include "loadgen_files.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_loadgen_files [options]\n"
	"\n"
	"linegate-loadgen --from: a recording cut in frames, segment by segment, the time each\n"
	"frame is due and the frame a label's onset falls in, against exact answers.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout \"test_loadgen_files: N checks, M failed\".\n"
	LGT_EXIT_STATUS;

/* A CSV of n rows at 100 Hz (t in s), two channels: row i is (i, -i), NaN at the rows in
 * bad[] (each such row is left out and its segment cut there). */
static int write_csv(const char *path, unsigned n, const unsigned *bad, unsigned nbad)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs("t,a,b\n", f);
	for (unsigned i = 0; i < n; i++) {
		int isbad = 0;

		for (unsigned k = 0; k < nbad; k++)
			isbad |= bad[k] == i;
		if (isbad)
			fprintf(f, "%.2f,nan,%u\n", i / 100.0, i);
		else
			fprintf(f, "%.2f,%u,-%u\n", i / 100.0, i, i);
	}
	return fclose(f) ? -errno : 0;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/lgt-loadgen-files.XXXXXX", path[64], err[512];
	/* rows 0..99: bad at 23 and 24 and 70: segments [0,23) 23 rows, [25,70) 45, [71,100) 29 */
	static const unsigned bad[] = { 23, 24, 70 };
	struct lg_lgfile f;
	struct lg_ingest_opts io = { .device = "fan" };
	float x[2 * 10];
	const char *dev, *p;
	char arg1[] = "fan=a.csv", arg2[] = "a.csv", arg3[] = "=a.csv", arg4[] = "fan=", arg5[] = "";

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK(lg_lgfile_parse_arg(arg1, &dev, &p) == 0 && !strcmp(dev, "fan") &&
	      !strcmp(p, "a.csv"));
	CHECK(lg_lgfile_parse_arg(arg2, &dev, &p) == 0 && !dev && !strcmp(p, "a.csv"));
	CHECK(lg_lgfile_parse_arg(arg3, &dev, &p) == -EINVAL);
	CHECK(lg_lgfile_parse_arg(arg4, &dev, &p) == -EINVAL);
	CHECK(lg_lgfile_parse_arg(arg5, &dev, &p) == -EINVAL);

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/m.csv", dir);
	CHECK_EQ(write_csv(path, 100, bad, 3), 0);
	CHECK_EQ(lg_lgfile_open(&f, path, &io, err, sizeof(err)), 0);
	if (lgt_failures) {
		fprintf(stderr, "%s\n", err);
		return lgt_done("test_loadgen_files");
	}
	CHECK_EQ(f.dev->nseg, 3);
	CHECK_EQ(f.dev->channels, 2);
	CHECK_NEAR(f.dev->rate, 100, 1e-9);

	CHECK(!strcmp(f.dev->name, "fan"));
	/* frames of 10: 2 of segment 1 (3 left out), 4 of segment 2 (5), 2 of segment 3 (9) */
	lg_lgfile_frames(&f, 10, 0);
	CHECK_EQ(f.frames, 8);
	CHECK_EQ(f.left_out, 3 + 5 + 9);
	CHECK_NEAR(lg_lgfile_last_end(&f), 0.71 + 0.20, 1e-9);
	/* each frame's due time and first sample (row) */
	{
		static const double due[] = { 0.10, 0.20, 0.35, 0.45, 0.55, 0.65, 0.81, 0.91 };
		static const unsigned row[] = { 0, 10, 25, 35, 45, 55, 71, 81 };

		for (unsigned k = 0; k < 8; k++) {
			CHECK_NEAR(lg_lgfile_due(&f), due[k], 1e-9);
			/* a segment's first frame after the first: the recording has a gap */
			CHECK_EQ(lg_lgfile_next(&f, x), k == 2 || k == 6);
			CHECK_NEAR(x[0], row[k], 0);      /* channel a, interleaved */
			CHECK_NEAR(x[1], -(double)row[k], 0); /* channel b */
			CHECK_NEAR(x[18], row[k] + 9, 0);  /* the frame's last sample of a */
		}
		CHECK(lg_lgfile_due(&f) < 0);
	}
	/* onsets: in a frame, on a frame's first sample, in a segment's left-out tail, in a
	 * gap, before the start, and past the last frame */
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.00), 0);
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.10), 1);  /* row 10: frame 1's first sample */
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.195), 1);
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.21), 2);  /* row 21: left out, segment 2's first */
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.235), 2); /* the gap of rows 23-24 */
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.25), 2);
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.64), 5);
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.66), 6);  /* rows 65-69 left out, 70 bad */
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.90), 7);
	CHECK_EQ(lg_lgfile_frame_at(&f, -1.0), 0);
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.91), (long long)UINT64_MAX); /* row 91: left out */
	CHECK_EQ(lg_lgfile_frame_at(&f, 5.0), (long long)UINT64_MAX);

	/* -n 5: the first five frames only; an onset in the sixth is past them */
	lg_lgfile_frames(&f, 10, 5);
	CHECK_EQ(f.frames, 5);
	CHECK_NEAR(lg_lgfile_last_end(&f), 0.55, 1e-9);
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.54), 4);
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.55), (long long)UINT64_MAX);
	for (unsigned k = 0; k < 5; k++)
		lg_lgfile_next(&f, x);
	CHECK(lg_lgfile_due(&f) < 0);

	/* frames of 30: only segment 2 holds one (45 rows) */
	lg_lgfile_frames(&f, 30, 0);
	CHECK_EQ(f.frames, 1);
	CHECK_NEAR(lg_lgfile_due(&f), 0.55, 1e-9);
	CHECK_EQ(lg_lgfile_frame_at(&f, 0.0), 0);
	/* frames of 50: none */
	lg_lgfile_frames(&f, 50, 0);
	CHECK_EQ(f.frames, 0);
	CHECK(lg_lgfile_due(&f) < 0);
	/* the same file again, as the device's next file: its own segments after the first
	 * file's (t0 from 1.00 s on), twice the frames, a gap before the 9th */
	CHECK_EQ(lg_lgfile_add(&f, path, &io, err, sizeof(err)), 0);
	CHECK_EQ(f.dev->nseg, 6);
	CHECK_EQ(f.in.nfiles, 2);
	lg_lgfile_frames(&f, 10, 0);
	CHECK_EQ(f.frames, 16);
	for (unsigned k = 0; k < 8; k++)
		lg_lgfile_next(&f, x);
	CHECK(lg_lgfile_due(&f) >= 1.0);
	CHECK_EQ(lg_lgfile_next(&f, x), 1);
	CHECK_NEAR(x[0], 0, 0);
	/* a file that cannot be read leaves the recording as it was */
	CHECK(lg_lgfile_add(&f, "/nonexistent/x.csv", &io, err, sizeof(err)) != 0);
	CHECK_EQ(f.dev->nseg, 6);
	lg_lgfile_free(&f);

	/* refused: a capture, a .npy without a rate, a file that is not there */
	CHECK(lg_lgfile_open(&f, "x.pcapng", &io, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "--backend pcap"));
	snprintf(path, sizeof(path), "%s/m.npy", dir);
	CHECK(lg_lgfile_open(&f, path, &io, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "carries no sample rate"));
	snprintf(path, sizeof(path), "%s/none.csv", dir);
	CHECK(lg_lgfile_open(&f, path, &io, err, sizeof(err)) != 0 && strstr(err, path));

	snprintf(path, sizeof(path), "%s/m.csv", dir);
	unlink(path);
	rmdir(dir);
	return lgt_done("test_loadgen_files");
}
