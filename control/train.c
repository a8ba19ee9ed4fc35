// SPDX-License-Identifier: MIT
/*
 * linegate-train: fit built-in detectors (Mahalanobis or PCA) on a line's own recordings
 * (--from: one detector per device, the threshold set for a target false-alarm rate on
 * held-back healthy windows), or on healthy windows of simulated machines (the generator
 * the load generator uses); export and merge the sufficient statistics across servers,
 * optionally with differential-privacy noise.
 */
#include <linegate/detector.h>
#include <linegate/features.h>
#include <linegate/ingest.h>
#include <linegate/outpath.h>
#include <linegate/policy.h>
#include <linegate/sign.h>
#include <linegate/signal.h>

#include <errno.h>
#include <fcntl.h>
#include <lapacke.h>
#include <limits.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctlproto.h"
#include "lifecycle.h"
#include "machines.h"
#include "quality.h"

void openblas_set_num_threads(int n);

#define MAX_MERGE 64

/* a detector records every set point of its device's nameplate line ("retrain") */
_Static_assert(LG_MACHINE_SP_MAX <= LG_REFIT_SP_MAX, "set points a detector records");

static const char usage[] =
	"Usage: linegate-train --from FILE... [--labels FILE | --healthy-before S] -o MODEL\n"
	"       linegate-train [--out MODEL.json] [--stats-out STATS.json] [options]\n"
	"\n"
	"Fits linegate's built-in detectors on healthy vibration windows and writes the model\n"
	"file the policy's detection.model names.\n"
	"\n"
	"From a line's own recordings (--from, repeatable; docs/getting-started-own-line.md):\n"
	"one detector per device (--pooled: one for all). Its healthy windows are split in\n"
	"blocks: half train the detector, a quarter set the threshold for the target false-alarm\n"
	"rate (--false-alarms) and a quarter, never seen before, measure it: the expected false\n"
	"alarms per window are printed with their 95% interval. The model records the sample\n"
	"rate, window, feature layout and a digest of the training samples, and each detector\n"
	"the deciles of its training rows per feature: the reference linegate's PSI drift\n"
	"monitor compares the line with, and the PSI its own windows reach against it in blocks\n"
	"of the policy's psi_windows (its floor; docs/models.md, \"Drift\"; every --detector;\n"
	"a kNN per channel has one per channel). Models of simulated machines carry none.\n"
	"  --from [DEVICE=]FILE  .pcap/.pcapng of LGF (with --policy: its device names, ports\n"
	"                        and keys), .wav/.flac, .csv, .npy; one device per file except\n"
	"                        pcap (name: DEVICE=, else --device, else the file's stem);\n"
	"                        a file without a rate and no --sample-rate before it is read\n"
	"                        at its device's sample_rate in --policy\n"
	"  --sample-rate HZ      for the --from files after it that carry no rate (CSV without\n"
	"                        a time column, .npy); right before a --from of a file that\n"
	"                        carries one (WAV/FLAC, a CSV time column), it overrides that\n"
	"                        file's (a rate given for earlier files does not); without\n"
	"                        --from, the simulated machines' samples per second (default\n"
	"                        10000)\n"
	"  --scale X             multiply the samples of the --from files after it\n"
	"  --device NAME         the device of the --from files after it\n"
	"  --policy FILE         the line's policy (device names and keys for pcap, the window)\n"
	"  --port N              the LGF port of pcap files without --policy\n"
	"  --labels FILE         ground truth CSV device,kind,onset[,end] (seconds from the\n"
	"                        device's first sample): healthy = before onset, after end,\n"
	"                        or a device without a row\n"
	"  --healthy-before S    healthy = the first S seconds of every device\n"
	"  --healthy-range A:B   healthy = seconds A to B of every device\n"
	"                        (none of the three: every window is taken as healthy)\n"
	"  --false-alarms R      target false alarms per window and device (default 0.001)\n"
	"  --pooled              one detector for every device instead of one each\n"
	"  --min-windows N       fewest healthy windows a device needs (default 200, at\n"
	"                        least 20)\n"
	"  --sign-key KEY        sign the model with this Ed25519 secret key (linegatectl\n"
	"                        keygen): writes MODEL.sig, records the signer in the model\n"
	"                        (--from or simulated machines; needs --out)\n"
	"  --name NAME           the model's name (default: the output file's stem)\n"
	"  --candidate-dir DIR   instead of --out: a candidate for a person to approve, in\n"
	"                        DIR/NAME-TIME/ (model.json unsigned, evaluation.json, state);\n"
	"                        DIR is the registry's candidates/ folder (linegatectl models\n"
	"                        candidates|show|approve|reject)\n"
	"  --compare MODEL       with --candidate-dir: the model now active, judged with the\n"
	"                        candidate on the same held-back windows, those neither learnt\n"
	"                        from: when MODEL was trained on these very samples (its\n"
	"                        data digest), only windows after its trained_until; with none\n"
	"                        such, it is not compared, and the evaluation says why\n"
	"  --reason TEXT         why the candidate was trained (default: trained by hand)\n"
	"  --base MODEL          keep MODEL's detectors for the devices not in the --from\n"
	"                        files (retraining some devices of a line: the model gets\n"
	"                        their new detectors and the others' as they were); without\n"
	"                        --detector, the new ones are of the kind MODEL's all are.\n"
	"                        A device MODEL has a detector for is fitted again as that\n"
	"                        one was, from what MODEL carries: layout, window (what revR\n"
	"                        resolved to), smoothing, set points and gear (impact\n"
	"                        layouts), the line's pooled g (threshold = median + g (q90\n"
	"                        - median) of its own held-back windows); --layout,\n"
	"                        --smooth, --window revR, --nameplate given must agree\n"
	"                        (docs/models.md, \"What a retrain keeps\")\n"
	"  --only-device NAME    from pcap files, take only this device's frames (a recording\n"
	"                        of the whole line; with --base the others keep theirs);\n"
	"                        --labels rows of the recording's other devices are ignored\n"
	"  --allow-cut           a pcap file that ends inside a record (a copy cut short), or a\n"
	"                        CSV whose last row has no line end, is read up to the cut,\n"
	"                        with a warning; without, it is refused\n"
	"  --memory SIZE         keep at most SIZE bytes of samples in memory (K, M, G, T:\n"
	"                        powers of 1024; 0: no limit; default: half the memory\n"
	"                        available at start); the rest go to --spill-dir\n"
	"  --spill-dir DIR       where samples past --memory are kept, in unlinked files (on\n"
	"                        a disk, not a tmpfs; default $TMPDIR, else /var/tmp)\n"
	"\n"
	"From simulated machines (no --from): windows spread over their operating day. The\n"
	"threshold is the QUANTILE of the training scores times MARGIN, always from this\n"
	"server's own windows.\n"
	"\n"
	"Federated training: each server exports its sufficient statistics (--stats-out,\n"
	"optionally clipped and noised for differential privacy); one merges them (--merge,\n"
	"repeatable, --no-local to leave its own windows out) and the merged statistics fit\n"
	"the model every server then calibrates locally. docs/models.md has the recipe.\n"
	"\n"
	"Options:\n"
	"  -o, --out FILE          model file to write\n"
	"      --stats-out FILE    write the (merged, noised) statistics here\n"
	"      --merge FILE        add another server's statistics (repeatable)\n"
	"      --no-local          fit from the merged statistics only (still calibrates)\n"
	"      --detector KIND     mahalanobis (default), pca, or knn (--from only: the\n"
	"                          nearest of <= 128 kept training rows per channel on the\n"
	"                          wide bands96-time5 row; several devices get one pooled\n"
	"                          line-wide threshold; sensor dropouts are left out)\n"
	"      --layout NAME       the knn detector's row: bands96-time5 (default) or\n"
	"                          orders96-time5 (the lower half of the spectrum in shaft\n"
	"                          orders, each window's speed found from its spectrum against\n"
	"                          the device's first training windows; not with --pooled;\n"
	"                          docs/models.md), orders96-time5-imp9 (that row and nine\n"
	"                          impact features per channel, issue 8 step 6e.2: needs\n"
	"                          --nameplate), orders96-time5-imp10 (the imp9 row and\n"
	"                          floor_lines, the resonance band's floor over the order\n"
	"                          lines, step 6e.3: needs --nameplate), or\n"
	"                          orders96-time5-imp11 (the imp10 row and tsa3, the\n"
	"                          envelope's TSA over the device's last 3 windows: needs\n"
	"                          --nameplate); with --base, the base's layout\n"
	"      --nameplate FILE    with orders96-time5-imp9, -imp10 or -imp11: CSV device,\n"
	"                          setpoints_hz,gear_teeth[,balls,pitch_mm,ball_mm,\n"
	"                          contact_deg], what the operator declares of each machine\n"
	"                          (gear_teeth 0: no gear; docs/models.md); each detector\n"
	"                          records the set points, so --base needs no nameplate\n"
	"      --components K      PCA components (default: 95% of the variance)\n"
	"  -m, --machines N        simulated healthy machines (default 64)\n"
	"  -n, --windows N         windows per machine (default 400)\n"
	"  -w, --window N          samples per window: the policy's detection.window\n"
	"                          (default 256; --from: the policy's, else 2048)\n"
	"  -w, --window revR       --from: a window per device, the smallest power of two\n"
	"                          from 2048 to 16384 samples holding R revolutions of its\n"
	"                          shaft at its lowest speed (--shaft-hz); the model records\n"
	"                          each device's window and linegate forms that device's\n"
	"                          windows at it (docs/models.md, \"A window per device\")\n"
	"      --shaft-hz FILE     with revR: CSV device,Hz, each device's lowest shaft speed\n"
	"                          (its nameplate or the PLC's lowest set point)\n"
	"      --smooth M          --detector knn, several devices: score each window by the\n"
	"                          mean of its channel's last M scores (1-8, default 1), the\n"
	"                          pooled threshold calibrated on such means; the model\n"
	"                          records it (\"smooth\") and linegate scores the same way;\n"
	"                          with --base, the base's (and its g)\n"

	"  -q, --quantile Q        score quantile for the threshold (default 0.999)\n"
	"      --margin M          threshold = quantile x M (default 1.5)\n"
	"  -s, --seed N            seed (default 1000; use one the load generator does not)\n"
	"      --shift-from REF    statistics of rows minus REF's mean over its standard\n"
	"                          deviations; REF: a Mahalanobis model (one detector or a\n"
	"                          --pooled model) or a statistics file (the servers' merged\n"
	"                          first export), of this line's machines, window and rate;\n"
	"                          the same on every server of a federation\n"
	"      --clip C            clip each (shifted) row to L2 norm C (for --dp-epsilon); the\n"
	"                          share clipped is said, above 5% warned, above half refused\n"
	"      --dp-epsilon E      add Gaussian noise for (E, delta)-DP to the exported stats\n"
	"      --dp-delta D        delta (default 1e-6)\n"
	"      --dp-seed N         seed of the noise (default: from the kernel; tests only)\n"
	"  -h, --help              this text\n";

/* What st says of what (a lg_stats_differ() answer), for a message naming both values. */
static void stats_value(const struct lg_stats *st, const char *what, char *buf, size_t len)
{
	if (!strcmp(what, "sample rate"))
		snprintf(buf, len, "%g Hz", st->sample_rate);
	else if (!strcmp(what, "window"))
		snprintf(buf, len, "%u-sample windows", st->window);
	else if (!strcmp(what, "feature layout"))
		snprintf(buf, len, "%s", lg_feat_layout_name(st->layout));
	else if (!strcmp(what, "features"))
		snprintf(buf, len, "%zu features", st->d);
	else if (!strcmp(what, "clip"))
		snprintf(buf, len, "clip %g", st->clip);
	else if (!strcmp(what, "shift") || !strcmp(what, "scale"))
		snprintf(buf, len, "its own %s (--shift-from)", what);
	else
		snprintf(buf, len, "its own %s", what);
}

/*
 * Merge the statistics files into st. With adopt (nothing local), st becomes the first file,
 * whose rate, window, layout, shift, clip and band layout the others must share; else each
 * must share st's (this server's rows). A refusal names both sides and their values.
 */
static int merge_files(struct lg_stats *st, const char *const *files, unsigned n, int adopt)
{
	char err[1024], mine[128], theirs[128];

	for (unsigned i = 0; i < n; i++) {
		struct lg_stats other;
		const char *what;

		if (lg_stats_load(files[i], &other, err, sizeof(err))) {
			fprintf(stderr, "linegate-train: %s\n", err);
			return -EINVAL;
		}
		if (adopt && !i) {
			lg_stats_free(st);
			*st = other;
			continue;
		}
		if ((what = lg_stats_differ(st, &other)) || lg_stats_merge(st, &other)) {
			what = what ? what : "statistics";
			stats_value(st, what, mine, sizeof(mine));
			stats_value(&other, what, theirs, sizeof(theirs));
			fprintf(stderr, "linegate-train: %s: its %s differs from %s's (%s: %s; "
				"%s: %s): statistics merge only when they describe the same "
				"rows (every server exports at one sample rate and window, with "
				"the same --shift-from and --clip)\n", files[i], what,
				adopt ? files[0] : "this server", files[i], theirs,
				adopt ? files[0] : "this server", mine);
			lg_stats_free(&other);
			return -EINVAL;
		}
		lg_stats_free(&other);
	}
	return 0;
}

/*
 * The statistics st (from files, the first named) fit a model of windows of rate and window
 * samples (this server's data, or the simulated machines'): refused, naming both, when they
 * are of another rate, window or layout (trial s20 H3: a 25600 Hz export fitted a model that
 * claimed 20480 Hz).
 */
static int stats_fit_this(const struct lg_stats *st, const char *file, double rate,
			  unsigned window, const char *whose)
{
	if (st->sample_rate == rate && st->window == window && st->layout == LG_LAYOUT_BASIC)
		return 0;
	fprintf(stderr, "linegate-train: %s: statistics of %g Hz, %u-sample windows (%s), and %s "
		"%g Hz, %u-sample windows (basic18): a model is of one rate and window; fit "
		"from statistics of the same (-w, or the devices of this rate)\n",
		file, st->sample_rate, st->window, lg_feat_layout_name(st->layout), whose, rate,
		window);
	return -EINVAL;
}

/*
 * The public reference statistics are taken relative to: a mean (shift) and per-feature
 * standard deviations (scale). Scaled rows have about unit spread in every feature, so one
 * clip bounds them all alike and the DP noise (which grows with clip^2) stays small. From:
 * - a Mahalanobis model: its mean, and the diagonal of its Sigma = (W^T W)^-1; a model file
 *   of one detector, or a set's default (what --pooled writes) or only detector;
 * - a statistics file (linegate-stats; the servers' merged first export): its mean and the
 *   diagonal of its covariance.
 * The reference's window and sample rate (when it records them) go to ref_rate and
 * ref_window, for the caller to check against the rows (0: not recorded).
 */
static int load_shift(const char *path, double *shift, double *scale, double *ref_rate,
		      unsigned *ref_window)
{
	struct lg_detector_set set;
	struct lg_stats st;
	struct lg_detector *ref = NULL;
	double a[LG_FEAT_N * LG_FEAT_N];
	char err[1024], serr[1024];
	int ret = -EINVAL;

	*ref_rate = 0;
	*ref_window = 0;
	if (!lg_stats_load(path, &st, serr, sizeof(serr))) {
		double mean[LG_FEAT_N];

		if (st.d != LG_FEAT_N || st.layout != LG_LAYOUT_BASIC ||
		    lg_stats_moments(&st, mean, a)) {
			fprintf(stderr, "linegate-train: --shift-from %s: statistics of another "
				"feature row, or of too few windows\n", path);
			lg_stats_free(&st);
			return -EINVAL;
		}
		ret = 0;
		for (int j = 0; j < LG_FEAT_N; j++) {
			shift[j] = mean[j];
			scale[j] = a[j * LG_FEAT_N + j] > 0 ? sqrt(a[j * LG_FEAT_N + j]) : 1;
			if (!isfinite(shift[j]) || !isfinite(scale[j]))
				ret = -EINVAL;
		}
		if (ret)
			fprintf(stderr, "linegate-train: --shift-from %s: the statistics give no "
				"finite mean and spread\n", path);
		*ref_rate = st.sample_rate;
		*ref_window = st.window;
		lg_stats_free(&st);
		return ret;
	}
	if (lg_detector_set_load(path, 1, &set, err, sizeof(err))) {
		/* neither: say both, the statistics' reason when the file claims to be one */
		fprintf(stderr, "linegate-train: --shift-from: %s\n",
			strstr(serr, "'format'") ? err : serr);
		return -EINVAL;
	}
	if (set.fallback >= 0)
		ref = &set.det[set.fallback];
	else if (set.n == 1)
		ref = &set.det[0];
	if (!ref || ref->d != LG_FEAT_N || ref->layout != LG_LAYOUT_BASIC ||
	    ref->kind != LG_DETECTOR_MAHALANOBIS) {
		fprintf(stderr, "linegate-train: --shift-from %s: the reference must be one "
			"Mahalanobis detector of the basic18 row (a model of one detector, or a "
			"--pooled model: its default detector), or a statistics file; this is %s\n",
			path, !ref ? "a model of a detector per device, without a default" :
			ref->kind != LG_DETECTOR_MAHALANOBIS ? "not Mahalanobis (its covariance "
			"gives each feature's scale)" : "of another feature row");
		lg_detector_set_free(&set);
		return -EINVAL;
	}
	for (int j = 0; j < LG_FEAT_N; j++) {
		shift[j] = ref->mean[j];
		for (int k = 0; k < LG_FEAT_N; k++) {
			double v = 0;

			for (int i = 0; i < LG_FEAT_N; i++)
				v += (double)ref->w[i * LG_FEAT_N + j] * ref->w[i * LG_FEAT_N + k];
			a[j * LG_FEAT_N + k] = v;
		}
	}
	if (!LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', LG_FEAT_N, a, LG_FEAT_N) &&
	    !LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', LG_FEAT_N, a, LG_FEAT_N)) {
		ret = 0;
		for (int j = 0; j < LG_FEAT_N; j++)
			scale[j] = a[j * LG_FEAT_N + j] > 0 ? sqrt(a[j * LG_FEAT_N + j]) : 1;
	} else {
		fprintf(stderr, "linegate-train: --shift-from %s: its covariance cannot be "
			"inverted\n", path);
	}
	*ref_rate = ref->sample_rate > 0 ? ref->sample_rate : set.sample_rate;
	*ref_window = ref->window ? ref->window : set.window;
	lg_detector_set_free(&set);
	return ret;
}

