// SPDX-License-Identifier: MIT
/*
 * Impact features (issue 8 step 6e.2): what a spectrum does not see of a cracked tooth or a
 * spalled race, read in the shaft's angle. A port of bench/quality_proto.py's
 * impact_blocks(), the nine features of its variant otiRTB4 (IMP_NAMES[0:9]; the speed
 * jitter is left out, docs/benchmarks.md "Step 6e.2 in the prototype"), per channel of one
 * device window:
 *   0 rev_kurt_max, 1 rev_kurt_med, 2 rev_crest_max: per revolution, kurtosis and crest of
 *     the channel's resonance band (its gear mesh and 2nd mesh notched +-1.5 orders)
 *     resampled to the shaft angle; ln of the max, median, max over the revolutions;
 *   3 tsa_env_peak: that band's squared envelope averaged over the revolutions (TSA), ln
 *     of its peak over its median;
 *   4 mesh_bump: the raw signal's TSA, its orders 0.5 Z .. 1.5 Z, that band's envelope over
 *     the revolution with orders 0-3 taken out, ln of max over mean;
 *   5 eo_1x, 6 eo_bpfo, 7 eo_bpfi, 8 eo_bpfi_sb: the squared envelope's order spectrum over
 *     the window's revolutions at 1x-3x, BPFO x 1-3, BPFI x 1-3 and BPFI x 1-2 +- 1 order,
 *     ln of the peaks over the median floor around them.
 * The shaft angle is the unwrapped phase of the 1x line: the channels' spectra summed,
 * band-passed +-0.45 orders around the window's speed fw (a triangle), made analytic; one
 * revolution's worth of samples (at most n/4) dropped at each end. fw is the window's speed
 * ratio (lg_features_speed_ratio()) times the device's reference speed (linegate-train,
 * from the declared set points and gear teeth). Double precision throughout (FFTW's double
 * transforms): the features are held to the prototype's within 1e-6 (test_impact).
 */
#ifndef LINEGATE_IMPACT_H
#define LINEGATE_IMPACT_H

#include <stddef.h>

#define LG_IMP_N 9
/* Below this many whole revolutions in a window a synchronous average is no average: the
 * features are all 0 (docs/benchmarks.md: they hurt at window 2048). */
#define LG_IMP_MIN_REVS 3
/* Channels of a device the impact features (and a model's bands) hold. */
#define LG_IMP_CH_MAX 16
/* orders96-time5-imp10 (issue 8 step 6e.3): the nine, then floor_lines (column LG_IMP_N of
 * the tail, lg_impact_floor_lines()). */
#define LG_IMP_N10 (LG_IMP_N + 1)
/* orders96-time5-imp11 (step 6e.3): the -imp10 tail, then tsa3 (column LG_IMP_N10 of the
 * tail, struct lg_imp_hist). The widest impact tail of any layout. */
#define LG_IMP_N11 (LG_IMP_N10 + 1)
#define LG_IMP_NMAX LG_IMP_N11
/* tsa3: a window's squared-envelope TSA read at this many points of the revolution (the
 * prototype's tsae), averaged over the window and the LG_IMP_TSA_WIN - 1 windows before it */
#define LG_IMP_TSA_PTS 64
#define LG_IMP_TSA_WIN 3

/* What the operator declares of a machine, as the orders it makes: gear teeth and the
 * bearing's ball-pass orders (lg_imp_ball_pass()). */
struct lg_imp_plate {
	unsigned z;
	double bpfo, bpfi;
};

/* The textbook ball-pass orders of a bearing: BPFO = balls / 2 (1 - d / D cos a), BPFI =
 * balls / 2 (1 + d / D cos a) (d the ball's diameter, D the pitch diameter, a the contact
 * angle in degrees). -EINVAL unless balls >= 3, 0 < d < D and 0 <= a < 90. */
int lg_imp_ball_pass(unsigned balls, double pitch_mm, double ball_mm, double contact_deg,
		     double *bpfo, double *bpfi);

