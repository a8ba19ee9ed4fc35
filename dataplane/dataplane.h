/* SPDX-License-Identifier: MIT */
/* Internal to the data plane: generations, workers, the output thread. */
#ifndef LINEGATE_DATAPLANE_H
#define LINEGATE_DATAPLANE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <linegate/backend.h>
#include <linegate/detector.h>
#include <linegate/features.h>
#include <linegate/follow.h>
#include <linegate/frame.h>
#include <linegate/impact.h>
#include <linegate/policy.h>

struct lg_uadp_keys;

/* An encrypted UADP message is decrypted into a worker buffer this large. */
#define LG_UADP_CLEAR_MAX 65536
#include <linegate/replay.h>
#include <linegate/uadp.h>

#include "drift.h"
#include "handoff.h"
#include "incident.h"
#include "latency.h"
#include "wake.h"
#include "mcast.h"
#include "reorder.h"
#include "statefile.h"

#define LG_MAX_WORKERS 64
#define LG_BURST 64
/* How often a worker exports verified sequences to XDP: a map update per device that
 * moved, never per frame. */
#define LG_EXPORT_NS 50000000ull

struct lg_admit;
struct lg_uadmit;
struct lg_mqtt;
struct lg_nats;
struct lg_opcua_mqtt;
struct lg_http;
struct lg_meta_tab;
struct lg_influx;

/* Latency histograms: the stages (latency.h), and the two older ones (the worker's pickup of a
 * window's first frame -> scored, -> published), on the same buckets. */
/* Time to insight of incidents (onset -> open), upper bounds in ms, then +Inf. */
#define LG_TTI_BUCKETS 11
extern const uint64_t lg_tti_bounds_ms[LG_TTI_BUCKETS - 1];
/* Rows per scored batch: upper bounds 1, 2, 4, ... 1024, then +Inf. */
#define LG_BATCH_BUCKETS 12

#define LG_EVENT_FIELDS 192
#define LG_UADP_META_FIELDS 12 /* scalar fields of a UADP device shown in its outputs */
#define LG_NONCE_RING 1024  /* MessageNonces remembered per UADP device with replay: nonce */ /* JSON members of a UADP window's other fields, NUL included */

/*
 * A device's frames dropped as one kind of mismatch (sample_rate: Hz; channels: a channel
 * count): written by its owner worker alone (verify.c, lg_mismatch_drop() and
 * lg_mismatch_pass()), read by the control thread (rate_watch.c: the log line and status
 * "not_scored").
 */
struct lg_mismatch {
	_Atomic uint64_t drops; /* every frame dropped so (sample_rate_drops, channels_drops) */
	/* The frames since the newest run of them began (the first after a frame that passed,
	 * or after another value or wanted value): what status says of the device now, not
	 * what another mismatch before it cost (a trial: 700 said, 300 meant). */
	_Atomic uint64_t run;
	/* The newest one's value and the one wanted (the policy's when from_policy, else the
	 * model's); bad while the device's newest frame went so, cleared once one passes. */
	_Atomic uint32_t got, want;
	_Atomic uint8_t bad, from_policy;
	uint64_t said, said_ns; /* the control thread's: drops when it last said so, and when */
};

/* The device's newest frame was dropped: its value got where want was wanted. */
static inline void lg_mismatch_drop(struct lg_mismatch *m, uint32_t got, uint32_t want,
				    bool from_policy)
{
	atomic_fetch_add_explicit(&m->drops, 1, memory_order_relaxed);
	/* a new run: after a frame that passed, or another value or wanted value */
	if (!atomic_load_explicit(&m->bad, memory_order_relaxed) ||
	    atomic_load_explicit(&m->got, memory_order_relaxed) != got ||
	    atomic_load_explicit(&m->want, memory_order_relaxed) != want ||
	    atomic_load_explicit(&m->from_policy, memory_order_relaxed) != from_policy)
		atomic_store_explicit(&m->run, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->run, 1, memory_order_relaxed);
	atomic_store_explicit(&m->want, want, memory_order_relaxed);
	atomic_store_explicit(&m->from_policy, from_policy, memory_order_relaxed);
	atomic_store_explicit(&m->got, got, memory_order_relaxed);
	atomic_store_explicit(&m->bad, 1, memory_order_relaxed);
}

/* The device's newest frame passed this check: the run (if any) ends. */
static inline void lg_mismatch_pass(struct lg_mismatch *m)
{
	if (atomic_load_explicit(&m->bad, memory_order_relaxed))
		atomic_store_explicit(&m->bad, 0, memory_order_relaxed);
}

/* Per device, written only by the device's owner worker (lg_gen.owner), whichever worker
 * received the frame. It outlives policy generations: a new generation takes over the same
 * object for the same id (and the same owner). */
