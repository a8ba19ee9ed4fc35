// SPDX-License-Identifier: MIT
/*
 * Ingest (control/ingest.c): CSV and .npy parsed to the exact sample, the rate read from a
 * time column or given, every refusal naming the file and the position; ground-truth label
 * files; the training data digest. Known-answer files of every format (WAV, FLAC, CSV, npy,
 * pcap, pcapng made by tests/fixtures/ingest/make_ingest.py, independently of this code)
 * are checked against their expected.json when present.
 */
#include <linegate/ingest.h>

#include <linegate/frame.h>
#include <linegate/lgf.h>
#include <linegate/policy.h>

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_ingest [options]\n"
	"\n"
	"Ingest of recordings (control/ingest.c): CSV and .npy to the exact sample, sample\n"
	"rates from a time column or given, refusals naming file and position, label files,\n"
	"the data digest, and the known-answer files of tests/fixtures/ingest.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Environment:\n"
	"  LG_SOURCE     the source tree, where the fixtures are read (default: .)\n"
	"\n"
	"Output: \"test_ingest: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

static int csv(struct lg_ingest *in, const char *text, double rate, char *err, size_t errlen)
{
	struct lg_ingest_opts o = { .rate = rate, .rate_here = 1 };

	return lg_ingest_csv_mem(in, text, strlen(text), "t.csv", &o, err, errlen);
}

static int csvo(struct lg_ingest *in, const char *text, const char *name,
		const struct lg_ingest_opts *o, char *err, size_t errlen)
{
	return lg_ingest_csv_mem(in, text, strlen(text), name, o, err, errlen);
}