/* Buffers and FFTW plans for windows of n samples (even, >= 64) of up to max_ch channels. */
struct lg_impact;
int lg_impact_new(struct lg_impact **im, size_t n, unsigned max_ch);
void lg_impact_free(struct lg_impact *im);
/* The window length it was made for. */
size_t lg_impact_len(const struct lg_impact *im);

/*
 * The features of one device window: nch channels of n samples, channel c at
 * x + c * chstride; fs its sample rate, fw its shaft speed (Hz); band[2c], band[2c + 1] the
 * resonance band of channel c (Hz). out[c * LG_IMP_N + j], feature j of channel c. Returns
 * the whole revolutions the window holds (below LG_IMP_MIN_REVS out is all 0), or -errno
 * (-EINVAL for more channels than lg_impact_new() was given: then out is left alone).
 */
int lg_impact_window(struct lg_impact *im, const float *x, unsigned nch, size_t chstride, double fs,
		     double fw, const double *band, const struct lg_imp_plate *pl, float *out);

/*
 * floor_lines (issue 8 step 6e.3; quality_proto.py's floor_blocks(), column 0 of its flr
 * block) of each channel of one device window: ln of the median power of the channel's
 * resonance band (the bins k fs / n within band[2c] .. band[2c + 1], inclusive) less ln of
 * the power of the order lines 1x, 2x, 3x, (Z - 1) x, Z x, (Z + 1) x and 2 Z x at the
 * window's speed fw (Hz). The spectrum is the Hann power spectrum the orders row reads
 * (periodic Hann, |rfft((x - mean) hann)|^2 / (n sum hann^2)); a line's power is the sum of
 * the bins within +-max(2%, 2 bins) of it less that many bins of the median power within
 * +-3 times that (the floor under it), not below 0; lines under 2 bins or at or over 0.45 fs
 * count nothing. Load scales the lines and the broadband through the structure alike (the
 * ratio stays), slip's friction and impacts into the resonance raise the floor alone.
 * out[c * ostride], channel c (0 for a band holding no bin). 0, or -EINVAL (more channels
 * than lg_impact_new() was given, fs or fw not positive: out is left alone), -ENOMEM.
 */
int lg_impact_floor_lines(struct lg_impact *im, const float *x, unsigned nch, size_t chstride,
			  double fs, double fw, const double *band, unsigned z, float *out,
			  size_t ostride);

/*
 * tsa3 (orders96-time5-imp11, issue 8 step 6e.3; quality_proto.py's tsa3()): per channel, ln
 * of the peak over the median (+1e-12, then +1e-12) of the mean of the 64-point squared-
 * envelope TSAs (lg_impact_window()'s TSA, read at 64 points of the revolution with numpy's
 * interp and divided by its median + 1e-12) of the window and the 2 windows before it. The
 * 1x phase fixes the angle's origin, so the windows' TSAs line up. A device's last windows'
 * TSAs, kept from window to window by whoever makes its rows in order (the data plane's
 * worker per device, lg_win_rows_make() per recording). As the prototype's smooth(): a
 * window with a sensor dropout (LG_DROPOUT_RUN equal samples in a channel) or left
 * unscored takes its slot with no TSAs, which the windows after it leave out of their mean;
 * the dropout window's own tsa3 is the mean of the windows before it, or its own TSA's
 * with none. Where the prototype and the C port part: a window of fewer than
 * LG_IMP_MIN_REVS revolutions has no TSA (its tsa3 is 0, like its nine) and takes its slot
 * empty; the prototype averages any window's.
 */
struct lg_imp_hist {
	unsigned nch;			  /* channels it holds (0: none made) */
	unsigned next;			  /* the slot the next window takes */
	unsigned char ok[LG_IMP_TSA_WIN]; /* the slot holds a window's TSAs */
	double *tsa;			  /* LG_IMP_TSA_WIN x nch x LG_IMP_TSA_PTS */
};
/* Buffers for nch channels (1 .. LG_IMP_CH_MAX), empty: 0, -EINVAL, -ENOMEM (h zeroed: free
 * one made before). */