/* The reference's rate and window (0: not recorded) against the rows': refused, naming both,
 * when they differ (a reference of other windows scales every feature wrongly). */
static int shift_fits(const char *path, double ref_rate, unsigned ref_window, double rate,
		      unsigned window)
{
	if ((!(ref_rate > 0) || ref_rate == rate) && (!ref_window || ref_window == window))
		return 0;
	char rr[48] = "";

	if (ref_rate > 0)
		snprintf(rr, sizeof(rr), "%g Hz, ", ref_rate);
	fprintf(stderr, "linegate-train: --shift-from %s: a reference of %s%u-sample windows, "
		"and the rows are of %g Hz, %u-sample windows: take a reference of these windows "
		"(a --pooled model of this line, or statistics of it)\n", path, rr, ref_window,
		rate, window);
	return -EINVAL;
}

/* ---- from a line's recordings ---- */

struct file_conf {
	struct lg_from_list from;
	const char *policy, *labels, *sign_key, *name, *out;
	/* --sign-key read once, at the start (sign_key_load()): the key that names the signer
	 * in the model is the key that signs it, whatever happens to the file meanwhile */
	struct sign_key {
		bool have;
		uint8_t sk[LG_SIGN_SK_LEN];
		char signer[65]; /* its public key, hex */
	} key;
	uint16_t port;
	struct lg_truth truth;
	double false_alarms;
	unsigned window, min_windows;
	/* the policy's detection.drift.psi_windows (1000 without --policy): the block the
	 * drift reference's floor is measured on (add_floor()) */
	uint32_t psi_windows;
	/* --window revR (issue 8 step 6e): a window per device, the smallest power of two from
	 * LG_REV_MIN_N to LG_REV_MAX_N samples holding revs shaft revolutions at the device's
	 * lowest speed (shaft_hz, an operator's CSV device,Hz); 0: every device at window */
	double revs;
	const char *shaft_hz;
	/* --nameplate FILE (issue 8 step 6e.2, orders96-time5-imp9, -imp10, -imp11): each device's
	 * declared set points, gear teeth and bearing (machines.h) */
	const char *nameplate;
	struct lg_machine *mach;
	size_t nmach;
	/* --smooth M (issue 8 step 6e): the pooled threshold of the mean of each channel's last
	 * M normalised scores, recorded in the model ("smooth") */
	unsigned smooth;
	int pooled;
	int allow_cut; /* --allow-cut: a pcap file cut inside a record, read up to the cut */
	enum lg_detector_kind kind;
	enum lg_feat_layout layout; /* knn: bands96-time5; the others: the basic row */
	size_t components;
	/* a candidate: written into its own folder under candidate_dir with its evaluation
	 * against the model now active (compare), for linegatectl models approve|reject */
	const char *candidate_dir, *compare, *reason;
	char cand_path[4300], cand_id[96];
	/* base: the detectors of the devices not trained here come from this model (bset,
	 * loaded once); a device it has a detector for is fitted again as that one was
	 * (base_devices()): its window, its set points (the impact layouts), the set's
	 * smoothing and, has_g, the line's pooled g (pooled_thresholds()) */
	const char *base;
	struct lg_detector_set bset;
	int has_g;
	double g;
	/* only: from pcap files, this device's frames alone (a recording of many devices) */
	const char *only;
	/* federated: the pooled statistics of the training windows out, others' in */
	const char *stats_out;
	const char *const *merge;
	unsigned nmerge;
	int no_local, shift_set;
	const char *shift_from; /* the reference's file, for messages */
	double shift_rate;      /* its sample rate and window (0: not recorded) */
	unsigned shift_window;
	double shift[LG_FEAT_N], scale[LG_FEAT_N], clip, eps, delta;
	unsigned long long dp_seed;
};

/* A dead or disconnected sensor (every sample of a channel the same, or changing by less than
 * a millionth of its level) fits a detector of a flat line that alarms as soon as it moves:
 * said plainly, not left to the feature count. */
static void warn_flat(const struct lg_ingest_dev *d)
{
	for (unsigned c = 0; c < d->channels; c++) {
		double lo = INFINITY, hi = -INFINITY;
		size_t n = 0;

		for (size_t s = 0; s < d->nseg; s++)
			for (size_t i = 0; i < d->seg[s].n; i++) {
				double x = d->seg[s].x[c * d->seg[s].cap + i];

				if (!isfinite(x))
					continue;
				lo = x < lo ? x : lo;
				hi = x > hi ? x : hi;
				n++;
			}
		if (n && hi - lo <= 1e-6 * fmax(fabs(hi), fabs(lo))) {
			char ch[32] = "";

			if (d->channels > 1)
				snprintf(ch, sizeof(ch), " channel %u", c);
			fprintf(stderr, "linegate-train: warning: %s%s: its signal is flat (every "
				"one of %zu samples is %.6g): a dead or disconnected sensor? Its "
				"detector fits a flat line and alarms as soon as the signal moves: "
				"train on a recording where the sensor works\n", d->name, ch, n, lo);
		}
	}
}

/*
 * The reference speed is searched from 0.95 x the lowest set point to 1.02 x the highest
 * (lg_impact_ref_speed(), which refuses a search that saw no line); one found off 0.95-1.02
 * of every set point (between two of them: the search's edges are the range's own) is a
 * machine that does not run where its declaration (where) says, or
 * a wrong sample rate: every frequency of a .npy or CSV file read at --sample-rate R instead
 * of its rate r is R / r times off (a trial: 12800 for a 5354 Hz line trained without a
 * word). Refused: the impact features would be read at a wrong speed.
 */
static int speed_off_setpoints(const char *where, const char *dev, double rate,
			       const double *setpoints, unsigned nsp, double hz, const char *what)
{
	char sp[256];
	size_t len = 0;

	for (unsigned k = 0; k < nsp; k++)
		if (hz >= 0.95 * setpoints[k] * (1 - 1e-3) && hz <= 1.02 * setpoints[k] * (1 + 1e-3))
			return 0;
	sp[0] = '\0';
	for (unsigned k = 0; k < nsp && len < sizeof(sp) - 32; k++)
		len += (size_t)snprintf(sp + len, sizeof(sp) - len, "%s%g", k ? " " : "",
					setpoints[k]);
	fprintf(stderr, "linegate-train: %s: device %s: its %s came out at %.3f Hz, not within "
		"0.95-1.02 of any of its set points (%s Hz): the recording's shaft lines are not "
		"where they were declared. Most likely its sample rate is wrong (%g Hz: the file's "
		"own, else --sample-rate; a wrong rate moves every frequency by the same factor); "
		"else check its set points\n", where, dev, what, hz, sp, rate);
	return -EINVAL;
}

/*
 * A speed found at an edge of its search (0.95 x the lowest set point, 1.02 x the highest:
 * within 1.5 steps of its grid of 2e-4 in ln f) was not found: the search ran out of range,
 * where the lines it sums rise on (trial s20 H M2: fans with a 7-blade pass, 0 gear teeth
 * declared, came out at 0.95 x their speed exactly). Said, not refused: detection can still
 * work, but the orders are read at that speed.
 */
static void speed_at_edge(const char *where, const char *dev, const double *setpoints,
			  unsigned nsp, double hz, const char *what)
{
	double lo = setpoints[0], hi = setpoints[0], tol = exp(1.5 * 2e-4);

	for (unsigned k = 1; k < nsp; k++) {
		lo = fmin(lo, setpoints[k]);
		hi = fmax(hi, setpoints[k]);
	}
	if (hz > 0.95 * lo * tol && hz < 1.02 * hi / tol)
		return;
	fprintf(stderr, "linegate-train: warning: %s: device %s: its %s, %.3f Hz, is the %s edge "
		"of its search (%s x its %s set point, %g Hz): the search ran out of range, it "
		"found no speed there. Its orders are read at that speed: check the set points "
		"(the machine runs %s them?), the gear teeth (a blade or vane count is a gear's "
		"teeth here), or a longer window (--window revR)\n", where, dev, what, hz,
		hz <= 0.95 * lo * tol ? "lower" : "upper", hz <= 0.95 * lo * tol ? "0.95" : "1.02",
		hz <= 0.95 * lo * tol ? "lowest" : "highest", hz <= 0.95 * lo * tol ? lo : hi,
		hz <= 0.95 * lo * tol ? "below" : "above");
}

/* The healthy windows of one device, split into blocks: 2 train, 1 calibrate, 1 check. */
enum { ROLE_OTHER, ROLE_CAL, ROLE_CHK };
enum { VERDICT_NONE, VERDICT_QUIET, VERDICT_ALARM };

struct dev_rows {
	const struct lg_ingest_dev *dev;
	unsigned window;    /* its samples per window (fc->window, or its own with revR) */
	struct lg_win_rows w;
	size_t ntrain, ncal, nchk;
	float *train, *cal; /* rows (channels per window) */
	size_t *chk;        /* window indices */
	size_t *calidx;     /* the calibration rows' window indices */
	unsigned char *trainwin; /* w.n: 1 for the windows it was trained on */
	unsigned char *role;     /* w.n: ROLE_CAL, ROLE_CHK, else ROLE_OTHER */
	/* w.n: the model's verdict on each held-back window it was judged on (cross-fitted, or
	 * at its threshold on the check blocks): 0 not judged, VERDICT_QUIET, VERDICT_ALARM;
	 * --compare judges the model now active on exactly these windows */
	unsigned char *verdict;
	bool cv;                 /* judged by cross-fitting (pooled_thresholds()): cvk of cvn */
	unsigned long long cvk, cvn;
	size_t nfaulty, nunknown;
	size_t ndropout;    /* healthy windows left out as sensor dropouts (knn) */
	struct lg_order_ref oref; /* orders96-time5: the device's reference lines */
	struct lg_imp_model imp;  /* orders96-time5-imp9/-imp10/-imp11: its "impact" */
};

/* A device's data, for a fit that fails: "N windows of W samples (H healthy) from FILE, ..."
 * (the files its segments came from). */
static const char *data_of(const struct lg_ingest *in, const struct dev_rows *r, char *buf,
			   size_t len)
{
	size_t u = (size_t)snprintf(buf, len, "%zu windows of %u samples (%zu healthy) from ",
				    r->w.n, r->window, r->ntrain + r->ncal + r->nchk);
	unsigned shown = 0;

	unsigned last = ~0u; /* files are read in order: a device's segments' files ascend */

	for (size_t s = 0; s < r->dev->nseg && u < len && shown <= 8; s++)
		for (unsigned f = r->dev->seg[s].file; f <= r->dev->seg[s].file_last; f++) {
			if (f == last || f >= in->nfiles)
				continue; /* said already */
			last = f;
			if (shown++ == 8) {
				u += (size_t)snprintf(buf + u, len - u, ", ...");
				break;
			}
			u += (size_t)snprintf(buf + u, len - u, "%s%s", shown > 1 ? ", " : "",
					      in->files[f]);
		}
	return buf;
}

/* Where machine m was declared, for messages: FILE:LINE of --nameplate, or (a retrain
 * without it) the base model's detector of the device. */
static const char *plate_where(const struct file_conf *fc, const struct lg_machine *m,
			       char *buf, size_t len)
{
	if (fc->nameplate)
		snprintf(buf, len, "%s:%u", fc->nameplate, m->line);
	else
		snprintf(buf, len, "%s, device %s's 'retrain'", fc->base, m->name);
	return buf;
}

/* orders96-time5-imp9/-imp10/-imp11: the device's "impact" from its declaration (--nameplate,
 * or with --base its detector's set points and gear) and its healthy windows
 * (lg_win_impact_fit(); -imp10 and -imp11 with floor_lines' own speed and bands). */
static int impact_fit(const struct file_conf *fc, struct dev_rows *r)
{
	const struct lg_machine *m = lg_machines_find(fc->mach, fc->nmach, r->dev->name);
	char where[4200];
	int ret;

	if (!m && !fc->nameplate) {
		fprintf(stderr, "linegate-train: --base %s has no detector with set points for "
			"device %s (the %s layout needs each device's set points and gear teeth): "
			"give --nameplate FILE\n", fc->base, r->dev->name,
			lg_feat_layout_name(fc->layout));
		return -EINVAL;
	}
	if (!m) {
		fprintf(stderr, "linegate-train: --nameplate %s has no line for device %s (the "
			"%s layout needs each device's set points and gear teeth)\n",
			fc->nameplate, r->dev->name, lg_feat_layout_name(fc->layout));
		return -EINVAL;
	}
	plate_where(fc, m, where, sizeof(where));
	/* A set point the recording cannot show (trial: 9000 Hz on a 10240 Hz device ended
	 * in "out of memory"), or one too slow for any window, is the declaration's mistake:
	 * said with its line, before any work. */
	for (unsigned k = 0; k < m->nsp; k++)
		if (!(m->sp[k] >= 0.01) || m->sp[k] >= r->dev->rate / 2) {
			fprintf(stderr, "linegate-train: %s: device %s: a set point of %g Hz is "
				"not from 0.01 Hz to below half its sample rate (%g Hz)\n",
				where, r->dev->name, m->sp[k], r->dev->rate);
			return -EINVAL;
		}
	ret = lg_win_impact_fit(r->dev, r->window, &fc->truth, m->sp, m->nsp, &m->plate,
				lg_layout_imp_n(fc->layout) > LG_IMP_N, &r->imp);
	/* what the data plane would refuse is not signed either (detector.c holds a model's
	 * reference speed to 1e-3 .. half the sample rate) */
	if (!ret && !(r->imp.ref_hz >= 1e-3 && r->imp.ref_hz < r->dev->rate / 2)) {
		fprintf(stderr, "linegate-train: %s: the reference speed found, %g Hz, is not from "
			"0.001 Hz to below half the sample rate: check its set points (%s)\n",
			r->dev->name, r->imp.ref_hz, where);
		return -EINVAL;
	}
	if (ret == -ERANGE) {
		/* lg_impact_ref_speed(): its lines' grid starts at bin 16 */
		fprintf(stderr, "linegate-train: %s: its %u-sample windows at %g Hz cannot show "
			"the shaft's lines at its set points (%s): the impact layouts find the "
			"speed from lines above %.0f Hz (16 bins), and the set points' 1x-3x and "
			"gear mesh lie below. Give a longer window (--window revR with --shaft-hz, "
			"or -w)\n", r->dev->name, r->window, r->dev->rate, where,
			16.0 * r->dev->rate / (double)r->window);
		return ret;
	}
	if (ret) {
		fprintf(stderr, "linegate-train: %s: no reference speed or resonance band for the "
			"impact features (%s)\n", r->dev->name,
			ret == -EINVAL ? "no healthy window, or more than 16 channels" :
					 strerror(-ret));
		return ret;
	}
	fprintf(stderr, "linegate-train: %s: reference speed %.3f Hz (set points of %s), "
		"resonance band %.0f-%.0f Hz\n", r->dev->name, r->imp.ref_hz, where,
		r->imp.band[0][0], r->imp.band[0][1]);
	speed_at_edge(where, r->dev->name, m->sp, m->nsp, r->imp.ref_hz, "reference speed");
	if (r->imp.floor_ref_hz > 0)
		speed_at_edge(where, r->dev->name, m->sp, m->nsp, r->imp.floor_ref_hz,
			      "floor_lines' reference speed");
	if (speed_off_setpoints(where, r->dev->name, r->dev->rate, m->sp, m->nsp, r->imp.ref_hz,
				"reference speed") ||
	    (r->imp.floor_ref_hz > 0 &&
	     speed_off_setpoints(where, r->dev->name, r->dev->rate, m->sp, m->nsp,
				 r->imp.floor_ref_hz, "floor_lines' reference speed")))
		return -EINVAL;
	return 0;
}

/* skip_dropout (knn): a healthy window holding a sensor dropout is neither trained on, nor
 * calibrates, nor judged (the data plane does not score it), only counted. */
static int split_rows(struct dev_rows *r, const struct lg_truth *tr, bool skip_dropout)
{
	size_t nh = 0, block, k = 0, D = r->w.d;
	unsigned ch = r->w.channels;

	for (size_t i = 0; i < r->w.n; i++) {
		enum lg_win_truth t = lg_win_truth(tr, r->dev->name, r->w.t[i], r->w.dur);

		nh += t == LG_WIN_HEALTHY;
		r->nfaulty += t == LG_WIN_FAULTY;
		r->nunknown += t == LG_WIN_UNKNOWN;
	}
	r->train = malloc(sizeof(float) * D * ch * (nh + 1));
	r->cal = malloc(sizeof(float) * D * ch * (nh + 1));
	r->chk = malloc(sizeof(size_t) * (nh + 1));
	r->calidx = malloc(sizeof(size_t) * (nh + 1));
	r->trainwin = calloc(r->w.n + 1, 1);
	r->role = calloc(r->w.n + 1, 1);
	r->verdict = calloc(r->w.n + 1, 1);
	if (!r->train || !r->cal || !r->chk || !r->calidx || !r->trainwin || !r->role ||
	    !r->verdict)
		return -ENOMEM;
	/* Blocks of consecutive windows, so that neighbours (which look alike) do not land
	 * on both sides of a split: about 64 blocks, at least 1 window each. */
	block = nh / 64 ? nh / 64 : 1;
	for (size_t i = 0; i < r->w.n; i++) {
		const float *row = r->w.rows + i * ch * D;

		if (lg_win_truth(tr, r->dev->name, r->w.t[i], r->w.dur) != LG_WIN_HEALTHY)
			continue;
		/* the block a window falls in counts it either way (quality_proto.py's split) */
		if (skip_dropout && r->w.dropout[i]) {
			k++;
			r->ndropout++;
			continue;
		}
		switch ((k++ / block) % 4) {
		case 1:
			memcpy(r->cal + r->ncal * ch * D, row, sizeof(float) * ch * D);
			r->calidx[r->ncal++] = i;
			r->role[i] = ROLE_CAL;
			break;
		case 3:
			r->chk[r->nchk++] = i;
			r->role[i] = ROLE_CHK;
			break;
		default:
			memcpy(r->train + r->ntrain * ch * D, row, sizeof(float) * ch * D);
			r->ntrain++;
			r->trainwin[i] = 1;
		}
	}
	return 0;
}

