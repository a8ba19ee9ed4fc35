/* SPDX-License-Identifier: MIT */
/*
 * The model lifecycle's common steps on a line's own recordings (linegate-train and
 * linegate-quality): a device's samples cut into windows as the data plane cuts them
 * (consecutive, not overlapping, never across a gap), one feature row per channel, and
 * which windows the ground truth calls healthy.
 */
#ifndef LG_LIFECYCLE_H
#define LG_LIFECYCLE_H

#include <linegate/detector.h>
#include <linegate/features.h>
#include <linegate/ingest.h>

#include <stdbool.h>
#include <stddef.h>

struct lg_win_rows {
	size_t n;          /* windows */
	unsigned channels;
	enum lg_feat_layout layout;
	size_t d;          /* floats per row: the layout's width at the window */
	float *rows;       /* n x channels x d: window i, channel c at (i*channels+c) */
	unsigned char *dropout; /* n: 1 if a channel of window i holds a sensor dropout
				 * (lg_window_dropout(), LG_DROPOUT_RUN equal samples) */
	double *t;         /* window i starts t[i] seconds after the device's first sample */
	double *ratio;     /* n: orders96-time5, window i's speed ratio; else NULL */
	double dur;        /* seconds per window */
};

/* Every whole window of a device's segments, with its features of the layout (bands: the
 * basic layout's band layout, NULL for the default; oref: the orders96-time5 layout's
 * reference lines, each window read at its speed ratio against them, NULL otherwise; imp:
 * the orders96-time5-imp9, -imp10 or -imp11 layout's "impact", its nine features per
 * channel, -imp10's floor_lines, and -imp11's tsa3 over the device's windows in order,
 * computed at the window's speed ratio with lg_impact_tail(), as the data plane's worker
 * computes them). */
int lg_win_rows_make(const struct lg_ingest_dev *d, unsigned window, const struct lg_bands *bands,
		     enum lg_feat_layout layout, const struct lg_order_ref *oref,
		     const struct lg_imp_model *imp, struct lg_win_rows *out);
void lg_win_rows_free(struct lg_win_rows *w);

/* What the ground truth says of a window [t, t + dur): */
enum lg_win_truth {
	LG_WIN_HEALTHY,
	LG_WIN_FAULTY,  /* it overlaps [onset, end) */
	LG_WIN_UNKNOWN, /* after the healthy range given, or not in it */
};

/*
 * Healthy windows come from one of: a label (windows before its onset and after its end;
 * a device without a label is healthy throughout), "everything before T" (before >= 0), or
 * a range [from, to) (to > from). All unset: every window is healthy.
 */
struct lg_truth {
	const struct lg_labels *labels;
	double before;     /* < 0: unset */
	double from, to;   /* to <= from: unset */
};

enum lg_win_truth lg_win_truth(const struct lg_truth *tr, const char *device, double t,
			       double dur);

/*
 * Window times are sample counts over the rate in double precision, label and option times
 * decimals: the window of 1024 samples at 12 kHz that ends at 4.608 s computes its end as
 * 4.6080000000000005. Instants closer than LG_WIN_TIME_EPS (0.1 us, far under a sample at any
 * rate linegate reads) are one: lg_time_after(a, b) is a > b beyond it. Every comparison of a
 * window with the ground truth, --after and trained_until goes through these.
 */
#define LG_WIN_TIME_EPS 1e-7
static inline bool lg_time_after(double a, double b)
{
	return a > b + LG_WIN_TIME_EPS;
}

/* The window [t, t + dur) overlaps [onset, end) (end < 0: no end). */
static inline bool lg_win_overlaps(double t, double dur, double onset, double end)
{
	return lg_time_after(t + dur, onset) && (end < 0 || lg_time_after(end, t));
}

/*
 * The orders96-time5 layout's reference lines of a device (quality_proto.py's order_blocks()
 * with load_device()'s ref): the mean lines (features.h) of its first min(4, max(1, nh / 64))
 * healthy windows (nh: its healthy windows; the first training block's first ones), those
 * holding a sensor dropout left out unless all do. -EINVAL if it has no healthy window.
 */
int lg_win_order_ref(const struct lg_ingest_dev *d, unsigned window, const struct lg_truth *tr,
		     struct lg_order_ref *ref);

/*
 * The impact features' "impact" of a device (issue 8 step 6e.2; quality_proto.py's
 * load_device()): its reference speed (lg_impact_ref_speed()) over the reference windows of
 * lg_win_order_ref() and the declared set points sp[] and plate; each channel's resonance
 * band (lg_impact_band()) over the first 64 healthy training windows (blocks 0 and 2 of 4,
 * as the trainer's split) without a sensor dropout. With floor (orders96-time5-imp10, -imp11)
 * also floor_lines' reference speed and bands, the same on the windows' Hann spectra
 * (lg_impact_floor_ref_speed(), lg_impact_floor_band()). -EINVAL without a healthy window
 * or with more than LG_IMP_CH_MAX channels.
 */