struct lg_dev_state {
	struct lg_replay replay;
	/* The reorder stage (reorder.h): the next sequence its window expects, its held frames
	 * and its sequence figures (missing, reordered; late ones are drops[LG_DROP_LATE]). */
	struct lg_seq_order order;
	float *win;          /* channels x window samples, allocated on the first frame */
	uint32_t fill;       /* samples per channel in win */
	uint8_t channels;
	uint64_t last_seq;   /* sequence of the newest frame that went into win */
	/* A window holds consecutive samples only (lg_window_follow(), <linegate/follow.h>). */
	struct lg_follow follow;
	uint64_t first_rx_ns; /* arrival of the first frame of the window being filled */
	/* Keyed HMAC contexts for the device's key slots (LGF tags and UADP signatures
	 * alike), made on first use and remade when a new policy changes the key bytes. */
	struct lg_mac *mac[2];
	uint8_t mac_key[2][LG_KEY_LEN];
	/* The same for UADP security group keys (signing, encrypting, key nonce). */
	struct lg_uadp_keys *ukeys[2];
	uint8_t ukey_mat[2][LG_KEY_LEN + LG_UADP_ENC_KEY_MAX + LG_UADP_KEY_NONCE_LEN + 1];
	uint64_t exported_seq; /* highest sequence handed to the XDP replay pre-check */
	/* Made for a device whose keys were all replaced (generation.c): its window starts
	 * at 0, and its owner, once it runs the generation, sets the state folder's mark and
	 * admission's to what the window holds (lg_worker_replay_fresh()). Owner only. */
	bool replay_fresh;
	/* A fresh state's predecessor (the running generation's state of the device, NULL:
	 * none): what the owner keeps after all when, by the time it runs the new generation,
	 * a key the device keeps had a frame accepted into the old mark (generation.c). */
	struct lg_dev_state *fresh_old;
	/* The keys whose frames the replay mark covers, by fingerprint (key_fps()), without a
	 * state folder; with one, its slot holds them (lg_dev_mark_keys()). Owner only. */
	uint8_t mark_local[LG_HWM_KEYS][LG_HWM_FP_LEN];
	uint32_t win_len;      /* samples per channel win was made for (detection.window) */
	/* UADP: the newest DataSetMessage (or NetworkMessage) timestamp accepted, DateTime
	 * ticks, 0 = none yet: the guard of 'replay: sequence' against a wrapped sequence. */
	int64_t uadp_newest_ts;
	/* replay: nonce: the nonces of the last LG_NONCE_RING accepted messages with their
	 * timestamps (allocated on the first), and the high-water mark a previous run left. */
	struct lg_nonce_seen { uint64_t nonce; int64_t ts; } *nonces;
	unsigned nonce_next, nonce_count;
	int64_t nonce_floor;
	/* The window's source: its channels' DataSet field indices, the newest DateTime field
	 * value and the newest values of the other fields (lg_event says how they are shown). */
	uint8_t uadp_chan_field[LGF_MAX_CHANNELS];
	int64_t uadp_source_time;
	struct { uint16_t idx; char val[40]; } meta[LG_UADP_META_FIELDS]; /* by field index */
	uint8_t nmeta;
	/* The device's slot in the state folder's high-water file (statefile.c), NULL when
	 * there is none: the owner stores every sequence it commits, so that a restarted
	 * linegate refuses what this one accepted. */
	_Atomic uint64_t *hwm;
	_Atomic uint64_t admitted, windows, alerts;
	/* Issue 8: windows not scored as a sensor dropout (the model's dropout_run equal
	 * samples in a channel), linegate_windows_dropout_total */
	_Atomic uint64_t windows_dropout;
	/* Partial windows dropped because the device's next frame did not follow the last one
	 * (a lost frame, a pause of over a second): linegate_window_gaps_total */
	_Atomic uint64_t window_gaps;
	/* Issue 8 step 6e.2: windows not scored because their impact features could not be
	 * computed (window.c), linegate_windows_impact_failed_total */
	_Atomic uint64_t windows_impact_failed;
	/* windows of a device the policy does not score (score: false, trial s19 C M3):
	 * recorded, not scored, linegate_windows_unscored_total */
	_Atomic uint64_t windows_unscored;
	_Atomic uint32_t last_score_bits;
	/* The device's detector in the active model, for the model set and generation it was
	 * looked up in (its name could change with the policy). */
	uint64_t det_ms_epoch, det_gen_epoch;
	int16_t det;
	/* Score smoothing (a model's "smooth", issue 8 step 6e): each channel's last scores
	 * under the model set of epoch smooth_epoch (another model starts afresh). */
	struct lg_smooth_ch smooth[LGF_MAX_CHANNELS];
	uint64_t smooth_epoch;
	/* orders96-time5-imp11 (issue 8 step 6e.3): the device's last windows' TSAs for tsa3,
	 * made at its first window of such a model; under the model set of epoch tsa_epoch
	 * and windows of tsa_win samples (another starts afresh) */
	struct lg_imp_hist tsa;
	uint64_t tsa_epoch;
	uint32_t tsa_win;
	/* Bad samples (issue 8): each channel's newest good value (what 'mask' puts in place
	 * of a bad one), frames dropped for a bad sample, samples masked. */
	float last_good[LGF_MAX_CHANNELS];
	_Atomic uint64_t bad_sample_drops, samples_masked;
	/* Authentic frames (UADP DataSetMessages) the model cannot judge: at another sample
	 * rate (drop reason sample_rate) or with another channel count than the device's
	 * detector was trained on (channels). */
	struct lg_mismatch rate, chan;
	/* The control thread's (flood_watch.c): admission's rate_limited and the verified
	 * frames (admitted) at the start of the interval being judged, and what it has not
	 * said yet of intervals in which the device was limited below its rate. */
	uint64_t flood_t0_ns, flood_rl, flood_ok, flood_bad;
	uint64_t flood_said_ns, flood_pend_rl, flood_pend_ok, flood_pend_ns;
	/* The control thread's (flood_watch.c, lg_dp_lockout_watch()): at its last look,
	 * admitted, and refused as replays by the workers (replayed, too_old) and by admission
	 * (its drops of the device but rate_limited); since the last admitted frame: when the
	 * first refusal was seen (0: none) and the refusals; when the lockout was last said. */
	uint64_t lock_ok, lock_wbad, lock_xbad;
	uint64_t lock_first_ns, lock_refused, lock_said_ns;
	bool lock_seen;
	/* Frames refused once they were known to be this device's (from its identity on), by
	 * reason: a device's received = admitted + these (a message for several devices counts
	 * for each). Reasons before the identity (malformed, unknown_device, ...) are global. */
	_Atomic uint64_t drops[LG_REASON_MAX];
	/* incidents (incident.c): the device's state machine and its record (a slot in the
	 * state folder, else inc_local); the device window being put together from its
	 * channels' rows; the sample times (ns since 1970, the LGF sender's clock, 0 = none)
	 * of the first and past the last sample of the window being filled. */
	struct lg_inc_core inc;
	struct lg_inc_rec *inc_rec, inc_local;
	float inc_max;
	bool inc_alert;
	uint64_t first_ts_ns, end_ts_ns;
	/* Drift (drift.c): the device's PSI counts, Page-Hinkley test and drift flag. */
	struct lg_drift_state drift;
	/* Status page (http.c): the highest score since the sampler last took it, as
	 * lg_score_key() orders it; 0 = none. The owner raises it, the sampler swaps in 0. */
	_Atomic uint32_t peak_key;
};

