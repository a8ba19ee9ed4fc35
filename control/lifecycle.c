// SPDX-License-Identifier: MIT
/* Windows, features and ground truth for the model lifecycle tools (lifecycle.h). */
#include "lifecycle.h"

#include <linegate/policy.h>

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>

/* Window i of segment g: its channel c starts at the result + c * g->cap. */
static const float *seg_window(const struct lg_ingest_seg *g, size_t i, unsigned window)
{
	return g->x + i * window;
}

int lg_win_rows_make(const struct lg_ingest_dev *d, unsigned window, const struct lg_bands *bands,
		     enum lg_feat_layout layout, const struct lg_order_ref *oref,
		     const struct lg_imp_model *imp, struct lg_win_rows *out)
{
	struct lg_impact *im = NULL;
	struct lg_imp_hist hist = {0};
	float *ifeat = NULL;
	struct lg_features *fx = NULL;
	size_t n = 0, k = 0, dd = lg_features_width(layout, window);
	unsigned nf = lg_layout_imp_n(layout);
	int ret;

	memset(out, 0, sizeof(*out));
	if (window < 8 || !dd || (lg_layout_orders(layout) &&
				   (!oref || lg_order_ref_check(oref, window))))
		return -EINVAL;
	if (nf) {
		if (!imp || !(imp->ref_hz > 0) || imp->nch < d->channels ||
		    (nf > LG_IMP_N && !(imp->floor_ref_hz > 0)))
			return -EINVAL;
		ifeat = malloc(sizeof(float) * nf * d->channels);
		if (!ifeat || lg_impact_new(&im, window, d->channels) ||
		    (nf == LG_IMP_N11 && lg_imp_hist_init(&hist, d->channels))) {
			free(ifeat);
			lg_impact_free(im);
			return -ENOMEM;
		}
	}
	for (size_t s = 0; s < d->nseg; s++)
		n += d->seg[s].n / window;
	out->channels = d->channels;
	out->d = dd;
	out->layout = layout;
	out->dur = window / d->rate;
	out->rows = malloc(sizeof(float) * dd * d->channels * (n ? n : 1));
	out->t = malloc(sizeof(double) * (n ? n : 1));
	out->dropout = calloc(n ? n : 1, 1);
	if (lg_layout_orders(layout))
		out->ratio = calloc(n ? n : 1, sizeof(double));
	ret = lg_features_new_layout(&fx, layout, layout == LG_LAYOUT_BASIC ? bands : NULL,
				     LG_SPECTRUM_DEFAULT, 256);
	if (!out->rows || !out->t || !out->dropout || ret ||
	    (lg_layout_orders(layout) && !out->ratio)) {
		lg_features_free(fx);
		lg_win_rows_free(out);
		lg_impact_free(im);
		lg_imp_hist_free(&hist);
		free(ifeat);
		return ret ? ret : -ENOMEM;
	}
	for (size_t s = 0; s < d->nseg; s++) {
		const struct lg_ingest_seg *g = &d->seg[s];
		size_t m = g->n / window;

		/* orders: one speed ratio per window, from all its channels */
		for (size_t i = 0; out->ratio && i < m; i++) {
			ret = lg_features_speed_ratio(fx, seg_window(g, i, window), d->channels,
						      window, g->cap, oref, &out->ratio[k + i]);
			if (ret) {
				lg_features_free(fx);
				lg_win_rows_free(out);
				lg_impact_free(im);
				lg_imp_hist_free(&hist);
				free(ifeat);
				return ret;
			}
		}

		/* Channel by channel, all windows of the segment in one call; rows interleave
		 * channels as the data plane's batch does. */
		for (unsigned c = 0; c < d->channels; c++) {
			float *tmp = malloc(sizeof(float) * dd * (m ? m : 1));

			if (!tmp) {
				lg_features_free(fx);
				lg_win_rows_free(out);
				lg_impact_free(im);
				lg_imp_hist_free(&hist);
				free(ifeat);
				return -ENOMEM;
			}
			ret = m ? lg_features_rows_ratio(fx, g->x + (size_t)c * g->cap, m, window,
							 window, out->ratio ? out->ratio + k : NULL,
							 tmp) : 0;
			for (size_t i = 0; !ret && i < m; i++) {
				memcpy(out->rows + ((k + i) * d->channels + c) * dd, tmp + i * dd,
				       sizeof(float) * dd);
				out->dropout[k + i] |= (unsigned char)lg_window_dropout(
					g->x + (size_t)c * g->cap + i * window, window, LG_DROPOUT_RUN);
			}
			free(tmp);
			if (ret) {
				lg_features_free(fx);
				lg_win_rows_free(out);
				lg_impact_free(im);
				lg_imp_hist_free(&hist);
				free(ifeat);
				return ret;
			}
		}
		/* orders96-time5-imp9/-imp10/-imp11: the impact tail of each channel, at the
		 * window's speed (its ratio x the reference speeds), after the channel's orders
		 * row, as the data plane computes it (lg_impact_tail()); -imp11's tsa3 over the
		 * device's windows in order, one after the other across its segments as the
		 * data plane's worker takes them (which sees no gaps) */
		for (size_t i = 0; im && i < m; i++) {
			ret = lg_impact_tail(im, imp, seg_window(g, i, window), d->channels, g->cap,
					     d->rate, out->ratio[k + i], nf,
					     nf == LG_IMP_N11 ? &hist : NULL, ifeat);
			if (ret < 0) {
				lg_features_free(fx);
				lg_win_rows_free(out);
				lg_impact_free(im);
				lg_imp_hist_free(&hist);
				free(ifeat);
				return ret;
			}
			for (unsigned c = 0; c < d->channels; c++)
				memcpy(out->rows + ((k + i) * d->channels + c) * dd + dd - nf,
				       ifeat + c * nf, sizeof(float) * nf);
		}
		for (size_t i = 0; i < m; i++)
			out->t[k + i] = g->t0 + (double)(i * window) / d->rate;
		k += m;
	}
	out->n = n;
	lg_features_free(fx);
	lg_impact_free(im);
	lg_imp_hist_free(&hist);
	free(ifeat);
	return 0;
}