/* The end of the last window the model learnt from (trained, calibrated or checked it: the
 * checked ones sit between the others), seconds from its device's first sample, the latest
 * of the devices: the model's "trained_until". */
static double trained_until(const struct dev_rows *devs, size_t n)
{
	double t = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = devs[i].w.n; j-- > 0;)
			if (devs[i].trainwin[j] || devs[i].role[j] != ROLE_OTHER) {
				t = fmax(t, devs[i].w.t[j] + devs[i].w.dur);
				break;
			}
	return t;
}

static void dev_rows_free(struct dev_rows *r)
{
	free(r->oref.lines);
	r->oref.lines = NULL;
	lg_win_rows_free(&r->w);
	free(r->train);
	free(r->cal);
	free(r->chk);
	free(r->calidx);
	free(r->trainwin);
	free(r->role);
	free(r->verdict);
}

static int cmp_f(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/*
 * The score exceeded with probability p, from n calibration rows. A few hundred rows cannot
 * show a 0.1% quantile, so the tail is modelled (peaks over a threshold): over u, the 90%
 * quantile, the excesses are taken as exponential with their mean beta, so
 * P(score > u + x) = 0.1 exp(-x / beta) and the threshold is u + beta ln(0.1 / p). Where
 * there are enough rows the empirical quantile is used when it is higher.
 */
#define TAIL_MIN_ROWS 20

/* -ENODATA: fewer than TAIL_MIN_ROWS calibration rows (the trainer says so, not "the fit") */
static int tail_threshold(struct lg_detector *det, const float *rows, size_t n, double p)
{
	float *sc;
	double u, beta = 0, t;
	size_t iu, m = 0;

	if (n < TAIL_MIN_ROWS)
		return -ENODATA;
	sc = malloc(sizeof(float) * (n + 1));
	if (!sc)
		return -ENOMEM;
	for (size_t i = 0; i < n; i += det->max_batch)
		lg_detector_score(det, rows + i * det->d, n - i < det->max_batch ? n - i :
			det->max_batch, sc + i);
	qsort(sc, n, sizeof(*sc), cmp_f);
	iu = (size_t)(0.9 * (double)(n - 1));
	u = sc[iu];
	for (size_t i = iu + 1; i < n; i++, m++)
		beta += sc[i] - u;
	beta = m ? beta / (double)m : 0;
	t = p < 0.1 ? u + beta * log(0.1 / p) : sc[(size_t)((1 - p) * (double)(n - 1))];
	if (p * (double)n >= 10 && sc[(size_t)((1 - p) * (double)(n - 1))] > t)
		t = sc[(size_t)((1 - p) * (double)(n - 1))];
	free(sc);
	det->threshold = (float)t;
	return t > 0 && isfinite(t) ? 0 : -EDOM;
}

/* Drift: the detector's per-feature reference (deciles, fractions) from the rows it was
 * fitted on, so the data plane can tell when a line's rows move away from them. */
/* The training (or calibration) rows of devs[0..n-1] in one block; *rows of them. */
static float *gather_rows(const struct dev_rows *devs, size_t n, bool cal, size_t *rows)
{
	size_t at = 0;
	float *all;

	size_t D = devs[0].w.d;

	*rows = 0;
	for (size_t i = 0; i < n; i++)
		*rows += (cal ? devs[i].ncal : devs[i].ntrain) * devs[i].w.channels;
	all = malloc(sizeof(float) * D * (*rows + 1));
	for (size_t i = 0; all && i < n; i++) {
		size_t k = (cal ? devs[i].ncal : devs[i].ntrain) * devs[i].w.channels;

		memcpy(all + at * D, cal ? devs[i].cal : devs[i].train, sizeof(float) * D * k);
		at += k;
	}
	return all;
}

/*
 * The reference's floor (lg_detector_add_psi_floor()): the PSI that device r's own healthy
 * windows, in the order the data plane sees them, reach block by block against det's
 * reference (channel c's rows alone with c >= 0: a kNN per channel; else every channel's).
 * A line whose operating point moves (set points, load) shows a block of one operating
 * point against a reference of all of them: that is no drift, and without the floor a
 * replay of the very recording the model was trained on raised PSI drift (loadgen -s 2,
 * 4 devices, psi_windows 1000: three devices at window 1000).
 */
static int add_floor(struct lg_detector *det, const struct dev_rows *r, int c, uint32_t block)
{
	unsigned ch = r->w.channels ? r->w.channels : 1, take = c >= 0 ? 1 : ch;
	size_t D = r->w.d, k = 0;
	float *rows = malloc(sizeof(float) * D * take * (r->w.n + 1));
	int ret;

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < r->w.n; i++) {
		const float *row = r->w.rows + i * ch * D + (c >= 0 ? (size_t)c * D : 0);

		if (!r->trainwin[i] && r->role[i] == ROLE_OTHER)
			continue; /* not healthy, or a dropout the data plane does not score */
		memcpy(rows + k * D, row, sizeof(float) * D * take);
		k += take;
	}
	/* Fewer healthy windows than one PSI block: no floor, said (trial L, s22: a drift
	 * candidate from a 30 s recording had none, raised PSI drift at its first block once
	 * approved, and nothing had said why). */
	if (block && k < (size_t)block * take) {
		char chan[24] = "";

		if (c >= 0)
			snprintf(chan, sizeof(chan), " channel %d", c);
		fprintf(stderr, "linegate-train: %s%s: %zu healthy windows, fewer than one PSI "
			"block (detection.drift.psi_windows %u): the model gets no drift floor for "
			"it, and a PSI drift may start at its first block even at the operating "
			"point it was trained on; train on a longer recording (for a retrain: "
			"detection.drift.retrain.record_seconds)\n", r->dev->name, chan,
			k / take, block);
	}
	ret = lg_detector_add_psi_floor(det, rows, k, take, block);
	free(rows);
	return ret;
}

static int add_reference(struct lg_detector *det, const struct dev_rows *devs, size_t n,
			 uint32_t block)
{
	size_t rows;
	float *all = gather_rows(devs, n, false, &rows);
	int ret;

	if (!all)
		return -ENOMEM;
	ret = lg_detector_set_reference(det, all, rows);
	free(all);
	/* Too few rows for deciles: the model has no drift reference, and says so. */
	if (ret)
		return ret == -EINVAL ? 0 : ret;
	for (size_t i = 0; !ret && i < n; i++)
		ret = add_floor(det, &devs[i], -1, block);
	return ret;
}

/*
 * After --dp-epsilon's noise on local statistics of n_local windows: say the count written
 * is noised, and warn when the noise swamps them (its sigma above a tenth of the windows:
 * the trial's 408 windows under sigma 684 wrote a count of 106 and fitted a threshold of
 * 3.8e6 from 11 of 18 features; a model from such statistics detects nothing).
 */
/* The noise swamps statistics of n windows: its sigma is above a tenth of them. */
static bool noise_swamps(double sigma, double n)
{
	return sigma > 0.1 * n;
}

static void dp_note(const struct lg_stats *st, double n_local)
{
	if (!(st->dp_sigma > 0))
		return;
	fprintf(stderr, "linegate-train: differential privacy: %.0f local windows, noise sigma "
		"%.3g on the count and on each sum (the count written is the noised one)\n",
		n_local, st->dp_sigma);
	if (noise_swamps(st->dp_sigma, n_local))
		fprintf(stderr, "linegate-train: warning: the noise (sigma %.3g) swamps the "
			"statistics of %.0f windows: a model fitted from them is noise, whatever "
			"its expected false alarms say. Export at least %.0f windows (10 x sigma: "
			"record longer, or merge several servers' before fitting), or a larger "
			"--dp-epsilon or smaller --clip\n",
			st->dp_sigma, n_local, ceil(10 * st->dp_sigma));
}

/*
 * Before a fit from statistics that carry noise: the fit's own warning when the noise swamps
 * them (sigma above a tenth of the count, which is the noised one here). Trial L, s22: the
 * exports warned, but the server that fitted a noised merge signed a model of threshold
 * 1.7e5 that caught nothing, and said nothing.
 */
static void fit_noise_note(const struct lg_stats *st)
{
	if (noise_swamps(st->dp_sigma, st->n))
		fprintf(stderr, "linegate-train: warning: the statistics this model is fitted "
			"from carry differential-privacy noise of sigma %.3g against %.0f windows "
			"(a noised count): the model is fitted to noise and may detect nothing, "
			"whatever its expected false alarms say. Merge at least %.0f windows (10 x "
			"sigma) or export with a larger --dp-epsilon or smaller --clip "
			"(docs/models.md)\n", st->dp_sigma, st->n, ceil(10 * st->dp_sigma));
}

/*
 * After the local rows went in with a clip: say the share clipped, warn when it is above
 * 5% and refuse above half. Clipping bounds a row's weight for the DP noise; a clip that
 * clips most rows has flattened them onto its sphere, and the model fitted from them
 * detects nothing (trial s20 H4: the simulator's reference and --clip 8 on another line's
 * rows, a threshold of 4.9e4 and no fault caught). Nothing of this leaves the server.
 */
static int clip_note(const struct lg_stats *st, const char *shift_from)
{
	double share;

	if (!(st->clip > 0) || !(st->nadded > 0))
		return 0;
	share = st->nclipped / st->nadded;
	fprintf(stderr, "linegate-train: --clip %g: %.0f of %.0f rows clipped (%.1f%%)\n",
		st->clip, st->nclipped, st->nadded, 100 * share);
	if (share <= 0.05)
		return 0;
	fprintf(stderr, "linegate-train: %s: %.1f%% of this server's rows lie beyond --clip %g "
		"of the reference (%s): %s. Take the reference from this line (--shift-from a "
		"--pooled model of its healthy windows, or the servers' merged first export), "
		"or a larger --clip (docs/models.md, \"Federated statistics\")\n",
		share > 0.5 ? "error" : "warning", 100 * share, st->clip,
		shift_from ? shift_from : "no --shift-from: rows as they are",
		share > 0.5 ? "the clipped rows would fit a model that detects nothing; "
			      "nothing exported" :
			      "their weight is cut, and the model fitted from them is flattened");
	return share > 0.5 ? -EINVAL : 0;
}

/* The statistics of the training rows of devs[0..n-1] (shift and clip: fc's). */
static int local_stats(const struct file_conf *fc, struct dev_rows *devs, size_t n,
		       struct lg_stats *st)
{
	int ret = lg_stats_init(st, LG_FEAT_N, fc->shift_set ? fc->shift : NULL, fc->clip, NULL);

	if (!ret && fc->shift_set)
		ret = lg_stats_set_scale(st, fc->scale);
	if (!ret)
		ret = lg_stats_set_meta(st, devs[0].dev->rate, devs[0].window, LG_LAYOUT_BASIC);
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++)
		lg_stats_add(st, devs[i].train, devs[i].ntrain * devs[i].w.channels);
	return 0;
}

/* Fit one detector from st; threshold on the calibration rows of devs[0..n-1]. */
static int fit_stats(const struct file_conf *fc, const struct lg_stats *st, struct dev_rows *devs,
		     size_t n, struct lg_detector *det, unsigned *kept)
{
	size_t ncal;
	unsigned ch = devs[0].w.channels;
	float *cal;
	double q;
	int ret;

	for (size_t i = 0; i < n; i++)
		if (devs[i].w.channels > ch)
			ch = devs[i].w.channels;
	*kept = 0;
	{
		double *mean = calloc(LG_FEAT_N, sizeof(double)),
		       *cov = calloc(LG_FEAT_N * LG_FEAT_N, sizeof(double));
		double top = 0;

		if (mean && cov && !lg_stats_moments(st, mean, cov)) {
			for (int j = 0; j < LG_FEAT_N; j++)
				top = cov[j * LG_FEAT_N + j] > top ? cov[j * LG_FEAT_N + j] : top;
			for (int j = 0; j < LG_FEAT_N; j++)
				*kept += cov[j * LG_FEAT_N + j] > 1e-12 * top;
		}
		free(mean);
		free(cov);
	}
	ret = lg_detector_from_stats(st, fc->kind, fc->components, 256, det);
	if (!ret)
		ret = add_reference(det, devs, n, fc->psi_windows);
	if (ret)
		return ret;
	cal = gather_rows(devs, n, true, &ncal);
	if (!cal)
		return -ENOMEM;
	/* A window alerts when any of its channels does: per row, the rate is split. */
	q = fc->false_alarms / ch;
	ret = tail_threshold(det, cal, ncal, q);
	free(cal);
	return ret;
}

/* A detector per channel: each channel's threshold by the tail model on its calibration rows
 * (n rows, windows x det->nch channels). */
static int channel_tail_thresholds(struct lg_detector *det, const float *cal, size_t n, double p)
{
	size_t per = n / det->nch, d = det->d;
	float *one = malloc(sizeof(float) * d * (per + 1));
	int ret = one ? 0 : -ENOMEM;

	for (unsigned c = 0; !ret && c < det->nch; c++) {
		for (size_t i = 0; i < per; i++)
			memcpy(one + i * d, cal + (i * det->nch + c) * d, sizeof(float) * d);
		ret = tail_threshold(&det->ch[c], one, per, p);
		if (!ret)
			ret = lg_detector_knn_set_channel_threshold(det, c, det->ch[c].threshold);
	}
	free(one);
	return ret;
}

/*
 * The drift reference of a kNN detector from its n training rows (n x d): per channel when
 * it has a detector per channel (row i is channel i % nch), in each ch[c] only (the data
 * plane reads no other; a copy of channel 0's as the detector's own would add a third to a
 * two-channel model's reference bytes for no reader). Too few rows: none, as add_reference().
 */
static int knn_reference(struct lg_detector *det, const float *all, size_t n, size_t d,
			 const struct dev_rows *devs, size_t ndev, uint32_t block)
{
	size_t per = det->nch ? n / det->nch : n;
	float *one;
	int ret = 0;

	if (per < LG_REF_BINS)
		return 0;
	if (!det->nch) {
		ret = lg_detector_set_reference(det, all, n);
		for (size_t i = 0; !ret && i < ndev; i++)
			ret = add_floor(det, &devs[i], -1, block);
		return ret;
	}
	one = malloc(sizeof(float) * per * d);
	if (!one)
		return -ENOMEM;
	for (unsigned c = 0; !ret && c < det->nch; c++) {
		for (size_t i = 0; i < per; i++)
			memcpy(one + i * d, all + (i * det->nch + c) * d, sizeof(float) * d);
		ret = lg_detector_set_reference(&det->ch[c], one, per);
		for (size_t i = 0; !ret && i < ndev; i++)
			ret = add_floor(&det->ch[c], &devs[i], (int)c, block);
	}
	free(one);
	return ret;
}

/*
 * kNN on the training rows of devs[0..n-1] (issue 8, bench/quality_proto.py's
 * bt16_knn1_c128): the wide row's 5 time features weighted 16, at most LG_KNN_CAP rows per
 * channel; threshold from the calibration rows by the tail model (one machine; several
 * trained together get the pooled threshold after, pooled_thresholds()).
 */
static int fit_knn(const struct file_conf *fc, struct dev_rows *devs, size_t n,
		   struct lg_detector *det, unsigned *kept, bool pooled_after)
{
	size_t rows, ncal, D = devs[0].w.d;
	unsigned ch = devs[0].w.channels, groups = ch;
	float *all, *cal, *wt;
	int ret;

	for (size_t i = 0; i < n; i++) {
		if (devs[i].w.channels != groups)
			groups = 1; /* devices of other channel counts: one cover for all rows */
		if (devs[i].w.channels > ch)
			ch = devs[i].w.channels;
	}
	all = gather_rows(devs, n, false, &rows);
	wt = malloc(sizeof(float) * D);
	if (!all || !wt) {
		free(all);
		free(wt);
		return -ENOMEM;
	}
	/* the five time features at 16, the impact features at 4 (quality_proto.py's
	 * otiRTB4), -imp10's floor_lines at 16 (otiRTB4f16), -imp11's tsa3 after it at 4
	 * (otiRTB4t4f16), the bands at 1 */
	for (size_t j = 0; j < D; j++) {
		size_t tail = lg_layout_imp_n(fc->layout);

		wt[j] = 1.0f;
		if (fc->layout != LG_LAYOUT_BASIC && j + tail >= D - LG_WIDE_TIME_N && j + tail < D)
			wt[j] = 16.0f;
		if (j + tail >= D)
			wt[j] = 4.0f;
		if (tail > LG_IMP_N && j == D - tail + LG_IMP_N)
			wt[j] = 16.0f;
	}
	/* Devices of one channel count > 1: a detector per channel, each standardised and
	 * covered on its channel's rows alone (quality_proto.py's bt16_knn1); the channels of
	 * one device see other gains and resonances, one standardisation blurs them. */
	if (!rows)
		ret = -EINVAL;
	else if (groups > 1)
		ret = lg_detector_knn_fit_channels(all, rows, D, groups, wt, LG_KNN_CAP, fc->layout,
						   256, det);
	else
		ret = lg_detector_knn_fit(all, rows, D, groups, wt, LG_KNN_CAP, fc->layout, 256,
					  det);
	if (!ret)
		ret = knn_reference(det, all, rows, D, devs, n, fc->psi_windows);
	free(all);
	free(wt);
	if (ret)
		return ret;
	det->dropout_run = LG_DROPOUT_RUN;
	/* orders96-time5: the device's reference lines travel with its detector (one device:
	 * --pooled is refused for this layout) */
	if (lg_layout_orders(fc->layout)) {
		det->oref = devs[0].oref;
		det->oref.lines = malloc(sizeof(float) * devs[0].oref.m);
		if (!det->oref.lines)
			return -ENOMEM;
		memcpy(det->oref.lines, devs[0].oref.lines, sizeof(float) * devs[0].oref.m);
		det->imp = devs[0].imp;
	}
	*kept = (unsigned)D;
	if (pooled_after) {
		/* pooled_thresholds() sets every threshold from the line's calibration windows,
		 * which a device with fewer than the tail model's 20 (long windows, issue 8 step
		 * 6e) has too: placeholders until then */
		det->threshold = 1;
		for (unsigned c = 0; c < det->nch; c++)
			lg_detector_knn_set_channel_threshold(det, c, 1);
		return 0;
	}
	cal = gather_rows(devs, n, true, &ncal);
	if (!cal)
		return -ENOMEM;
	if (det->nch)
		ret = channel_tail_thresholds(det, cal, ncal, fc->false_alarms / ch);
	else
		ret = tail_threshold(det, cal, ncal, fc->false_alarms / ch);
	free(cal);
	return ret;
}