/* A float as an unsigned key in the same order (0 is below every finite score). */
static inline uint32_t lg_score_key(float f)
{
	uint32_t u;

	__builtin_memcpy(&u, &f, sizeof(u));
	return u & 0x80000000u ? ~u : u | 0x80000000u;
}

static inline float lg_score_from_key(uint32_t k)
{
	uint32_t u = k & 0x80000000u ? k & 0x7fffffffu : ~k;
	float f;

	__builtin_memcpy(&f, &u, sizeof(f));
	return f;
}

/* A UADP identity and the index of its device in the policy. */
struct lg_uadp_route {
	struct lg_admit_uadp_key key;
	uint32_t dev;
};

/* An applied policy. Immutable once published, except the state objects. */
struct lg_gen {
	uint64_t epoch;
	struct lg_policy policy;
	struct lg_uadp_route *uadp; /* sorted by key bytes */
	size_t nuadp;
	unsigned nworkers;
	struct lg_dev_state **state; /* [device index] */
	uint16_t *owner;             /* [device index]: the worker that judges its frames */
	/* [device index][key slot]: the fingerprint of each key (generation.c, key_fps()) */
	uint8_t (*kfp)[LG_HWM_KEYS][LG_HWM_FP_LEN];
	/* [device index]: bit k set once key slot k is in the record of the keys whose frames
	 * the device's replay mark covers; written by the device's owner worker. */
	uint8_t *kin;
};

/* A verdict that is none: the frame went to its device's owner, which counts it. */
#define LG_HANDED_OFF LG_REASON_MAX
/* Nor is this one: the owner holds the frame (reorder.h) and judges it again, and counts it,
 * when it is released. */
#define LG_HELD (LG_REASON_MAX + 1)

/* The models the workers score with: one scorer per worker, and optionally a shadow
 * that scores the same rows without publishing. Immutable once published. */
struct lg_scorer;
struct lg_modelset {
	uint64_t epoch;
	/* The models it scores with: a new id for new models (a swap, or an apply that changes
	 * detection.model, window, threshold or trusted keys), the old one when an apply
	 * changes only detection.gemm, the route (the same scores: drift monitors keep their
	 * state, docs/models.md "Drift"). Set at publish, from epoch when still 0. */
	uint64_t model_id;
	/* Its active model's: kept when only the shadow changes (set, ended, or another one)
	 * or only the route (trial L, s22: approving a candidate into the shadow restarted the
	 * drift monitors of the model that still ran, and ended a drift that was still there);
	 * a new one when the active model changes. What the drift monitors follow. */
	uint64_t active_id;
	struct lg_file_id {
		uint64_t dev, ino, size, mtime_ns;
	} active_file; /* the active model file as it was loaded (0s: not known) */
	/* Published with a generation (a window or model change): workers take it together
	 * with generation need_gen, never with an older one. 0 = any generation. */
	uint64_t need_gen;
	char active_path[LG_PATH_MAX], shadow_path[LG_PATH_MAX];
	char active[96], shadow[96]; /* labels; shadow[0] == 0: none */
	struct lg_scorer *sc[LG_MAX_WORKERS];
	struct lg_scorer *shadow_sc[LG_MAX_WORKERS];
};

struct lg_event {
	uint32_t device_id;
	uint8_t channel;
	int16_t det, shadow_det; /* the detectors of the model (and shadow) that score it */
	uint8_t alert;
	float score;
	float threshold;
	uint64_t seq;       /* newest frame in the window */
	uint64_t rx_ns;     /* the worker's pickup of the window's first frame */
	/* Honest latency (latency.h), CLOCK_MONOTONIC: the arrival and the worker's pickup of
	 * the frame that carried the window's last sample, and the window complete (its
	 * features in the batch). 0 for events that are not rows. */
	uint64_t arrival_ns, pickup_ns, complete_ns;
	uint64_t scored_ns;
	uint64_t scored_wall_ns; /* CLOCK_REALTIME, to line up with the sender's clock */
	uint64_t model_epoch;    /* which model set scored it */
	uint64_t model_id;       /* its active model's id (struct lg_modelset, active_id) */
	char name[LG_NAME_MAX];
	/* Bad samples (issue 8): the row's features or score were not finite; it is an
	 * alert whose score is shown as null (output.c). */
	bool nonfinite;
	/* UADP devices: the DataSet field this channel is ("" when the policy names none),
	 * the newest DateTime field of the window (OPC UA ticks, 0 = none) and the window's
	 * newest values of the other fields as JSON members ("" = none). */
	char channel_name[24];
	int64_t source_time;
	/* incidents (incident.c): an event is a scored row (LG_EV_ROW) or an incident event
	 * (LG_EV_INCIDENT: inc_event, the record after it, name; scored_wall_ns is its
	 * time). A row carries its device window's channel count and sample times. */
	uint8_t kind, nchan, inc_event;
	uint64_t sample_ns, sample_end_ns;
	union {
		char fields[LG_EVENT_FIELDS];
		struct lg_inc_rec inc;
	};
	/* Drift (drift.c): drift.kind != 0 makes this a drift event, not a score. */
	struct lg_drift_event drift;
	union {
		/* Issue 12: the row's features, for output.influx's feature points (influx.h);
		 * a row of another layout than the basic one (issue 8: bands96-time5) has none:
		 * all NaN. */
		float feat[LG_FEAT_N];
		/* A drift event (drift.kind != 0, which has no features) with drift.wide: the
		 * features its psi[] are of (drift.h). */
		struct lg_drift_names dnames;
	};
};
#define LG_EV_ROW 0
#define LG_EV_INCIDENT 1

/* Single-producer single-consumer ring of events; power-of-two size. */
struct lg_spsc {
	_Alignas(64) _Atomic uint64_t head; /* producer */
	uint64_t tail_seen;                 /* producer's: the tail it last read (issue 10) */
	_Alignas(64) _Atomic uint64_t tail; /* consumer */
	uint64_t head_seen;                 /* consumer's: the head it last read */
	_Alignas(64) uint64_t mask;
	struct lg_event *slots;
	struct lg_wake *wake; /* the consumer's, woken by lg_spsc_wake() (wake.h); NULL = none */
	_Atomic uint64_t wakes_sent; /* times lg_spsc_wake() woke it (producer's; issue 10) */
};

