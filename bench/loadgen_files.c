// SPDX-License-Identifier: MIT
/*
 * linegate-loadgen --from: a recording cut in frames, each with the time its last sample
 * falls at (loadgen_files.h). The file is read by the trainer's own reader (ingest.c), so
 * what is sent is what linegate-train and linegate-quality read from the same file: its
 * rate, channels, scale and bad-sample handling, segment for segment.
 */
#include "loadgen_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int lg_lgfile_parse_arg(char *arg, const char **device, const char **path)
{
	char *eq = strchr(arg, '=');

	if (!*arg)
		return -EINVAL;
	if (!eq) {
		*device = NULL;
		*path = arg;
		return 0;
	}
	if (eq == arg || !eq[1])
		return -EINVAL;
	*eq = '\0';
	*device = arg;
	*path = eq + 1;
	return 0;
}

static int is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

int lg_lgfile_open(struct lg_lgfile *f, const char *path, const struct lg_ingest_opts *opts,
		   char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	return lg_lgfile_add(f, path, opts, err, errlen);
}

int lg_lgfile_add(struct lg_lgfile *f, const char *path, const struct lg_ingest_opts *opts,
		  char *err, size_t errlen)
{
	struct lg_ingest_opts o = *opts;
	const char *dot = strrchr(path, '.');
	int ret;

	o.rate_fallback = !o.rate_here;
	if (lg_ingest_is_capture(path)) {
		snprintf(err, errlen, "%s: a capture holds its devices' own frames: replay it "
			 "with linegate --backend pcap:file=%s (docs/replay.md), not --from",
			 path, path);
		return -EINVAL;
	}
	if (!(o.rate > 0) && dot && !strcasecmp(dot, ".npy")) {
		snprintf(err, errlen, "%s: a .npy file carries no sample rate: give the device's "
			 "sample_rate in the policy, or --sample-rate before its --from", path);
		return -EINVAL;
	}
	ret = lg_ingest_file(&f->in, path, &o, err, errlen);
	if (ret == -EINVAL && is_dir(path))
		snprintf(err, errlen, "%s: a folder, not a recording (WAV, FLAC, CSV or .npy)",
			 path);
	else if (ret && strstr(err, "Format not recognised"))
		snprintf(err + strlen(err), errlen - strlen(err), " (--from reads WAV, FLAC and "
			 "what else libsndfile reads, .csv and .npy by their names' endings)");
	if (ret) {
		if (!f->dev) /* the first file: nothing kept */
			lg_ingest_free(&f->in);
		return ret;
	}
	if (f->in.ndev != 1 || !f->in.dev[0].nseg) {
		snprintf(err, errlen, "%s: no samples", path);
		lg_ingest_free(&f->in);
		f->dev = NULL;
		return -ENODATA;
	}
	f->dev = &f->in.dev[0]; /* (the device array may have moved) */
	return 0;
}

void lg_lgfile_frames(struct lg_lgfile *f, unsigned n, uint64_t cap)
{
	f->n = n;
	f->frames = f->left_out = 0;
	for (size_t s = 0; s < f->dev->nseg; s++) {
		f->frames += f->dev->seg[s].n / n;
		f->left_out += f->dev->seg[s].n % n;
	}
	if (cap && f->frames > cap)
		f->frames = cap;
	f->sent = 0;
	f->seg = f->off = 0;
	while (f->seg < f->dev->nseg && f->dev->seg[f->seg].n < n)
		f->seg++;
}

double lg_lgfile_due(const struct lg_lgfile *f)
{
	const struct lg_ingest_seg *s;

	if (f->sent >= f->frames)
		return -1;
	s = &f->dev->seg[f->seg];
	return s->t0 + (double)(f->off + f->n) / f->dev->rate;
}

int lg_lgfile_next(struct lg_lgfile *f, float *out)
{
	const struct lg_ingest_seg *s = &f->dev->seg[f->seg];
	unsigned ch = f->dev->channels;
	int gap = f->off == 0 && f->sent > 0;

	for (unsigned i = 0; i < f->n; i++)
		for (unsigned c = 0; c < ch; c++)
			out[i * ch + c] = s->x[c * s->cap + f->off + i];
	f->sent++;
	f->off += f->n;
	/* on to the next segment that holds a whole frame */
	if (f->off + f->n > s->n) {
		f->off = 0;
		do
			f->seg++;
		while (f->seg < f->dev->nseg && f->dev->seg[f->seg].n < f->n);
	}
	return gap;
}

uint64_t lg_lgfile_frame_at(const struct lg_lgfile *f, double t)
{
	uint64_t before = 0;

	for (size_t k = 0; k < f->dev->nseg; k++) {
		const struct lg_ingest_seg *s = &f->dev->seg[k];
		uint64_t whole = s->n / f->n;
		/* the sample's index in the segment (an onset on a frame's first sample stays
		 * there whatever the rounding of t) */
		double i = (t - s->t0) * f->dev->rate + 1e-6;

		/* t before this segment (in a gap, or a left-out tail before it): its first
		 * frame; a segment without a whole frame sends none */
		if (whole && i < (double)whole * f->n) {
			uint64_t k2 = before + (i <= 0 ? 0 : (uint64_t)(i / f->n));

			return k2 < f->frames ? k2 : UINT64_MAX;
		}
		before += whole;
	}
	return UINT64_MAX;
}

double lg_lgfile_frame_t0(const struct lg_lgfile *f, uint64_t k)
{
	uint64_t before = 0;

	for (size_t j = 0; j < f->dev->nseg; j++) {
		const struct lg_ingest_seg *s = &f->dev->seg[j];
		uint64_t whole = s->n / f->n;

		if (k < before + whole)
			return s->t0 + (double)(k - before) * f->n / f->dev->rate;
		before += whole;
	}
	return lg_ingest_end(f->dev); /* past the last frame */
}

double lg_lgfile_last_end(const struct lg_lgfile *f)
{
	return f->frames ? lg_lgfile_frame_t0(f, f->frames - 1) + (double)f->n / f->dev->rate
			 : 0;
}

void lg_lgfile_free(struct lg_lgfile *f)
{
	if (f->dev)
		lg_ingest_free(&f->in);
	memset(f, 0, sizeof(*f));
}