/* numpy.quantile's default (linear between the two nearest ranks) of n sorted values */
static double quantile_sorted(const float *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)floor(pos);

	if (lo + 1 >= n)
		return v[n - 1];
	return v[lo] + (v[lo + 1] - v[lo]) * (pos - (double)lo);
}

/*
 * The pooled line-wide threshold of several kNN detectors trained together (issue 8, docs/
 * benchmarks.md, quality_proto.py's pooled): each device's (and, for a detector per
 * channel, each channel's) held-back scores are normalised by their median and 90%
 * quantile, a window's normalised score is its channels' highest, one (1 - target) quantile
 * g of every device's normalised window scores is the line's, and a channel's threshold is
 * median + g (q90 - median). About 100 held-back windows per machine cannot show a 0.1%
 * quantile; the line's 20 000 can. A detector of one for all channels normalises the
 * window's highest channel score instead (models trained before per_channel).
 *
 * The held-back windows are judged by cross-fitting (docs/models.md, "How the threshold is
 * set"): g and the normalisation fitted on the calibration blocks judge the check blocks,
 * and fitted on the check blocks judge the calibration blocks; the model's own g and
 * normalisation are fitted on both. A 0.1% quantile over the line is set by a few
 * machines' rare states (a set-point change, a ramp) that come in runs, so one split's
 * check blocks alone told 0.037% on a line whose other half told 0.243% (the 150 s line2
 * line, seed 21): the two halves together are the fairer expectation.
 */
/*
 * Window j's raw score per channel (a detector per channel: each channel's own; else the
 * detector's), a window the detector was trained on scored without itself among the kept
 * rows (lg_detector_knn_score_self()): the smoothed scores of the windows next to it are
 * then those of windows the detector never saw, as on the line (quality_proto.py does the
 * same), not pulled down by a training window's distance 0.
 */
static void raw_scores(struct lg_detector *det, const struct dev_rows *r, size_t j, float *sc)
{
	unsigned ch = r->w.channels;
	const float *row = r->w.rows + j * ch * r->w.d;

	for (unsigned c = 0; c < ch; c++) {
		struct lg_detector *u = det->nch ? &det->ch[c < det->nch ? c : det->nch - 1] : det;

		if (r->trainwin[j])
			sc[c] = lg_detector_knn_score_self(u, row + c * r->w.d);
		else
			lg_detector_score(u, row + c * r->w.d, 1, &sc[c]);
	}
}

/* One device's scored windows in order (dropout windows left out, as the data plane leaves
 * them): each unit's raw score, and the window's role (ROLE_*). */
struct scored {
	size_t n;
	unsigned units;
	float *raw;          /* n * units */
	unsigned char *role; /* n */
	size_t *win;         /* n: the window of the device's rows (dropouts are skipped) */
};

static int scored_make(struct lg_detector *det, const struct dev_rows *r, struct scored *s)
{
	unsigned ch = r->w.channels;
	float sc[LG_INGEST_MAX_CHANNELS];

	s->n = 0;
	s->units = det->nch ? det->nch : 1;
	s->raw = malloc(sizeof(float) * (r->w.n + 1) * s->units);
	s->role = malloc(r->w.n + 1);
	s->win = malloc(sizeof(size_t) * (r->w.n + 1));
	if (!s->raw || !s->role || !s->win)
		return -ENOMEM;
	for (size_t j = 0; j < r->w.n; j++) {
		if (det->dropout_run && r->w.dropout[j])
			continue;
		raw_scores(det, r, j, sc);
		if (!det->nch)
			for (unsigned c = 1; c < ch; c++)
				sc[0] = sc[c] > sc[0] ? sc[c] : sc[0];
		memcpy(s->raw + s->n * s->units, sc, sizeof(float) * s->units);
		s->win[s->n] = j;
		s->role[s->n++] = r->role[j];
	}
	return 0;
}

/* Each unit's median and 90% quantile of its raw scores at the windows whose role is in
 * the mask; -EINVAL with fewer than 2 of them. */
static int scored_norm(const struct scored *s, unsigned mask, double *q50, double *q90)
{
	float *v = malloc(sizeof(float) * (s->n + 1));
	size_t k;

	if (!v)
		return -ENOMEM;
	for (unsigned u = 0; u < s->units; u++) {
		k = 0;
		for (size_t j = 0; j < s->n; j++)
			if (mask & (1u << s->role[j]))
				v[k++] = s->raw[j * s->units + u];
		if (k < 2) {
			free(v);
			return -EINVAL;
		}
		qsort(v, k, sizeof(*v), cmp_f);
		q50[u] = quantile_sorted(v, k, 0.5);
		q90[u] = quantile_sorted(v, k, 0.9);
	}
	free(v);
	return 0;
}

/* The smoothed normalised window scores of one device, every scored window in order, into
 * out (s->n): each unit's raw score normalised by q50 and q90, then lg_smooth_step() (the
 * means span training and held-back windows, as the data plane's do); a window's value is
 * its units' highest. */
static void scored_series(const struct scored *s, const double *q50, const double *q90,
			  unsigned smooth, float *out)
{
	struct lg_smooth_ch h[LG_INGEST_MAX_CHANNELS] = { 0 };

	for (size_t j = 0; j < s->n; j++) {
		float top = -INFINITY;

		for (unsigned u = 0; u < s->units; u++) {
			float v = (float)((s->raw[j * s->units + u] - q50[u]) /
					  (q90[u] - q50[u] + 1e-9));

			v = lg_smooth_step(&h[u], smooth, v);
			top = v > top ? v : top;
		}
		out[j] = top;
	}
}

/*
 * One fit of the pooled threshold: the normalisation of every device from its windows whose
 * role is in fit (q50, q90: n * M), its smoothed normalised series (ser[i]), and g, the
 * (1 - target) quantile of those series at the fitted windows of every device.
 */
static int pooled_fit(const struct file_conf *fc, const struct scored *sc, size_t n,
		      unsigned fit, double *q50, double *q90, float **ser, double *g)
{
	const unsigned M = LG_INGEST_MAX_CHANNELS;
	size_t total = 0, at = 0;
	float *all;
	int ret;

	/* a retrain (--base) keeps the line's g: only the normalisation is the device's, and
	 * no quantile is taken */
	for (size_t i = 0; !fc->has_g && i < n; i++)
		total += sc[i].n;
	all = fc->has_g ? NULL : malloc(sizeof(float) * (total + 1));
	if (!fc->has_g && !all)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ret = scored_norm(&sc[i], fit, q50 + i * M, q90 + i * M);
		if (ret) {
			free(all);
			return ret;
		}
		scored_series(&sc[i], q50 + i * M, q90 + i * M, fc->smooth, ser[i]);
		for (size_t j = 0; all && j < sc[i].n; j++)
			if (fit & (1u << sc[i].role[j]))
				all[at++] = ser[i][j];
	}
	if (all) {
		qsort(all, at, sizeof(*all), cmp_f);
		*g = quantile_sorted(all, at, 1 - fc->false_alarms);
	} else {
		*g = fc->g;
	}
	free(all);
	return 0;
}

/* The windows of devs[i] whose role is judge above g in ser[i], added to r->cvk, r->cvn. */
static void pooled_judge(const struct scored *sc, struct dev_rows *r, unsigned judge,
			 const float *ser, double g)
{
	for (size_t j = 0; j < sc->n; j++)
		if (judge & (1u << sc->role[j])) {
			r->cvk += ser[j] > g;
			r->cvn++;
			r->verdict[sc->win[j]] = ser[j] > g ? VERDICT_ALARM : VERDICT_QUIET;
		}
}

static int pooled_thresholds(const struct file_conf *fc, struct dev_rows *devs, size_t n,
			     struct lg_detector *det)
{
	const unsigned M = LG_INGEST_MAX_CHANNELS, CAL = 1u << ROLE_CAL, CHK = 1u << ROLE_CHK;
	double *q50 = calloc(n * M, sizeof(double)), *q90 = calloc(n * M, sizeof(double));
	double gcal = 0, gchk = 0, g = 0;
	struct scored *sc = calloc(n + 1, sizeof(*sc));
	float **ser = calloc(n + 1, sizeof(*ser));
	int ret = -ENOMEM;

	if (!q50 || !q90 || !sc || !ser)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (det[i].nch && det[i].nch != devs[i].w.channels) {
			ret = -EINVAL;
			goto out;
		}
		ret = scored_make(&det[i], &devs[i], &sc[i]);
		if (ret)
			goto out;
		ser[i] = malloc(sizeof(float) * (sc[i].n + 1));
		if (!ser[i]) {
			ret = -ENOMEM;
			goto out;
		}
		devs[i].cvk = devs[i].cvn = 0;
		devs[i].cv = true;
	}
	/* fitted on the calibration blocks, judged on the check blocks; the other way round */
	ret = pooled_fit(fc, sc, n, CAL, q50, q90, ser, &gcal);
	for (size_t i = 0; !ret && i < n; i++)
		pooled_judge(&sc[i], &devs[i], CHK, ser[i], gcal);
	if (!ret)
		ret = pooled_fit(fc, sc, n, CHK, q50, q90, ser, &gchk);
	for (size_t i = 0; !ret && i < n; i++)
		pooled_judge(&sc[i], &devs[i], CAL, ser[i], gchk);
	/* the model's own: on both */
	if (!ret)
		ret = pooled_fit(fc, sc, n, CAL | CHK, q50, q90, ser, &g);
	if (ret)
		goto out;
	ret = -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned units = det[i].nch ? det[i].nch : 1;

		for (unsigned u = 0; u < units; u++) {
			float t = (float)(q50[i * M + u] + g * (q90[i * M + u] - q50[i * M + u] +
								 1e-9));

			if (!(t > 0) || !isfinite(t))
				goto out;
			if (det[i].nch)
				lg_detector_knn_set_channel_threshold(&det[i], u, t);
			else
				det[i].threshold = t;
			if (fc->has_g)
				fprintf(stderr, "linegate-train: %s %s %u: median %.9g, q90 %.9g of "
					"%zu held-back windows, threshold %.9g\n",
					devs[i].dev->name, det[i].nch ? "channel" : "unit", u,
					q50[i * M + u], q90[i * M + u],
					devs[i].ncal + devs[i].nchk, t);
		}
		/* what a retrain of this device keeps (--base): the line's g */
		det[i].refit.has_g = 1;
		det[i].refit.g = g;
	}
	if (fc->has_g)
		fprintf(stderr, "linegate-train: pooled threshold: the base model's line g = %.17g "
			"(--base %s); each device (each channel): median + g (q90 - median) of "
			"its own held-back windows\n", g, fc->base);
	else
		fprintf(stderr, "linegate-train: pooled threshold: the held-back windows of %zu "
			"devices, the line's %.3f%% quantile of normalised scores g = %.4g (%.4g "
			"fitted on the calibration blocks alone, %.4g on the check blocks alone); "
			"each device (each channel): median + g (q90 - median)\n", n,
			100 * (1 - fc->false_alarms), g, gcal, gchk);
	ret = 0;
out:
	for (size_t i = 0; sc && ser && i < n; i++) {
		free(sc[i].raw);
		free(sc[i].role);
		free(sc[i].win);
		free(ser[i]);
	}
	free(sc);
	free(ser);
	free(q50);
	free(q90);
	return ret;
}

/* Fit one detector on the training rows of devs[0..n-1]. */
static int fit_one(const struct file_conf *fc, struct dev_rows *devs, size_t n,
		   struct lg_detector *det, unsigned *kept)
{
	struct lg_stats st;
	int ret;

	if (fc->kind == LG_DETECTOR_KNN)
		return fit_knn(fc, devs, n, det, kept, false);
	ret = local_stats(fc, devs, n, &st);

	if (!ret)
		ret = fit_stats(fc, &st, devs, n, det, kept);
	lg_stats_free(&st);
	return ret;
}

/*
 * The windows a model is judged on: without a comparison (cmp NULL) the candidate's
 * held-back windows (its check windows, or its calibration windows too where it was judged by
 * cross-fitting, r->cv), its verdicts kept in r->verdict; with one, the windows the
 * candidate was judged on (r->verdict) that start at or after cmp->after (those the model
 * to compare did not learn from), the candidate's alarms there counted in cmp.
 */
struct cmp_windows {
	double after;
	unsigned long long ck, cn; /* the candidate's alarms and windows among them */
};

static bool judged(const struct dev_rows *r, size_t j, unsigned judge, struct cmp_windows *cmp)
{
	if (!cmp)
		return judge & (1u << r->role[j]);
	if (r->verdict[j] == VERDICT_NONE || r->w.t[j] < cmp->after)
		return false;
	cmp->ck += r->verdict[j] == VERDICT_ALARM;
	cmp->cn++;
	return true;
}

/* False alarms of det on the windows of r judged() picks, added to *k, *n. */
static void check_one(struct lg_detector *det, struct dev_rows *r, unsigned smooth,
		      unsigned long long *k, unsigned long long *n, struct cmp_windows *cmp)
{
	unsigned judge = 1u << ROLE_CHK | (r->cv ? 1u << ROLE_CAL : 0);
	float scores[LG_INGEST_MAX_CHANNELS];
	struct lg_smooth_ch h[LG_INGEST_MAX_CHANNELS] = { 0 };

	if (smooth <= 1) {
		for (size_t j = 0; j < r->w.n; j++)
			if (judged(r, j, judge, cmp)) {
				int a = lg_win_alert(det, &r->w, j, scores);

				*k += a;
				++*n;
				if (!cmp)
					r->verdict[j] = a ? VERDICT_ALARM : VERDICT_QUIET;
			}
		return;
	}
	/* every scored window in order (the means span them, a training window scored as one
	 * never seen: raw_scores()), each channel's score brought to the detector's threshold
	 * as the data plane brings it, the held-back windows counted */
	for (size_t j = 0; j < r->w.n; j++) {
		int a = 0;

		if (det->dropout_run && r->w.dropout[j])
			continue;
		raw_scores(det, r, j, scores);
		for (unsigned q = 0; q < r->w.channels; q++) {
			float f = det->nch ? det->threshold /
					     det->ch[q < det->nch ? q : det->nch - 1].threshold : 1.0f;
			float v = lg_smooth_step(&h[q], smooth, scores[q] * f);

			a |= !(v <= det->threshold);
		}
		if (judged(r, j, judge, cmp)) {
			*k += a;
			++*n;
			if (!cmp)
				r->verdict[j] = a ? VERDICT_ALARM : VERDICT_QUIET;
		}
	}
}

/*
 * The normal level of det (lg_detector.normal_level, trial s19 C H2): what a healthy device
 * window scores over the threshold at NORMAL_Q of its held-back windows (calibration and
 * check blocks) on the devs[0..n-1] it serves, as the incident stage sees a window: each
 * channel's score brought to the detector's threshold and smoothed as the data plane does
 * (check_one()), the window's highest channel. An open incident resolves after resolve_after
 * windows in a row below threshold x max(hysteresis, level): with NORMAL_Q 0.99 a healthy
 * machine gives 10 in a row at a window with odds 0.99^10 = 0.90. At most 1 (a level at or
 * over the threshold: a window that does not alert is normal); 0 with under 10 windows.
 */
#define NORMAL_Q 0.99
#define NORMAL_MIN_WINDOWS 10

static int normal_level(struct lg_detector *det, struct dev_rows *devs, size_t n,
			unsigned smooth, float *level)
{
	const unsigned held = 1u << ROLE_CAL | 1u << ROLE_CHK;
	float scores[LG_INGEST_MAX_CHANNELS];
	size_t total = 0, k = 0;
	float *v;

	*level = 0;
	for (size_t i = 0; i < n; i++)
		total += devs[i].w.n;
	v = malloc(sizeof(float) * (total + 1));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct dev_rows *r = &devs[i];
		struct lg_smooth_ch h[LG_INGEST_MAX_CHANNELS] = { 0 };

		for (size_t j = 0; j < r->w.n; j++) {
			float top = 0;

			if (det->dropout_run && r->w.dropout[j])
				continue;
			if (smooth <= 1 && !(held & (1u << r->role[j])))
				continue;
			if (smooth <= 1) {
				lg_detector_score(det, r->w.rows + j * r->w.channels * r->w.d,
						  r->w.channels, scores);
			} else {
				raw_scores(det, r, j, scores);
				for (unsigned q = 0; q < r->w.channels; q++) {
					unsigned u = det->nch && q >= det->nch ? det->nch - 1 : q;
					float f = det->nch ? det->threshold / det->ch[u].threshold
							   : 1.0f;

					scores[q] = lg_smooth_step(&h[q], smooth, scores[q] * f);
				}
			}
			if (!(held & (1u << r->role[j])))
				continue;
			for (unsigned q = 0; q < r->w.channels; q++)
				if (scores[q] > top || !isfinite(scores[q]))
					top = isfinite(scores[q]) ? scores[q] : INFINITY;
			v[k++] = top / det->threshold;
		}
	}
	if (k >= NORMAL_MIN_WINDOWS) {
		double q;

		qsort(v, k, sizeof(*v), cmp_f);
		q = quantile_sorted(v, k, NORMAL_Q);
		*level = q < 1 ? (float)q : 1.0f;
		if (!(*level > 0))
			*level = 0;
	}
	free(v);
	return 0;
}

/* What --compare found: the model's alarms on the windows neither it nor the candidate
 * learnt from, and the candidate's on the very same windows. */
struct compare_res {
	unsigned long long k, w;  /* the model to compare */
	struct cmp_windows cmp;   /* .after: the first window start judged; the candidate's */
	size_t uncovered;         /* devices it has no detector for (left out) */
	bool same_samples;        /* trained on these very samples (the same data digest) */
	double trained_until;     /* its trained_until (0: not recorded) */
	/* the first device whose row in that model is another than the candidate's (scored on
	 * its own rows of the same windows; the candidate cannot be its shadow): "" = none */
	char other_row[200];
};

/*
 * A model file judged as the candidate is, on the windows neither learnt from: the
 * candidate's held-back windows (judged cross-fitted or on its check blocks: r->verdict),
 * and of those, where the model was trained on these very samples (its data digest is the
 * recording's), only the windows from its trained_until on; before that it learnt from them
 * (trained, calibrated or checked it), and judged there it would be flattered against a
 * candidate judged held out (a trial: 0.201% against 0.402% for two identical models).
 * Devices it has no detector for are left out and counted.
 */