int lg_spsc_init(struct lg_spsc *r, unsigned size);
void lg_spsc_free(struct lg_spsc *r);
bool lg_spsc_push(struct lg_spsc *r, const struct lg_event *e);
bool lg_spsc_pop(struct lg_spsc *r, struct lg_event *e);
/* The consumer's view without a copy: the oldest event, NULL when empty; it stays valid
 * until lg_spsc_release() gives its slot back (with every slot before it). */
const struct lg_event *lg_spsc_peek(struct lg_spsc *r, unsigned k);
void lg_spsc_release(struct lg_spsc *r, unsigned n);
/* After a run of pushes (a scored batch, an event): wake the consumer if it sleeps
 * (wake.h). A push alone wakes nobody. */
void lg_spsc_wake(struct lg_spsc *r);

struct lg_worker_stats {
	_Atomic uint64_t rx;
	_Atomic uint64_t reason[LG_REASON_MAX];
	_Atomic uint64_t windows, scored, alerts, batches, heartbeats;
	_Atomic uint64_t ring_full_scores, ring_full_alerts, rx_errors;
	/* An unpaced replay: 100 us waits for room in a full output ring (the output thread
	 * is behind: the worker stood still, issue 10). */
	_Atomic uint64_t output_waits;
	_Atomic uint64_t latency_ns_sum, latency_ns_max; /* window complete -> scored */
	_Atomic uint64_t uadp_rx, uadp_unsigned; /* UADP datagrams; unsigned ones admitted */
	_Atomic uint64_t uadp_unprotected; /* admitted for a device with 'replay: none' */
	/* admitted, but a device's DataSetMessage in it was dropped (bad_sample, channels) */
	_Atomic uint64_t uadp_partial;
	_Atomic uint64_t shadow_scored, shadow_disagree; /* rows; rows whose alert differs */
	/* Their values when the worker took the running models (another model_id: a new
	 * shadow, or a new active model beside it): metrics' shadow_scored and
	 * shadow_disagreements count from there, the rows of these two models only. */
	_Atomic uint64_t shadow_scored_base, shadow_disagree_base;
	_Atomic uint64_t bf16_rescored; /* rows the bf16 guard scored again on fp32 */
	_Atomic uint64_t no_detector; /* rows of a device the model has no detector for */
	_Atomic uint64_t handed_off; /* frames handed to their device's owner worker */
	/* Bad samples (issue 8): samples masked; rows whose features or score were not finite */
	_Atomic uint64_t samples_masked, rows_nonfinite;
	/* partial windows dropped at a gap in their device's stream (lg_window_follow()) */
	_Atomic uint64_t window_gaps;
	_Atomic uint64_t drift_events; /* drift starts and ends (drift.c) */
	_Atomic uint64_t drift_nomem; /* devices PSI is off for: no memory for its counts */
	_Atomic uint64_t lat_hist[LG_LAT_BUCKETS];
	/* Honest latency (latency.h): arrival_worker, worker_window, window_scored */
	struct lg_lat_hist stage[LG_LAT_SCORED_PUBLISHED];
	_Atomic uint64_t batch_hist[LG_BATCH_BUCKETS];
	/* incidents: opened, resolved, continued from a previous run, events lost to a full
	 * ring; time to insight (onset -> open) */
	_Atomic uint64_t inc_opened, inc_resolved, inc_continued, inc_updates, ring_full_incidents;
	_Atomic uint64_t tti_hist[LG_TTI_BUCKETS], tti_sum_ms;
};

struct lg_dp;

struct lg_worker {
	unsigned id;
	struct lg_dp *dp;
	pthread_t thread;
	const struct lg_backend_ops *ops;
	struct lg_backend *be;
	struct lg_modelset *ms; /* the model set this worker scores with */
	_Atomic uint64_t models_seen;
	float *batch;          /* batch x d rows, d = the worker's model's in_dim (the layout's
				* width at the policy's window, <= LG_FEAT_ROW_MAX) */
	float *scores, *shadow_scores;
	/* orders96-time5-imp9/-imp10/-imp11: one device window's impact tail, channel by
	 * channel */
	float imp_feat[LG_IMP_CH_MAX * LG_IMP_NMAX];
	float *thr, *shadow_thr; /* per row: the threshold of the detector that scored it */
	int16_t *det;            /* per row: its detector, for the scorer */
	uint8_t *chan;           /* per row: its channel (a kNN detector per channel) */
	struct lg_event *meta; /* per row */
	struct lg_dev_state **row_state; /* per row */
	struct lg_uadp_msg *umsg;  /* decode space for one UADP message */
	float *ustep;              /* one time step of a DataSetMessage, a value per channel */
	uint8_t *ubuf;             /* an encrypted UADP message, decrypted (LG_UADP_CLEAR_MAX) */
	unsigned rows;
	uint64_t oldest_ns;
	bool unpaced; /* LG_BACKEND_Q_UNPACED: batches by size only, outputs wait for room */
	struct lg_spsc alerts, scores_ring;
	struct lg_worker_stats st;
	uint64_t last_export_ns;
	_Atomic uint64_t seen_epoch;
	struct lg_handoff in; /* frames other workers received for devices this one owns */
	/* Frames of devices it owns that came ahead of their sequence (reorder.h); allocated
	 * only where a device's frames can reach it by two paths (lg_dp.hold_*_ns). */
	struct lg_reorder ro;
	/* lg_worker_release_held() is judging a frame of ro: its tag was verified when it was
	 * held, and it is not checked again (verify.c). */
	bool releasing;
	/* lg_dp.hold_on_record: the recording's clock (lg_rx_pkt.rec_ns) of the newest frame
	 * this worker took, its own or handed over; ro's holds run on it (lg_worker_tick()). */
	uint64_t rec_now;
	/* For the other workers' reorder stages: the time (its loop's clock) before a burst
	 * that left its receive queue empty (fewer than LG_BURST frames), stored once the
	 * burst's frames were judged or handed over (UINT64_MAX at the end of its stream); and
	 * whether it waits for frames now. A gap that timed out is declared lost only when
	 * every other worker caught up after its frame was held (lg_worker_gap_may_close()). */
	_Atomic uint64_t caught_up_ns;
	_Atomic bool rx_idle;
	/* A replay that merges queues (lg_dp.merge_queues, worker.c merge_turn()): the
	 * workers (bit i: worker i) that ask this one not to read its queue for now, its
	 * frames being ahead of a gap they wait for; the workers this one asks so; since when
	 * every queue its gap waits on has been asked (0: not). */
	_Atomic uint64_t pause_req;
	uint64_t pausing;
	uint64_t stuck_ns;
	/* Issue 10: a handoff into in wakes the worker's wait in rx_burst() (backends with
	 * wake_fd()); without, it looks every 2 ms. */
	struct lg_wake in_wake;
	bool running;         /* its thread was started */
	_Atomic int cpu;      /* the core it is pinned to, -1 = none */
	bool at_eof;          /* its backend's stream ended; it still judges handed-over frames */
	struct lg_policy_incidents inc; /* incidents: its generation's detection.incidents */
	/* the generation it ran under last: freed only once every worker moved on, so a
	 * worker can look at it while it switches (lg_worker_incidents_removed()) */
	const struct lg_gen *gen_prev;
	/* Honest latency: arrival and pickup of the frame being judged (lg_worker_handle()) */
	uint64_t cur_arrival_ns, cur_pickup_ns;
	/* Health (http.c /healthz): lg_now_ns() at its loop's last turn (0 = not started yet;
	 * the loop turns at least every 100 ms, busy or idle) and its thread id. */
	_Atomic uint64_t beat_ns;
	_Atomic int tid;
	/* A finite stream (a replay), for its summary: lg_now_ns() when the worker took its
	 * first frame and when it had scored its last, and its thread's CPU time then (0 until
	 * it ended). */
	_Atomic uint64_t first_rx_ns, done_ns, cpu_ns;
};