int lg_imp_hist_init(struct lg_imp_hist *h, unsigned nch);
/* Accepts a zeroed or freed one. */
void lg_imp_hist_free(struct lg_imp_hist *h);
/* No window before the next (another model, another window length). */
void lg_imp_hist_reset(struct lg_imp_hist *h);
/* A window not computed (a dropout the model does not score, impact features that failed):
 * its slot taken, empty. */
void lg_imp_hist_skip(struct lg_imp_hist *h);

/*
 * The impact tail of a row of orders96-time5-imp9 (nf = LG_IMP_N), -imp10 (nf = LG_IMP_N10)
 * or -imp11 (nf = LG_IMP_N11) for one device window, from the device's model (detector.h's
 * "impact"): the nine at ratio x its ref_hz in its bands (lg_impact_window()), for -imp10 and
 * -imp11 floor_lines at ratio x its floor_ref_hz in its floor_band
 * (lg_impact_floor_lines()), for -imp11 tsa3 over the window and hist's (which the window
 * then joins: every call with nf = LG_IMP_N11 takes a slot of hist, also when it fails). The
 * one function the data plane's worker, linegate-quality and linegate-train compute the tail
 * with. out[c * nf + j]. Returns lg_impact_window()'s: the whole revolutions, or -errno
 * (-EINVAL also for a model without the floor's fields asked for nf >= LG_IMP_N10, or for
 * nf = LG_IMP_N11 without hist or with one of fewer channels; out all 0).
 */
struct lg_imp_model;
int lg_impact_tail(struct lg_impact *im, const struct lg_imp_model *imp, const float *x,
		   unsigned nch, size_t chstride, double fs, double ratio, unsigned nf,
		   struct lg_imp_hist *hist, float *out);

/*
 * Training. The reference speed (Hz) of a device (quality_proto.py's ref_speed()): over
 * its reference windows (nwin windows of nch channels of n samples; window w, channel c at
 * x + w * winstride + c * chstride) the spectral lines of the channels' untapered power
 * spectra, each over its mean, summed (lines_loggrid(): log10 on a grid of 0.002 in ln f
 * from bin 16 to 0.45 fs, minus its moving mean over +-10%, negative part cut), averaged;
 * f0 the point of a grid of 2e-4 in ln f from 0.95 x the lowest declared set point sp[] to
 * 1.02 x the highest where the lines at 1, 2, 3, Z - 1, Z, Z + 1 and 2 Z times f0 sum
 * highest (z the declared gear teeth). -ERANGE when none of those lines, at any f0
 * searched, lies on the grid (all below bin 16: too short a window, or too high a rate, to
 * resolve the shaft's lines; f0 would be the search's lower edge, not a measurement).
 */
int lg_impact_ref_speed(const float *x, size_t nwin, unsigned nch, size_t n, size_t winstride,
			size_t chstride, double fs, const double *sp, size_t nsp, unsigned z,
			double *f0);
/* The resonance band of one channel (quality_proto.py's resonance_band()): over nwin
 * healthy windows (window w at x + w * winstride) the mean untapered power spectrum, log10,
 * on a grid of 0.01 in ln f from fs / 10 to 0.48 fs; the peak of its running median over
 * +-10 points (the broad hump: lines do not move a median), band[] = that / 1.2 and
 * min(that x 1.2, 0.48 fs). */
int lg_impact_band(const float *x, size_t nwin, size_t n, size_t winstride, double fs,
		   double band[2]);
/* The same two of the Hann power spectra (quality_proto.py's spectra(), normalised as
 * lg_impact_floor_lines() reads them), as the prototype's floor_blocks() finds the floor's
 * reference speed and band: they differ from the untapered ones (on 5 of the first 12
 * devices of seed 5's line2 the band, on 3 of them another resonance; the speed by up to
 * 0.1%), so an -imp10 model keeps both pairs. */
int lg_impact_floor_ref_speed(const float *x, size_t nwin, unsigned nch, size_t n, size_t winstride,
			      size_t chstride, double fs, const double *sp, size_t nsp, unsigned z,
			      double *f0);
int lg_impact_floor_band(const float *x, size_t nwin, size_t n, size_t winstride, double fs,
			 double band[2]);

#endif