static int compare_model(const char *path, unsigned window, struct dev_rows *devs, size_t n,
			 const char *digest, struct compare_res *res)
{
	struct lg_detector_set other;
	char err[1024];

	memset(res, 0, sizeof(*res));
	if (lg_detector_set_load(path, 256, &other, err, sizeof(err))) {
		fprintf(stderr, "linegate-train: --compare: %s\n", err);
		return -EINVAL;
	}
	res->same_samples = other.digest[0] && !strcmp(other.digest, digest);
	res->trained_until = other.trained_until > 0 ? other.trained_until : 0;
	/* the same samples and no trained_until (a model from before it was recorded): which
	 * of them it learnt from is unknown, so none is taken */
	res->cmp.after = !res->same_samples ? -INFINITY :
			 res->trained_until > 0 ? res->trained_until : INFINITY;
	if (other.window && other.window != window) {
		fprintf(stderr, "linegate-train: --compare %s: trained on %u-sample windows, the "
			"candidate on %u: train it with -w %u to compare the two\n", path,
			other.window, window, other.window);
		lg_detector_set_free(&other);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		int j = lg_detector_set_find(&other, devs[i].dev->name);

		if (j < 0) {
			res->uncovered++;
			continue;
		}
		if (other.det[j].window && other.det[j].window != devs[i].window) {
			fprintf(stderr, "linegate-train: --compare %s: device %s: trained on "
				"%u-sample windows, the candidate on %u: they cannot be judged on the "
				"same windows\n", path, devs[i].dev->name, other.det[j].window,
				devs[i].window);
			lg_detector_set_free(&other);
			return -EINVAL;
		}
		if (!res->other_row[0] && (other.det[j].layout != devs[i].w.layout ||
					   other.det[j].d != devs[i].w.d))
			snprintf(res->other_row, sizeof(res->other_row), "device %.60s: %s (%zu "
				 "features) against the candidate's %s (%zu)", devs[i].dev->name,
				 lg_feat_layout_name(other.det[j].layout), (size_t)other.det[j].d,
				 lg_feat_layout_name(devs[i].w.layout), (size_t)devs[i].w.d);
		/* orders96-time5: the rows depend on the model's reference lines too */
		if (other.det[j].layout != devs[i].w.layout || other.det[j].d != devs[i].w.d ||
		    lg_layout_orders(other.det[j].layout)) {
			/* another row than the candidate's: the same windows, its own rows */
			struct dev_rows tmp = devs[i];

			if (lg_win_rows_make(devs[i].dev, devs[i].window, &other.det[j].bands,
					     other.det[j].layout,
					     lg_layout_orders(other.det[j].layout) ?
						     &other.det[j].oref : NULL,
					     &other.det[j].imp, &tmp.w)) {
				lg_detector_set_free(&other);
				return -ENOMEM;
			}
			check_one(&other.det[j], &tmp, other.smooth, &res->k, &res->w, &res->cmp);
			lg_win_rows_free(&tmp.w);
			continue;
		}
		check_one(&other.det[j], &devs[i], other.smooth, &res->k, &res->w, &res->cmp);
	}
	lg_detector_set_free(&other);
	return 0;
}

static json_object *fa_object(unsigned long long k, unsigned long long n)
{
	json_object *o = json_object_new_object();
	double lo, hi;

	lg_wilson95(k, n, &lo, &hi);
	json_object_object_add(o, "false_alarms", json_object_new_int64((int64_t)k));
	json_object_object_add(o, "windows", json_object_new_int64((int64_t)n));
	json_object_object_add(o, "rate", json_object_new_double(n ? (double)k / (double)n : 0));
	json_object_object_add(o, "rate_lo", json_object_new_double(lo));
	json_object_object_add(o, "rate_hi", json_object_new_double(hi));
	return o;
}

/*
 * A candidate's folder: DIR/ID/model.json (unsigned), evaluation.json (its false alarms on
 * the held-back windows, and those of the model now active on the same windows), state
 * ("pending"). ID = the model's name and the UTC time.
 */
static int candidate_prepare(struct file_conf *fc, const char *name)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32], dir[4200], id[sizeof(fc->cand_id)];
	int e;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(id, sizeof(id), "%.63s-%s", name, stamp);
	snprintf(dir, sizeof(dir), "%s/%s", fc->candidate_dir, id);
	if (mkdir(fc->candidate_dir, 0750) && errno != EEXIST) {
		e = errno;
		fprintf(stderr, "linegate-train: %s: %s\n", fc->candidate_dir, strerror(e));
		return -e;
	}
	if (mkdir(dir, 0750)) {
		/* not made here (another run's of the same second?): not ours to remove */
		e = errno;
		fprintf(stderr, "linegate-train: %s: %s\n", dir, strerror(e));
		return -e;
	}
	/* from here on the folder is this run's: candidate_discard() removes it on failure */
	snprintf(fc->cand_id, sizeof(fc->cand_id), "%s", id);
	snprintf(fc->cand_path, sizeof(fc->cand_path), "%s/model.json", dir);
	fc->out = fc->cand_path;
	return 0;
}

/* A run that fails after candidate_prepare() leaves no folder behind: a half-made candidate
 * (model.json without evaluation.json and state) that no listing shows would only be found
 * by chance (a trial: --compare refused after the model was written). */
static void candidate_discard(const struct file_conf *fc)
{
	static const char *const files[] = { "model.json", "evaluation.json", "state" };
	char path[4300];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", fc->candidate_dir, fc->cand_id, files[i]);
		if (unlink(path) && errno != ENOENT)
			fprintf(stderr, "linegate-train: %s: %s\n", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/%s", fc->candidate_dir, fc->cand_id);
	if (rmdir(path))
		fprintf(stderr, "linegate-train: %s: %s (remove it by hand)\n", path,
			strerror(errno));
	else
		fprintf(stderr, "linegate-train: candidate %s not made (removed)\n", fc->cand_id);
}

/* evaluation.json's "active" and the printed comparison (compare_model()). */
static int compare_out(const struct file_conf *fc, struct dev_rows *devs, size_t n,
		       const char *digest, json_object *o)
{
	struct compare_res c;
	char on[600];
	json_object *a;
	double lo, hi, clo, chi;

	if (compare_model(fc->compare, fc->window, devs, n, digest, &c))
		return -EINVAL;
	if (!c.same_samples)
		snprintf(on, sizeof(on), "the candidate's held-back windows (%s has another "
			 "data digest: trained on other samples, or on another selection of "
			 "devices or time of these files)", fc->compare);
	else if (c.trained_until > 0)
		snprintf(on, sizeof(on), "the candidate's held-back windows from %.3f s on (%s "
			 "learnt from these very samples, the same data digest, up to %.3f s: its "
			 "trained_until)", c.trained_until, fc->compare, c.trained_until);
	else
		snprintf(on, sizeof(on), "none: %s was trained on these very samples (the same "
			 "data digest) and does not record up to where (no trained_until)",
			 fc->compare);
	if (!c.w) {
		/* No window it did not learn from: a figure would judge it on its own training
		 * windows against a candidate judged held out. Said, not printed as a rate. */
		char why[900];

		if (c.same_samples && c.trained_until > 0)
			snprintf(why, sizeof(why), "%s learnt from these very samples (the same data "
				 "digest) up to %.3f s (its trained_until), and none of the candidate's "
				 "held-back windows starts after that: judged on them it would be judged "
				 "on windows it learnt from. Judge both on a later recording "
				 "(linegate-quality --model), or train the candidate on one",
				 fc->compare, c.trained_until);
		else if (c.same_samples)
			snprintf(why, sizeof(why), "%s was trained on these very samples (the same "
				 "data digest) and does not say up to where (no trained_until): "
				 "judged on them it would be judged on windows it learnt from. Judge "
				 "both on a later recording (linegate-quality --model), or train the "
				 "candidate on one", fc->compare);
		else
			snprintf(why, sizeof(why), "%s has a detector for none of the candidate's "
				 "devices (%zu without one)", fc->compare, c.uncovered);
		a = json_object_new_object();
		json_object_object_add(a, "not_judged", json_object_new_string(why));
		printf("the model now active (%s): not compared: %s\n", fc->compare, why);
	} else {
		a = fa_object(c.k, c.w);
		json_object_object_add(a, "candidate_same_windows", fa_object(c.cmp.ck, c.cmp.cn));
		lg_wilson95(c.k, c.w, &lo, &hi);
		lg_wilson95(c.cmp.ck, c.cmp.cn, &clo, &chi);
		printf("the model now active (%s) on the same held-back windows as the candidate, "
		       "the %llu neither learnt from: %.3f%% false alarms (%llu, 95%% interval "
		       "%.3f%% to %.3f%%), the candidate %.3f%% (%llu, %.3f%% to %.3f%%)%s; judged "
		       "on: %s\n", fc->compare, c.w, 100.0 * (double)c.k / (double)c.w, c.k,
		       100 * lo, 100 * hi, 100.0 * (double)c.cmp.ck / (double)c.cmp.cn, c.cmp.ck,
		       100 * clo, 100 * chi, c.uncovered ? "; devices it has no detector for are "
							   "left out" : "", on);
	}
	if (c.other_row[0]) {
		/* Compared on the same windows (each on its own row), but never its shadow: said
		 * now, not only when an approval is refused (a docs trial). */
		char note[700];

		snprintf(note, sizeof(note), "%s reads another feature row (%s): the two were "
			 "judged on the same windows, each on its own row, but the candidate cannot "
			 "score in that model's shadow, so linegatectl models approve is refused "
			 "while it is the active model", fc->compare, c.other_row);
		json_object_object_add(a, "other_row", json_object_new_string(note));
		printf("note: %s\n", note);
	}
	json_object_object_add(a, "model", json_object_new_string(fc->compare));
	json_object_object_add(a, "judged_on", json_object_new_string(on));
	json_object_object_add(a, "devices_without_detector",
			       json_object_new_int64((int64_t)c.uncovered));
	json_object_object_add(o, "active", a);
	return 0;
}

static int candidate_finish(const struct file_conf *fc, struct dev_rows *devs, size_t n,
			    unsigned long long fa, unsigned long long fan, const char *digest)
{
	json_object *o = json_object_new_object();
	char path[4200], stamp[32], why[PATH_MAX + 300] = "";
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	int ret = 0;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "id", json_object_new_string(fc->cand_id));
	json_object_object_add(o, "created", json_object_new_string(stamp));
	json_object_object_add(o, "reason", json_object_new_string(fc->reason ? fc->reason :
								   "trained by hand"));
	json_object_object_add(o, "data_digest", json_object_new_string(digest));
	{
		/* What a person approves must be what was evaluated: the model's own hash. */
		char hex[65], *buf;
		size_t len;

		if (lg_read_file(fc->out, &buf, &len)) {
			json_object_put(o);
			fprintf(stderr, "linegate-train: cannot read %s back\n", fc->out);
			return -EIO;
		}
		lg_sha256_hex(buf, len, hex);
		free(buf);
		json_object_object_add(o, "model_sha256", json_object_new_string(hex));
	}
	json_object_object_add(o, "devices", json_object_new_int64((int64_t)n));
	json_object_object_add(o, "candidate", fa_object(fa, fan));
	/* what "false_alarms" counts: without labels or a range (linegated's retrain after a
	 * drift), every window of the recording is taken as healthy, a fault's too */
	json_object_object_add(o, "judged_on", json_object_new_string(
		fc->labels || fc->truth.before >= 0 || fc->truth.to > fc->truth.from ?
			"the held-back windows the labels or range call healthy" :
			"every held-back window of the recording, taken as healthy: if the "
			"recording holds a fault (a drift that was one), the candidate learnt it "
			"as normal and its rate is low for that reason; approve only a change "
			"known to be benign (a sensor swap, a new set point), never when a "
			"machine may be failing"));
	if (fc->compare && compare_out(fc, devs, n, digest, o)) {
		json_object_put(o);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s/evaluation.json", fc->candidate_dir, fc->cand_id);
	{
		int fd = lg_outpath_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, why,
					 sizeof(why));

		if (fd < 0 || json_object_to_fd(fd, o, JSON_C_TO_STRING_PRETTY))
			ret = -EIO;
		if (fd >= 0 && close(fd))
			ret = -EIO;
	}
	json_object_put(o);
	snprintf(path, sizeof(path), "%s/%s/state", fc->candidate_dir, fc->cand_id);
	f = ret ? NULL : lg_outpath_fopen(path, "w", why, sizeof(why));
	if (!f || fputs("pending\n", f) < 0 || fclose(f))
		ret = -EIO;
	if (ret)
		fprintf(stderr, "linegate-train: cannot write the candidate's files under "
			"%s/%s%s%s\n", fc->candidate_dir, fc->cand_id, why[0] ? ": " : "", why);
	else
		printf("candidate %s: linegatectl models show %s; approve or reject it\n",
		       fc->cand_id, fc->cand_id);
	return ret;
}

/*
 * --base: the base model, loaded once into fc->bset, and what a retrain takes from it that
 * holds for the whole model: the kind every detector has (knn only when all are; else the
 * default) and with it the layout of its rows (the base's first detector's, for knn), and the
 * line's pooled g (its detectors' "retrain"; all were given the same one).
 */
static int base_load(struct file_conf *fc, enum lg_detector_kind *kind,
		     enum lg_feat_layout *layout)
{
	struct lg_detector_set *b = &fc->bset;
	char err[1024];
	size_t knn = 0;

	if (lg_detector_set_load(fc->base, 1, b, err, sizeof(err))) {
		fprintf(stderr, "linegate-train: --base: %s\n", err);
		return -EINVAL;
	}
	for (size_t i = 0; i < b->n; i++) {
		knn += b->det[i].kind == LG_DETECTOR_KNN;
		if (b->det[i].refit.has_g && !fc->has_g) {
			fc->has_g = 1;
			fc->g = b->det[i].refit.g;
		}
	}
	if (b->n && knn == b->n) {
		if (kind)
			*kind = LG_DETECTOR_KNN;
		if (layout)
			*layout = b->det[0].layout;
	}
	return 0;
}

/* The base's own detector of device name (not its default), or NULL. */
static const struct lg_detector *base_det(const struct file_conf *fc, const char *name)
{
	for (size_t i = 0; i < fc->bset.nnames; i++)
		if (!strcmp(fc->bset.names[i], name))
			return &fc->bset.det[fc->bset.name_det[i]];
	return NULL;
}

/* --base without --nameplate, an impact layout: each device's declaration from its detector
 * in the base (set points from "retrain", gear teeth and bearing orders from "impact"); a
 * detector without set points has no line (base_devices() says what it lacks). */
static int base_plates(struct file_conf *fc)
{
	fc->mach = calloc(fc->bset.nnames + 1, sizeof(*fc->mach));
	if (!fc->mach)
		return -ENOMEM;
	for (size_t i = 0; i < fc->bset.nnames; i++) {
		const struct lg_detector *d = &fc->bset.det[fc->bset.name_det[i]];
		struct lg_machine *m = &fc->mach[fc->nmach];

		if (!d->refit.nsp || !(d->imp.ref_hz > 0))
			continue;
		snprintf(m->name, sizeof(m->name), "%s", fc->bset.names[i]);
		memcpy(m->sp, d->refit.sp, sizeof(double) * d->refit.nsp);
		m->nsp = d->refit.nsp;
		m->plate = d->imp.plate;
		fc->nmach++;
	}
	return 0;
}

/* Two declarations of one machine agree: the same set points in the same order, gear teeth
 * and bearing orders (both from the same arithmetic, so equal to rounding). */
static bool plate_agrees(const struct lg_machine *m, const struct lg_detector *d)
{
	bool same = m->nsp == d->refit.nsp && m->plate.z == d->imp.plate.z &&
		    fabs(m->plate.bpfo - d->imp.plate.bpfo) <= 1e-9 * fabs(d->imp.plate.bpfo) &&
		    fabs(m->plate.bpfi - d->imp.plate.bpfi) <= 1e-9 * fabs(d->imp.plate.bpfi);

	for (unsigned k = 0; same && k < m->nsp; k++)
		same = m->sp[k] == d->refit.sp[k];
	return same;
}

/*
 * --base: each device trained here that the base has a detector for is fitted again as that
 * one was: at its window (what --window revR resolved to when the base was trained), for the
 * impact layouts from its set points and gear, with the line's g when the base smooths. Given
 * explicitly (--window revR, --nameplate), they must agree with the base's. What a retrain
 * needs and the base lacks (a model from before "retrain") is refused, named.
 */