/* The kinds of JSON lines, counted apart (output.c): records the plant acts on, routine
 * scores, incident events, other events (drift, recording). */
enum lg_out_kind { LG_OUT_ALERT, LG_OUT_SCORE, LG_OUT_INCIDENT, LG_OUT_EVENT, LG_OUT_KINDS };
extern const char *const lg_out_kind_names[LG_OUT_KINDS]; /* "alerts", "scores", ... */

/*
 * A replay that merges queues (worker.c, merge_turn()) asks the queues that ran ahead of a
 * gap to wait once LG_MERGE_PAUSE frames are held; what they read or handed over before they
 * saw it still comes: up to a handoff ring and a burst from each. Its reorder pool holds that
 * much more, for up to LG_MERGE_WORKERS workers (more share that room: a pool that fills
 * gives the oldest gap up, counted). The buffers are touched only when used.
 */
#define LG_MERGE_PAUSE (LG_REORDER_SLOTS / 2)
#define LG_MERGE_WORKERS 8
static inline unsigned lg_merge_pool_slots(unsigned nworkers)
{
	return LG_REORDER_SLOTS + (nworkers < LG_MERGE_WORKERS ? nworkers : LG_MERGE_WORKERS) *
					  (LG_HANDOFF_SLOTS + LG_BURST);
}

