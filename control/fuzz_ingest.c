// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the recording parsers of control/ingest.c: the first byte picks
 * CSV or .npy, the rest is the file. An accepted file must give a device with 1..16
 * channels, a positive rate and finite samples within +-LG_SAMPLE_LIMIT (rows with a bad
 * sample dropped, each cutting a segment at most); a refused one must say where, as
 * "name:" followed by a position, and leave the set empty.
 *
 * A first byte 'L' picks the labels file of linegate-train and linegate-quality
 * (lg_labels_load_mem(): device,kind,onset[,end]): an accepted one has rows with a device
 * and a kind of their own fields (no comma, not empty), an onset >= 0 and an end after it
 * (or none), each on a line after the header, in order; a refused one names the file and
 * leaves no rows.
 */
#include <linegate/ingest.h>
#include <linegate/policy.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int labels(const uint8_t *data, size_t size)
{
	struct lg_labels l;
	char err[512] = "";
	unsigned last = 1;

	if (lg_labels_load_mem((const char *)data, size, "f.labels", &l, err, sizeof(err))) {
		if (strncmp(err, "f.labels", 8) || l.n || l.l)
			abort();
		return 0;
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct lg_label *r = &l.l[i];

		if (!r->device[0] || !r->kind[0] || strchr(r->device, ',') ||
		    strchr(r->kind, ',') || !(r->onset >= 0) || !isfinite(r->onset) ||
		    (r->end >= 0 && !(r->end > r->onset)) || !isfinite(r->end) ||
		    r->line <= last || !memchr(data, r->device[0], size))
			abort();
		last = r->line;
	}
	lg_labels_free(&l);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_ingest in = { 0 };
	struct lg_ingest_opts o = { .rate = 1000 };
	char err[512] = "";
	int ret;

	if (!size)
		return 0;
	if (data[0] == 'L')
		return labels(data + 1, size - 1);
	if (data[0] & 1) {
		o.rate = data[0] & 2 ? 1000 : 0;
		ret = lg_ingest_csv_mem(&in, (const char *)data + 1, size - 1, "f.csv", &o, err,
					sizeof(err));
	} else {
		ret = lg_ingest_npy_mem(&in, data + 1, size - 1, "f.npy", &o, err, sizeof(err));
	}
	if (ret) {
		if (!err[0] || (strncmp(err, "f.csv", 5) && strncmp(err, "f.npy", 5)) || in.ndev)
			abort();
		lg_ingest_free(&in);
		return 0;
	}
	/* one segment, or more where rows with a bad sample were dropped (each cuts it) */
	if (in.ndev != 1 || !in.dev[0].channels || in.dev[0].channels > 16 ||
	    !(in.dev[0].rate > 0) || in.dev[0].nseg < 1 || in.dev[0].nseg > 1 + in.bad.dropped)
		abort();
	for (size_t s = 0; s < in.dev[0].nseg; s++)
		for (unsigned c = 0; c < in.dev[0].channels; c++)
			for (size_t i = 0; i < in.dev[0].seg[s].n; i++) {
				float v = in.dev[0].seg[s].x[c * in.dev[0].seg[s].cap + i];

				if (!isfinite(v) || fabsf(v) > LG_SAMPLE_LIMIT)
					abort();
			}
	lg_ingest_free(&in);
	return 0;
}