static int base_devices(const struct file_conf *fc, const struct lg_ingest *in,
			struct dev_rows *devs)
{
	for (size_t i = 0; i < in->ndev; i++) {
		const char *name = in->dev[i].name;
		const struct lg_detector *d = base_det(fc, name);
		char lacks[512] = "";

		if (!d)
			continue; /* a device new to the line: fitted as the options say */
		if (fc->revs > 0 && devs[i].window != d->window) {
			fprintf(stderr, "linegate-train: device %s: --window rev%g gives %u-sample "
				"windows, its detector in --base %s reads %u: a retrain keeps the "
				"base's window (leave --window and --shaft-hz out)\n", name, fc->revs,
				devs[i].window, fc->base, d->window);
			return -EINVAL;
		}
		if (d->channels && in->dev[i].channels != d->channels) {
			fprintf(stderr, "linegate-train: device %s: the recording has %u channel%s, "
				"its detector in --base %s was trained on %u: a retrain keeps the "
				"device's channels (the recording is of another sensor, or a "
				"channel is missing); a machine whose sensors changed is trained "
				"anew: train the whole line again, or enroll it under a new name\n",
				name,
				in->dev[i].channels, in->dev[i].channels == 1 ? "" : "s", fc->base,
				d->channels);
			return -EINVAL;
		}
		/* Its window in samples is a time at its rate: at another rate the same count
		 * covers another stretch of the machine (and orders, bands move) */
		if (d->sample_rate > 0 && fabs(in->dev[i].rate - d->sample_rate) > 1e-6 * d->sample_rate) {
			fprintf(stderr, "linegate-train: device %s: the recording is at %g Hz, its "
				"detector in --base %s was trained at %g Hz: a retrain keeps the "
				"device's sample rate (give the file's rate with --sample-rate if it "
				"was read wrong); a machine whose sensor now samples at another rate "
				"is trained anew, without --base for it\n", name, in->dev[i].rate,
				fc->base, d->sample_rate);
			return -EINVAL;
		}
		devs[i].window = d->window ? d->window : fc->window;
		if (fc->bset.smooth > 1 && !d->refit.has_g)
			snprintf(lacks, sizeof(lacks), "'pooled_g' (the line's g: its thresholds "
				 "are calibrated on the means of %u scores, which one device cannot "
				 "give)", fc->bset.smooth);
		if (lg_layout_imp_n(fc->layout) && d->imp.ref_hz > 0) {
			const struct lg_machine *m = lg_machines_find(fc->mach, fc->nmach, name);

			if (fc->nameplate && m && d->refit.nsp && !plate_agrees(m, d)) {
				fprintf(stderr, "linegate-train: %s:%u: device %s: the set points, "
					"gear teeth or bearing differ from its detector's in --base %s: "
					"a retrain keeps the base's (leave --nameplate out, or train the "
					"whole line with it)\n", fc->nameplate, m->line, name, fc->base);
				return -EINVAL;
			}
			if (!fc->nameplate && !d->refit.nsp)
				snprintf(lacks + strlen(lacks), sizeof(lacks) - strlen(lacks),
					 "%s'setpoints_hz' (the %s layout's set points: or give "
					 "--nameplate FILE)", *lacks ? " and " : "",
					 lg_feat_layout_name(fc->layout));
		}
		if (*lacks) {
			fprintf(stderr, "linegate-train: --base %s: device %s's detector has no %s "
				"in its \"retrain\": a model trained before linegate-train recorded "
				"them (2026-12-06) cannot be fitted again for one device; train the "
				"whole line again with the options of its first training\n", fc->base,
				name, lacks);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * --base: the detectors of base's devices that were not trained here move into set, as they
 * were (threshold, reference, rate, digest); its default detector too when set has none.
 */
static int add_base(const struct file_conf *fc, struct lg_detector_set *set)
{
	struct lg_detector_set b;
	char err[1024];
	int *moved = NULL, ret = -EINVAL;
	size_t kept = 0, cap;
	struct lg_detector *det;
	char (*names)[64];
	unsigned *name_det;

	if (lg_detector_set_load(fc->base, 1, &b, err, sizeof(err))) {
		fprintf(stderr, "linegate-train: --base: %s\n", err);
		return -EINVAL;
	}
	if (b.window && b.window != fc->window) {
		fprintf(stderr, "linegate-train: --base %s: trained on %u-sample windows, this "
			"model on %u (-w): one model serves one window\n", fc->base, b.window,
			fc->window);
		goto out;
	}
	cap = set->nnames + b.nnames + 1;
	moved = malloc((b.n + 1) * sizeof(*moved));
	det = realloc(set->det, (set->n + b.n + 1) * sizeof(*set->det));
	if (det)
		set->det = det;
	names = realloc(set->names, cap * sizeof(*set->names));
	if (names)
		set->names = names;
	name_det = realloc(set->name_det, cap * sizeof(*set->name_det));
	if (name_det)
		set->name_det = name_det;
	if (!moved || !det || !names || !name_det) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t j = 0; j < b.n; j++)
		moved[j] = -1;
	for (size_t i = 0; i < b.nnames; i++) {
		unsigned j = b.name_det[i];
		bool trained = false;

		for (size_t k = 0; k < set->nnames; k++)
			trained |= !strcmp(set->names[k], b.names[i]);
		if (trained)
			continue;
		if (moved[j] < 0) {
			set->det[set->n] = b.det[j];
			memset(&b.det[j], 0, sizeof(b.det[j])); /* set owns it now */
			moved[j] = (int)set->n++;
		}
		snprintf(set->names[set->nnames], 64, "%s", b.names[i]);
		set->name_det[set->nnames++] = (unsigned)moved[j];
		kept++;
	}
	if (set->fallback < 0 && b.fallback >= 0) {
		unsigned j = (unsigned)b.fallback;

		if (moved[j] < 0) {
			set->det[set->n] = b.det[j];
			memset(&b.det[j], 0, sizeof(b.det[j]));
			moved[j] = (int)set->n++;
		}
		set->fallback = moved[j];
	}
	for (size_t j = 0; j < set->n; j++)
		if (set->det[j].sample_rate != set->sample_rate)
			set->sample_rate = 0; /* the devices' own rates, detector by detector */
	printf("kept from %s: %zu device(s)%s\n", fc->base, kept,
	       set->fallback >= 0 && b.fallback >= 0 ? " and its default detector" : "");
	ret = 0;
out:
	free(moved);
	lg_detector_set_free(&b);
	return ret;
}

/* The public half of secret key file key, as hex, into signer[65] (what the model records:
 * informative, the .sig is what is verified); -1 with the reason said when it is no key. */
static int sign_key_load(const char *path, struct sign_key *k)
{
	char why[600];

	if (lg_sign_init() || lg_sign_read_secret(path, k->sk, why, sizeof(why))) {
		fprintf(stderr, "linegate-train: --sign-key %s\n", why);
		return -1;
	}
	for (int j = 0; j < LG_SIGN_PK_LEN; j++)
		snprintf(k->signer + 2 * j, 3, "%02x", k->sk[LG_SIGN_SK_LEN - LG_SIGN_PK_LEN + j]);
	k->have = true;
	return 0;
}

/* Sign the written model path with key k: path.sig, as linegatectl sign. */
static int sign_file(const struct sign_key *k, const char *path)
{
	uint8_t sig[LG_SIGN_SIG_LEN];
	char sigpath[4200], *buf;
	size_t len;

	snprintf(sigpath, sizeof(sigpath), "%s.sig", path);
	if (lg_read_file(path, &buf, &len)) {
		fprintf(stderr, "linegate-train: cannot read %s back to sign it\n", path);
		return -1;
	}
	lg_sign_buf(k->sk, buf, len, sig);
	free(buf);
	if (lg_hex_write_file(sigpath, sig, sizeof(sig), 0644)) {
		fprintf(stderr, "linegate-train: cannot write %s\n", sigpath);
		return -1;
	}
	return 0;
}

/*
 * Each device's channels and their rms and peak over every sample taken, in the units they
 * were read in (trial s20 H M3: a 16-bit WAV read as value/32768 trained a model that alerted
 * on 60% of a healthy line sending m/s^2, and nothing showed the scale): the line's frames
 * must carry the same units, or the model judges another amplitude.
 */
static void say_levels(const struct lg_ingest *in)
{
	for (size_t i = 0; i < in->ndev; i++) {
		const struct lg_ingest_dev *d = &in->dev[i];
		char line[1024];
		size_t u = 0;

		u += (size_t)snprintf(line + u, sizeof(line) - u, "%u channel%s, rms",
				      d->channels, d->channels == 1 ? "" : "s");
		for (unsigned c = 0; c < d->channels && u < sizeof(line); c++) {
			double ss = 0, pk = 0;
			size_t n = 0;

			for (size_t k = 0; k < d->nseg; k++)
				for (size_t j = 0; j < d->seg[k].n; j++) {
					double v = d->seg[k].x[c * d->seg[k].cap + j];

					ss += v * v;
					pk = fmax(pk, fabs(v));
				}
			for (size_t k = 0; k < d->nseg; k++)
				n += d->seg[k].n;
			u += (size_t)snprintf(line + u, sizeof(line) - u, " %.4g",
					      n ? sqrt(ss / (double)n) : 0.0);
			if (u < sizeof(line))
				u += (size_t)snprintf(line + u, sizeof(line) - u, " (peak %.4g)%s",
						      pk, c + 1 < d->channels ? "," : "");
		}
		fprintf(stderr, "linegate-train: %s: %s\n", d->name, line);
	}
	if (in->ndev)
		fprintf(stderr, "linegate-train: the levels above are in the units the files were "
			"read in (a 16-bit or 24-bit WAV or FLAC as a fraction of full scale unless "
			"--scale gives its units per full scale): the line's frames must carry the "
			"same units, or every window is judged at another amplitude\n");
}

/* The channel count every device has, 0 when they differ. */
static unsigned pooled_channels(const struct lg_ingest *in)
{
	for (size_t i = 1; i < in->ndev; i++)
		if (in->dev[i].channels != in->dev[0].channels)
			return 0;
	return in->ndev ? in->dev[0].channels : 0;
}

/* The windows --window revR picks from (the prototype's, bench/quality_proto.py rev_window) */
#define LG_REV_MIN_N 2048
#define LG_REV_MAX_N 16384

/* The smallest power of two from LG_REV_MIN_N to LG_REV_MAX_N samples at rate that holds revs
 * revolutions of a shaft at hz (LG_REV_MAX_N if none does). */
static unsigned rev_window(double rate, double hz, double revs)
{
	unsigned n = LG_REV_MIN_N;

	while (n < LG_REV_MAX_N && (double)n / rate * hz < revs)
		n *= 2;
	return n;
}

struct shaft_ctx {
	const struct file_conf *fc;
	const struct lg_ingest *in;
	double *hz;
	unsigned *line_of;
};

/* A --shaft-hz line (lg_shaft_hz_read()): the speed of a device of the recordings. */
static int shaft_line(void *ctx, const char *name, double v, unsigned ln, char *err,
		      size_t errlen)
{
	struct shaft_ctx *c = ctx;
	size_t k;

	for (k = 0; k < c->in->ndev && strcmp(c->in->dev[k].name, name); k++)
		;
	if (k == c->in->ndev) {
		/* a device of the line not in these recordings: said, in case of a typo */
		fprintf(stderr, "linegate-train: warning: %s:%u: device %s is not in the "
			"recordings (line ignored)\n", c->fc->shaft_hz, ln, name);
		return 0;
	}
	if (c->line_of[k]) {
		snprintf(err, errlen, "%s:%u: device %s is on line %u already", c->fc->shaft_hz, ln,
			 name, c->line_of[k]);
		return -EINVAL;
	}
	c->hz[k] = v;
	c->line_of[k] = ln;
	return 0;
}

/*
 * --shaft-hz FILE: CSV device,Hz, one line per device, the lowest shaft speed it runs at (the
 * nameplate's or the PLC's lowest set point); '#' starts a comment; a first line whose Hz is
 * not a number is a header (read by lg_shaft_hz_read(), machines.h). Each device of the
 * recordings gets its window (r->window); a device without a line, a bad line or a device
 * named twice is refused with FILE:LINE.
 */
static int rev_windows(const struct file_conf *fc, const struct lg_ingest *in,
		       struct dev_rows *devs)
{
	FILE *f = fopen(fc->shaft_hz, "r");
	double *hz = calloc(in->ndev, sizeof(*hz));
	unsigned *line_of = calloc(in->ndev, sizeof(*line_of)), count[16] = { 0 };
	struct shaft_ctx ctx = { fc, in, hz, line_of };
	char err[8192];
	int ret = -EINVAL;

	if (!f || !hz || !line_of) {
		fprintf(stderr, "linegate-train: --shaft-hz %s: %s\n", fc->shaft_hz,
			f ? "out of memory" : strerror(errno));
		goto out;
	}
	if (lg_shaft_hz_read(f, fc->shaft_hz, shaft_line, &ctx, err, sizeof(err))) {
		fprintf(stderr, "linegate-train: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < in->ndev; i++) {
		unsigned lg2 = 0;

		if (!line_of[i]) {
			fprintf(stderr, "linegate-train: %s: no line for device %s: --window rev%g "
				"needs each device's lowest shaft speed (device,Hz)\n", fc->shaft_hz,
				in->dev[i].name, fc->revs);
			goto out;
		}
		if (hz[i] >= in->dev[i].rate / 2) {
			fprintf(stderr, "linegate-train: %s:%u: device %s: a shaft at %g Hz turns "
				"faster than half its sample rate (%g Hz): not a speed its recording "
				"can show\n", fc->shaft_hz, line_of[i], in->dev[i].name, hz[i],
				in->dev[i].rate);
			goto out;
		}
		devs[i].window = rev_window(in->dev[i].rate, hz[i], fc->revs);
		while ((1u << lg2) < devs[i].window)
			lg2++;
		count[lg2 < 16 ? lg2 : 15]++;
		if ((double)devs[i].window / in->dev[i].rate * hz[i] < fc->revs)
			fprintf(stderr, "linegate-train: warning: %s: %u samples at %g Hz hold %.1f "
				"revolutions of its %g Hz shaft, under %g: the longest window "
				"--window revR takes\n", in->dev[i].name, devs[i].window,
				in->dev[i].rate, (double)devs[i].window / in->dev[i].rate * hz[i],
				hz[i], fc->revs);
	}
	fprintf(stderr, "linegate-train: --window rev%g: windows of", fc->revs);
	for (unsigned b = 0, first = 1; b < 16; b++)
		if (count[b]) {
			fprintf(stderr, "%s %u samples for %u device(s)", first ? "" : ",", 1u << b,
				count[b]);
			first = 0;
		}
	fprintf(stderr, " (and %u, the model's window, for the devices it does not name: the "
		"policy's detection.window must be %u)\n", fc->window, fc->window);
	ret = 0;
out:
	if (f)
		fclose(f);
	free(hz);
	free(line_of);
	return ret;
}

static int train_files(struct file_conf *fc)
{
	int asked_pooled; /* --pooled given (federated training pools as well) */
	struct lg_policy pol;
	struct lg_ingest in = { 0 };
	struct lg_detector_set set;
	struct dev_rows *devs = NULL;
	char err[1024], digest[65], what[2048];
	int have_pol = 0, ret = 1, mixed, fed = fc->stats_out || fc->nmerge, prefit;
	unsigned long long fa = 0, fan = 0, *devk = NULL, *devn = NULL;
	size_t ncv = 0; /* devices judged by cross-fitting: devk of devn each */
	struct lg_stats fst = { 0 };
	double lo, hi;

	memset(&set, 0, sizeof(set));
	set.fallback = -1;
	if (fc->policy) {
		/* Its device names, keys and window: the trainer runs no worker, and linegated
		 * runs it off the workers' cores. */
		lg_policy_check_cores(false);
		if (lg_policy_load(fc->policy, &pol, err, sizeof(err))) {
			fprintf(stderr, "linegate-train: %s\n", err);
			return 1;
		}
		have_pol = 1;
		if (!fc->window)
			fc->window = pol.window;
		else if (fc->window != pol.window)
			fprintf(stderr, "linegate-train: warning: -w %u, and the policy's "
				"detection.window is %u: linegate refuses a model trained on "
				"other windows than its detection.window; set detection.window: "
				"%u in the policy before you use this model (or train with -w "
				"%u)\n", fc->window, pol.window, fc->window, pol.window);
	}
	if (!fc->window)
		fc->window = 2048;
	fc->psi_windows = have_pol ? pol.drift.psi_windows : 1000;
	if (fc->compare) {
		/* Checked before the work: a model the candidate cannot be compared with. */
		struct lg_detector_set other;

		if (lg_detector_set_load(fc->compare, 1, &other, err, sizeof(err))) {
			fprintf(stderr, "linegate-train: --compare: %s\n", err);
			goto out;
		}
		if (other.window && other.window != fc->window) {
			fprintf(stderr, "linegate-train: --compare %s: trained on %u-sample windows, "
				"the candidate on %u (-w): they cannot be judged on the same windows\n",
				fc->compare, other.window, fc->window);
			lg_detector_set_free(&other);
			goto out;
		}
		lg_detector_set_free(&other);
	}
	in.allow_cut = fc->allow_cut;
	if (lg_ingest_all(&fc->from, have_pol ? &pol : NULL, fc->port, fc->only, &in,
			  "linegate-train") ||
	    lg_labels_check(fc->truth.labels, fc->labels, &in, "linegate-train"))
		goto out;
	mixed = 0;
	for (size_t i = 1; i < in.ndev; i++)
		mixed |= in.dev[i].rate != in.dev[0].rate;
	asked_pooled = fc->pooled;
	if (fed)
		fc->pooled = 1; /* statistics from several servers fit one detector */
	if (fc->smooth > 1 && in.ndev < 2 && !fc->base) {
		fprintf(stderr, "linegate-train: --smooth calibrates the pooled threshold of several "
			"devices trained together: give them all (not one; or --base a model of "
			"them that carries the line's g)\n");
		goto out;
	}
	if (mixed && fc->pooled && (asked_pooled || !fed)) {
		fprintf(stderr, "linegate-train: --pooled: one detector serves one sample rate, and "
			"these devices differ (%s %g Hz, ...): train one detector each\n",
			in.dev[0].name, in.dev[0].rate);
		goto out;
	}
	if (mixed && fc->pooled) {
		/* federated (--stats-out, --merge): the statistics are one detector's */
		fprintf(stderr, "linegate-train: federated statistics (--stats-out, --merge) are "
			"those of one detector, for one sample rate, and these devices differ (%s "
			"%g Hz, ...): export and merge each rate on its own, the devices of one "
			"rate in each (--only-device NAME from a recording of the whole line, one "
			"export per device, or a recording per rate)\n",
			in.dev[0].name, in.dev[0].rate);
		goto out;
	}
	for (size_t i = 0; i < in.ndev; i++)
		warn_flat(&in.dev[i]);
	/* A machine being added ('score: false') that the recording does not hold gets no
	 * detector of its own: said, not left to the model's default (trial s19 G). */
	for (size_t k = 0; have_pol && k < pol.ndevices; k++) {
		size_t i = 0;

		if (!pol.devices[k].unscored)
			continue;
		while (i < in.ndev && strcmp(in.dev[i].name, pol.devices[k].name))
			i++;
		if (i == in.ndev)
			fprintf(stderr, "linegate-train: warning: %s (id %u) is 'score: false' in the "
				"policy (a machine being added) and the recording holds none of its "
				"frames: the model gets no detector for it, so with 'score: false' "
				"removed its windows would be scored by the model's default detector, "
				"if any. Record it first (linegatectl record start --device %s)\n",
				pol.devices[k].name, pol.devices[k].id, pol.devices[k].name);
	}
	lg_ingest_digest(&in, digest);
	devs = calloc(in.ndev, sizeof(*devs));
	devk = calloc(in.ndev, sizeof(*devk));
	devn = calloc(in.ndev, sizeof(*devn));
	if (!devs || !devk || !devn)
		goto out;
	if (mixed) {
		fprintf(stderr, "linegate-train: %zu devices at their own rates, %u-sample windows\n",
			in.ndev, fc->window);
		/* each device's rate, as the trainer took it (a file's own or --sample-rate): the
		 * one place a wrong rate shows before the model is used (docs/getting-started-own-
		 * line.md); a long line is said per rate */
		for (size_t i = 0; i < in.ndev; i++) {
			size_t n = 0, first = i;

			for (size_t j = 0; j < i && first == i; j++)
				first = in.dev[j].rate == in.dev[i].rate ? j : first;
			if (first != i)
				continue;
			for (size_t j = i; j < in.ndev; j++)
				n += in.dev[j].rate == in.dev[i].rate;
			if (in.ndev <= 16)
				for (size_t j = i; j < in.ndev; j++) {
					if (in.dev[j].rate == in.dev[i].rate)
						fprintf(stderr, "linegate-train: %s: %g Hz\n",
							in.dev[j].name, in.dev[j].rate);
				}
			else
				fprintf(stderr, "linegate-train: %g Hz: %zu devices (%s, ...)\n",
					in.dev[i].rate, n, in.dev[i].name);
		}
	} else {
		fprintf(stderr, "linegate-train: %zu device(s) at %g Hz, %u-sample windows "
			"(%.1f ms)\n", in.ndev, in.dev[0].rate, fc->window,
			1000.0 * fc->window / in.dev[0].rate);
	}
	say_levels(&in);
	/* a nameplate line for a device the recordings lack: said, in case of a typo (as
	 * --shaft-hz does) */
	for (size_t k = 0; fc->nameplate && k < fc->nmach; k++) {
		size_t i = 0;

		while (i < in.ndev && strcmp(in.dev[i].name, fc->mach[k].name))
			i++;
		if (i == in.ndev)
			fprintf(stderr, "linegate-train: warning: %s:%u: device %s is not in the "
				"recordings (line ignored)\n", fc->nameplate, fc->mach[k].line,
				fc->mach[k].name);
	}
	if (fc->revs > 0 && rev_windows(fc, &in, devs))
		goto out;
	if (fc->base && base_devices(fc, &in, devs))
		goto out;
	if (fc->base && fc->smooth > 1 && in.ndev < 2 && !fc->has_g) {
		fprintf(stderr, "linegate-train: --base %s smooths (\"smooth\": %u) but none of its "
			"detectors has the line's 'pooled_g' in its \"retrain\" (a model trained "
			"before linegate-train recorded it, 2026-12-06): one device's threshold cannot "
			"be calibrated alone; train the whole line again\n", fc->base, fc->smooth);
		goto out;
	}
	for (size_t i = 0; i < in.ndev; i++) {
		struct dev_rows *r = &devs[i];

		r->dev = &in.dev[i];
		if (!r->window)
			r->window = fc->window;
		if (lg_layout_orders(fc->layout) &&
		    lg_win_order_ref(r->dev, r->window, &fc->truth, &r->oref)) {
			fprintf(stderr, "linegate-train: %s: no healthy window of %u samples for the "
				"orders96-time5 layout's reference lines\n", r->dev->name, r->window);
			goto out;
		}
		if (lg_layout_imp_n(fc->layout) && impact_fit(fc, r))
			goto out;
		if (lg_win_rows_make(r->dev, r->window, NULL, fc->layout,
				     lg_layout_orders(fc->layout) ? &r->oref : NULL, &r->imp,
				     &r->w) ||
		    split_rows(r, &fc->truth, fc->kind == LG_DETECTOR_KNN)) {
			fprintf(stderr, "linegate-train: out of memory\n");
			goto out;
		}
		if (!fc->pooled && r->ntrain + r->ncal + r->nchk < fc->min_windows) {
			fprintf(stderr, "linegate-train: %s: %zu healthy windows of %u samples "
				"(%.1f s of %.1f s read); at least %u are needed: %s, or give "
				"--pooled or --min-windows\n", r->dev->name,
				r->ntrain + r->ncal + r->nchk, r->window,
				(double)(r->ntrain + r->ncal + r->nchk) * r->w.dur,
				lg_ingest_seconds(r->dev), fc->min_windows,
				in.st.out_of_order ? "frames out of order were left out (the pcap "
				"line above: captures of one device whose sequence numbers overlap, "
				"such as one recording given twice); give each stream once" :
				"record longer");
			goto out;
		}
	}
	if (fed) {
		/* One detector from the pooled statistics: this server's (noised before they
		 * leave it) and the merged files; the threshold always from local windows. */
		if (fc->shift_set && shift_fits(fc->shift_from, fc->shift_rate, fc->shift_window,
						in.dev[0].rate, devs[0].window))
			goto out;
		if (!fc->no_local) {
			if (local_stats(fc, devs, in.ndev, &fst) || clip_note(&fst, fc->shift_from))
				goto out;
			double n_local = fst.n;

			if (fc->eps && lg_stats_add_noise(&fst, fc->eps, fc->delta, fc->dp_seed)) {
				fprintf(stderr, "linegate-train: --dp-epsilon must lie in (0, 1) and "
					"--dp-delta in (0, 1)\n");
				goto out;
			}
			dp_note(&fst, n_local);
		}
		if (merge_files(&fst, fc->merge, fc->nmerge, fc->no_local))
			goto out;
		if (fc->no_local && stats_fit_this(&fst, fc->merge[0], in.dev[0].rate, fc->window,
						   "this server's recordings are"))
			goto out;
		if (fc->stats_out) {
			if (lg_stats_save(&fst, fc->stats_out)) {
				fprintf(stderr, "linegate-train: cannot write %s\n", fc->stats_out);
				goto out;
			}
			fprintf(stderr, "linegate-train: statistics of %.0f windows%s -> %s\n", fst.n,
				fst.dp_sigma > 0 ? " (noised)" : "", fc->stats_out);
		}
		if (!fc->out) {
			ret = 0;
			goto out;
		}
		fit_noise_note(&fst);
	}
	prefit = fc->kind == LG_DETECTOR_KNN && !fc->pooled && (in.ndev > 1 || fc->has_g);
	set.window = fc->window;
	set.smooth = fc->smooth > 1 ? fc->smooth : 0;
	set.sample_rate = mixed ? 0 : in.dev[0].rate;
	memcpy(set.digest, digest, sizeof(digest));
	set.trained_until = trained_until(devs, in.ndev);
	set.det = calloc(in.ndev + 1, sizeof(*set.det));
	set.names = calloc(in.ndev + 1, sizeof(*set.names));
	set.name_det = calloc(in.ndev + 1, sizeof(*set.name_det));
	if (!set.det || !set.names || !set.name_det)
		goto out;
	/* kNN, several devices each with its own detector: fitted first, then one pooled
	 * line-wide threshold (pooled_thresholds()) before they are judged; with --base of a
	 * model that has one, the line's g is the base's, for one device as for several */
	if (prefit) {
		unsigned kept;

		for (size_t i = 0; i < in.ndev; i++)
			if (fit_knn(fc, &devs[i], 1, &set.det[i], &kept, true)) {
				fprintf(stderr, "linegate-train: %s: the fit failed (too few windows?): "
					"%s\n", devs[i].dev->name,
					data_of(&in, &devs[i], what, sizeof(what)));
				while (i--)
					lg_detector_free(&set.det[i]);
				goto out;
			}
		if (pooled_thresholds(fc, devs, in.ndev, set.det)) {
			fprintf(stderr, "linegate-train: the pooled threshold failed (too few "
				"calibration windows?)\n");
			for (size_t i = 0; i < in.ndev; i++)
				lg_detector_free(&set.det[i]);
			goto out;
		}
	}
	printf("%-20s %8s %8s %8s %10s %9s %22s\n", "device", "train", "thresh.", "check",
	       "threshold", "features", "false alarms/window");
	for (size_t i = 0; i < (fc->pooled ? 1 : in.ndev); i++) {
		struct lg_detector *det = &set.det[set.n];
		unsigned kept = (unsigned)devs[fc->pooled ? 0 : i].w.d;
		unsigned long long k = 0, n = 0;

		int fr = prefit ? 0 :
			 fed	? fit_stats(fc, &fst, devs, in.ndev, det, &kept) :
				  fit_one(fc, fc->pooled ? devs : &devs[i], fc->pooled ? in.ndev : 1, det,
					  &kept);

		if (fr == -ENODATA) {
			unsigned ch = devs[fc->pooled ? 0 : i].w.channels;

			/* a real 5 s recording met it with --min-windows 20 (docs/benchmarks.md,
			 * "A real recording"): say what is short, not "the fit failed" */
			fprintf(stderr, "linegate-train: %s: too few calibration windows for its "
				"threshold: its tail model needs %d rows (windows x its %u "
				"channel(s)), and a quarter of the healthy windows calibrate: record "
				"at least %u healthy windows, or train several devices together with "
				"--detector knn (one line-wide threshold)\n",
				fc->pooled ? "pooled" : devs[i].dev->name, TAIL_MIN_ROWS, ch,
				(4 * TAIL_MIN_ROWS + (ch ? ch : 1) - 1) / (ch ? ch : 1));
			goto out;
		}
		if (fr) {
			if (fc->pooled)
				fprintf(stderr, "linegate-train: pooled: the fit failed (too few "
					"windows, or every window alike?)\n");
			for (size_t j = fc->pooled ? 0 : i; j < (fc->pooled ? in.ndev : i + 1); j++)
				fprintf(stderr, "linegate-train: %s: %s%s\n", devs[j].dev->name,
					fc->pooled ? "" : "the fit failed (too few windows, or every "
					"window alike?): ", data_of(&in, &devs[j], what, sizeof(what)));
			goto out;
		}
		set.n++;
		if (fc->kind != LG_DETECTOR_KNN && kept < LG_FEAT_N / 2)
			fprintf(stderr, "linegate-train: warning: %s: only %u of %d features vary in "
				"its healthy windows: a dead, stuck or disconnected sensor, or one that "
				"saturates? A detector of so few features alarms on nearly any change: "
				"look at the recording before you use it\n", fc->pooled ? "pooled" :
				devs[i].dev->name, kept, LG_FEAT_N);
		det->window = fc->pooled ? fc->window : devs[i].window;
		if (!fc->pooled && lg_layout_imp_n(fc->layout)) {
			/* what a retrain of this device needs (--base): its set points */
			const struct lg_machine *m = lg_machines_find(fc->mach, fc->nmach,
								      devs[i].dev->name);

			det->refit.nsp = m->nsp;
			memcpy(det->refit.sp, m->sp, sizeof(double) * m->nsp);
		}
		det->sample_rate = fc->pooled ? in.dev[0].rate : devs[i].dev->rate;
		/* the channels its windows had (the data plane drops frames of another count):
		 * pooled, the devices' common count, none when they differ or when other
		 * servers' statistics are in it */
		det->channels = fc->pooled ? (fed ? 0 : pooled_channels(&in))
					   : devs[i].dev->channels;
		snprintf(det->name, sizeof(det->name), "%s", fc->pooled ? "pooled" :
			 devs[i].dev->name);
		for (size_t j = fc->pooled ? 0 : i; j < (fc->pooled ? in.ndev : i + 1); j++) {
			struct dev_rows *r = &devs[j];
			unsigned long long dk = 0, dn = 0;

			if (r->cv) {
				/* cross-fitted (pooled_thresholds()): each held-back half judged
				 * by the threshold fitted on the other */
				dk = r->cvk;
				dn = r->cvn;
				devk[ncv] = dk;
				devn[ncv++] = dn;
			} else {
				check_one(det, r, fc->smooth, &dk, &dn, NULL);
			}
			k += dk;
			n += dn;
			lg_wilson95(dk, dn, &lo, &hi);
			printf("%-20s %8zu %8zu %8zu %10.4g %6u/%d %7.3f%% [%.3f, %.3f]%%\n",
			       r->dev->name, r->ntrain, r->ncal, r->nchk, det->threshold, kept,
			       (int)r->w.d, dn ? 100.0 * (double)dk / (double)dn : 0.0, 100 * lo,
			       100 * hi);
			if (fc->pooled) {
				snprintf(set.names[set.nnames], 64, "%s", r->dev->name);
				set.name_det[set.nnames++] = 0;
			}
		}
		if (!fc->pooled) {
			snprintf(set.names[set.nnames], 64, "%s", devs[i].dev->name);
			set.name_det[set.nnames++] = (unsigned)i;
			/* its own samples' digest: linegate-quality knows them again in files
			 * other than the whole training set's (trial T, s24) */
			lg_ingest_dev_digest(devs[i].dev, det->digest);
		}
		if (normal_level(det, fc->pooled ? devs : &devs[i], fc->pooled ? in.ndev : 1,
				 fc->smooth, &det->normal_level))
			goto out;
		fa += k;
		fan += n;
	}
	if (fc->kind == LG_DETECTOR_KNN) {
		size_t nd = 0;

		for (size_t i = 0; i < in.ndev; i++)
			nd += devs[i].ndropout;
		printf("sensor dropout windows (%d equal samples) neither trained on nor judged: "
		       "%zu (the data plane does not score them: linegate_windows_dropout_total)\n",
		       LG_DROPOUT_RUN, nd);
	}
	if (ncv) {
		/* alarms come in runs of a few machines' rare states: the interval resamples
		 * the devices (lg_cluster95()) */
		lg_cluster95(devk, devn, ncv, &lo, &hi);
		printf("note: the held-back windows (calibration and check blocks) are judged by "
		       "cross-fitting: the threshold fitted on the calibration blocks judges the "
		       "check blocks and the other way round; the model's threshold is fitted on "
		       "both%s; %s %zu devices\n",
		       fc->has_g ? " (g the base model's, the medians and q90s the device's)" : "",
		       ncv >= LG_CLUSTER_MIN ? "the interval resamples the" :
		       "the interval takes every window as independent (too narrow when alarms "
		       "come in runs; it resamples the devices from " "5 on), of the", ncv);
	} else {
		lg_wilson95(fa, fan, &lo, &hi);
	}
	printf("expected false alarms per window: %.3f%% (95%% interval %.3f%% to %.3f%%, %llu "
	       "held-back windows; target %.3f%%)\n", fan ? 100.0 * (double)fa / (double)fan : 0.0,
	       100 * lo, 100 * hi, fan, 100 * fc->false_alarms);
	/* A trial (s19 C M4): 0.16% expected from 100 s, 26.6% on the next 50 s of the same
	 * healthy line, whose states the 100 s had not held. */
	if (fan)
		printf("note: the interval is for data like this recording's held-back windows: a "
		       "state of the line it does not hold (another set point, load, product or "
		       "season) is not in it; judge the model on later data (linegate-quality "
		       "--after T) before you rely on it\n");
	if (fan && 3.0 / (double)fan > fc->false_alarms)
		printf("note: %llu held-back windows cannot tell a rate of %.3f%% from zero (that "
		       "needs about %.0f): record longer for a tighter interval\n", fan,
		       100 * fc->false_alarms, 3.0 / fc->false_alarms);
	printf("normal level (99%% of held-back windows score under it x threshold; an open "
	       "incident resolves below threshold x max(hysteresis, level)):");
	for (size_t i = 0; i < set.n; i++)
		printf(" %s %.3f", set.det[i].name, (double)set.det[i].normal_level);
	printf("\n");
	if (fc->pooled) {
		set.fallback = 0;
	}
	if (fc->base && add_base(fc, &set))
		goto out;
	for (size_t i = 1; i < set.n; i++)
		if (set.det[i].layout != set.det[0].layout) {
			fprintf(stderr, "linegate-train: --base %s: its detectors read another feature "
				"row (%s) than the new ones (%s): one model, one layout; train every "
				"device with --detector %s\n", fc->base,
				lg_feat_layout_name(set.det[i].layout),
				lg_feat_layout_name(set.det[0].layout),
				lg_detector_kind_name(set.det[0].kind));
			goto out;
		}
	if (fc->candidate_dir &&
	    candidate_prepare(fc, fc->name ? fc->name : "line"))
		goto out;
	{
		const char *b = strrchr(fc->out, '/');
		size_t k;

		b = b ? b + 1 : fc->out;
		k = strcspn(b, ".");
		snprintf(set.name, sizeof(set.name), "%.*s", (int)(k < 63 ? k : 63), b);
		if (fc->name)
			snprintf(set.name, sizeof(set.name), "%s", fc->name);
		set.version = 1;
	}
	if (fc->key.have)
		memcpy(set.signer, fc->key.signer, sizeof(set.signer));
	/* A set of one with a name list is still a set: it names the device it is for. */
	if (lg_detector_set_save(&set, fc->out)) {
		fprintf(stderr, "linegate-train: cannot write %s\n", fc->out);
		goto out;
	}
	if (fc->key.have && sign_file(&fc->key, fc->out))
		goto out;
	fprintf(stderr, "linegate-train: %zu detector(s), data digest %.16s..., trained on "
		"windows up to %.3f s -> %s%s\n", set.n, digest, set.trained_until, fc->out,
		fc->sign_key ? " (signed)" : "");
	if (fc->candidate_dir && candidate_finish(fc, devs, in.ndev, fa, fan, digest))
		goto out;
	ret = 0;
out:
	if (ret && fc->candidate_dir && fc->cand_id[0])
		candidate_discard(fc);
	lg_stats_free(&fst);
	for (size_t i = 0; devs && i < in.ndev; i++)
		dev_rows_free(&devs[i]);
	free(devs);
	free(devk);
	free(devn);
	lg_detector_set_free(&set);
	lg_ingest_free(&in);
	if (have_pol)
		lg_policy_free(&pol);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "stats-out", required_argument, NULL, 10 },
		{ "merge", required_argument, NULL, 11 },
		{ "no-local", no_argument, NULL, 12 },
		{ "detector", required_argument, NULL, 13 },
		{ "layout", required_argument, NULL, 48 },
		{ "components", required_argument, NULL, 14 },
		{ "machines", required_argument, NULL, 'm' },
		{ "windows", required_argument, NULL, 'n' },
		{ "window", required_argument, NULL, 'w' },
		{ "sample-rate", required_argument, NULL, 1 },
		{ "quantile", required_argument, NULL, 'q' },
		{ "margin", required_argument, NULL, 2 },
		{ "seed", required_argument, NULL, 's' },
		{ "shift-from", required_argument, NULL, 15 },
		{ "clip", required_argument, NULL, 16 },
		{ "dp-epsilon", required_argument, NULL, 17 },
		{ "dp-delta", required_argument, NULL, 18 },
		{ "dp-seed", required_argument, NULL, 19 },
		{ "from", required_argument, NULL, 30 },
		{ "scale", required_argument, NULL, 31 },
		{ "device", required_argument, NULL, 32 },
		{ "policy", required_argument, NULL, 33 },
		{ "port", required_argument, NULL, 34 },
		{ "labels", required_argument, NULL, 35 },
		{ "healthy-before", required_argument, NULL, 36 },
		{ "healthy-range", required_argument, NULL, 37 },
		{ "false-alarms", required_argument, NULL, 38 },
		{ "pooled", no_argument, NULL, 39 },
		{ "min-windows", required_argument, NULL, 40 },
		{ "sign-key", required_argument, NULL, 41 },
		{ "name", required_argument, NULL, 42 },
		{ "candidate-dir", required_argument, NULL, 43 },
		{ "compare", required_argument, NULL, 44 },
		{ "reason", required_argument, NULL, 45 },
		{ "base", required_argument, NULL, 46 },
		{ "only-device", required_argument, NULL, 47 },
		{ "allow-cut", no_argument, NULL, 90 },
		{ "memory", required_argument, NULL, 91 },
		{ "spill-dir", required_argument, NULL, 92 },
		{ "shaft-hz", required_argument, NULL, 60 },
		{ "smooth", required_argument, NULL, 61 },
		{ "nameplate", required_argument, NULL, 62 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct file_conf fc;
	int window_given = 0, kind_given = 0, layout_given = 0, longidx = 0;
	enum lg_feat_layout layout = LG_LAYOUT_BASIC;
	double num;
	struct lg_labels labels = { 0 };
	const char *out = NULL, *stats_out = NULL, *merge[MAX_MERGE], *shift_from = NULL;
	unsigned nmerge = 0;
	int no_local = 0, opt, ret = 1;
	double clip = 0, eps = 0, delta = 1e-6, shift[LG_FEAT_N] = { 0 }, scale[LG_FEAT_N];
	double ref_rate = 0;
	unsigned ref_window = 0;
	unsigned long long dp_seed = 0;
	struct lg_quality_conf c;
	struct lg_detector det = { 0 };
	struct lg_stats st = { 0 };
	float *rows = NULL;
	size_t n;

	lg_quality_defaults(&c);
	c.margin = 1.5;
	fc.truth.before = -1;
	fc.false_alarms = 0.001;
	fc.min_windows = 200;
	/* "+": stop at a file name, so that "--from A B C" (a shell glob) gives B and C to
	 * --from too, each with the options before it; then the options go on. */
more_options:
	while ((opt = getopt_long(argc, argv, "+o:m:n:w:q:s:h", lopts, &longidx)) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 10: stats_out = optarg; break;
		case 11:
			if (nmerge == MAX_MERGE) {
				fprintf(stderr, "linegate-train: at most %d --merge\n", MAX_MERGE);
				return 2;
			}
			merge[nmerge++] = optarg;
			break;
		case 12: no_local = 1; break;
		case 13:
			if (lg_detector_kind_parse(optarg, &c.kind)) {
				fputs(usage, stderr);
				return 2;
			}
			kind_given = 1;
			break;
		case 14: c.components = (size_t)atoi(optarg); break;
		case 'm': c.train_machines = (unsigned)atoi(optarg); break;
		case 'n': c.train_windows = (unsigned)atoi(optarg); break;
		case 'w':
			if (!strncmp(optarg, "rev", 3)) {
				/* a window per device in revolutions (--from with --shaft-hz) */
				char *end;

				fc.revs = strtod(optarg + 3, &end);
				if (end == optarg + 3 || *end || !(fc.revs > 0) || fc.revs > 1e4) {
					fprintf(stderr, "linegate-train: --window %s: want N (samples) "
						"or revR (R > 0 revolutions)\n", optarg);
					return 2;
				}
				break;
			}
			if (lg_opt_num("linegate-train", "window", optarg, 8, 65536, &num))
				return 2;
			if (num != (unsigned)num) {
				fprintf(stderr, "linegate-train: --window %s: a whole number of "
					"samples\n", optarg);
				return 2;
			}
			c.window = (unsigned)num;
			window_given = 1;
			/* allowed, but not what the features are made for (trial T, s24 LOW) */
			if (c.window < 256 || c.window % 2)
				fprintf(stderr, "linegate-train: warning: -w %u: %s; the bands and "
					"orders are laid out for even windows of 256 samples and more "
					"(docs/models.md recommends 2048, or revR)\n", c.window,
					c.window < 256 ? "a window this short leaves several features "
							 "without a bin of their own" :
							 "an odd window");
			break;
		case 1:
		case 30:
		case 31:
		case 32:
		case 91:
		case 92:
			if (lg_from_opt(&fc.from, lopts[longidx].name, optarg, "linegate-train"))
				return 2;
			c.fs = fc.from.rate ? fc.from.rate : c.fs;
			break;
		case 33: fc.policy = optarg; break;
		case 34:
			if (lg_opt_num("linegate-train", "port", optarg, 1, 65535, &num))
				return 2;
			fc.port = (uint16_t)num;
			break;
		case 35: fc.labels = optarg; break;
		case 36:
			if (lg_opt_num("linegate-train", "healthy-before", optarg, 0, 1e12,
				       &fc.truth.before))
				return 2;
			break;
		case 37:
			if (!strchr(optarg, ':') || (*strchr(optarg, ':') = '\0',
				lg_opt_num("linegate-train", "healthy-range A", optarg, 0, 1e12,
					   &fc.truth.from) ||
				lg_opt_num("linegate-train", "healthy-range B", optarg + strlen(optarg) + 1,
					   0, 1e12, &fc.truth.to)) ||
			    !(fc.truth.to > fc.truth.from)) {
				fprintf(stderr, "linegate-train: --healthy-range A:B, seconds, A < B\n");
				return 2;
			}
			break;
		case 38:
			if (lg_opt_num("linegate-train", "false-alarms", optarg, 1e-9, 0.5,
				       &fc.false_alarms))
				return 2;
			break;
		case 39: fc.pooled = 1; break;
		case 40:
			if (lg_opt_num("linegate-train", "min-windows", optarg, 20, 1e9, &num))
				return 2;
			fc.min_windows = (unsigned)num;
			break;
		case 41: fc.sign_key = optarg; break;
		case 42: fc.name = optarg; break;
		case 43: fc.candidate_dir = optarg; break;
		case 44: fc.compare = optarg; break;
		case 45: fc.reason = optarg; break;
		case 46: fc.base = optarg; break;
		case 47: fc.only = optarg; break;
		case 90: fc.allow_cut = 1; break;
		case 60: fc.shaft_hz = optarg; break;
		case 62: fc.nameplate = optarg; break;
		case 61:
			if (lg_opt_num("linegate-train", "smooth", optarg, 1, LG_SMOOTH_MAX, &num))
				return 2;
			fc.smooth = (unsigned)num;
			break;
		case 48:
			if (lg_feat_layout_parse(optarg, &layout)) {
				fprintf(stderr,
					"linegate-train: --layout: '%s' is not bands96-time5, "
					"orders96-time5, orders96-time5-imp9, orders96-time5-imp10 "
					"or orders96-time5-imp11\n",
					optarg);
				return 2;
			}
			layout_given = 1;
			break;
		case 'q': c.quantile = atof(optarg); break;
		case 2: c.margin = atof(optarg); break;
		case 's': c.train_seed = strtoull(optarg, NULL, 0); break;
		case 15: shift_from = optarg; break;
		case 16: clip = atof(optarg); break;
		case 17: eps = atof(optarg); break;
		case 18: delta = atof(optarg); break;
		case 19: dp_seed = strtoull(optarg, NULL, 0); break;
		case 'h': fputs(usage, stdout); return 0;
		default: return 2; /* getopt_long() said why */
		}
	}
	switch (lg_from_more(&fc.from, argc, argv, &optind, "linegate-train")) {
	case 1: goto more_options;
	case 0: break;
	default: return 2;
	}
	/* Retraining some devices of a kNN model (linegated after drift gives no --detector):
	 * the new detectors are of the kind the --base model's all are, of its layout, with its
	 * smoothing; an option that says otherwise is refused. */
	if (fc.base) {
		enum lg_feat_layout bl = LG_LAYOUT_BASIC;
		enum lg_detector_kind bk = LG_DETECTOR_MAHALANOBIS;
		unsigned bs;

		if (base_load(&fc, &bk, &bl))
			return 2;
		bs = fc.bset.smooth > 1 ? fc.bset.smooth : 1;
		if (!kind_given && bk == LG_DETECTOR_KNN)
			c.kind = bk;
		if (bk == LG_DETECTOR_KNN && c.kind == LG_DETECTOR_KNN && layout_given &&
		    layout != bl) {
			fprintf(stderr, "linegate-train: --layout %s: the rows of --base %s are %s: "
				"a retrain keeps the base's layout (one model, one layout; leave "
				"--layout out)\n", lg_feat_layout_name(layout), fc.base,
				lg_feat_layout_name(bl));
			return 2;
		}
		if (!layout_given && c.kind == LG_DETECTOR_KNN)
			layout = bl;
		if (fc.smooth && fc.smooth != bs) {
			fprintf(stderr, "linegate-train: --smooth %u: --base %s scores %s: a retrain "
				"keeps the base's smoothing, one for the model (leave --smooth out)\n",
				fc.smooth, fc.base, bs > 1 ? "the mean of each channel's last scores" :
				"each window's own score");
			return 2;
		}
		if (bs > 1)
			fc.smooth = bs;
	}
	if (!layout_given && c.kind == LG_DETECTOR_KNN && layout == LG_LAYOUT_BASIC)
		layout = LG_LAYOUT_BANDS96_TIME5;
	if (layout_given && (c.kind != LG_DETECTOR_KNN || layout == LG_LAYOUT_BASIC)) {
		fputs("linegate-train: --layout is for --detector knn: bands96-time5 (its default) "
		      "or orders96-time5\n", stderr);
		return 2;
	}
	if (lg_layout_orders(layout) && fc.pooled) {
		fputs("linegate-train: --layout orders96-time5 finds each device's speed against "
		      "its own reference lines: one detector per device, not --pooled\n", stderr);
		return 2;
	}
	if (c.kind == LG_DETECTOR_KNN && (!fc.from.n || stats_out || nmerge)) {
		fputs("linegate-train: --detector knn is trained on recordings (--from) and keeps "
		      "training rows, not statistics: not from simulated machines, --stats-out or "
		      "--merge\n", stderr);
		return 2;
	}
	if ((fc.revs > 0) != !!fc.shaft_hz || (fc.revs > 0 && (!fc.from.n || fc.pooled ||
							       stats_out || nmerge))) {
		fputs("linegate-train: --window revR and --shaft-hz go together, with --from and "
		      "a detector per device (not --pooled, --stats-out or --merge: one detector "
		      "reads one window)\n", stderr);
		return 2;
	}
	/* a retrain without --nameplate takes each device's from its detector in --base */
	if (!!lg_layout_imp_n(layout) != !!fc.nameplate && !(fc.base && lg_layout_imp_n(layout))) {
		fputs("linegate-train: --layout orders96-time5-imp9 (or -imp10, -imp11) and "
		      "--nameplate FILE go together (each device's set points, gear teeth and "
		      "bearing)\n",
		      stderr);
		return 2;
	}
	if (fc.base && lg_layout_imp_n(layout) && !fc.nameplate && base_plates(&fc)) {
		fputs("linegate-train: out of memory\n", stderr);
		return 1;
	}
	if (fc.nameplate) {
		char err3[600];

		if (lg_machines_load(fc.nameplate, &fc.mach, &fc.nmach, err3, sizeof(err3))) {
			fprintf(stderr, "linegate-train: %s\n", err3);
			return 2;
		}
	}
	if (fc.smooth > 1 && (c.kind != LG_DETECTOR_KNN || fc.pooled)) {
		fputs("linegate-train: --smooth M calibrates the pooled threshold of several kNN "
		      "detectors (--detector knn, not --pooled) on the mean of each channel's last M "
		      "scores\n", stderr);
		return 2;
	}
	/* A key it cannot use (world-readable, not a key) is refused before the training, not
	 * after a results table that reads as success (trial s19 C). */
	if (fc.sign_key && sign_key_load(fc.sign_key, &fc.key))
		return 1;
	if (fc.from.n) {
		char err2[1024];
		int given = !!fc.labels + (fc.truth.before >= 0) + (fc.truth.to > fc.truth.from);

		if ((!out && !stats_out && !fc.candidate_dir) || (out && fc.candidate_dir) ||
		    (fc.compare && !fc.candidate_dir) || (fc.base && fc.pooled) || given > 1 || (eps && !(clip > 0)) ||
		    !(fc.false_alarms > 0 && fc.false_alarms < 0.5) || (window_given && c.window < 8)) {
			fprintf(stderr, "linegate-train: --from needs one of --out and --candidate-dir "
				"(--compare only with it) or --stats-out, --base not with --pooled, at most "
				"one of --labels, --healthy-before and --healthy-range, --false-alarms "
				"in (0, 0.5), and --clip with --dp-epsilon\n");
			return 2;
		}
		fc.stats_out = stats_out;
		fc.merge = (const char *const *)merge;
		fc.nmerge = nmerge;
		fc.no_local = no_local;
		fc.clip = clip;
		fc.eps = eps;
		fc.delta = delta;
		fc.dp_seed = dp_seed;
		if (shift_from) {
			if (load_shift(shift_from, fc.shift, fc.scale, &fc.shift_rate,
				       &fc.shift_window))
				return 1;
			fc.shift_set = 1;
			fc.shift_from = shift_from;
		}
		if (fc.labels) {
			if (lg_labels_load(fc.labels, &labels, err2, sizeof(err2))) {
				fprintf(stderr, "linegate-train: %s\n", err2);
				return 1;
			}
			fc.truth.labels = &labels;
		}
		if (!given)
			fprintf(stderr, "linegate-train: no --labels, --healthy-before or "
				"--healthy-range: every window is taken as healthy\n");
		fc.out = out;
		fc.kind = c.kind;
		fc.layout = c.kind == LG_DETECTOR_KNN ? layout : LG_LAYOUT_BASIC;
		fc.components = c.components;
		fc.window = window_given ? c.window : 0;
		openblas_set_num_threads(1);
		ret = train_files(&fc);
		explicit_bzero(&fc.key, sizeof(fc.key));
		lg_labels_free(&labels);
		free(fc.mach);
		lg_detector_set_free(&fc.bset);
		return ret;
	}
	if ((!out && !stats_out) || !c.train_machines || !c.train_windows || c.window < 8 ||
	    c.quantile <= 0 || c.quantile > 1 || c.margin <= 0 || clip < 0 ||
	    (no_local && !nmerge) || (eps && !(clip > 0)) || c.fs <= 0) {
		fputs(usage, stderr);
		return 2;
	}
	if (fc.sign_key && !out) {
		fputs("linegate-train: --sign-key signs the model --out writes (statistics files "
		      "are not signed)\n", stderr);
		return 2;
	}
	openblas_set_num_threads(1);
	if (shift_from && (load_shift(shift_from, shift, scale, &ref_rate, &ref_window) ||
			   shift_fits(shift_from, ref_rate, ref_window, c.fs, c.window)))
		return 1;
	rows = lg_quality_training_rows(&c, NULL, &n);
	if (!rows || lg_stats_init(&st, LG_FEAT_N, shift, clip, NULL) ||
	    (shift_from && lg_stats_set_scale(&st, scale)) ||
	    lg_stats_set_meta(&st, c.fs, c.window, LG_LAYOUT_BASIC)) {
		fprintf(stderr, "linegate-train: out of memory\n");
		goto out;
	}
	if (!no_local) {
		lg_stats_add(&st, rows, n);
		if (clip_note(&st, shift_from))
			goto out;
		/* Noise goes on what leaves this server: its own rows, before any merge. */
		if (eps && lg_stats_add_noise(&st, eps, delta, dp_seed)) {
			fprintf(stderr, "linegate-train: --dp-epsilon must lie in (0, 1) and "
					"--dp-delta in (0, 1)\n");
			goto out;
		}
		dp_note(&st, (double)n);
	}
	if (merge_files(&st, (const char *const *)merge, nmerge, no_local))
		goto out;
	if (no_local && out && stats_fit_this(&st, merge[0], c.fs, c.window,
					      "the simulated machines' windows (-r, -w) are"))
		goto out;
	if (stats_out && lg_stats_save(&st, stats_out)) {
		fprintf(stderr, "linegate-train: cannot write %s\n", stats_out);
		goto out;
	}
	if (out) {
		fit_noise_note(&st);
		if (lg_detector_from_stats(&st, c.kind, c.components, 256, &det) ||
		    lg_detector_calibrate(&det, rows, n, c.quantile, c.margin)) {
			fprintf(stderr, "linegate-train: the fit failed (degenerate "
					"statistics?)\n");
			goto out;
		}
		det.window = c.window;
		/* No drift reference: the simulator's rows describe no line (a model of them
		 * put PSI drift on every loadgen device at its first block, PSI 2.6-7.5), and
		 * drift means a line moving away from what the model learnt of it. */
		fprintf(stderr, "linegate-train: simulated machines: no drift reference in the "
			"model (PSI would compare the line with the simulator and start on every "
			"device); train on the line's recording (--from) for PSI drift, "
			"Page-Hinkley on the scores runs either way\n");
		if (fc.key.have)
			memcpy(det.signer, fc.key.signer, sizeof(det.signer));
		int sr = lg_detector_save(&det, out);

		if (sr) {
			char why[PATH_MAX + 300];

			if (lg_outpath_check(out, why, sizeof(why)))
				fprintf(stderr, "linegate-train: -o %s\n", why);
			else
				fprintf(stderr, "linegate-train: cannot write %s: %s\n", out,
					strerror(sr < 0 ? -sr : EIO));
			goto out;
		}
		/* Simulated machines too: --sign-key signs whatever model it writes. */
		if (fc.key.have && sign_file(&fc.key, out))
			goto out;
		fprintf(stderr, "linegate-train: %s from %.0f windows, threshold %.3f -> %s%s\n",
			lg_detector_kind_name(det.kind), st.n, det.threshold, out,
			fc.sign_key ? " (signed)" : "");
	}
	if (stats_out)
		fprintf(stderr, "linegate-train: statistics of %.0f windows%s -> %s\n", st.n,
			st.dp_sigma > 0 ? " (noised)" : "", stats_out);
	ret = 0;
out:
	explicit_bzero(&fc.key, sizeof(fc.key));
	lg_detector_free(&det);
	lg_stats_free(&st);
	free(rows);
	return ret;
}