int lg_win_impact_fit(const struct lg_ingest_dev *d, unsigned window, const struct lg_truth *tr,
		      const double *sp, size_t nsp, const struct lg_imp_plate *pl, bool floor,
		      struct lg_imp_model *imp);

/* The 95% Wilson score interval of k successes in n trials. */
void lg_wilson95(unsigned long long k, unsigned long long n, double *lo, double *hi);

/*
 * A 95% interval of the rate sum(k) / sum(n) over m groups of windows (devices) whose
 * alarms come in runs (a machine's rare state spans several windows, and few machines hold
 * most of them), where lg_wilson95() of the sums, which takes every window as independent,
 * is too narrow: the 2.5% and 97.5% quantiles of 2000 resamples of the m groups with
 * replacement (a fixed seed: the same counts give the same interval), widened to the
 * Wilson interval where that is wider. m < LG_CLUSTER_MIN: the Wilson interval (trial X2,
 * s26: two devices, all 73 alarms in one, resampled to a lower end of 0%: a resample of
 * two groups is one of four draws).
 */
#define LG_CLUSTER_MIN 5
void lg_cluster95(const unsigned long long *k, const unsigned long long *n, size_t m,
		  double *lo, double *hi);

/* A file to read and how (the tools' --from, --sample-rate, --scale, --device). */
#define LG_FROM_MAX 4096

struct lg_from {
	const char *path;
	double rate, scale;
	const char *device;
	/* --sample-rate came right before this file's --from (or the --from whose glob added
	 * it): it overrides a rate the file carries; a rate given for earlier files does not */
	bool rate_here;
};

/* The files of a tool's --from options, each with the --sample-rate, --scale and --device
 * given before it; --memory and --spill-dir (struct lg_ingest's mem_budget and spill_dir). */
struct lg_from_list {
	struct lg_from f[LG_FROM_MAX];
	unsigned n;
	double rate, scale;
	const char *device;
	bool rate_fresh; /* --sample-rate given since the last --from */
	bool scale_fresh; /* --scale given since the last --from (said if no --from follows) */
	size_t memory;
	int memory_set;
	const char *spill_dir;
};

/* A number option, all of arg, within [min, max]: 0, or -EINVAL after saying why. */
int lg_opt_num(const char *tool, const char *opt, const char *arg, double min, double max,
	       double *out);

/* Take one of --from, --sample-rate, --scale, --device, --memory, --spill-dir (opt without
 * the dashes): 0, or
 * -EINVAL after saying why on stderr (tool: the program's name). */
int lg_from_opt(struct lg_from_list *l, const char *opt, char *arg, const char *tool);
/*
 * The file name where getopt_long() ("+" options) stopped, at argv[*ind]: one more --from
 * with the options before it ("--from A B C", a shell glob). 1: taken, *ind moved on (call
 * getopt_long() again); 0: no argument left; -EINVAL: refused, said on stderr (a file with
 * no --from before it, or too many).
 */
int lg_from_more(struct lg_from_list *l, int argc, char **argv, int *ind, const char *tool);

struct lg_policy;

/* Read every file into in; errors and the pcap counts go to stderr prefixed by tool. only:
 * take only this device's frames from pcap files (NULL: all). The samples are kept within
 * from's --memory (default: half of MemAvailable), the rest in its --spill-dir. */
int lg_ingest_all(const struct lg_from_list *from, const struct lg_policy *pol, uint16_t port,
		  const char *only, struct lg_ingest *in, const char *tool);

/* Every label row names a device of in and an onset inside its recording; else -EINVAL
 * after saying which row on stderr (a typo would train a fault as healthy). */
int lg_labels_check(const struct lg_labels *l, const char *path, const struct lg_ingest *in,
		    const char *tool);

/* k of the last n windows alerted (n <= 64). */
struct lg_kofn {
	unsigned long long bits;
	unsigned k, n;
};

int lg_kofn_step(struct lg_kofn *a, int over);

/* 1 if any channel of window i scores over its threshold; scores (channels) are set. */
int lg_win_alert(struct lg_detector *det, const struct lg_win_rows *w, size_t i, float *scores);
/* The same with a model's "smooth" m (> 1): each channel's score the causal mean of the last
 * m of the device's scored windows (h: one per channel, zeroed for each device; call it for
 * the device's scored windows in order), as the data plane scores it. */
int lg_win_alert_smooth(struct lg_detector *det, const struct lg_win_rows *w, size_t i,
			float *scores, unsigned m, struct lg_smooth_ch *h);

#endif