struct lg_dp {
	_Atomic(struct lg_gen *) gen;
	pthread_mutex_t apply_lock; /* serialises generation changes */
	unsigned nworkers;
	struct lg_worker workers[LG_MAX_WORKERS];
	_Atomic bool stop;
	/* linegate is stopping and XDP hands nothing over any more (xsk_drain() in main.c):
	 * a worker is caught up only once its backend says nothing waits (rx_empty) */
	_Atomic bool draining;
	_Atomic unsigned eof_workers; /* workers whose backend reached its end of stream */
	/* workers out of their receive loop: none of them hands another frame over */
	_Atomic unsigned rx_stopped;
	_Atomic unsigned done_workers; /* workers that ended after the end of every stream */
	_Atomic uint64_t out_cpu_ns; /* the output thread's CPU time when it ended (0 before) */
	bool handoff_wait; /* a finite stream: a full handoff ring waits instead of dropping */
	/* The reorder stage's hold time for LGF frames and UADP messages, ns: 0 where their
	 * frames reach the owner by one path only (one worker; LGF on a steering backend), so
	 * that such a path never holds (--reorder-hold, docs/architecture.md). */
	uint64_t hold_lgf_ns, hold_uadp_ns;
	/* Frames reach their owner by one path (reorder.h, lg_order_hold()): only the network
	 * reorders them, so a gap waits for the device's next frame, not the hold time. */
	bool one_path_lgf, one_path_uadp;
	/* A finite stream whose queues each hold part of one device's frames, in no time
	 * relation to each other (dpdk's net_pcap, one file a queue): a gap is given up when
	 * every queue has passed it, never on time, and queues that ran ahead wait
	 * (worker.c, merge_turn()). */
	bool merge_queues;
	bool finite;       /* incidents: a finite stream, whose incident times are sample times */
	uint64_t epoch;
	uint64_t started_ns;
	FILE *out;           /* JSON lines */
	bool out_is_stdout;
	/* An apply that changed output.jsonl opened the new file here; the output thread
	 * switches to it between two writes (and sets it back to NULL). */
	_Atomic(FILE *) out_next;
	const char *output_override; /* --output: outranks every policy's output.jsonl */
	struct lg_state *state;      /* the state folder (statefile.c), NULL = none */
	_Atomic uint64_t out_written, out_alerts;
	/* Lines a write to the output failed for (ENOSPC, EIO, a closed pipe): dropped, never
	 * counted as written. */
	_Atomic uint64_t out_dropped, out_dropped_alerts;
	int out_errno;            /* the last write error, 0 = none */
	/* Lines not written said on stderr as it happens (output thread; trial Q, s23: a full
	 * disk dropped an incident's only open and nothing was said until exit) */
	uint64_t out_said_ns, out_said_dropped[LG_OUT_KINDS];
	bool out_failing;
	/* Lines wait here, whole, until one write(2): a short write tells which landed. */
	char outbuf[65536];
	size_t outlen;
	unsigned nout;            /* lines in outbuf */
	uint32_t out_end[1024];   /* where each line in outbuf ends */
	uint8_t out_kind[1024];   /* and its kind (enum lg_out_kind) */
	/*
	 * JSON lines writer (output.c): per kind of line, written, dropped by a failed write,
	 * abandoned at shutdown. The file's path ("" = stdout) for rotation and reopening, the
	 * rotation set by the policy (output.jsonl.max_bytes and keep; 0 = none), a reopen asked
	 * for by SIGHUP/SIGUSR1, and the shutdown deadline (CLOCK_MONOTONIC ns, 0 = running):
	 * past it, nothing more is written, what is left is counted as abandoned.
	 */
	_Atomic uint64_t out_k_written[LG_OUT_KINDS], out_k_dropped[LG_OUT_KINDS];
	_Atomic uint64_t out_k_abandoned[LG_OUT_KINDS];
	_Atomic uint64_t out_rotations, out_reopens, out_reopen_errors, out_cut_lines;
	_Atomic uint64_t out_max_bytes;
	_Atomic unsigned out_keep;
	_Atomic bool out_reopen;
	_Atomic uint64_t out_deadline_ns;
	/* Issue 10: the output thread sleeps here when it found nothing, woken by the workers'
	 * pushes (every worker's rings point at it) and by lg_output_wake(). */
	struct lg_wake out_wake;
	char out_path[LG_PATH_MAX];      /* output thread (and main before it starts) */
	char out_next_path[LG_PATH_MAX]; /* with out_next */
	bool out_seekable;               /* a regular file: a cut line is truncated away */
	int out_fl_saved;                /* stdout's file status flags before O_NONBLOCK + 1; 0 = none */
	char out_tail[1100];             /* a pipe: the rest of a line cut by a short write */
	size_t out_tail_len;
	uint8_t out_tail_kind;
	pthread_t out_thread;
	const char *policy_path;
	struct lg_admit *admit; /* XDP admission, when attached (--xdp) */
	/* The backend reads UDP sockets (LG_BACKEND_F_SOCKET): only then may XDP pass
	 * fragments to the stack (fragments: reassemble); else it drops them. */
	bool stack_reassembles;
	int admit_ifindex;
	char admit_ifname[32];
	/* uadp_multicast's memberships (socket backends), and whether the workers' UADP sockets
	 * listen on every address, so that a live apply may change the groups. */
	struct lg_mcast mcast;
	bool mcast_live;
	/* Where the XDP instance is pinned ("" = not pinned); default: linegate's own folder
	 * (/sys/fs/bpf/linegate/[netns-INODE/]IFNAME), whose parents --xdp-unpin removes. */
	char admit_pin[256];
	/* This start attached and pinned the program (no takeover): a start refused before its
	 * workers ran removes it again, rather than leave admission without a receiver. */
	bool admit_fresh;
	bool admit_pin_default;
	struct lg_uadmit *uadmit; /* user-space admission, for backends that need it (dpdk, pcap) */
	bool uadmit_marks; /* workers export their replay marks to it (not a replay: pcap) */
	/* A replay (LG_BACKEND_F_REPLAY): rates are judged on the recording's clock
	 * (lg_uadmit_clock()), as admission's token buckets are, not on the wall clock. */
	bool replay_clock;
	/* The reorder stage's holds run on that clock too (lg_rx_pkt.rec_ns): a held frame
	 * waits for the frames the recording has within the hold time after it, whatever the
	 * pace, so the same file gives the same verdicts at every pace and worker count. Not
	 * with an MQTT input beside it (its frames come on the wall clock). */
	bool hold_on_record;
	uint64_t lockout_look_ns; /* lg_dp_lockout_watch()'s last look (control thread) */
	_Atomic uint64_t applies, apply_failures;
	_Atomic uint64_t ctl_denied; /* peers the control socket refused (main thread) */
	int64_t ctl_denied_logged; /* CLOCK_MONOTONIC s of the last log line about them */
	_Atomic(struct lg_modelset *) models;
	pthread_mutex_t model_lock; /* serialises model swaps */
	uint64_t model_epoch;
	size_t max_batch;           /* rows every scorer and batch has room for */
	_Atomic uint64_t model_swaps;
	struct lg_mqtt *mqtt;       /* MQTT output, when the policy configures one */
	/* NATS JetStream output (nats.h, docs/fleet.md), when the policy configures one:
	 * fed and pumped by the output thread only. */
	struct lg_nats *nats;
	/* OPC UA PubSub from a broker (opcua_mqtt.h), when the policy configures it: a thread
	 * outside the workers that pushes messages into their handoff rings. ext_input is set
	 * before the workers start, so that they look at their rings even when alone. */
	struct lg_opcua_mqtt *opcua_mqtt;
	bool ext_input;
	_Atomic uint64_t pub_hist[LG_LAT_BUCKETS], pub_sum_ns; /* written by the output thread */
	/* Honest latency (latency.h), output thread: scored_published and end_to_end, taken
	 * when a line's write(2) returned; each buffered line's scored and arrival times
	 * (0: not a row). */
	struct lg_lat_hist lat_out[2];
	uint64_t out_scored_ns[1024], out_arrival_ns[1024];
	struct lg_http *http;       /* HTTP endpoints (http.c, libmicrohttpd), when --metrics */
	/* incidents: the open ones, as the output thread has published them (and as the state
	 * folder had them at start), for status. */
	pthread_mutex_t inc_lock;
	struct lg_inc_open { struct lg_inc_rec rec; char name[LG_NAME_MAX]; } *inc_open;
	size_t ninc_open, inc_cap;
	struct lg_recorder *rec;    /* recording admitted frames (record.h); NULL = never */
	/* Issue 12: the devices' metadata as the output thread renders it (meta.h): meta is
	 * the output thread's own; an apply leaves the next table in meta_next. */
	struct lg_meta_tab *meta;
	_Atomic(struct lg_meta_tab *) meta_next;
	/* InfluxDB line protocol (influx.h), when the policy has output.influx: fed by the
	 * output thread, sent by a thread of its own. */
	struct lg_influx *influx;
};