/* The device's whole windows of this length that the truth calls healthy; and how many
 * of them (at most 4, one per 64) make its reference. */
static size_t healthy_windows(const struct lg_ingest_dev *d, unsigned window,
			      const struct lg_truth *tr, size_t *nref)
{
	double dur = window / d->rate;
	size_t nh = 0;

	for (size_t s = 0; s < d->nseg; s++)
		for (size_t i = 0; i < d->seg[s].n / window; i++)
			nh += lg_win_truth(tr, d->name, d->seg[s].t0 + (double)(i * window) / d->rate,
					   dur) == LG_WIN_HEALTHY;
	*nref = nh / 64 ? nh / 64 : 1;
	if (*nref > 4)
		*nref = 4;
	return nh;
}

int lg_win_order_ref(const struct lg_ingest_dev *d, unsigned window, const struct lg_truth *tr,
		     struct lg_order_ref *ref)
{
	struct lg_features *fx = NULL;
	size_t nh = 0, nref, got = 0, clean = 0, m = lg_order_grid_len(window), used = 0;
	double *acc[2] = { NULL, NULL }, *lines = NULL, dur = window / d->rate;
	int ret;

	memset(ref, 0, sizeof(*ref));
	if (!m)
		return -EINVAL;
	nh = healthy_windows(d, window, tr, &nref);
	if (!nh)
		return -EINVAL;
	ret = lg_features_new_layout(&fx, LG_LAYOUT_ORDERS96_TIME5, NULL, LG_SPECTRUM_FFTW, 1);
	acc[0] = calloc(m, sizeof(double)); /* every reference window */
	acc[1] = calloc(m, sizeof(double)); /* those without a dropout */
	lines = malloc(sizeof(double) * m);
	ref->lines = malloc(sizeof(float) * m);
	if (ret || !acc[0] || !acc[1] || !lines || !ref->lines) {
		ret = ret ? ret : -ENOMEM;
		goto out;
	}
	for (size_t s = 0; s < d->nseg && got < nref; s++) {
		const struct lg_ingest_seg *g = &d->seg[s];

		for (size_t i = 0; i < g->n / window && got < nref; i++) {
			bool drop = false;

			if (lg_win_truth(tr, d->name, g->t0 + (double)(i * window) / d->rate, dur) !=
			    LG_WIN_HEALTHY)
				continue;
			ret = lg_features_order_lines(fx, seg_window(g, i, window), d->channels,
						      window, g->cap, lines);
			if (ret)
				goto out;
			for (unsigned c = 0; c < d->channels; c++)
				drop |= lg_window_dropout(g->x + (size_t)c * g->cap + i * window,
							  window, LG_DROPOUT_RUN);
			for (size_t j = 0; j < m; j++) {
				acc[0][j] += lines[j];
				if (!drop)
					acc[1][j] += lines[j];
			}
			clean += !drop;
			got++;
		}
	}
	used = clean ? clean : got;
	{
		float *keep = ref->lines;

		lg_order_grid(window, ref); /* start, step, bins, m; it clears lines */
		ref->lines = keep;
	}
	for (size_t j = 0; j < m; j++)
		ref->lines[j] = (float)(acc[clean ? 1 : 0][j] / (double)used);
	ret = 0;
out:
	if (ret) {
		free(ref->lines);
		ref->lines = NULL;
	}
	lg_features_free(fx);
	free(acc[0]);
	free(acc[1]);
	free(lines);
	return ret;
}