static void test_csv(void)
{
	struct lg_ingest in = { 0 };
	char err[512];

	/* a header with a time column: the rate comes from it, columns are channels */
	CHECK_EQ(csv(&in, "t,x,y\n0,1,-1\n0.0001,2,-2\n# note\n\n0.0002,3.5,-3.5\n", 0, err,
		     sizeof(err)), 0);
	CHECK_EQ(in.ndev, 1);
	CHECK(!strcmp(in.dev[0].name, "t"));
	CHECK_EQ(in.dev[0].rate, 10000);
	CHECK_EQ(in.dev[0].channels, 2);
	CHECK_EQ(in.dev[0].seg[0].n, 3);
	CHECK_EQ(in.dev[0].seg[0].x[2], 3.5f);
	CHECK_EQ(in.dev[0].seg[0].x[in.dev[0].seg[0].cap + 2], -3.5f);
	/* the same device again: a second segment after the first */
	CHECK_EQ(csv(&in, "t,x,y\n0,4,-4\n0.0001,5,-5\n", 0, err, sizeof(err)), 0);
	CHECK_EQ(in.dev[0].nseg, 2);
	CHECK_NEAR(in.dev[0].seg[1].t0, 0.0003, 1e-12);
	/* another rate for the same device is refused, and nothing is added */
	CHECK_EQ(csv(&in, "1\n2\n", 5000, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "10000 Hz x 2 channels in t.csv before");
	CHECK_EQ(in.dev[0].nseg, 2);
	CHECK_EQ(in.nfiles, 2); /* the refused one is not kept */
	lg_ingest_free(&in);

	/* no time column: the rate must be given */
	CHECK_EQ(csv(&in, "1\n2\n3\n", 0, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "t.csv: no sample rate");
	CHECK_EQ(csv(&in, "1;2\n3;4\n", 25600, err, sizeof(err)), 0);
	CHECK_EQ(in.dev[0].channels, 2);
	CHECK_EQ(in.dev[0].rate, 25600);
	lg_ingest_free(&in);

	/* a byte order mark before the header; a 25 600 Hz time column written with 6 decimals
	 * (steps of 39 and 40 us) is even enough; a given rate wins over the column */
	{
		char text[4096];
		size_t u = (size_t)snprintf(text, sizeof(text), "\xef\xbb\xbft,x\n");

		for (int i = 0; i < 40; i++)
			u += (size_t)snprintf(text + u, sizeof(text) - u, "%.6f,%d\n", i / 25600.0, i);
		CHECK_EQ(csv(&in, text, 0, err, sizeof(err)), 0);
		CHECK_EQ(in.dev[0].rate, 25600);
		CHECK_EQ(in.dev[0].channels, 1);
		lg_ingest_free(&in);
		CHECK_EQ(csv(&in, "t,x\n0,1\n0.1,2\n0.3,3\n", 10, err, sizeof(err)), 0);
		CHECK_EQ(in.dev[0].rate, 10);
		CHECK_EQ(in.dev[0].channels, 1);
		lg_ingest_free(&in);
	}
	/* positions: line and column of the bad cell */
	CHECK_EQ(csv(&in, "x,y\n1,2\n3,4x\n", 100, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "t.csv:3:3: not a number");
	CHECK_EQ(csv(&in, "1,2\n3\n", 100, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "t.csv:2:1: 1 columns, the rows before have 2");
	CHECK_EQ(csv(&in, "t,x\n0,1\n0.1,2\n0.3,3\n", 0, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "t.csv:4:1: time step 0.2 s, the first is 0.1 s");
	/* a NaN row is a bad sample now (test_bad_rows()), not a refusal; a NaN time is */
	CHECK_EQ(csv(&in, "t,x\n0,1\nnan,2\n", 0, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "t.csv:3:1: the time is not a finite number");
	CHECK_EQ(csv(&in, "x\n", 100, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "no samples");
	CHECK_EQ(lg_ingest_csv_mem(&in, "1\n\0", 3, "t.csv", NULL, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "NUL");
	CHECK_EQ(in.ndev, 0);
	lg_ingest_free(&in);
}

/* A .npy image: version 1.0 header padded to 128 bytes, then the data. */
static size_t npy(uint8_t *out, const char *descr, int fortran, const char *shape,
		  const void *data, size_t len)
{
	char h[160];
	int n = snprintf(h, sizeof(h), "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }",
			 descr, fortran ? "True" : "False", shape);

	while (n < 128 - 10 - 1)
		h[n++] = ' ';
	h[n++] = '\n';
	memcpy(out, "\x93NUMPY\x01\x00", 8);
	out[8] = (uint8_t)n;
	out[9] = 0;
	memcpy(out + 10, h, (size_t)n);
	memcpy(out + 10 + n, data, len);
	return 10 + (size_t)n + len;
}

static void test_npy(void)
{
	struct lg_ingest in = { 0 };
	struct lg_ingest_opts o = { .rate = 12800, .scale = 2, .device = "press" };
	const float f[6] = { 1, 2, 3, 4, 5, 6 };
	const int16_t s[3] = { -32768, 0, 32767 };
	const double d[2] = { 0.25, -0.5 };
	uint8_t buf[512];
	size_t len;
	char err[512];

	/* (3, 2) float32, C order: frames (1,2) (3,4) (5,6); times the scale */
	len = npy(buf, "<f4", 0, "(3, 2)", f, sizeof(f));
	CHECK_EQ(lg_ingest_npy_mem(&in, buf, len, "a.npy", &o, err, sizeof(err)), 0);
	CHECK(!strcmp(in.dev[0].name, "press"));
	CHECK_EQ(in.dev[0].channels, 2);
	CHECK_EQ(in.dev[0].seg[0].x[1], 6.0f);                       /* ch0, sample 1 = 3 x 2 */
	CHECK_EQ(in.dev[0].seg[0].x[in.dev[0].seg[0].cap + 2], 12.0f); /* ch1, sample 2 */
	lg_ingest_free(&in);
	/* Fortran order: channel 0 is 1,2,3 */
	o.scale = 0;
	CHECK_EQ(lg_ingest_npy_mem(&in, buf, npy(buf, "<f4", 1, "(3, 2)", f, sizeof(f)), "a.npy",
				   &o, err, sizeof(err)), 0);
	CHECK_EQ(in.dev[0].seg[0].x[1], 2.0f);
	CHECK_EQ(in.dev[0].seg[0].x[in.dev[0].seg[0].cap], 4.0f);
	lg_ingest_free(&in);
	/* int16 as counts, float64, 1-D */
	o.device = NULL;
	CHECK_EQ(lg_ingest_npy_mem(&in, buf, npy(buf, "<i2", 0, "(3,)", s, sizeof(s)),
				   "dir/pump.npy", &o, err, sizeof(err)), 0);
	CHECK(!strcmp(in.dev[0].name, "pump"));
	CHECK_EQ(in.dev[0].seg[0].x[0], -32768.0f);
	CHECK_EQ(lg_ingest_npy_mem(&in, buf, npy(buf, "<f8", 0, "(2,)", d, sizeof(d)), "v.npy", &o,
				   err, sizeof(err)), 0);
	CHECK_EQ(in.dev[1].seg[0].x[1], -0.5f);
	lg_ingest_free(&in);
	/* refusals with the byte offset */
	CHECK_EQ(lg_ingest_npy_mem(&in, (const uint8_t *)"NUMPY.....", 10, "b.npy", &o, err,
				   sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "b.npy:0: not a .npy file");
	CHECK_EQ(lg_ingest_npy_mem(&in, buf, npy(buf, "<c8", 0, "(3,)", f, 24), "b.npy", &o, err,
				   sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "b.npy:20: dtype <c8: linegate reads float32");
	CHECK_EQ(lg_ingest_npy_mem(&in, buf, npy(buf, "<f4", 0, "(30,)", f, sizeof(f)), "b.npy", &o,
				   err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "b.npy:128: 30 samples of 4 bytes announced, 24 bytes there");
	CHECK_EQ(lg_ingest_npy_mem(&in, buf, npy(buf, "<f4", 0, "(1, 2, 3)", f, sizeof(f)), "b.npy",
				   &o, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "shape: linegate reads (samples,) or (samples, channels)");
	o.rate = 0;
	CHECK_EQ(lg_ingest_npy_mem(&in, buf, npy(buf, "<f4", 0, "(3, 2)", f, sizeof(f)), "b.npy",
				   &o, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "carries no sample rate");
	CHECK_EQ(in.ndev, 0);
	lg_ingest_free(&in);
	{
		/* a NaN sample row: dropped, the segment cut there (was: the file refused) */
		const float bad[4] = { 1, NAN, 3, 4 };

		o.rate = 100;
		CHECK_EQ(lg_ingest_npy_mem(&in, buf, npy(buf, "<f4", 0, "(4,)", bad, sizeof(bad)),
					   "b.npy", &o, err, sizeof(err)), 0);
		CHECK_EQ(in.dev[0].nseg, 2);
		CHECK_EQ(in.dev[0].seg[0].n, 1);
		CHECK_EQ(in.dev[0].seg[1].n, 2);
		CHECK_NEAR(in.dev[0].seg[1].t0, 0.02, 1e-12);
		CHECK_EQ(in.bad.dropped, 1);
		CHECK_STR_CONTAINS(in.bad.first, "byte 132 (sample 1: row 1, channel 0)");
		/* every row bad: refused, saying where the first was */
		const float allbad[2] = { NAN, INFINITY };

		CHECK_EQ(lg_ingest_npy_mem(&in, buf, npy(buf, "<f4", 0, "(2,)", allbad,
							 sizeof(allbad)), "c.npy", &o, err,
					   sizeof(err)), -EINVAL);
		CHECK_STR_CONTAINS(err, "c.npy: every one of its 2 sample rows holds a NaN");
		CHECK_EQ(in.ndev, 1);
		lg_ingest_free(&in);
	}
}

/*
 * Bad samples (trial s20 H H2): a NaN, +-Inf or out-of-range sample is treated as the data
 * plane treats it (dataplane/window.c lg_window_add_frame()), in every format: under drop the
 * frame (a file's sample row) is left out and no segment (so no window) spans the gap, under
 * mask each bad sample becomes its channel's last good value; counted, with where the first
 * was. Before: a CSV/npy/WAV was refused whole, a pcap's NaN reached the windows.
 */
static void test_bad_rows(void)
{
	struct lg_ingest in = { 0 };
	struct lg_ingest_opts o = { .rate = 100, .rate_here = 1 };
	struct lg_policy_device pd = { 0 };
	struct lg_policy pol = { 0 };
	const struct lg_ingest_seg *s;
	char err[512];

	/* drop: line 3's row out, the rows after it a new segment at their own time */
	CHECK_EQ(csvo(&in, "x,y\n1,2\n3,nan\n5,6\n7,8\n", "t.csv", &o, err,
				   sizeof(err)), 0);
	CHECK_EQ(in.dev[0].nseg, 2);
	CHECK_EQ(in.dev[0].seg[0].n, 1);
	CHECK_EQ(in.dev[0].seg[1].n, 2);
	CHECK_NEAR(in.dev[0].seg[1].t0, 0.02, 1e-12);
	CHECK_EQ(in.dev[0].seg[1].x[0], 5.0f);
	CHECK_EQ(in.bad.dropped, 1);
	CHECK_EQ(in.st.bad_dropped, 1);
	CHECK_STR_CONTAINS(in.bad.first, "line 3, column 2");
	CHECK_EQ(in.st.samples, 3);
	lg_ingest_free(&in);
	/* mask: each bad sample its channel's last good value (0 before any) */
	o.bad_samples = LG_BAD_SAMPLES_MASK;
	CHECK_EQ(csvo(&in, "-inf,2\n3,nan\n5,6\n", "t.csv", &o, err,
				   sizeof(err)), 0);
	s = &in.dev[0].seg[0];
	CHECK_EQ(in.dev[0].nseg, 1);
	CHECK_EQ(s->n, 3);
	CHECK_EQ(s->x[0], 0.0f);
	CHECK_EQ(s->x[s->cap + 1], 2.0f);
	CHECK_EQ(in.bad.masked, 2);
	CHECK_EQ(in.bad.dropped, 0);
	CHECK_STR_CONTAINS(in.bad.first, "line 1, column 1");
	lg_ingest_free(&in);
	/* a device's policy 'range' bounds its samples, as the data plane's (its name: the
	 * file's stem, t) */
	snprintf(pd.name, sizeof(pd.name), "t");
	pd.has_range = true;
	pd.range_min = -10;
	pd.range_max = 10;
	pol.devices = &pd;
	pol.ndevices = 1;
	o.policy = &pol;
	o.bad_samples = LG_BAD_SAMPLES_DROP;
	CHECK_EQ(csvo(&in, "1\n11\n2\n", "t.csv", &o, err, sizeof(err)), 0);
	CHECK_EQ(in.dev[0].nseg, 2);
	CHECK_EQ(in.st.bad_dropped, 1);
	lg_ingest_free(&in);
	/* the notes say each file's channels, for the tools to print */
	o.policy = NULL;
	CHECK_EQ(csvo(&in, "t,a,b\n0,1,2\n0.01,3,4\n", "t.csv", &o, err,
				   sizeof(err)), 0);
	CHECK(in.notes != NULL);
	if (in.notes)
		CHECK_STR_CONTAINS(in.notes, "t.csv: device t: 2 channel(s): ch0 = column 2 'a', "
				   "ch1 = column 3 'b'; 100 Hz (--sample-rate; time column 1 't'");
	lg_ingest_free(&in);
}

/* How lgf_pcap() numbers and stamps frame k (of samples k * count ...): its sequence, its
 * timestamp, and whether it is a heartbeat (no samples). NULL: k + 1, on the samples' clock. */
struct lgf_way {
	uint64_t (*seq)(unsigned k);
	uint64_t (*ts)(unsigned k, unsigned count);
	bool (*heartbeat)(unsigned k);
};
static const struct lgf_way *lgf_way;

/* An Ethernet/IPv4/UDP pcap of LGF frames (float32, one channel, 1 kHz) to port 4739,
 * frames first .. nframes - 1 of the stream lgf_way says. */
static void lgf_pcap_part(const char *path, unsigned first, unsigned nframes, unsigned count,
			  unsigned nan_frame, unsigned nan_at)
{
	static const uint8_t key[LG_KEY_LEN];
	FILE *f = fopen(path, "wb");
	const uint32_t gh[6] = { 0xa1b2c3d4, 2 | 4u << 16, 0, 0, 65535, 1 };
	const struct lgf_way *way = lgf_way;

	CHECK(f != NULL);
	if (!f)
		return;
	fwrite(gh, sizeof(gh), 1, f);
	for (unsigned k = first; k < nframes; k++) {
		float x[256];
		uint8_t pkt[2048] = { 0 }, *ip = pkt + 14, *udp = ip + 20;
		bool hb = way && way->heartbeat && way->heartbeat(k);
		struct lg_lgf_build b = {
			.device_id = 7, .key_id = 1,
			.type = hb ? LGF_TYPE_HEARTBEAT : LGF_TYPE_SAMPLES,
			.sample_format = LGF_FMT_F32, .channels = 1,
			.sample_count = hb ? 0 : (uint16_t)count, .sample_rate = 1000, .scale = 1,
			.sequence = way && way->seq ? way->seq(k) : k + 1,
			.timestamp_ns = way && way->ts ? way->ts(k, count) :
				1000000000ull + (uint64_t)k * count * 1000000ull,
			.samples = x,
		};
		uint32_t rh[4], sum = 0;
		int n;

		for (unsigned i = 0; i < count; i++)
			x[i] = (float)(k * count + i);
		if (k == nan_frame)
			x[nan_at] = NAN;
		n = lg_lgf_encode(&b, key, sizeof(key), udp + 8, sizeof(pkt) - 42);
		CHECK(n > 0);
		if (n <= 0)
			break;
		pkt[12] = 0x08;
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + 8 + n) >> 8);
		ip[3] = (uint8_t)(20 + 8 + n);
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
		for (int i = 0; i < 20; i += 2)
			sum += (uint32_t)ip[i] << 8 | ip[i + 1];
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		ip[10] = (uint8_t)(~sum >> 8);
		ip[11] = (uint8_t)~sum;
		udp[0] = 0x9c;
		udp[1] = 0x40;
		udp[2] = 4739 >> 8;
		udp[3] = 4739 & 0xff;
		udp[4] = (uint8_t)((8 + n) >> 8);
		udp[5] = (uint8_t)(8 + n);
		rh[0] = 1 + k;
		rh[1] = 0;
		rh[2] = rh[3] = (uint32_t)(42 + n);
		fwrite(rh, sizeof(rh), 1, f);
		fwrite(pkt, 1, (size_t)(42 + n), f);
	}
	fclose(f);
}

static void lgf_pcap(const char *path, unsigned nframes, unsigned count, unsigned nan_frame,
		     unsigned nan_at)
{
	lgf_pcap_part(path, 0, nframes, count, nan_frame, nan_at);
}

/* A pcap's NaN frame: dropped (the next frame starts a segment, not counted as a gap) or
 * masked, counted with its record, as the data plane does (before: into the windows). */
static void test_bad_lgf(void)
{
	struct lg_ingest in = { 0 };
	struct lg_ingest_opts o = { .port = 4739 };
	const char *path = "test_ingest_nan.pcap";
	const struct lg_ingest_seg *s;
	char err[1024];

	lgf_pcap(path, 6, 64, 2, 10);
	CHECK_EQ(lg_ingest_file(&in, path, &o, err, sizeof(err)), 0);
	CHECK_EQ(in.ndev, 1);
	if (in.ndev == 1) {
		CHECK_EQ(in.dev[0].nseg, 2);
		CHECK_EQ(in.dev[0].seg[0].n, 128);
		CHECK_EQ(in.dev[0].nseg == 2 ? in.dev[0].seg[1].n : 0, 192);
		CHECK_NEAR(in.dev[0].nseg == 2 ? in.dev[0].seg[1].t0 : 0, 0.192, 1e-9);
		CHECK_EQ(in.dev[0].nseg == 2 ? in.dev[0].seg[1].x[0] : 0, 192.0f);
	}
	CHECK_EQ(in.st.gaps, 0);
	CHECK_EQ(in.st.frames, 5);
	CHECK_EQ(in.bad.dropped, 1);
	CHECK_STR_CONTAINS(in.bad.first, "record 3 (device dev7, sequence 3)");
	lg_ingest_free(&in);
	o.bad_samples = LG_BAD_SAMPLES_MASK;
	CHECK_EQ(lg_ingest_file(&in, path, &o, err, sizeof(err)), 0);
	s = in.ndev ? &in.dev[0].seg[0] : NULL;
	CHECK_EQ(in.ndev ? in.dev[0].nseg : 0, 1);
	CHECK_EQ(s ? s->n : 0, 384);
	CHECK_EQ(s ? s->x[128 + 10] : 0, 137.0f); /* sample 9 of the frame: its last good */
	CHECK_EQ(in.bad.masked, 1);
	lg_ingest_free(&in);
	unlink(path);
}

/* Streams as lgf_pcap() writes them under lgf_way: 64 samples (64 ms) a frame. */
static uint64_t ts_fast(unsigned k, unsigned count) /* sent 4x faster than measured */
{
	return 1000000000ull + (uint64_t)k * count * 250000ull;
}
static uint64_t seq_lost10(unsigned k) /* frame 11 lost: 1..10, 12.. */
{
	return k < 10 ? k + 1 : k + 2;
}
static uint64_t ts_lost10(unsigned k, unsigned count) /* on its clock, 11's time skipped */
{
	return 1000000000ull + (seq_lost10(k) - 1) * count * 1000000ull;
}
static bool hb_third(unsigned k) /* every third frame a heartbeat */
{
	return k % 3 == 2;
}
static uint64_t ts_hb(unsigned k, unsigned count) /* the samples frames back to back */
{
	return 1000000000ull + (uint64_t)(k - (k + 1) / 3) * count * 1000000ull;
}
static uint64_t ts_pause(unsigned k, unsigned count) /* steady, then stopped for 3 s */
{
	return 1000000000ull + (uint64_t)k * count * 1000000ull + (k < 10 ? 0 : 3000000000ull);
}

/* nframes frames of 64 samples written to path the way way says, and read into in (fresh). */
static void read_way(struct lg_ingest *in, const struct lgf_way *way, unsigned nframes,
		     const char *path, const struct lg_ingest_opts *o)
{
	char err[1024];

	lgf_way = way;
	lgf_pcap(path, nframes, 64, ~0u, 0);
	memset(in, 0, sizeof(*in));
	CHECK_EQ(lg_ingest_file(in, path, o, err, sizeof(err)), 0);
}

/*
 * A capture is cut into runs of consecutive samples by the data plane's rule
 * (<linegate/follow.h>): a sequence gap or a steady clock's pause; not stamps closer than
 * the samples (trial X2, s26: a recording sent with --pace 4 became 0 windows: every frame a
 * segment of its own, "record longer"), not heartbeats between frames, not the next file of
 * a rotated recording.
 */
static void test_follow(void)
{
	static const struct lgf_way fast = { .ts = ts_fast }, lost = { seq_lost10, ts_lost10, NULL },
				    hb = { NULL, ts_hb, hb_third }, pause = { .ts = ts_pause };
	struct lg_ingest_opts o = { .port = 4739 };
	const char *a = "test_ingest_fa.pcap", *b = "test_ingest_fb.pcap";
	struct lg_ingest in;
	char err[1024];

	read_way(&in, &fast, 20, a, &o);
	CHECK_EQ(in.ndev ? in.dev[0].nseg : 0, 1);
	CHECK_EQ(in.ndev ? in.dev[0].seg[0].n : 0, 1280);
	CHECK_EQ(in.st.gaps, 0);
	lg_ingest_free(&in);

	read_way(&in, &lost, 20, a, &o);
	CHECK_EQ(in.ndev ? in.dev[0].nseg : 0, 2);
	if (in.ndev && in.dev[0].nseg == 2) {
		CHECK_EQ(in.dev[0].seg[0].n, 640);
		CHECK_EQ(in.dev[0].seg[1].n, 640);
		CHECK_NEAR(in.dev[0].seg[1].t0, 0.704, 1e-9); /* the lost frame's time kept */
		CHECK_EQ(in.dev[0].seg[1].x[0], 640.0f);
	}
	CHECK_EQ(in.st.gaps, 1);
	lg_ingest_free(&in);

	/* lost, and sent 4x faster: where its sequence puts it, not its stamp */
	{
		static const struct lgf_way lost_fast = { seq_lost10, ts_fast, NULL };

		read_way(&in, &lost_fast, 20, a, &o);
		CHECK_EQ(in.ndev ? in.dev[0].nseg : 0, 2);
		CHECK_NEAR(in.ndev && in.dev[0].nseg == 2 ? in.dev[0].seg[1].t0 : 0, 0.704, 1e-9);
		lg_ingest_free(&in);
	}

	read_way(&in, &hb, 21, a, &o);
	CHECK_EQ(in.ndev ? in.dev[0].nseg : 0, 1);
	CHECK_EQ(in.ndev ? in.dev[0].seg[0].n : 0, 14 * 64);
	CHECK_EQ(in.st.frames, 14);
	CHECK_EQ(in.st.gaps, 0);
	lg_ingest_free(&in);

	read_way(&in, &pause, 20, a, &o);
	CHECK_EQ(in.ndev ? in.dev[0].nseg : 0, 2);
	CHECK_NEAR(in.ndev && in.dev[0].nseg == 2 ? in.dev[0].seg[1].t0 : 0, 3.640, 1e-9);
	CHECK_EQ(in.st.gaps, 1);
	lg_ingest_free(&in);

	/* a recording rotated into two files: one stream, one segment; each file's note says
	 * what it gave */
	lgf_way = NULL;
	lgf_pcap_part(a, 0, 10, 64, ~0u, 0);
	lgf_pcap_part(b, 10, 20, 64, ~0u, 0);
	memset(&in, 0, sizeof(in));
	CHECK_EQ(lg_ingest_file(&in, a, &o, err, sizeof(err)), 0);
	CHECK_EQ(lg_ingest_file(&in, b, &o, err, sizeof(err)), 0);
	CHECK_EQ(in.ndev ? in.dev[0].nseg : 0, 1);
	if (in.ndev && in.dev[0].nseg == 1) {
		CHECK_EQ(in.dev[0].seg[0].n, 1280);
		CHECK_EQ(in.dev[0].seg[0].file, 0);
		CHECK_EQ(in.dev[0].seg[0].file_last, 1);
	}
	CHECK_EQ(in.st.gaps, 0);
	CHECK_STR_CONTAINS(in.notes ? in.notes : "", "test_ingest_fb.pcap: device dev7: 1 channel(s)");
	CHECK_STR_CONTAINS(in.notes ? in.notes : "", "0.6 s in 1 segment(s)");
	lg_ingest_free(&in);
	unlink(a);
	unlink(b);
}

/*
 * CSV time columns as a plant's files name them (trial s20 H H5, L3, L4, L5): with units,
 * scaled; a first column that rises like a clock under another name is refused, not read
 * as a channel; the no-rate refusal names every accepted name; a decimal comma is hinted; a
 * last row without a line end is refused (or left out with allow_cut, said).
 */
static void test_csv_time(void)
{
	static const char *const heads[][2] = {
		{ "Time (s)", "1" }, { "t [s]", "1" }, { "time_ms", "1e3" }, { "Zeit", "1" },
		{ "timestamp", "1" }, { "TIME [us]", "1e6" }, { "\"t (ms)\"", "1e3" },
	};
	struct lg_ingest in = { 0 };
	struct lg_ingest_opts o = { 0 };
	char text[8192], err[1024];
	size_t u;

	for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
		double k = atof(heads[h][1]);

		u = (size_t)snprintf(text, sizeof(text), "%s,x\n", heads[h][0]);
		for (int i = 0; i < 40; i++)
			u += (size_t)snprintf(text + u, sizeof(text) - u, "%.9g,%d\n",
					      i / 2048.0 * k, i % 7);
		CHECK_EQ(lg_ingest_csv_mem(&in, text, u, "h.csv", &o, err, sizeof(err)), 0);
		CHECK_EQ(in.ndev ? in.dev[0].rate : 0, 2048);
		CHECK_EQ(in.ndev ? in.dev[0].channels : 0, 1);
		lg_ingest_free(&in);
	}
	/* an unknown name rising like a clock, at a given rate: refused, naming the names */
	u = (size_t)snprintf(text, sizeof(text), "Uhrzeit,x\n");
	for (int i = 0; i < 40; i++)
		u += (size_t)snprintf(text + u, sizeof(text) - u, "%.9g,%d\n", 5 + i / 2048.0, i % 7);
	o.rate = 2048;
	CHECK_EQ(lg_ingest_csv_mem(&in, text, u, "h.csv", &o, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "h.csv: column 1 ('Uhrzeit') rises evenly");
	CHECK_STR_CONTAINS(err, "t, time, zeit or timestamp");
	CHECK_EQ(in.ndev, 0);
	/* without a rate: the no-rate refusal names them, and the clock-like column */
	o.rate = 0;
	CHECK_EQ(lg_ingest_csv_mem(&in, text, u, "h.csv", &o, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "no sample rate: give one (--sample-rate) or a time column named "
			   "t, time, zeit or timestamp, in seconds or with a unit (s, ms, us, ns)");
	CHECK_STR_CONTAINS(err, "column 1 ('Uhrzeit') rises evenly");
	/* a ramp of other steps is a channel */
	o.rate = 1000;
	CHECK_EQ(lg_ingest_csv_mem(&in, text, u, "h.csv", &o, err, sizeof(err)), 0);
	CHECK_EQ(in.ndev ? in.dev[0].channels : 0, 2);
	lg_ingest_free(&in);
	/* --sample-rate over a time column: said */
	CHECK_EQ(csvo(&in, "t,x\n0,1\n0.001,2\n", "r.csv", &o, err,
				   sizeof(err)), 0);
	CHECK(in.notes && strstr(in.notes, "WARNING: r.csv: its time column 1 ('t') gives 1000 "
				 "Hz") == NULL);
	lg_ingest_free(&in);
	o.rate = 25600;
	o.rate_here = 1;
	CHECK_EQ(csvo(&in, "t,x\n0,1\n0.001,2\n", "r.csv", &o, err,
				   sizeof(err)), 0);
	CHECK(in.notes != NULL);
	if (in.notes)
		CHECK_STR_CONTAINS(in.notes, "WARNING: r.csv: its time column 1 ('t') gives 1000 "
				   "Hz; --sample-rate 25600 overrides it");
	lg_ingest_free(&in);
	/* ... unless it was given for files before this one: the column's rate, said */
	o.rate_here = 0;
	CHECK_EQ(csvo(&in, "t,x\n0,1\n0.001,2\n", "r.csv", &o, err, sizeof(err)), 0);
	CHECK_EQ(in.ndev ? in.dev[0].rate : 0, 1000);
	if (in.notes)
		CHECK_STR_CONTAINS(in.notes, "r.csv: 1000 Hz, its time column's: --sample-rate "
				   "25600 was given for files before it");
	lg_ingest_free(&in);
	o.rate_here = 1;
	/* a decimal comma: hinted */
	CHECK_EQ(csvo(&in, "t;x;y\n0,000049;0,1;0,2\n", "d.csv", &o, err,
				   sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "d.csv:2:1: a decimal comma? this row holds both");
	CHECK_EQ(csvo(&in, "0,5;1,25\n", "d.csv", &o, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "d.csv:1:1: a decimal comma?");
	/* one column with a decimal comma, no ';' (trial W, s25: read as two channels, the
	 * integer part and the fraction's digits): no '.' anywhere and a fraction with a
	 * leading 0, or a "-0"; refused, naming the field; with a header, the column count */
	CHECK_EQ(csvo(&in, "0,010000\n0,015812\n1,5\n", "n.csv", &o, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "n.csv:1:2: '010000' and no number with a '.' in the file: a "
				"decimal comma");
	CHECK_EQ(csvo(&in, "1,5\n-0,5\n", "n.csv", &o, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "n.csv:2:1: '-0' and no number");
	CHECK_EQ(csvo(&in, "accel\n0,5\n", "n.csv", &o, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "n.csv:2:1: 2 columns, the rows before have 1 (a decimal comma?");
	/* whole numbers in two columns, no header, the second never negative: a decimal
	 * comma's "4,8" (trial W2, s25: one decimal, no leading 0); with a header, or a
	 * negative second column, or ';' between them, or a '.' somewhere: read as they are */
	CHECK_EQ(csvo(&in, "4,8\n5,0\n100,232\n", "k.csv", &o, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "k.csv: two columns of whole numbers, no header, no '.' in the "
				"file and the second column never negative: a decimal comma");
	CHECK_EQ(csvo(&in, "a,b\n1,5\n2,7\n", "i.csv", &o, err, sizeof(err)), 0);
	CHECK_EQ(csvo(&in, "1,5\n2,-7\n", "i2.csv", &o, err, sizeof(err)), 0);
	CHECK_EQ(csvo(&in, "1;5\n2;7\n", "i3.csv", &o, err, sizeof(err)), 0);
	/* the device a file names: one stem for the trainer, the sender and the policy rate */
	{
		char stem[LG_INGEST_NAME_MAX];

		lg_ingest_stem("/plant/fan2.2026-12.wav", stem, sizeof(stem));
		CHECK(!strcmp(stem, "fan2"));
		lg_ingest_stem("press-1.npy", stem, sizeof(stem));
		CHECK(!strcmp(stem, "press-1"));
		CHECK(lg_ingest_is_capture("rec/line.PCAPNG") && lg_ingest_is_capture("a.cap") &&
		      lg_ingest_is_capture("rec/x.pcapng.part"));
		CHECK(!lg_ingest_is_capture("my.capacitor.wav") && !lg_ingest_is_capture("a.pcap.csv"));
	}
	CHECK_EQ(csvo(&in, "t\tx\n0\t4,8\n", "tab.csv", &o, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "(a tab between columns?");
	CHECK_EQ(csvo(&in, "0.5,05\n1,7\n", "j.csv", &o, err, sizeof(err)), 0);
	lg_ingest_free(&in);
	/* cut inside its last row: refused; allow_cut reads the rows before it, said */
	CHECK_EQ(csvo(&in, "x\n1\n2\n-0.07", "c.csv", &o, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "c.csv:4: the last row has no line end: a copy cut short");
	o.allow_cut = 1;
	CHECK_EQ(csvo(&in, "x\n1\n2\n-0.07", "c.csv", &o, err, sizeof(err)), 0);
	CHECK_EQ(in.ndev ? in.dev[0].seg[0].n : 0, 2);
	CHECK(in.notes != NULL);
	if (in.notes)
		CHECK_STR_CONTAINS(in.notes, "WARNING: c.csv:4: the last row has no line end");
	lg_ingest_free(&in);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static void test_labels(void)
{
	struct lg_labels l;
	char err[512];

	write_file("test_ingest_labels.csv",
		   "device,kind,onset,end\n# comment\npress1,outer_race,12.5,\n\npress2,imbalance,3,9\n");
	CHECK_EQ(lg_labels_load("test_ingest_labels.csv", &l, err, sizeof(err)), 0);
	CHECK_EQ(l.n, 2);
	CHECK_EQ(lg_labels_find(&l, "press1")->onset, 12.5);
	CHECK_EQ(lg_labels_find(&l, "press1")->end, -1);
	CHECK_EQ(lg_labels_find(&l, "press2")->end, 9);
	CHECK(!lg_labels_find(&l, "press3"));
	lg_labels_free(&l);
	write_file("test_ingest_labels.csv", "device,kind,onset\npress1,x,1\npress2,y,-2\n");
	CHECK_EQ(lg_labels_load("test_ingest_labels.csv", &l, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "test_ingest_labels.csv:3:10: onset");
	write_file("test_ingest_labels.csv", "dev,kind,onset\n");
	CHECK_EQ(lg_labels_load("test_ingest_labels.csv", &l, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, ":1:1: the first row must be the header");
	write_file("test_ingest_labels.csv", "device,kind,onset,end\na,b,5,4\n");
	CHECK_EQ(lg_labels_load("test_ingest_labels.csv", &l, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, ":2:7: end");
	/* a kind too long is said as the kind, where it starts (trial W, s25: "device and
	 * kind are needed") */
	write_file("test_ingest_labels.csv",
		   "device,kind,onset\npress1,cavitation with strong impacts in stage 2,1\n");
	CHECK_EQ(lg_labels_load("test_ingest_labels.csv", &l, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, ":2:8: kind: 1..31 characters (bytes), this one has 41");
	write_file("test_ingest_labels.csv", "device,kind,onset\np,\"a,b\",1,2,3\n");
	CHECK_EQ(lg_labels_load("test_ingest_labels.csv", &l, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "more than 4 columns (device, kind, onset, end; fields are split "
				"at every ',': no quoting)");
	CHECK_EQ(lg_labels_load("test_ingest_nothing.csv", &l, err, sizeof(err)), -ENOENT);
}

static void test_digest(void)
{
	struct lg_ingest a = { 0 }, b = { 0 };
	char ha[65], hb[65], err[256];

	CHECK_EQ(csv(&a, "1\n2\n3\n", 100, err, sizeof(err)), 0);
	CHECK_EQ(csv(&b, "1\n2\n3\n", 100, err, sizeof(err)), 0);
	lg_ingest_digest(&a, ha);
	lg_ingest_digest(&b, hb);
	CHECK(!strcmp(ha, hb));
	CHECK_EQ(strlen(ha), 64);
	lg_ingest_free(&b);
	CHECK_EQ(csv(&b, "1\n2\n3.0001\n", 100, err, sizeof(err)), 0);
	lg_ingest_digest(&b, hb);
	CHECK(strcmp(ha, hb));
	lg_ingest_free(&b);
	CHECK_EQ(csv(&b, "1\n2\n3\n", 200, err, sizeof(err)), 0);
	lg_ingest_digest(&b, hb);
	CHECK(strcmp(ha, hb)); /* the rate is part of what was trained on */
	lg_ingest_free(&a);
	lg_ingest_free(&b);
}

static char fix[600];

/* Every sample of dev equals the fixture's value table (exactly: each value is a float). */
static void check_values(const struct lg_ingest_dev *d, json_object *vals, double scale)
{
	size_t n = json_object_array_length(vals), bad = 0;

	CHECK_EQ(d->nseg >= 1, 1);
	{
		size_t total = 0;

		for (size_t s = 0; s < d->nseg; s++)
			total += d->seg[s].n;
		CHECK_EQ(total, n);
	}
	for (size_t i = 0, s = 0, k = 0; i < n && s < d->nseg; i++, k++) {
		json_object *row = json_object_array_get_idx(vals, i);

		if (k == d->seg[s].n) {
			s++;
			k = 0;
		}
		for (unsigned c = 0; c < d->channels; c++) {
			double want = json_object_get_double(json_object_array_get_idx(row, c)) * scale;

			bad += d->seg[s].x[c * d->seg[s].cap + k] != (float)want;
		}
	}
	CHECK_EQ(bad, 0);
}

/*
 * The same capture cut 10 bytes into its last record (a copy cut short): refused, saying
 * how (and without the pcap backend's own cut=stop advice); with allow_cut, read up to the
 * cut, the first two frames' samples exactly, the cut record counted (cut_short).
 */
static void check_cut(const char *path, const struct lg_ingest_opts *opts,
		      const struct lg_ingest_dev *whole)
{
	struct lg_ingest_opts cut = *opts, *o = &cut;
	const char *ext = strrchr(path, '.');
	char tmp[64], err[1024];
	struct lg_ingest in = { 0 };
	uint8_t *buf;
	size_t len, per;
	long last = -1;
	FILE *f = fopen(path, "rb");
	int fd;

	CHECK(f != NULL);
	if (!f)
		return;
	buf = malloc(1 << 20);
	len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	/* the last record's start: pcap record headers are 16 bytes, pcapng blocks carry
	 * their length; find it by reading the file as written by make_ingest.py */
	if (len >= 24 && (buf[0] == 0xd4 || buf[0] == 0xa1 || buf[0] == 0x4d)) {
		size_t off = 24;

		while (off + 16 <= len) {
			uint32_t incl = buf[off + 8] | buf[off + 9] << 8 | buf[off + 10] << 16 |
					(uint32_t)buf[off + 11] << 24;

			last = (long)off;
			off += 16 + incl;
		}
	} else {
		size_t off = 0;

		while (off + 12 <= len) {
			uint32_t type = buf[off] | buf[off + 1] << 8, blen = buf[off + 4] |
					buf[off + 5] << 8 | buf[off + 6] << 16 |
					(uint32_t)buf[off + 7] << 24;

			if (type == 6)
				last = (long)off;
			if (blen < 12)
				break;
			off += blen;
		}
	}
	CHECK(last > 0);
	snprintf(tmp, sizeof(tmp), "/tmp/lg-ingest-cut-XXXXXX%s", ext ? ext : "");
	fd = mkstemps(tmp, ext ? (int)strlen(ext) : 0);
	CHECK(fd >= 0);
	if (last > 0 && fd >= 0 && write(fd, buf, (size_t)last + 30) == (ssize_t)last + 30) {
		cut.allow_cut = 0;
		CHECK(lg_ingest_file(&in, tmp, o, err, sizeof(err)) < 0);
		CHECK(strstr(err, "record 3 cannot be read") != NULL);
		CHECK(strstr(err, "give --allow-cut to use what is there") != NULL);
		CHECK(strstr(err, "cut=stop") == NULL);
		CHECK_EQ(in.ndev, 0);
		cut.allow_cut = 1;
		CHECK_EQ(lg_ingest_file(&in, tmp, o, err, sizeof(err)), 0);
		CHECK_EQ(in.st.frames, 2);
		CHECK_EQ(in.st.cut_short, 1);
		CHECK_EQ(in.ndev, 1);
		if (in.ndev == 1 && in.dev[0].nseg == 1 && whole->nseg == 1) {
			const struct lg_ingest_seg *a = &in.dev[0].seg[0], *b = &whole->seg[0];

			per = b->n / 3; /* three frames of the same length */
			CHECK_EQ(a->n, 2 * per);
			for (unsigned c = 0; c < whole->channels && a->n == 2 * per; c++)
				CHECK(!memcmp(a->x + c * a->cap, b->x + c * b->cap,
					      2 * per * sizeof(*a->x)));
		} else {
			CHECK(0);
		}
		lg_ingest_free(&in);
	}
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(buf);
}

/* The fixtures' policy with its keys copied to a private folder, mode 0600. */
static int fixture_policy(struct lg_policy *p)
{
	char cmd[2048], err[512];

	snprintf(cmd, sizeof(cmd), "rm -rf test_ingest_pol && mkdir -p test_ingest_pol/keys && "
		 "cp %s/policy.yaml test_ingest_pol/ && cp %s/keys/*.key test_ingest_pol/keys/ && "
		 "chmod 600 test_ingest_pol/keys/*.key", fix, fix);
	if (system(cmd))
		return -1;
	if (lg_policy_load("test_ingest_pol/policy.yaml", p, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static void test_known(void)
{
	char path[700], err[512];
	json_object *exp, *files, *values, *broken;
	struct lg_policy pol;
	int have_pol;

	snprintf(path, sizeof(path), "%s/expected.json", fix);
	exp = json_object_from_file(path);
	CHECK(exp != NULL);
	if (!exp)
		return;
	CHECK(json_object_object_get_ex(exp, "files", &files));
	CHECK(json_object_object_get_ex(exp, "values", &values));
	CHECK(json_object_object_get_ex(exp, "broken", &broken));
	have_pol = !fixture_policy(&pol);
	CHECK(have_pol);
	json_object_object_foreach(files, name, f)
	{
		json_object *v, *vals;
		const char *fmt = json_object_get_string(json_object_object_get(f, "format"));
		struct lg_ingest in = { 0 };
		struct lg_ingest_opts o = { 0 };
		double scale = 1;
		int pcap = !strcmp(fmt, "pcap") || !strcmp(fmt, "pcapng");

		snprintf(path, sizeof(path), "%s/%s", fix, name);
		v = json_object_object_get(f, "sample_rate");
		if (!v || json_object_is_type(v, json_type_null))
			o.rate = 12800; /* the file has none: given */
		if (!strcmp(json_object_get_string(json_object_object_get(f, "values")), "int16"))
			scale = 1.0 / 32768; /* raw counts: the reader is told the full scale */
		o.scale = scale == 1 ? 0 : scale;
		if (pcap)
			o.port = 4739; /* without a policy: named by id, tags unchecked */
		if (lg_ingest_file(&in, path, &o, err, sizeof(err))) {
			fprintf(stderr, "%s: %s\n", name, err);
			CHECK(0);
			continue;
		}
		CHECK_EQ(in.ndev, 1);
		CHECK_EQ(in.dev[0].channels,
			 (unsigned)json_object_get_int(json_object_object_get(f, "channels")));
		CHECK_EQ(in.dev[0].rate, v && !json_object_is_type(v, json_type_null) ?
						 json_object_get_double(v) : 12800);
		vals = json_object_object_get(values, json_object_get_string(
						 json_object_object_get(f, "values")));
		check_values(&in.dev[0], vals, scale);
		if (pcap) {
			CHECK(!strcmp(in.dev[0].name, "dev31001"));
			CHECK_EQ(in.st.frames, 3);
			CHECK_EQ(in.dev[0].nseg, 1); /* three frames that follow on: one segment */
			check_cut(path, &o, &in.dev[0]);
		} else {
			char stem[64];

			snprintf(stem, sizeof(stem), "%.*s", (int)strcspn(name, "."), name);
			CHECK(!strcmp(in.dev[0].name, stem));
		}
		lg_ingest_free(&in);
		/* pcap with the policy: the device's name, every tag verified */
		if (pcap && have_pol) {
			o.policy = &pol;
			o.port = 0;
			CHECK_EQ(lg_ingest_file(&in, path, &o, err, sizeof(err)), 0);
			CHECK(in.ndev == 1 && !strcmp(in.dev[0].name, "ingest-fx"));
			CHECK_EQ(in.st.frames, 3);
			CHECK_EQ(in.st.bad_tag, 0);
			if (in.ndev == 1)
				check_values(&in.dev[0], vals, 1);
			lg_ingest_free(&in);
			/* another key: every frame refused as a bad tag, nothing taken */
			pol.devices[0].keys[0].bytes[0] ^= 1;
			CHECK_EQ(lg_ingest_file(&in, path, &o, err, sizeof(err)), 0);
			CHECK_EQ(in.ndev, 0);
			CHECK_EQ(in.st.bad_tag, 3);
			CHECK(in.st.nbad_dev == 1 && !strcmp(in.st.bad_dev[0].name, "ingest-fx") &&
			      in.st.bad_dev[0].n == 3);
			pol.devices[0].keys[0].bytes[0] ^= 1;
			lg_ingest_free(&in);
			/* only: the device's frames alone; another name takes none, counted */
			o.only = "ingest-fx";
			CHECK_EQ(lg_ingest_file(&in, path, &o, err, sizeof(err)), 0);
			CHECK(in.ndev == 1 && in.st.frames == 3 && in.st.other_device == 0);
			lg_ingest_free(&in);
			o.only = "press-2";
			CHECK_EQ(lg_ingest_file(&in, path, &o, err, sizeof(err)), 0);
			CHECK_EQ(in.ndev, 0);
			CHECK_EQ(in.st.other_device, 3);
			o.only = NULL;
			lg_ingest_free(&in);
		}
	}
	/* broken files: refused, by position where the format has one */
	{
		static const struct {
			const char *file, *want;
		} bad[] = {
			{ "bad-csv-number.csv", "bad-csv-number.csv:7:23: not a number" },
			{ "bad-csv-columns.csv", "bad-csv-columns.csv:12:1: 2 columns, the rows "
						 "before have 3" },
			{ "bad-npy-header.npy", ": the header has no shape" },
			{ "bad-npy-truncated.npy", "bytes announced, 100 bytes there" },
			{ "bad-wav-truncated.wav", "the data chunk announces 384 bytes, the file "
						   "holds 200" },
			/* not libsndfile's "System error : No such file or directory." */
			{ "absent.wav", "absent.wav: cannot read: No such file or directory" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct lg_ingest in = { 0 };
			struct lg_ingest_opts o = { .rate = 12800 };

			snprintf(path, sizeof(path), "%s/%s", fix, bad[i].file);
			CHECK_EQ(lg_ingest_file(&in, path, &o, err, sizeof(err)), -EINVAL);
			CHECK_STR_CONTAINS(err, bad[i].want);
			CHECK_EQ(in.ndev, 0);
			lg_ingest_free(&in);
		}
	}
	if (have_pol)
		lg_policy_free(&pol);
	json_object_put(exp);
}

/*
 * UADP captures of a real open62541 publisher (tests/fixtures/opcua/README.md): 59 messages of
 * accel_x, accel_y (Float[64] each) at t = n / 1280 s over consecutive samples, unsigned,
 * signed and SignAndEncrypt; read with the policy's identity, keys and sample_rate.
 */
static void uadp_policy_fields(const char *file, const char *security, const char *key, int rate,
			       const char *fields)
{
	char cmd[2048], rline[64] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "mkdir -p test_ingest_uadp/keys && cp %.600s/../opcua/keys/*.key "
		 "test_ingest_uadp/keys/ && chmod 600 test_ingest_uadp/keys/*.key", fix);
	CHECK_EQ(system(cmd), 0);
	if (rate)
		snprintf(rline, sizeof(rline), "    sample_rate: %d\n", rate);
	f = fopen(file, "w");
	fprintf(f, "version: 1\nport: 4739\nuadp_port: 4840\ndetection:\n  window: 256\n"
		"  model: %s/../../../control/defaults/model.json\nmodels:\n  trusted_keys: "
		"[c3126d69f8a2631f3922c10c7d9dd9422464cbeb25dc6416f0d452089979b3f6]\ndevices:\n"
		"  - id: 1\n    name: o6-vibration\n    source: 127.0.0.1\n%s    keys:\n"
		"      - {id: 1, key_file: keys/%s.key}\n    uadp: {publisher_id: 4242, "
		"writer_group: 7, writer: 17, security: %s, fields: %s}\n", fix, rline, key, security,
		fields);
	fclose(f);
}

static void uadp_policy(const char *file, const char *security, const char *key, int rate)
{
	uadp_policy_fields(file, security, key, rate,
			   "[SourceTime, accel_x, accel_y, temperature, mode, counter]");
}

static void test_uadp(void)
{
	static const struct {
		const char *pcap, *security, *key;
		int rate, ok;
		unsigned long long bad;
	} c[] = {
		{ "o6-plain.pcap", "none", "k128-1", 1280, 1, 0 },
		{ "o6-sign128-seq.pcap", "sign", "k128-1", 1280, 1, 0 },
		{ "o6-enc128.pcap", "sign_and_encrypt", "k128-1", 1280, 1, 0 },
		{ "o6-enc256.pcap", "sign_and_encrypt, security_policy: PubSub-Aes256-CTR",
		  "k256-1", 1280, 1, 0 },
		{ "o6-sign128-seq.pcap", "sign", "k128-2", 1280, 1, 59 }, /* another key */
		{ "o6-plain.pcap", "sign", "k128-1", 1280, 1, 59 },       /* unsigned, must sign */
		{ "o6-plain.pcap", "none", "k128-1", 0, 0, 0 },           /* no sample_rate */
	};

	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		struct lg_ingest in = { 0 };
		struct lg_policy pol;
		struct lg_ingest_opts o = { 0 };
		char path[700], err[512];
		int ret;

		uadp_policy("test_ingest_uadp/policy.yaml", c[k].security, c[k].key, c[k].rate);
		if (lg_policy_load("test_ingest_uadp/policy.yaml", &pol, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			CHECK(0);
			continue;
		}
		o.policy = &pol;
		snprintf(path, sizeof(path), "%s/../opcua/%s", fix, c[k].pcap);
		ret = lg_ingest_file(&in, path, &o, err, sizeof(err));
		if (!c[k].ok) {
			CHECK_EQ(ret, -EINVAL);
			CHECK_STR_CONTAINS(err, "UADP device o6-vibration has no sample_rate in the "
						"policy");
		} else if (c[k].bad) {
			CHECK_EQ(ret, 0);
			CHECK_EQ(in.st.bad_tag, c[k].bad);
			CHECK_EQ(in.ndev, 0);
		} else {
			CHECK_EQ(ret, 0);
			CHECK_EQ(in.st.frames, 59);
			CHECK_EQ(in.ndev, 1);
			if (in.ndev == 1) {
				const struct lg_ingest_dev *d = &in.dev[0];
				size_t bad = 0, n = 0;

				CHECK(!strcmp(d->name, "o6-vibration"));
				CHECK_EQ(d->channels, 2);
				CHECK_EQ(d->rate, 1280);
				CHECK_EQ(d->nseg, 1);
				for (size_t sgi = 0; sgi < d->nseg; sgi++)
					for (size_t i = 0; i < d->seg[sgi].n; i++, n++) {
						double t = (double)n / 1280;
						float x = (float)(0.8 * sin(2 * M_PI * 50 * t) +
								  0.1 * sin(2 * M_PI * 120 * t));
						float y = (float)(0.5 * cos(2 * M_PI * 50 * t));

						bad += fabsf(d->seg[sgi].x[i] - x) > 1e-5f ||
						       fabsf(d->seg[sgi].x[d->seg[sgi].cap + i] - y) >
							       1e-5f;
					}
				CHECK_EQ(n, 59 * 64);
				CHECK_EQ(bad, 0);
			}
		}
		lg_ingest_free(&in);
		lg_policy_free(&pol);
	}
}

/*
 * o6-raw.pcap: the driver's one RawData message, read with the typed 'fields' as its layout:
 * 64 samples of accel_x and accel_y that follow the publisher's signals at consecutive
 * sample times. One array length off, or names without types, and nothing is taken.
 */
static void test_uadp_raw(void)
{
	static const char typed[] =
		"[{name: SourceTime, type: DateTime}, {name: accel_x, type: Float, array: 64}, "
		"{name: accel_y, type: Float, array: %d}, {name: temperature, type: Double}, "
		"{name: counter, type: Int32}]";
	static const struct {
		int accel_y; /* 0: plain names */
		unsigned long long frames, not_uadp;
	} c[] = { { 64, 1, 0 }, { 63, 0, 1 }, { 65, 0, 1 }, { 0, 0, 1 } };

	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		struct lg_ingest in = { 0 };
		struct lg_policy pol;
		struct lg_ingest_opts o = { 0 };
		char path[700], err[512], fields[512];

		snprintf(fields, sizeof(fields), typed, c[k].accel_y);
		if (c[k].accel_y)
			uadp_policy_fields("test_ingest_uadp/policy.yaml", "none", "k128-1", 1280,
					   fields);
		else
			uadp_policy("test_ingest_uadp/policy.yaml", "none", "k128-1", 1280);
		if (lg_policy_load("test_ingest_uadp/policy.yaml", &pol, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			CHECK(0);
			continue;
		}
		o.policy = &pol;
		snprintf(path, sizeof(path), "%s/../opcua/o6-raw.pcap", fix);
		CHECK_EQ(lg_ingest_file(&in, path, &o, err, sizeof(err)), 0);
		CHECK_EQ(in.st.frames, c[k].frames);
		CHECK_EQ(in.st.not_lgf, c[k].not_uadp);
		CHECK_EQ(in.ndev, c[k].frames ? 1 : 0);
		if (c[k].frames && in.ndev == 1 && in.dev[0].nseg == 1) {
			const struct lg_ingest_seg *sg = &in.dev[0].seg[0];
			size_t bad = 0, n0;

			CHECK_EQ(in.dev[0].channels, 2);
			CHECK_EQ(sg->n, 64);
			/* The publisher had run for a while: find its sample counter. */
			for (n0 = 0; n0 < 1280 * 60; n0++) {
				double t = (double)n0 / 1280;

				if (fabsf(sg->x[0] - (float)(0.8 * sin(2 * M_PI * 50 * t) +
							     0.1 * sin(2 * M_PI * 120 * t))) < 1e-5f &&
				    fabsf(sg->x[sg->cap] - (float)(0.5 * cos(2 * M_PI * 50 * t))) < 1e-5f)
					break;
			}
			for (size_t i = 0; i < sg->n && i < 64; i++) {
				double t = (double)(n0 + i) / 1280;
				float x = (float)(0.8 * sin(2 * M_PI * 50 * t) +
						  0.1 * sin(2 * M_PI * 120 * t));
				float y = (float)(0.5 * cos(2 * M_PI * 50 * t));

				bad += fabsf(sg->x[i] - x) > 1e-5f || fabsf(sg->x[sg->cap + i] - y) > 1e-5f;
			}
			CHECK(n0 < 1280 * 60);
			CHECK_EQ(bad, 0);
		}
		lg_ingest_free(&in);
		lg_policy_free(&pol);
	}
}

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	snprintf(fix, sizeof(fix), "%s/tests/fixtures/ingest",
		 getenv("LG_SOURCE") ? getenv("LG_SOURCE") : ".");
	test_known();
	test_uadp();
	test_uadp_raw();
	test_csv();
	test_npy();
	test_bad_rows();
	test_bad_lgf();
	test_follow();
	test_csv_time();
	test_labels();
	test_digest();
	return lgt_done("test_ingest");
}