/* Issue 12: make the metadata table of p and hand it to the output thread (meta.h). */
int lg_dp_meta_publish(struct lg_dp *dp, const struct lg_policy *p);
/* At exit, once the output thread is gone: free both tables. */
void lg_dp_meta_free(struct lg_dp *dp);

uint64_t lg_now_ns(void);

/*
 * A device whose frames all go as sample_rate is never scored, and says nothing (a trial: a
 * model trained at 12800 Hz, machines sending 5354 Hz). Called by the control thread (the
 * one that publishes generations) every round: a log line for each device with new
 * sample_rate drops, naming its frames' rate and the one wanted, at most once a minute per
 * device (final: now, whatever the interval; at exit). rate_watch.c.
 */
void lg_dp_rate_watch(struct lg_dp *dp, bool final);
/*
 * Trial s18 H3: admission cannot check a tag, so frames forged with a device's id from its
 * bound address spend its token bucket, and its own frames are then dropped as
 * rate_limited. Called with lg_dp_rate_watch(): per device with a rate, once a second, the
 * frames admission refused as over its rate against the frames the workers verified and
 * refused; a log line when the device was limited while its verified frames stayed under
 * 90% of its rate and at least a tenth of what reached the workers failed verification, at
 * most once a minute per device (final: what is left, at exit). flood_watch.c.
 */
void lg_dp_flood_watch(struct lg_dp *dp, bool final);
/* Whether rl frames refused as over rate in ns, while ok frames verified and bad were refused
 * by the workers, point at a flood in the device's name rather than a device over its rate
 * (pure, for the unit test). */
bool lg_flood_suspect(uint64_t rl, uint64_t ok, uint64_t bad, uint64_t ns, uint32_t rate);
/* Whether a worker's drop reason r counts as bad for lg_flood_suspect(): the frame failed
 * verification as its device's (not: verified and dropped after, or lost to a full ring). */
bool lg_flood_forged_reason(int r);
/* The devices whose newest frame went as sample_rate, for status ("not_scored"): id, name,
 * reason, frame_rate_hz, want_rate_hz, want_from ("policy"|"model"), frames_dropped. */
struct json_object *lg_dp_rate_json(const struct lg_gen *g, const struct lg_modelset *ms);
/* Devices whose frames have all been refused as replays (or, by admission, from another
 * address) for LG_LOCKOUT_NS since their last admitted frame: a device that started its
 * sequence again (a reboot without a stored sequence, a new key from 1), or replays in its
 * name while it is silent. Said in the log (at most a line a minute each) and listed for
 * status ("locked_out": id, name, refused, seconds); cleared by its next admitted frame. */
#define LG_LOCKOUT_NS (2ull * 1000000000ull)
void lg_dp_lockout_watch(struct lg_dp *dp, bool final);
struct json_object *lg_dp_lockout_json(const struct lg_gen *g);

/* Build a generation from p (taken over on success). */
int lg_gen_build(struct lg_dp *dp, struct lg_policy *p, struct lg_gen **out);
/* The record of the keys whose frames device state s's replay mark covers: its slot in the
 * state folder (statefile.h), else its own (mark_local). */
static inline uint8_t (*lg_dev_mark_keys(struct lg_dev_state *s))[LG_HWM_FP_LEN]
{
	return s->hwm ? lg_state_hwm_keys(s->hwm) : s->mark_local;
}
/* The slow path of lg_dev_key_marks() (stages.h): key slot `slot` of g's device i goes into
 * the record of its mark, once. */
void lg_gen_mark_key(const struct lg_gen *g, size_t i, unsigned slot);
/* The owner worker of g's device i, when it takes g, for a state made fresh at the build:
 * true when the fresh mark stands (its record is emptied), false when a frame under a key
 * the device keeps went into the old mark meanwhile and the mark was put back. */
bool lg_gen_fresh_settle(const struct lg_gen *g, size_t i);
/* Load a policy into the XDP admission tables (a no-op without --xdp). */
int lg_dp_apply_xdp(struct lg_dp *dp, const struct lg_policy *p);
/*
 * An apply: a parsed policy and the text it came from. lg_dp_apply() refuses it whole when
 * it changes a start-only field (policy_diff.h), or when its model does not load and check
 * against its window and trusted keys, or its output file does not open; otherwise it
 * publishes XDP tables, then policy, model set and per-device state as one generation,
 * returns when every worker runs it, and keeps it in the state folder (text and name) for
 * the next start. On failure nothing changed and err says why.
 */
struct lg_apply_req {
	struct lg_policy *policy; /* taken over on success; the caller frees it on failure */
	const char *text;         /* its YAML text, persisted as the last applied policy */
	size_t len;
	const char *name;         /* the name it was parsed as (relative paths): persisted */
	char *changes;            /* out, on success: malloc'd JSON array (lg_policy_diff_json) */
	char err[1024];           /* out, on failure */
	char warn[512];           /* out, on success: what the policy asks and this linegate
				   * does not do ("" when none): the reply's "warning" */
};
int lg_dp_apply(struct lg_dp *dp, struct lg_apply_req *r);
void lg_gen_free(struct lg_gen *g, const struct lg_gen *next);
/* 0 when every core in the policy's workers.cores is one this process may run on. */
int lg_dp_check_cores(const struct lg_policy *p);
/* A policy's fragments: reassemble that this linegate cannot honour (XDP in front of the
 * afxdp backend: no UDP socket behind the stack to reassemble for): the sentence that says
 * so, at start, in an apply's reply and in status (trial J F3). false when it applies. */
bool lg_dp_fragments_ignored(const struct lg_dp *dp, const struct lg_policy *p, char *msg,
			     size_t len);
/* Pin every running worker to its core (or unpin them all when the policy lists none). */
int lg_dp_pin_workers(struct lg_dp *dp, const struct lg_policy *p);
/* User-space admission (admit_user.c): create it with the policy as its first generation;
 * load a policy into it (a no-op without one). */
int lg_dp_uadmit_start(struct lg_dp *dp, const struct lg_policy *p);
int lg_dp_apply_uadmit(struct lg_dp *dp, const struct lg_policy *p);