void lg_win_rows_free(struct lg_win_rows *w)
{
	free(w->ratio);
	w->ratio = NULL;
	free(w->rows);
	free(w->t);
	free(w->dropout);
	memset(w, 0, sizeof(*w));
}

enum lg_win_truth lg_win_truth(const struct lg_truth *tr, const char *device, double t,
			       double dur)
{
	if (tr->labels) {
		/* Faulty when it overlaps any of the device's rows [onset, end). */
		for (size_t i = 0; i < tr->labels->n; i++) {
			const struct lg_label *l = &tr->labels->l[i];

			if (!strcmp(l->device, device) && lg_win_overlaps(t, dur, l->onset, l->end))
				return LG_WIN_FAULTY;
		}
		return LG_WIN_HEALTHY;
	}
	if (tr->before >= 0)
		return !lg_time_after(t + dur, tr->before) ? LG_WIN_HEALTHY : LG_WIN_UNKNOWN;
	if (tr->to > tr->from)
		return !lg_time_after(tr->from, t) && !lg_time_after(t + dur, tr->to) ?
			       LG_WIN_HEALTHY :
			       LG_WIN_UNKNOWN;
	return LG_WIN_HEALTHY;
}

void lg_wilson95(unsigned long long k, unsigned long long n, double *lo, double *hi)
{
	const double z = 1.959963984540054;
	double p, den, mid, half;

	if (!n) {
		*lo = 0;
		*hi = 1;
		return;
	}
	p = (double)k / (double)n;
	den = 1 + z * z / (double)n;
	mid = (p + z * z / (2.0 * (double)n)) / den;
	half = z * sqrt(p * (1 - p) / (double)n + z * z / (4.0 * (double)n * (double)n)) / den;
	*lo = mid - half < 0 ? 0 : mid - half;
	*hi = mid + half > 1 ? 1 : mid + half;
	/* exactly, where rounding left 3.5e-18 (trial X2, s26: "rate_lo": 3.47e-18) */
	if (!k)
		*lo = 0;
	if (k == n)
		*hi = 1;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* splitmix64: the resampling's own generator, seeded the same each run, so the same
 * windows give the same interval */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void lg_cluster95(const unsigned long long *k, const unsigned long long *n, size_t m,
		  double *lo, double *hi)
{
	enum { B = 2000 };
	unsigned long long K = 0, N = 0;
	double *r = m >= LG_CLUSTER_MIN ? malloc(sizeof(double) * B) : NULL;
	uint64_t seed = 0x6c696e6567617465ull; /* "linegate" */
	size_t b = 0;

	for (size_t i = 0; i < m; i++) {
		K += k[i];
		N += n[i];
	}
	lg_wilson95(K, N, lo, hi);
	if (!r)
		return;
	for (; b < B; b++) {
		unsigned long long bk = 0, bn = 0;

		for (size_t i = 0; i < m; i++) {
			size_t j = (size_t)(splitmix64(&seed) % m);

			bk += k[j];
			bn += n[j];
		}
		r[b] = bn ? (double)bk / (double)bn : 0;
	}
	qsort(r, B, sizeof(*r), cmp_d);
	/* the 2.5% and 97.5% quantiles, widened to the Wilson interval where that is wider */
	*lo = r[B / 40] < *lo ? r[B / 40] : *lo;
	*hi = r[B - 1 - B / 40] > *hi ? r[B - 1 - B / 40] : *hi;
	free(r);
}

int lg_win_alert(struct lg_detector *det, const struct lg_win_rows *w, size_t i, float *scores)
{
	int over = 0;

	lg_detector_score(det, w->rows + i * w->channels * w->d, w->channels, scores);
	for (unsigned c = 0; c < w->channels; c++)
		over |= !(scores[c] <= det->threshold); /* a NaN score alerts */
	return over;
}

int lg_win_alert_smooth(struct lg_detector *det, const struct lg_win_rows *w, size_t i,
			float *scores, unsigned m, struct lg_smooth_ch *h)
{
	int over = 0;

	if (m <= 1)
		return lg_win_alert(det, w, i, scores);
	lg_detector_score(det, w->rows + i * w->channels * w->d, w->channels, scores);
	for (unsigned c = 0; c < w->channels; c++) {
		scores[c] = lg_smooth_step(&h[c], m, scores[c]);
		over |= !(scores[c] <= det->threshold);
	}
	return over;
}

int lg_opt_num(const char *tool, const char *opt, const char *arg, double min, double max,
	       double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (end == arg || *end || errno || !isfinite(v) || v < min || v > max) {
		fprintf(stderr, "%s: --%s %s: a number from %g to %g\n", tool, opt, arg, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* The policy's sample_rate of the device a file is named for (--device, else the file's
 * stem), 0 if none. */
static uint32_t policy_rate(const struct lg_policy *pol, const char *device, const char *path)
{
	char stem[LG_INGEST_NAME_MAX];

	if (!pol)
		return 0;
	if (!device) {
		lg_ingest_stem(path, stem, sizeof(stem));
		device = stem;
	}
	for (size_t k = 0; k < pol->ndevices; k++)
		if (!strcmp(pol->devices[k].name, device))
			return pol->devices[k].sample_rate;
	return 0;
}

int lg_from_more(struct lg_from_list *l, int argc, char **argv, int *ind, const char *tool)
{
	if (*ind >= argc)
		return 0;
	if (!l->n) {
		fprintf(stderr, "%s: '%s': a file is read with --from FILE (one --from may be "
			"followed by more files)\n", tool, argv[*ind]);
		return -EINVAL;
	}
	/* a glob's files go with the --from they follow, its --sample-rate's override too */
	l->rate_fresh = l->f[l->n - 1].rate_here;
	return lg_from_opt(l, "from", argv[(*ind)++], tool) ? -EINVAL : 1;
}

int lg_from_opt(struct lg_from_list *l, const char *opt, char *arg, const char *tool)
{
	char *end;
	double v;

	if (!strcmp(opt, "from")) {
		if (l->n == LG_FROM_MAX) {
			fprintf(stderr, "%s: at most %d --from\n", tool, LG_FROM_MAX);
			return -EINVAL;
		}
		/* DEVICE=FILE, as linegate-loadgen takes it (trial W2 N5): where no file has
		 * that whole name and the part after '=' is one */
		char *eq = strchr(arg, '=');
		const char *device = l->device;

		if (eq && eq != arg && eq[1] && access(arg, F_OK) && !access(eq + 1, F_OK)) {
			if (eq - arg >= LG_INGEST_NAME_MAX) {
				fprintf(stderr, "%s: --from %s: a device name of 1..%d characters\n",
					tool, arg, LG_INGEST_NAME_MAX - 1);
				return -EINVAL;
			}
			*eq = '\0'; /* argv's own memory: the device's name, then the path */
			device = arg;
			arg = eq + 1;
		}
		l->f[l->n++] = (struct lg_from){ arg, l->rate, l->scale, device, l->rate_fresh };
		l->rate_fresh = false;
		l->scale_fresh = false;
		return 0;
	}
	if (!strcmp(opt, "spill-dir")) {
		l->spill_dir = arg;
		return 0;
	}
	if (!strcmp(opt, "memory")) {
		static const char units[] = "KMGT";
		const char *u;

		errno = 0;
		/* decimal only: strtod would take 0x10 and 1e3 (trial V, s24 LOW) */
		v = strpbrk(arg, "xXeEpP") ? NAN : strtod(arg, &end);
		if (isnan(v))
			end = (char *)arg;
		if (*end && (u = strchr(units, toupper((unsigned char)*end)))) {
			v = ldexp(v, 10 * (int)(u - units + 1));
			end++;
			end += !strcasecmp(end, "iB") ? 2 : !strcasecmp(end, "B");
		}
		if (end == arg || *end || errno || !(v >= 0 && v < 0x1p62)) {
			fprintf(stderr, "%s: --memory %s: bytes, with K, M, G or T for powers of "
				"1024 (8G, 512M; 0: no limit)\n", tool, arg);
			return -EINVAL;
		}
		l->memory = (size_t)v;
		l->memory_set = 1;
		return 0;
	}
	if (!strcmp(opt, "device")) {
		if (!*arg || strlen(arg) >= LG_INGEST_NAME_MAX) {
			fprintf(stderr, "%s: --device: a name of 1..%d characters\n", tool,
				LG_INGEST_NAME_MAX - 1);
			return -EINVAL;
		}
		l->device = arg;
		return 0;
	}
	errno = 0;
	v = strtod(arg, &end);
	if (end == arg || *end || errno || !isfinite(v) || v == 0 ||
	    (!strcmp(opt, "sample-rate") && !(v > 0 && v <= 1e7))) {
		fprintf(stderr, "%s: --%s %s: %s\n", tool, opt, arg,
			!strcmp(opt, "sample-rate") ? "samples per second, above 0 and at most 1e7" :
						      "a number other than 0");
		return -EINVAL;
	}
	if (!strcmp(opt, "sample-rate")) {
		l->rate = v;
		l->rate_fresh = true;
	} else {
		l->scale = v;
		l->scale_fresh = true;
	}
	return 0;
}

/* A number file of the cgroup file system ("max" and absent: none). */
static int cg_read(const char *dir, const char *name, unsigned long long *v)
{
	char path[4096], buf[64];
	FILE *f;
	int ok;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	ok = fgets(buf, sizeof(buf), f) && sscanf(buf, "%llu", v) == 1;
	fclose(f);
	return ok ? 0 : -ENODATA;
}

/* The least room (limit - usage) in the memory cgroup at root/path and its ancestors:
 * a trainer that linegated or systemd runs under a memory limit meets it before the
 * machine's. */
static void cg_room(const char *root, const char *path, const char *max, const char *cur,
		    unsigned long long *room)
{
	char dir[4096];
	size_t k;

	if (snprintf(dir, sizeof(dir), "%s%s", root, path) >= (int)sizeof(dir))
		return;
	for (k = strlen(dir); k >= strlen(root); k--) {
		unsigned long long lim, use;

		if (k == strlen(dir) || dir[k] == '/') {
			dir[k] = '\0';
			if (!cg_read(dir, max, &lim) && !cg_read(dir, cur, &use))
				*room = lim > use ? (lim - use < *room ? lim - use : *room) : 0;
		}
		if (!k)
			break;
	}
}

/* Half the memory there is room for now: the kernel's MemAvailable, or less where this
 * process's memory cgroup (v1 or v2) has less room under its limit. 0 when unknown. */
static size_t half_available(void)
{
	unsigned long long kb = 0, room = ~0ull;
	char line[4096];
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':'), *q = p ? strchr(p + 1, ':') : NULL;

		if (!q)
			continue;
		q[strcspn(q, "\n")] = '\0';
		if (!strncmp(p, ":memory:", 8)) {
			cg_room("/sys/fs/cgroup/memory", q + 1, "memory.limit_in_bytes",
				"memory.usage_in_bytes", &room);
		} else if (!strncmp(line, "0::", 3)) {
			cg_room("/sys/fs/cgroup", q + 1, "memory.max", "memory.current", &room);
			cg_room("/sys/fs/cgroup/unified", q + 1, "memory.max", "memory.current",
				&room);
		}
	}
	if (f)
		fclose(f);
	if (kb * 1024 > room)
		kb = room / 1024;
	return (size_t)(kb * 1024 / 2);
}

/* Whether a and b name the same file (device and inode). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * The order the --from files are read in: as given, but the captures among them in the
 * order of their first records' times (in their own places in the list), so that a
 * recording's files go on one from the other whatever their names (trial X3, s27: rec/(*).pcapng
 * with a changed prefix sorted by name, 70% of the frames dropped as out of order, "record
 * longer"). Said when it is not the order given. NULL: out of memory.
 */
static unsigned *capture_order(const struct lg_from *f, unsigned n, const char *tool)
{
	unsigned *ord = malloc(sizeof(*ord) * (n ? n : 1)), *cap = malloc(sizeof(*cap) * (n ? n : 1));
	uint64_t *t = malloc(sizeof(*t) * (n ? n : 1));
	unsigned nc = 0, moved = 0;

	if (!ord || !cap || !t) {
		free(ord);
		free(cap);
		free(t);
		return NULL;
	}
	for (unsigned i = 0; i < n; i++) {
		ord[i] = i;
		if (lg_ingest_is_capture(f[i].path)) {
			if (lg_ingest_capture_start(f[i].path, &t[i]))
				t[i] = UINT64_MAX; /* unreadable or empty: its refusal comes in turn */
			cap[nc++] = i;
		}
	}
	/* a stable insertion sort of the captures' indices by their start */
	for (unsigned a = 1; a < nc; a++) {
		unsigned v = cap[a], b = a;

		for (; b > 0 && t[cap[b - 1]] > t[v]; b--)
			cap[b] = cap[b - 1];
		cap[b] = v;
	}
	for (unsigned a = 0, j = 0; a < n; a++)
		if (lg_ingest_is_capture(f[a].path)) {
			moved += cap[j] != a;
			ord[a] = cap[j++];
		}
	if (moved) {
		unsigned said = 0;

		fprintf(stderr, "%s: captures read in the order of their first frames' times, not "
			"as given (%u moved):", tool, moved);
		for (unsigned a = 0; a < n && said < 6; a++)
			if (lg_ingest_is_capture(f[ord[a]].path))
				fprintf(stderr, "%s %s", said++ ? "," : "", f[ord[a]].path);
		fprintf(stderr, "%s\n", nc > 6 ? ", ..." : "");
	}
	free(cap);
	free(t);
	return ord;
}

/* Files other than captures joined into one device (one --device for several, or files of
 * one stem): said, so that a machine's files given the same name by mistake show (trial T,
 * s24: a repeated --device joined another machine's file without a word). */
static void say_joined(const struct lg_ingest *in, const char *tool)
{
	for (size_t i = 0; i < in->ndev; i++) {
		const struct lg_ingest_dev *d = &in->dev[i];
		unsigned files = 0, last = ~0u;

		/* captures: a recording's rotated files, one stream */
		for (size_t s = 0; s < d->nseg; s++) {
			if (d->seg[s].file != last && !lg_ingest_is_capture(in->files[d->seg[s].file]))
				files++;
			last = d->seg[s].file;
		}
		if (files > 1)
			fprintf(stderr, "%s: device %s: %u files joined, in the order given (the first "
				"%s): one machine's recording in parts? If not, give each file its "
				"own --device\n", tool, d->name, files,
				in->files[d->seg[0].file]);
	}
}

static void say_spill(const struct lg_ingest *in, const char *tool)
{
	if (!in->spill_used)
		return;
	fprintf(stderr, "%s: samples: %.1f MiB in memory (--memory %zu MiB), %.1f MiB in unlinked "
		"files in %s\n", tool, in->mem_used / 1048576.0, in->mem_budget >> 20,
		in->spill_used / 1048576.0, lg_ingest_spill_dir(in));
}

int lg_ingest_all(const struct lg_from_list *from, const struct lg_policy *pol, uint16_t port,
		  const char *only, struct lg_ingest *in, const char *tool)
{
	const struct lg_from *f = from->f;
	unsigned n = from->n;
	char err[1024];

	in->mem_budget = from->memory_set ? from->memory : half_available();
	in->spill_dir = from->spill_dir;
	if (from->rate_fresh && n)
		fprintf(stderr, "%s: warning: --sample-rate %g comes after the last --from and "
			"applies to no file (it applies to the --from files after it)\n", tool,
			from->rate);
	if (from->scale_fresh && n) /* trial W2 N4: said by linegate-loadgen, not here */
		fprintf(stderr, "%s: warning: --scale %g comes after the last --from and applies "
			"to no file (it applies to the --from files after it)\n", tool,
			from->scale);
	unsigned *ord = capture_order(f, n, tool);

	if (n && !ord) {
		fprintf(stderr, "%s: out of memory\n", tool);
		return -ENOMEM;
	}
	for (unsigned at = 0; at < n; at++) {
		unsigned i = ord[at], again = n;
		struct lg_ingest_opts o = {
			.rate = f[i].rate, .rate_here = f[i].rate_here, .scale = f[i].scale,
			.device = f[i].device,
			.policy = pol, .port = port, .only = only, .allow_cut = in->allow_cut,
			.bad_samples = pol ? pol->bad_samples : LG_BAD_SAMPLES_DROP,
		};
		uint64_t cut = in->st.cut_short, recs = in->st.records;
		const char *pcap = lg_ingest_is_capture(f[i].path) ?
					   "LGF frame(s) or UADP DataSetMessage(s)" : "sample row(s)";
		uint32_t prate = f[i].rate > 0 || lg_ingest_is_capture(f[i].path) ? 0 :
				 policy_rate(pol, f[i].device, f[i].path);

		/* a file without a rate of its own (.npy, a CSV without a time column) and no
		 * --sample-rate before it: its device's policy sample_rate, as linegate-loadgen
		 * sends it (trial W, s25: the trainer refused what the policy said) */
		if (prate) {
			o.rate = prate;
			o.rate_fallback = 1;
			o.rate_said = "the policy's sample_rate";
		}

		/* the same file twice for the same device (a glob and a name, a link; a
		 * capture's devices are its frames'): read once, said (trial X4, s27: its frames
		 * counted as out of order, no word). One recording for two --device names is
		 * read for each. */
		for (unsigned b = 0; b < at && again == n; b++) {
			const struct lg_from *fb = &f[ord[b]];

			if ((lg_ingest_is_capture(f[i].path) ||
			     (!fb->device == !f[i].device &&
			      (!fb->device || !strcmp(fb->device, f[i].device)))) &&
			    same_file(fb->path, f[i].path))
				again = ord[b];
		}
		if (again < n) {
			fprintf(stderr, "%s: warning: %s is %s again (the same file): read once\n",
				tool, f[i].path, f[again].path);
			continue;
		}
		if (lg_ingest_file(in, f[i].path, &o, err, sizeof(err))) {
			fprintf(stderr, "%s: %s\n", tool, err);
			free(ord);
			return -EINVAL;
		}
		/* what the file gave: each device's channels (and a CSV's columns), a rate
		 * given over the file's own, a cut last row */
		for (const char *l = in->notes; l && *l;) {
			const char *e = strchr(l, '\n');
			int k = e ? (int)(e - l) : (int)strlen(l);

			if (!strncmp(l, "WARNING: ", 9))
				fprintf(stderr, "%s: warning: %.*s\n", tool, k - 9, l + 9);
			else
				fprintf(stderr, "%s: %.*s\n", tool, k, l);
			l += k + (e != NULL);
		}
		/* bad samples, as the data plane treats them (docs/policy.md "Bad samples") */
		if (in->bad.dropped)
			fprintf(stderr, "%s: warning: %s: %llu %s holding a NaN, infinite or "
				"out-of-range sample dropped (bad_samples: drop%s), the first at %s; "
				"no window spans the gap each leaves\n", tool, f[i].path,
				(unsigned long long)in->bad.dropped, pcap,
				pol ? ", the policy's" : ", the default without --policy",
				in->bad.first);
		if (in->bad.masked)
			fprintf(stderr, "%s: warning: %s: %llu NaN, infinite or out-of-range "
				"sample(s) masked with their channel's last good value (bad_samples: "
				"mask, the policy's), the first at %s\n", tool, f[i].path,
				(unsigned long long)in->bad.masked, in->bad.first);
		cut = in->st.cut_short - cut;
		recs = in->st.records - recs - cut;
		if (cut)
			fprintf(stderr, "%s: WARNING: %s: %llu record(s) cut short (the file "
				"ends inside its last record, or the capture's snap length cut a "
				"datagram): %llu whole records read, the cut ones left out%s\n",
				tool, f[i].path, (unsigned long long)cut, (unsigned long long)recs,
				in->allow_cut ? " (--allow-cut: a cut file's missing rest is not "
						"in the figures)" : "");
	}
	free(ord);
	say_spill(in, tool);
	say_joined(in, tool);
	if (in->st.records)
		fprintf(stderr, "%s: pcap: %llu records, %llu LGF/UADP messages taken, %llu neither, "
			"%llu unknown devices, %llu bad tags or signatures, %llu out of order, %llu "
			"gaps, %llu UADP DataSetMessages without samples\n", tool,
			(unsigned long long)in->st.records, (unsigned long long)in->st.frames,
			(unsigned long long)in->st.not_lgf, (unsigned long long)in->st.unknown,
			(unsigned long long)in->st.bad_tag, (unsigned long long)in->st.out_of_order,
			(unsigned long long)in->st.gaps, (unsigned long long)in->st.uadp_no_samples);
	if (only)
		fprintf(stderr, "%s: pcap: only device %s: %llu messages of other devices left "
			"out\n", tool, only, (unsigned long long)in->st.other_device);
	for (unsigned i = 0; i < in->st.nbad_dev; i++)
		fprintf(stderr, "%s: warning: device %s: %llu messages failed their tag or "
			"signature and were left out: is its key in the policy the device's?\n", tool,
			in->st.bad_dev[i].name, (unsigned long long)in->st.bad_dev[i].n);
	if (!in->ndev && only && in->st.other_device) {
		/* every message was another device's: the name is not one of the recording's
		 * (a trial: a typo read as "no samples of any device") */
		fprintf(stderr, "%s: --only-device %s: no message of the files is that device's "
			"(%llu messages of other devices): is the name the policy's?\n", tool, only,
			(unsigned long long)in->st.other_device);
		return -ENODATA;
	}
	/* a device's rate against its policy sample_rate: linegate drops frames of another
	 * rate and refuses a model trained at one (validate says so later) */
	for (size_t i = 0; pol && i < in->ndev; i++)
		for (size_t k = 0; k < pol->ndevices; k++)
			if (!strcmp(pol->devices[k].name, in->dev[i].name) &&
			    pol->devices[k].sample_rate &&
			    pol->devices[k].sample_rate != in->dev[i].rate)
				fprintf(stderr, "%s: warning: device %s: its samples are at %g Hz, "
					"and the policy's sample_rate for it is %u Hz: linegate drops "
					"its frames of another rate (sample_rate) and refuses a model "
					"of another rate for it\n", tool, in->dev[i].name,
					in->dev[i].rate, pol->devices[k].sample_rate);
	if (!in->ndev) {
		fprintf(stderr, "%s: the files hold no samples of any device%s\n", tool,
			in->st.records ? " (pcap: is the LGF/UADP port the policy's or --port's? are "
					 "the keys right?)" : "");
		return -ENODATA;
	}
	return 0;
}

int lg_labels_check(const struct lg_labels *l, const char *path, const struct lg_ingest *in,
		    const char *tool)
{
	int bad = 0;

	for (size_t i = 0; l && i < l->n; i++) {
		struct lg_ingest_dev *d = lg_ingest_find((struct lg_ingest *)in, l->l[i].device);

		if (!d && lg_ingest_left_out(in, l->l[i].device))
			continue; /* in the recordings, left out by --only-device */
		if (!d) {
			fprintf(stderr, "%s: %s:%u: the row of device '%s' (%s at %g s) names no "
				"device of the recordings (%s%s%s%s): its fault would be taken as "
				"healthy\n", tool, path, l->l[i].line, l->l[i].device, l->l[i].kind,
				l->l[i].onset,
				in->ndev ? in->dev[0].name : "none",
				in->ndev > 1 ? ", " : "", in->ndev > 1 ? in->dev[1].name : "",
				in->ndev > 2 ? ", ..." : "");
			bad = 1;
		} else if (l->l[i].onset >= lg_ingest_end(d)) {
			fprintf(stderr, "%s: %s:%u: device %s: onset %g s is past the end of its "
				"recording (%.3f s; onsets are seconds from its first sample)\n", tool,
				path, l->l[i].line, d->name, l->l[i].onset, lg_ingest_end(d));
			bad = 1;
		}
	}
	/* the verdict on a line of its own (trial T, s24: the rows were said, not that
	 * nothing was judged for them) */
	if (bad)
		fprintf(stderr, "%s: %s: refused (the rows above): fix the labels, or give the files "
			"of those devices, and run it again\n", tool, path);
	return bad ? -EINVAL : 0;
}

int lg_kofn_step(struct lg_kofn *a, int over)
{
	unsigned long long mask = a->n >= 64 ? ~0ull : (1ull << a->n) - 1;

	a->bits = ((a->bits << 1) | (over ? 1 : 0)) & mask;
	return __builtin_popcountll(a->bits) >= (int)a->k;
}

int lg_win_impact_fit(const struct lg_ingest_dev *d, unsigned window, const struct lg_truth *tr,
		      const double *sp, size_t nsp, const struct lg_imp_plate *pl, bool floor,
		      struct lg_imp_model *imp)
{
	size_t nh = 0, nref, block, k = 0, nr = 0, nrc = 0, nb = 0, ch = d->channels;
	double dur = window / d->rate;
	float *ref = NULL, *refc = NULL, *bw = NULL;
	int ret = -EINVAL;

	memset(imp, 0, sizeof(*imp));
	if (!ch || ch > LG_IMP_CH_MAX || !nsp)
		return -EINVAL;
	nh = healthy_windows(d, window, tr, &nref);
	if (!nh)
		return -EINVAL;
	block = nh / 64 ? nh / 64 : 1;
	ref = malloc(sizeof(float) * nref * ch * window);
	refc = malloc(sizeof(float) * nref * ch * window);
	bw = malloc(sizeof(float) * 64 * ch * window);
	if (!ref || !refc || !bw) {
		ret = -ENOMEM;
		goto out;
	}
	/* window by window, channel by channel: window w, channel c at (w * ch + c) * window */
	for (size_t s = 0; s < d->nseg; s++) {
		const struct lg_ingest_seg *g = &d->seg[s];

		for (size_t i = 0; i < g->n / window; i++) {
			bool drop = false;

			if (lg_win_truth(tr, d->name, g->t0 + (double)(i * window) / d->rate, dur) !=
			    LG_WIN_HEALTHY)
				continue;
			for (size_t c = 0; c < ch; c++)
				drop |= lg_window_dropout(g->x + c * g->cap + i * window, window,
							  LG_DROPOUT_RUN);
			for (size_t c = 0; c < ch; c++) {
				const float *x = g->x + c * g->cap + i * window;

				if (nr < nref)
					memcpy(ref + (nr * ch + c) * window, x, sizeof(float) * window);
				if (nr < nref && !drop)
					memcpy(refc + (nrc * ch + c) * window, x, sizeof(float) * window);
				if (nb < 64 && !drop && (k / block) % 2 == 0)
					memcpy(bw + (nb * ch + c) * window, x, sizeof(float) * window);
			}
			nrc += nr < nref && !drop;
			nr += nr < nref;
			nb += nb < 64 && !drop && (k / block) % 2 == 0;
			k++;
		}
	}
	ret = lg_impact_ref_speed(nrc ? refc : ref, nrc ? nrc : nr, (unsigned)ch, window,
				  ch * window, window, d->rate, sp, nsp, pl->z, &imp->ref_hz);
	for (size_t c = 0; !ret && c < ch; c++) {
		/* no clean training window: the reference windows */
		ret = nb ? lg_impact_band(bw + c * window, nb, window, ch * window, d->rate,
					  imp->band[c]) :
			   lg_impact_band(ref + c * window, nr, window, ch * window, d->rate,
					  imp->band[c]);
	}
	/* orders96-time5-imp10/-imp11: floor_lines' own, the same windows' Hann spectra (the
	 * prototype's floor_blocks() finds them on those) */
	if (!ret && floor)
		ret = lg_impact_floor_ref_speed(nrc ? refc : ref, nrc ? nrc : nr, (unsigned)ch,
						window, ch * window, window, d->rate, sp, nsp,
						pl->z, &imp->floor_ref_hz);
	for (size_t c = 0; !ret && floor && c < ch; c++)
		ret = nb ? lg_impact_floor_band(bw + c * window, nb, window, ch * window, d->rate,
						imp->floor_band[c])
			 : lg_impact_floor_band(ref + c * window, nr, window, ch * window, d->rate,
						imp->floor_band[c]);
	if (!ret) {
		imp->plate = *pl;
		imp->nch = (unsigned)ch;
	} else {
		memset(imp, 0, sizeof(*imp));
	}
out:
	free(ref);
	free(refc);
	free(bw);
	return ret;
}