void *lg_worker_main(void *arg);
/* Everything a worker does with one received datagram; returns its verdict. */
enum lg_reason lg_worker_handle(struct lg_worker *w, const struct lg_gen *g,
				const struct lg_rx_pkt *pkt);
void lg_worker_flush(struct lg_worker *w);
void *lg_output_main(void *arg);
/* incidents (incident.c): a scored row into its device's incident state machine (called
 * by the score stage once the row's score is final); the open-incident table for status
 * (output thread, start-up; under inc_lock), as a JSON array (malloc'd). */
void lg_worker_incident(struct lg_worker *w, const struct lg_event *e, struct lg_dev_state *s);
void lg_worker_incidents_final(struct lg_worker *w, const struct lg_gen *g);
void lg_worker_incidents_removed(struct lg_worker *w, const struct lg_gen *old,
				 const struct lg_gen *g);
void lg_dp_inc_table(struct lg_dp *dp, const struct lg_inc_rec *r, const char *name);
struct json_object *lg_dp_inc_json(struct lg_dp *dp);
void lg_output_drain_all(struct lg_dp *dp);
/* Issue 10: the output thread's wake-up, and its rings (lg_worker_buffers() made them)
 * pointed at it: 0, or a negative errno (the thread polls then, as before). Wake it: a
 * flag it reads changed (stop, out_next, out_reopen, meta_next). */
int lg_output_wake_init(struct lg_dp *dp);
void lg_output_wake(struct lg_dp *dp);
/* A score or alert line (output.c) of row e, with more (UADP members) and meta (the
 * device's metadata members) at its end: its length, or -ENOSPC when it does not fit size
 * with its NUL. The same characters as the snprintf() format it replaced. */
int lg_out_score_line(const struct lg_event *e, const char *more, const char *meta, char *line,
		      size_t size);
/* Shutdown (output.c): from now on the output writes for at most timeout_ns more, then
 * abandons what is left (counted); the JSON lines output is closed (stdout's flags put
 * back); one line per output saying what was abandoned. */
void lg_output_set_deadline(struct lg_dp *dp, uint64_t timeout_ns);
void lg_output_close(struct lg_dp *dp);
void lg_output_abandon_summary(struct lg_dp *dp, FILE *f);
/* Ready a newly opened JSON lines file for the output thread (nonblocking if a pipe). */
void lg_output_prepare(struct lg_dp *dp);

/* The worker that owns device index i of a policy among n (LGF: lg_steer_lgf(); a UADP
 * device by its publisher and writer group, so that one NetworkMessage has one owner). */
unsigned lg_dev_owner(const struct lg_policy_device *d, unsigned n);
/* Judge the frames other workers handed over; returns how many. */
unsigned lg_worker_drain_handoff(struct lg_worker *w, const struct lg_gen *g);
/* Judge the held frames that may go on now (reorder.h): all of them with force (a new
 * generation, the end). */
void lg_worker_release_held(struct lg_worker *w, uint64_t now, bool force);
/* Whether a timed-out gap whose first frame was held at held_ns may be declared lost now:
 * no other path can still bring its frame (worker.c). */
bool lg_worker_gap_may_close(struct lg_worker *w, uint64_t held_ns);

/* A worker's own buffers for batches of up to max_batch rows, and its event rings (alerts
 * and scores slots, powers of two): 0, or -ENOMEM with whatever was made freed. The one
 * place that knows them, for linegate, the benchmarks and the tests alike. */
int lg_worker_buffers(struct lg_worker *w, size_t max_batch, unsigned alerts, unsigned scores);
void lg_worker_buffers_free(struct lg_worker *w);

/* Hand the workers' highest verified sequences to the replay pre-check of XDP and of
 * user-space admission. */
void lg_worker_export_seqs(struct lg_worker *w, const struct lg_gen *g);
/* The worker took generation g: its devices' fresh replay marks (replay_fresh) go to the
 * state folder and to admission, below the old ones. */
void lg_worker_replay_fresh(struct lg_worker *w, const struct lg_gen *g);

/* Load signed models for every worker (shadow may be NULL) and swap them in between
 * batches: a row is scored by the old set or the new, once. On failure nothing changed. */
int lg_dp_set_models(struct lg_dp *dp, const char *active, const char *active_label,
		     const char *shadow, const char *shadow_label, char *err, size_t errlen);
void lg_modelset_free(struct lg_modelset *ms, unsigned nworkers);

/* Stats as JSON text, and as Prometheus text exposition (both malloc'd). */
char *lg_dp_stats_json(struct lg_dp *dp);
char *lg_dp_metrics_text(struct lg_dp *dp);
/* v as a Prometheus label value (without the quotes), cut short rather than mid-escape. */
size_t lg_prom_label_escape(char *out, size_t cap, const char *v);
/* The counters that matter to a person, a few lines at the end of a run. */
void lg_dp_summary(struct lg_dp *dp, FILE *f);
/* At exit: the summary on f and the stats JSON (returned, malloc'd) from one snapshot, so
 * that they agree although XDP counts on (no_reader) while they are written. */
char *lg_dp_final_report(struct lg_dp *dp, FILE *f);
/*
 * HTTP (http.c, docs/operations.md "Status page and health endpoints"): GET /metrics,
 * /healthz, /readyz, /status.json and the status page / on addr ("HOST:PORT", "[V6]:PORT"
 * or "PORT" for 127.0.0.1), and the sampler of the recent scores the page charts, one point
 * per step_s seconds (0: LG_HTTP_STEP_S). 0 or a negative errno with err set.
 */
#define LG_HTTP_STEP_S 5
#define LG_HTTP_POINTS 120 /* points per device: 10 minutes at the default step */
#define LG_HTTP_STALL_MS 5000 /* a worker whose loop did not turn for this long is hung */
struct lg_http_opts {
	const char *addr;
	unsigned step_s;
	const char *version;
};
int lg_http_start(struct lg_dp *dp, const struct lg_http_opts *o, char *err, size_t errlen);
void lg_http_stop(struct lg_dp *dp);

#endif /* LINEGATE_DATAPLANE_H */
