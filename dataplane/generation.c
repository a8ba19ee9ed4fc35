// SPDX-License-Identifier: MIT
/*
 * Policy generations and model sets: what the workers run under, built aside and published
 * with one pointer store; the old one is freed once every worker has moved on. Per-device
 * state and its owner worker live here (docs/architecture.md, "Policy generations").
 */
#include "dataplane.h"
#include "stages.h"
#include "scorer.h"
#include "xdp.h"
#include "statefile.h"

#include <linegate/policy_diff.h>

#include <lgadmit.h>
#include <linegate/hmac.h>
#include <linegate/outpath.h>
#include <openssl/sha.h>

#include "ctlproto.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static void state_free(struct lg_dev_state *s)
{
	if (s) {
		lg_mac_free(s->mac[0]);
		lg_mac_free(s->mac[1]);
		lg_uadp_keys_free(s->ukeys[0]);
		lg_uadp_keys_free(s->ukeys[1]);
		free(s->nonces);
		free(s->win);
		lg_imp_hist_free(&s->tsa);
		free(s->drift.counts);
		free(s);
	}
}

/* The state object the running generation has for this device id, if the same worker owns
 * it in both: a device whose owner changes starts afresh, so that two workers never share
 * one window during the switch. */
static struct lg_dev_state *carry(const struct lg_gen *old, uint32_t id, unsigned owner)
{
	const struct lg_policy_device *d;

	if (!old)
		return NULL;
	d = lg_policy_find(&old->policy, id);
	if (!d || old->owner[d - old->policy.devices] != owner)
		return NULL;
	return old->state[d - old->policy.devices];
}

int lg_uadp_route_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct lg_uadp_route *)a)->key, &((const struct lg_uadp_route *)b)->key,
		      sizeof(struct lg_admit_uadp_key));
}

/* The UADP routing table of a policy: identity -> device, sorted for bsearch. */
static int build_routes(struct lg_gen *g)
{
	const struct lg_policy *p = &g->policy;

	g->uadp = calloc(p->ndevices ? p->ndevices : 1, sizeof(*g->uadp));
	if (!g->uadp)
		return -ENOMEM;
	for (size_t i = 0; i < p->ndevices; i++) {
		const struct lg_policy_device *d = &p->devices[i];
		struct lg_uadp_route *r = &g->uadp[g->nuadp];

		/* The same key XDP looks up (xdp.c): lg_admit_uadp_key_make() underneath both. */
		if (lg_policy_uadp_key(d, &r->key))
			continue;
		r->dev = (uint32_t)i;
		g->nuadp++;
	}
	if (g->nuadp)
		qsort(g->uadp, g->nuadp, sizeof(*g->uadp), lg_uadp_route_cmp);
	return 0;
}

/*
 * Trial s18 M7, trial s21 Q: the replay mark belongs to the keys whose frames it covers.
 * Beside the mark the state folder records the fingerprints of the keys under which a frame
 * was accepted into it (that moved the mark or was taken below it): lg_gen_mark_key() adds
 * a key the first time one of its frames is accepted, before the mark moves. A device none
 * of whose recorded keys is its any more starts a fresh mark: every frame the old mark
 * covers verified under a key the device no longer has, so none of them verifies again,
 * and the mark only locks the device out (a device that rebooted to sequence 1, a valid
 * frame at 2^64-1). That is the way out of such a lockout: rotate-key to a new key, and
 * prune the old one once the grace is over (or enroll anew).
 *
 * Why it is safe: the record only grows while a key stays the device's, and it is written
 * before the frame is committed, so a frame accepted under a key the device still has is
 * always covered, and the mark stays as long as one such key does (a device that already
 * sent under its new key during a rotation keeps its mark: the new key's frames are in
 * it). Only the keys of the policy change which keys are the device's: an attacker
 * without the keys cannot bring a reset about (nothing he sends is accepted, so nothing
 * enters the record; what the record holds is one-way, a MAC of a fixed text, never what
 * could verify a frame). A key once retired must not come back (a frame of it from before
 * a reset would verify again): linegatectl never re-enrolls a retired key.
 *
 * The decision is taken when a generation is built, against the record then, and taken
 * again by the device's owner worker when it runs the new generation (lg_worker_replay_
 * fresh()): a frame the old generation accepted meanwhile under a key the device keeps
 * puts the mark back. A state folder of an older linegate (the keys the device had at the
 * last apply, a superset of those it accepted frames under) is read as the record: at
 * worst a mark is kept once more than needed, never reset wrongly.
 */
static int key_fps(const struct lg_policy_device *d, uint8_t fp[LG_HWM_KEYS][LG_HWM_FP_LEN])
{
	static const char what[] = "linegate replay mark v1";

	memset(fp, 0, LG_HWM_KEYS * LG_HWM_FP_LEN);
	for (unsigned k = 0; k < d->nkeys && k < LG_HWM_KEYS; k++) {
		uint8_t mac[LG_HMAC_LEN];
		struct lg_mac *m = NULL;
		int ret;

		/* one-way: the state folder never holds what could verify a frame */
		_Static_assert(LG_HWM_FP_LEN <= LG_HMAC_LEN, "a fingerprint is part of a MAC");
		ret = lg_mac_new(&m, d->keys[k].bytes, LG_KEY_LEN);
		if (!ret)
			ret = lg_mac_sha256(m, (const uint8_t *)what, sizeof(what) - 1, mac);
		lg_mac_free(m);
		/* a key without a fingerprint could not enter the record: refused */
		if (ret)
			return ret < 0 ? ret : -ENOMEM;
		memcpy(fp[k], mac, LG_HWM_FP_LEN);
	}
	return 0;
}

static bool fp_zero(const uint8_t *fp)
{
	for (unsigned i = 0; i < LG_HWM_FP_LEN; i++)
		if (fp[i])
			return false;
	return true;
}

/* The key slots of g's device i whose keys are in record rec (bit k: slot k); *any: rec
 * holds a key at all. */
static uint8_t keys_in(const uint8_t (*rec)[LG_HWM_FP_LEN], const struct lg_policy_device *d,
		       const uint8_t fp[LG_HWM_KEYS][LG_HWM_FP_LEN], bool *any)
{
	uint8_t in = 0;

	*any = false;
	if (!rec)
		return 0;
	for (unsigned j = 0; j < LG_HWM_KEYS; j++) {
		if (fp_zero(rec[j]))
			continue;
		*any = true;
		for (unsigned k = 0; k < d->nkeys && k < LG_HWM_KEYS; k++)
			if (!memcmp(rec[j], fp[k], LG_HWM_FP_LEN))
				in |= (uint8_t)(1u << k);
	}
	return in;
}

void lg_gen_mark_key(const struct lg_gen *g, size_t i, unsigned slot)
{
	const struct lg_policy_device *d = &g->policy.devices[i];
	uint8_t (*rec)[LG_HWM_FP_LEN] = lg_dev_mark_keys(g->state[i]);
	const uint8_t *fp = g->kfp[i][slot];
	int put = -1;

	if (slot >= LG_HWM_KEYS)
		return;
	g->kin[i] |= (uint8_t)(1u << slot);
	for (unsigned j = 0; j < LG_HWM_KEYS; j++)
		if (!memcmp(rec[j], fp, LG_HWM_FP_LEN))
			return; /* recorded already (by the generation before) */
	for (unsigned j = 0; put < 0 && j < LG_HWM_KEYS; j++)
		if (fp_zero(rec[j]))
			put = (int)j;
	/* Full: an entry of a key the device no longer has (it has at most LG_HWM_KEYS keys,
	 * this one among them, so one is), whose frames can never verify again. */
	for (unsigned j = 0; put < 0 && j < LG_HWM_KEYS; j++) {
		bool held = false;

		for (unsigned k = 0; k < d->nkeys && k < LG_HWM_KEYS; k++)
			held |= !memcmp(rec[j], g->kfp[i][k], LG_HWM_FP_LEN);
		if (!held)
			put = (int)j;
	}
	if (put >= 0)
		memcpy(rec[put], fp, LG_HWM_FP_LEN);
}

/* The device's counters of the state it had before its mark started afresh, added to the
 * fresh state's: a device's counters (devices[], linegate_device_*) are its own, whatever
 * became of its mark (trial P, s22: they went back to 0 at a prune, and its sums fell short
 * of the totals). Called once no worker judges the old state. */
static void carry_counts(struct lg_dev_state *to, const struct lg_dev_state *from)
{
	/* one list of the counters, read and added at the same offset in both */
#define C(f) offsetof(struct lg_dev_state, f)
	static const size_t off[] = {
		C(admitted), C(windows), C(alerts), C(windows_dropout), C(window_gaps),
		C(windows_impact_failed), C(windows_unscored), C(bad_sample_drops),
		C(samples_masked), C(order.missing), C(order.reordered), C(order.jumps),
	};
#undef C
	for (size_t k = 0; k < sizeof(off) / sizeof(off[0]); k++)
		atomic_fetch_add_explicit((_Atomic uint64_t *)((char *)to + off[k]),
					  atomic_load_explicit((const _Atomic uint64_t *)
								       ((const char *)from + off[k]),
							       memory_order_relaxed),
					  memory_order_relaxed);
	for (int r = 0; r < LG_REASON_MAX; r++)
		atomic_fetch_add_explicit(&to->drops[r],
					  atomic_load_explicit(&from->drops[r],
							       memory_order_relaxed),
					  memory_order_relaxed);
}

bool lg_gen_fresh_settle(const struct lg_gen *g, size_t i)
{
	const struct lg_policy_device *d = &g->policy.devices[i];
	struct lg_dev_state *s = g->state[i], *o = s->fresh_old;
	uint8_t (*rec)[LG_HWM_FP_LEN] = s->hwm ? lg_state_hwm_keys(s->hwm)
					       : o ? o->mark_local : NULL;
	uint64_t hw;
	uint8_t in;
	bool any;

	s->fresh_old = NULL; /* freed with the old generation */
	if (o)
		carry_counts(s, o);
	in = keys_in((const uint8_t (*)[LG_HWM_FP_LEN])rec, d, g->kfp[i], &any);
	if (!in) {
		/* a fresh mark covers no frame yet */
		if (s->hwm)
			memset(rec, 0, LG_HWM_KEYS * LG_HWM_FP_LEN);
		return true;
	}
	/* A frame under a key the device keeps went into the old mark after the build: the
	 * mark stays (the fresh state has judged nothing yet). */
	hw = s->hwm ? atomic_load(s->hwm) : o->replay.highest;
	if (!s->hwm)
		memcpy(s->mark_local, o->mark_local, sizeof(s->mark_local));
	if (hw) {
		s->replay.highest = hw;
		memset(s->replay.bits, 0xff, sizeof(s->replay.bits));
	}
	g->kin[i] = in;
	fprintf(stderr, "linegate: device %s (id %u): a frame under a key it keeps was accepted "
		"while the policy was applied: its replay mark stays after all\n", d->name, d->id);
	return false;
}

/* The running generation's state of device id, whatever its owner. */
static struct lg_dev_state *old_state(const struct lg_gen *old, uint32_t id)
{
	const struct lg_policy_device *o = old ? lg_policy_find(&old->policy, id) : NULL;

	return o ? old->state[o - old->policy.devices] : NULL;
}

/* Whether g's device i starts a fresh mark: its record names keys, none the device's now.
 * *in: the slots in the record. */
static bool mark_fresh(struct lg_dp *dp, const struct lg_gen *old, const struct lg_gen *g,
		       size_t i, uint8_t *in)
{
	const struct lg_policy_device *d = &g->policy.devices[i];
	_Atomic uint64_t *hwm = lg_state_hwm(dp->state, d->id);
	struct lg_dev_state *o = old_state(old, d->id);
	const uint8_t (*rec)[LG_HWM_FP_LEN] = NULL;
	bool any;

	if (hwm)
		rec = (const uint8_t (*)[LG_HWM_FP_LEN])lg_state_hwm_keys(hwm);
	else if (o)
		rec = (const uint8_t (*)[LG_HWM_FP_LEN])o->mark_local;
	*in = keys_in(rec, d, g->kfp[i], &any);
	return any && !*in && d->nkeys;
}

/* A device's state made afresh: its replay window starts at the high-water mark the state
 * folder kept for it (this run's or an earlier one's), so no frame it accepted is taken
 * again, after a restart or after the device left and came back; unless fresh (none of the
 * keys of its mark is its any more), when it starts at 0 and its owner worker lowers the marks
 * (lg_worker_replay_fresh()). */
static struct lg_dev_state *state_new(struct lg_dp *dp, uint32_t id, const char *name, bool fresh)
{
	/* Whole cache lines of its own: the states are allocated one after the other, and a
	 * device's replay window (written every frame, at the start) must not share a line
	 * with the counters at the end of the one before, which another worker may own (two
	 * workers: 1.3-1.4x the CPU per frame of one, issue 10). */
	size_t size = (sizeof(struct lg_dev_state) + 63) & ~(size_t)63;
	struct lg_dev_state *s = aligned_alloc(64, size);
	uint64_t hw;

	if (!s)
		return NULL;
	memset(s, 0, size);
	s->hwm = lg_state_hwm(dp->state, id);
	/* incidents: an incident a previous run left open is open now (status shows it). */
	s->inc_rec = lg_state_incident(dp->state, id);
	/* Without a state folder (a replay, --state-dir none) the record is the device's own, and
	 * names it as a slot does: the open-incident table is keyed by it. */
	s->inc_local.dev = id;
	if (!s->inc_rec)
		s->inc_rec = &s->inc_local;
	else if (__atomic_load_n(&s->inc_rec->open, __ATOMIC_ACQUIRE))
		lg_dp_inc_table(dp, s->inc_rec, name);
	hw = s->hwm && !fresh ? atomic_load(s->hwm) : 0;
	s->replay_fresh = fresh;
	if (hw) {
		s->replay.highest = hw;
		memset(s->replay.bits, 0xff, sizeof(s->replay.bits));
	}
	return s;
}

int lg_gen_build(struct lg_dp *dp, struct lg_policy *p, struct lg_gen **out)
{
	struct lg_gen *old = atomic_load(&dp->gen), *g = calloc(1, sizeof(*g));
	size_t n = p->ndevices ? p->ndevices : 1;

	if (!g)
		return -ENOMEM;
	g->policy = *p;
	g->nworkers = dp->nworkers;
	g->state = calloc(n, sizeof(*g->state));
	g->owner = calloc(n, sizeof(*g->owner));
	g->kfp = calloc(n, sizeof(*g->kfp));
	g->kin = calloc(n, sizeof(*g->kin));
	if (!g->state || !g->owner || !g->kfp || !g->kin || build_routes(g))
		goto err;
	for (size_t i = 0; i < p->ndevices; i++) {
		struct lg_dev_state *s;
		bool fresh;

		if (key_fps(&p->devices[i], g->kfp[i]))
			goto err;
		fresh = mark_fresh(dp, old, g, i, &g->kin[i]);
		g->owner[i] = (uint16_t)lg_dev_owner(&p->devices[i], dp->nworkers);
		/* none of the keys of the mark is the device's: a new state, whose window
		 * starts afresh */
		s = fresh ? NULL : carry(old, p->devices[i].id, g->owner[i]);
		if (fresh)
			fprintf(stderr, "linegate: device %s (id %u): none of the keys its frames "
				"were accepted under is its any more: its replay mark starts "
				"afresh (no frame the mark covers verifies any more; "
				"docs/wire-format.md \"Sequence numbers\")\n",
				p->devices[i].name, p->devices[i].id);
		if (!s)
			s = state_new(dp, p->devices[i].id, p->devices[i].name, fresh);
		if (!s)
			goto err;
		if (fresh)
			s->fresh_old = old_state(old, p->devices[i].id);
		g->state[i] = s;
	}
	*out = g;
	return 0;
err:
	/* Only free what is ours: carried states still belong to the old generation. The
	 * policy is the caller's again. */
	for (size_t i = 0; g->state && i < p->ndevices; i++)
		if (g->state[i] && g->state[i] != carry(old, p->devices[i].id, g->owner[i]))
			state_free(g->state[i]);
	free(g->state);
	free(g->owner);
	free(g->kfp);
	free(g->kin);
	free(g->uadp);
	free(g);
	return -ENOMEM;
}

/* Free a generation no worker uses any more, except the states next took over. */
void lg_gen_free(struct lg_gen *g, const struct lg_gen *next)
{
	if (!g)
		return;
	for (size_t i = 0; g->state && i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[i];

		if (s && carry(next, g->policy.devices[i].id, g->owner[i]) != s)
			state_free(s);
	}
	free(g->state);
	free(g->owner);
	free(g->kfp);
	free(g->kin);
	free(g->uadp);
	lg_policy_free(&g->policy);
	free(g);
}

int lg_dp_apply_xdp(struct lg_dp *dp, const struct lg_policy *p)
{
	struct lg_admit_cfg cfg;
	struct lg_admit_entry *e;
	size_t n;
	int ret;

	if (!dp->admit)
		return 0;
	ret = lg_xdp_compile(p, &cfg, &e, &n);
	if (ret)
		return ret;
	/* Passed fragments would reach no socket of ours (afxdp reads the XSK): dropped and
	 * counted as `fragment` instead of vanishing behind fragment_passed. */
	if (!dp->stack_reassembles)
		cfg.fragments = LG_ADMIT_FRAGMENTS_DROP;
	/* The kernel reassembles the datagram of passed fragments: nobody sees the frames' source
	 * MAC whole (trial J F18). Said at start and at every apply that keeps it. */
	if (cfg.fragments == LG_ADMIT_FRAGMENTS_REASSEMBLE) {
		const struct lg_policy_device *first = NULL;
		size_t nmac = 0;

		for (size_t i = 0; i < p->ndevices; i++)
			if (p->devices[i].has_mac && !nmac++)
				first = &p->devices[i];
		if (nmac)
			fprintf(stderr, "linegate: fragments: reassemble weakens mac for %zu device(s) "
				"bound to one (%s, id %u%s): a datagram that comes as IP fragments "
				"is reassembled by the kernel and its source MAC is never checked; "
				"its source address and port are, and the workers charge its "
				"device's rate (docs/admission.md, \"Fragments\")\n",
				nmac, first->name, first->id, nmac > 1 ? ", ..." : "");
	}
	/* In front of a socket, a group it did not join would vanish in the kernel uncounted:
	 * not_ours in XDP. afxdp reads every group the interface takes from the XSK. */
	if (dp->stack_reassembles)
		lg_xdp_groups(p, &cfg);
	/* The same for VLANs: XDP admits only what a VLAN interface delivers to the socket. */
	if (dp->stack_reassembles && p->nvlans) {
		FILE *f = fopen("/proc/net/vlan/config", "re");
		char missing[256];

		if (lg_xdp_socket_vlans(p, dp->admit_ifname, f, &cfg, missing, sizeof(missing)))
			fprintf(stderr,
				"linegate: vlans: no VLAN interface on %s for VLAN(s) %s: the kernel "
				"would drop their frames after XDP, so XDP drops them, counted as "
				"'vlan' (add one: ip link add link %s name %s.ID type vlan id ID, "
				"then apply again)\n",
				dp->admit_ifname, missing, dp->admit_ifname, dp->admit_ifname);
		if (f)
			fclose(f);
	}
	ret = lg_admit_apply(dp->admit, &cfg, e, n, NULL);
	free(e);
	return ret;
}

bool lg_dp_fragments_ignored(const struct lg_dp *dp, const struct lg_policy *p, char *msg,
			     size_t len)
{
	if (!dp->admit || dp->stack_reassembles || p->fragments != LG_ADMIT_FRAGMENTS_REASSEMBLE)
		return false;
	snprintf(msg, len, "fragments: reassemble needs the uring backend (the kernel "
		 "reassembles for its sockets); XDP drops fragments for %s as 'fragment' "
		 "(docs/admission.md, \"Fragments\")",
		 dp->workers[0].ops ? dp->workers[0].ops->name : "this backend");
	return true;
}

int lg_dp_check_cores(const struct lg_policy *p)
{
	cpu_set_t allowed;

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return -errno;
	for (unsigned i = 0; i < p->ncores; i++)
		if (p->cores[i] >= CPU_SETSIZE || !CPU_ISSET(p->cores[i], &allowed))
			return -EINVAL;
	return 0;
}

int lg_dp_pin_workers(struct lg_dp *dp, const struct lg_policy *p)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	for (unsigned w = 0; w < dp->nworkers; w++) {
		struct lg_worker *wk = &dp->workers[w];
		int ret;

		if (!wk->running)
			continue;
		/* No cores in the policy: a worker may run anywhere the process may. */
		if (p->ncores) {
			CPU_ZERO(&set);
			CPU_SET(p->cores[w % p->ncores], &set);
		}
		ret = pthread_setaffinity_np(wk->thread, sizeof(set), &set);
		if (ret)
			return -ret;
		atomic_store(&wk->cpu, p->ncores ? (int)p->cores[w % p->ncores] : -1);
	}
	return 0;
}

static bool changed(const struct lg_policy_diff *d, const char *field)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->c[i].kind == LG_CHANGE_SETTING && !strcmp(d->c[i].field, field))
			return true;
	return false;
}

static void wait_workers(struct lg_dp *dp, uint64_t epoch, uint64_t model_epoch)
{
	for (unsigned w = 0; w < dp->nworkers; w++)
		while ((atomic_load(&dp->workers[w].seen_epoch) < epoch ||
			atomic_load(&dp->workers[w].models_seen) < model_epoch) &&
		       dp->workers[w].running && !atomic_load(&dp->stop)) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
}

/* Hand a newly opened output file to the output thread and wait until it writes there. */
static void switch_output(struct lg_dp *dp, FILE *f)
{
	atomic_store(&dp->out_next, f);
	lg_output_wake(dp);
	while (atomic_load(&dp->out_next) && !atomic_load(&dp->stop)) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	/* Stopping: the thread may be gone; whatever it did not take is ours to close. */
	f = atomic_exchange(&dp->out_next, NULL);
	if (f && f != stdout)
		fclose(f);
}

static int publish(struct lg_dp *dp, struct lg_policy *p, struct lg_modelset *ms)
{
	struct lg_gen *g, *old;
	struct lg_modelset *old_ms = NULL;
	int ret;

	/* XDP first: if its tables cannot take the policy, nothing changes anywhere. */
	ret = lg_dp_apply_xdp(dp, p);
	if (!ret)
		ret = lg_dp_apply_uadmit(dp, p);
	if (!ret)
		ret = lg_gen_build(dp, p, &g);
	if (ret)
		return ret;
	g->epoch = ++dp->epoch;
	/*
	 * A new model set goes out before its generation, and a worker takes a set only with
	 * the generation it was made for (need_gen), so no batch pairs a window of one with
	 * the model of the other. Workers read the generation first, then the models.
	 */
	if (ms) {
		ms->epoch = ++dp->model_epoch;
		if (!ms->model_id)
			ms->model_id = ms->epoch;
		if (!ms->active_id)
			ms->active_id = ms->epoch;
		ms->need_gen = g->epoch;
		old_ms = atomic_exchange(&dp->models, ms);
	}
	old = atomic_exchange(&dp->gen, g);
	/* Issue 12: records carry the new metadata from the output thread's next round (out
	 * of memory: they keep the old; the policy itself is applied). */
	if (lg_dp_meta_publish(dp, &g->policy))
		fprintf(stderr, "linegate: metadata: out of memory; records keep the last\n");
	/* A worker switches between bursts; the old generation is freed only when no
	 * worker can still hold a pointer into it. */
	wait_workers(dp, g->epoch, ms ? ms->epoch : 0);
	if (!atomic_load(&dp->stop)) {
		lg_gen_free(old, g);
		lg_modelset_free(old_ms, dp->nworkers);
		if (ms)
			atomic_fetch_add(&dp->model_swaps, 1);
	}
	/* The cores were checked before; only a thread that ended can refuse, and then there
	 * is nothing to pin. */
	lg_dp_pin_workers(dp, &g->policy);
	return 0;
}

static int build_modelset(struct lg_dp *dp, const struct lg_policy *p, const char *active,
			  const char *active_label, const char *shadow, const char *shadow_label,
			  struct lg_modelset **out, char *err, size_t errlen);

/* A device enrolled, renamed or given another sample_rate: the models that keep running
 * must still hold a detector (and the rate) for every device of p. */
static bool devices_changed(const struct lg_policy_diff *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->c[i].kind == LG_CHANGE_DEVICE_ADDED ||
		    (d->c[i].kind == LG_CHANGE_DEVICE_FIELD && (!strcmp(d->c[i].field, "name") ||
							       !strcmp(d->c[i].field, "sample_rate"))))
			return true;
	return false;
}

/*
 * The running models (which may be the registry's, not p's detection.model) under the new
 * policy p, checked as a swap would load them: a device without a detector would have its
 * windows counted as no_detector and never scored while the apply said "ok".
 */
static int check_running(const struct lg_policy *p, const struct lg_modelset *m, char *err,
			 size_t errlen)
{
	const char *path[2] = { m->active_path, m->shadow[0] ? m->shadow_path : NULL };
	const char *label[2] = { m->active, m->shadow }, *role[2] = { "active", "shadow" };

	for (int i = 0; i < 2 && path[i]; i++) {
		struct lg_scorer sc;
		char msg[768];
		/* The batch size only sizes buffers: the smallest one makes the check cheap. */
		int ret = lg_scorer_load(p, path[i], "check", 1, &sc, msg, sizeof(msg));

		if (!ret) {
			lg_scorer_free(&sc);
			continue;
		}
		snprintf(err, errlen, "model: the running %s model %.160s%s%.200s%s cannot serve this "
			 "policy: %.700s", role[i], label[i], strcmp(path[i], p->model) ?
			 " (not the policy's detection.model " : "", strcmp(path[i], p->model) ?
			 p->model : "", strcmp(path[i], p->model) ? ")" : "", msg);
		return ret;
	}
	return 0;
}

/*
 * uadp_multicast, live: join the groups p adds before XDP takes their frames (publish()),
 * so that none is admitted while no socket would receive it; the caller leaves the groups
 * that went once XDP calls them not_ours. Refused where the workers' UADP sockets listen on
 * the --bind address only, which no group reaches.
 */
static int apply_groups(struct lg_dp *dp, const struct lg_policy *p,
			const struct lg_policy_diff *d, char *err, size_t errlen)
{
	char msg[512];
	int ret;

	if (!changed(d, "uadp_multicast") || !dp->stack_reassembles || !p->nmcast)
		return 0;
	if (!dp->mcast_live) {
		snprintf(err, errlen,
			 "uadp_multicast: linegate's UADP socket listens on its --bind address "
			 "only, where no group arrives (it started without uadp_multicast), and "
			 "nothing was applied. Add uadp_multicast to the boot policy (%.300s) and "
			 "restart linegate: the socket then listens on every address",
			 dp->policy_path ? dp->policy_path : "--policy");
		return -EPERM;
	}
	ret = lg_mcast_join(&dp->mcast, p, msg, sizeof(msg));
	if (ret)
		snprintf(err, errlen, "uadp_multicast: %s; nothing was applied", msg);
	return ret;
}

int lg_dp_apply(struct lg_dp *dp, struct lg_apply_req *r)
{
	struct lg_policy *p = r->policy;
	struct lg_policy_diff d = { 0 };
	const struct lg_policy_change *so;
	struct lg_modelset *ms = NULL;
	FILE *nf = NULL;
	struct lg_gen *cur;
	int ret;

	r->changes = NULL;
	r->err[0] = '\0';
	r->warn[0] = '\0';
	if (dp->output_override)
		snprintf(p->jsonl, sizeof(p->jsonl), "%s", dp->output_override);
	pthread_mutex_lock(&dp->model_lock);
	pthread_mutex_lock(&dp->apply_lock);
	cur = atomic_load(&dp->gen);
	ret = lg_policy_diff(&cur->policy, p, &d);
	if (ret) {
		snprintf(r->err, sizeof(r->err), "out of memory");
		goto out;
	}
	/* Checks that can refuse come before anything changes. */
	so = lg_policy_diff_start_only(&d);
	if (so) {
		snprintf(r->err, sizeof(r->err), "%s: %.200s -> %.200s is start-only: a running "
			 "linegate cannot change it, and nothing was applied. To change it, edit "
			 "the boot policy (%.300s) and restart linegate", so->field, so->old,
			 so->new, dp->policy_path ? dp->policy_path : "--policy");
		ret = -EPERM;
		goto out;
	}
	ret = lg_dp_check_cores(p);
	if (ret) {
		snprintf(r->err, sizeof(r->err), "workers.cores lists a core this process may not "
			 "run on (see taskset -p %d)", (int)getpid());
		goto out;
	}
	/* The model is loaded and checked against the new window, threshold and trusted keys
	 * before anything is published: a model change, or the running model under the new
	 * settings (a window change re-plans its features; a key change re-verifies it). */
	if (changed(&d, "detection.model") || changed(&d, "detection.window") ||
	    changed(&d, "detection.threshold") || changed(&d, "models.trusted_keys") ||
	    changed(&d, "detection.gemm")) {
		const struct lg_modelset *m = atomic_load(&dp->models);
		char msg[768];

		if (changed(&d, "detection.model")) {
			const char *base = strrchr(p->model, '/');

			ret = build_modelset(dp, p, p->model, base ? base + 1 : p->model, NULL,
					     NULL, &ms, msg, sizeof(msg));
		} else {
			ret = build_modelset(dp, p, m->active_path, m->active,
					     m->shadow[0] ? m->shadow_path : NULL, m->shadow, &ms,
					     msg, sizeof(msg));
		}
		if (ret) {
			snprintf(r->err, sizeof(r->err), "model: %.900s; nothing was applied", msg);
			goto out;
		}
		/* Only the route changed: the same models, the same scores (docs/model-engine.md
		 * "GEMM routes"), so not a new model for the drift monitors. */
		if (!changed(&d, "detection.model") && !changed(&d, "detection.window") &&
		    !changed(&d, "detection.threshold") && !changed(&d, "models.trusted_keys")) {
			ms->model_id = m->model_id;
			ms->active_id = m->active_id;
		}
	}
	if (!ms && devices_changed(&d) && atomic_load(&dp->models)) {
		char msg[1400];

		ret = check_running(p, atomic_load(&dp->models), msg, sizeof(msg));
		if (ret) {
			snprintf(r->err, sizeof(r->err), "%.990s; nothing was applied", msg);
			goto out;
		}
	}
	if (changed(&d, "output.jsonl")) {
		char why[LG_PATH_MAX + 300] = "";

		nf = !strcmp(p->jsonl, "-") ? stdout : lg_outpath_fopen(p->jsonl, "a", why,
									sizeof(why));
		if (!nf) {
			ret = -errno;
			snprintf(r->err, sizeof(r->err), "output.jsonl %.700s; nothing was applied",
				 why);
			goto out;
		}
	}
	r->changes = lg_policy_diff_json(&d);
	if (!r->changes) {
		ret = -ENOMEM;
		snprintf(r->err, sizeof(r->err), "out of memory");
		goto out;
	}
	ret = apply_groups(dp, p, &d, r->err, sizeof(r->err));
	if (ret)
		goto out;
	ret = publish(dp, p, ms);
	if (ret) {
		if (changed(&d, "uadp_multicast"))
			lg_mcast_leave_others(&dp->mcast, &cur->policy);
		snprintf(r->err, sizeof(r->err), "the admission tables refused the policy: %s; "
			 "nothing was applied", strerror(-ret));
		goto out;
	}
	/* XDP calls the groups that left not_ours now: leave them. */
	if (changed(&d, "uadp_multicast"))
		lg_mcast_leave_others(&dp->mcast, p);
	/* Trial J F3: "fragments: drop -> reassemble (live)" was all an operator saw on an
	 * afxdp linegate, which still drops them (lg_dp_apply_xdp()): the reply says so, and
	 * the log when the field changed. */
	if (lg_dp_fragments_ignored(dp, &atomic_load(&dp->gen)->policy, r->warn,
				    sizeof(r->warn)) && changed(&d, "fragments"))
		fprintf(stderr, "linegate: %s\n", r->warn);
	ms = NULL;
	/* JSON lines rotation (output.c) is read by the output thread at its next write. */
	atomic_store(&dp->out_max_bytes, atomic_load(&dp->gen)->policy.jsonl_max_bytes);
	atomic_store(&dp->out_keep, atomic_load(&dp->gen)->policy.jsonl_keep);
	if (nf) {
		snprintf(dp->out_next_path, sizeof(dp->out_next_path), "%s",
			 atomic_load(&dp->gen)->policy.jsonl);
		switch_output(dp, nf);
		nf = NULL;
	}
	/* For the next start (decision 2): the applied text, the name its paths resolve by,
	 * and the boot file's hash as it is NOW. The enrollment verbs rewrite the boot file
	 * and then apply: recording the hash from linegate's start would make the next start
	 * take the edited boot file for an operator's edit and bring back what later applies
	 * removed (a new-user trial saw a removed device admitted again). */
	if (dp->state && r->text) {
		char *boot = NULL;
		size_t blen = 0;
		int sret;

		if (dp->policy_path && !lg_read_file(dp->policy_path, &boot, &blen)) {
			uint8_t h[32];

			SHA256((const unsigned char *)boot, blen, h); /* as lg_policy_parse() does */
			lg_state_set_boot(dp->state, h, dp->policy_path);
		}
		free(boot);
		sret = lg_state_save_policy(dp->state, r->text, r->len,
					    r->name ? r->name : "<apply>");

		if (sret)
			fprintf(stderr, "linegate: keeping the applied policy in %s: %s (a restart "
				"would start from the boot policy)\n", lg_state_dir(dp->state),
				strerror(-sret));
	}
	atomic_fetch_add(&dp->applies, 1);
out:
	if (ret) {
		free(r->changes);
		r->changes = NULL;
		lg_modelset_free(ms, dp->nworkers);
		if (nf && nf != stdout)
			fclose(nf);
		atomic_fetch_add(&dp->apply_failures, 1);
	}
	lg_policy_diff_free(&d);
	pthread_mutex_unlock(&dp->apply_lock);
	pthread_mutex_unlock(&dp->model_lock);
	return ret;
}

void lg_modelset_free(struct lg_modelset *ms, unsigned nworkers)
{
	if (!ms)
		return;
	for (unsigned w = 0; w < nworkers; w++) {
		lg_scorer_free(ms->sc[w]);
		free(ms->sc[w]);
		lg_scorer_free(ms->shadow_sc[w]);
		free(ms->shadow_sc[w]);
	}
	free(ms);
}

static int load_for_workers(struct lg_dp *dp, const struct lg_policy *p, const char *path,
			    const char *label, struct lg_scorer **out, char *err, size_t errlen)
{
	for (unsigned w = 0; w < dp->nworkers; w++) {
		int ret;

		out[w] = calloc(1, sizeof(*out[w]));
		if (!out[w])
			return -ENOMEM;
		ret = lg_scorer_load(p, path, label, dp->max_batch, out[w], err, errlen);
		if (ret)
			return ret;
		if (!w && out[w]->window_unchecked)
			fprintf(stderr, "linegate: WARNING: model %s carries no linegate.window "
				"metadata: nothing checks that it was trained on the policy's "
				"%u-sample windows (detection.window); a model fed other windows "
				"alerts on every one (docs/models.md \"ONNX metadata\")\n", path,
				p->window);
		if (!w) {
			char note[512];

			if (lg_scorer_levels_note(out[w], p, note, sizeof(note)))
				fprintf(stderr, "linegate: model %s: an open incident resolves "
					"below threshold x the model's normal level where it is "
					"above the policy's hysteresis %.2f (docs/policy.md "
					"\"Incidents\"): %s\n", path,
					(double)p->incidents.hysteresis, note);
		}
		/* lg_scorer_load() held in_dim to the layout's width at the policy's window */
		if (out[w]->in_dim > LG_FEAT_ROW_MAX) {
			snprintf(err, errlen, "%s: the model takes %zu features per row, linegate "
				 "computes at most %d", path, out[w]->in_dim, LG_FEAT_ROW_MAX);
			return -EINVAL;
		}
	}
	return 0;
}

/* Whether b runs the same active model as a: the same file as loaded (device, inode, size,
 * modification time), however its path is spelled or labelled (trial T, s24: the policy's
 * relative detection.model and linegated's absolute path of it ended a drift when a
 * candidate was approved into the shadow). A file whose identity is not known is never the
 * same. */
static bool same_active(const struct lg_modelset *a, const struct lg_modelset *b)
{
	return a->active_file.ino &&
	       !memcmp(&a->active_file, &b->active_file, sizeof(a->active_file));
}

/* Load the models for every worker under policy p (its window and trusted keys). */
static int build_modelset(struct lg_dp *dp, const struct lg_policy *p, const char *active,
			  const char *active_label, const char *shadow, const char *shadow_label,
			  struct lg_modelset **out, char *err, size_t errlen)
{
	struct lg_modelset *ms;
	int ret;

	if (strlen(active_label) >= sizeof(ms->active) ||
	    strlen(active) >= sizeof(ms->active_path) ||
	    (shadow && (strlen(shadow_label) >= sizeof(ms->shadow) ||
			strlen(shadow) >= sizeof(ms->shadow_path)))) {
		snprintf(err, errlen, "a model label is longer than %zu characters, or its path "
			 "than %zu", sizeof(ms->active) - 1, sizeof(ms->active_path) - 1);
		return -ENAMETOOLONG;
	}
	ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	ret = load_for_workers(dp, p, active, active_label, ms->sc, err, errlen);
	if (!ret)
		lg_drift_note_model(ms->sc[0], p->drift.psi_windows);
	if (!ret && shadow)
		ret = load_for_workers(dp, p, shadow, shadow_label, ms->shadow_sc, err, errlen);
	/* A shadow scores the active model's rows: it must read the same row. */
	if (!ret && shadow &&
	    (ms->shadow_sc[0]->in_dim != ms->sc[0]->in_dim ||
	     lg_features_layout(ms->shadow_sc[0]->fx) != lg_features_layout(ms->sc[0]->fx))) {
		snprintf(err, errlen, "%s: the shadow model reads another feature row (layout %s, "
			 "%zu features) than the active %s (layout %s, %zu): a shadow scores the "
			 "active model's rows", shadow, lg_feat_layout_name(
				 lg_features_layout(ms->shadow_sc[0]->fx)), ms->shadow_sc[0]->in_dim,
			 active, lg_feat_layout_name(lg_features_layout(ms->sc[0]->fx)),
			 ms->sc[0]->in_dim);
		ret = -EINVAL;
	}
	/* ... and the same windows: a device's window is its active detector's (issue 8 step
	 * 6e), and the shadow scores the rows made at it. */
	for (size_t i = 0; !ret && shadow && i < p->ndevices; i++) {
		const char *nm = p->devices[i].name;
		unsigned wa = lg_scorer_window(ms->sc[0], lg_scorer_device(ms->sc[0], nm),
					       p->window),
			 ws = lg_scorer_window(ms->shadow_sc[0],
					       lg_scorer_device(ms->shadow_sc[0], nm), p->window);

		if (wa != ws) {
			snprintf(err, errlen, "%s: the shadow model was trained on %u-sample windows "
				 "for device %s, the active %s on %u: a shadow scores the active "
				 "model's rows", shadow, ws, nm, active, wa);
			ret = -EINVAL;
		}
	}
	if (ret) {
		lg_modelset_free(ms, dp->nworkers);
		return ret;
	}
	snprintf(ms->active, sizeof(ms->active), "%s", active_label);
	snprintf(ms->active_path, sizeof(ms->active_path), "%s", active);
	{
		struct stat st;

		if (!stat(active, &st))
			ms->active_file = (struct lg_file_id){
				(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
				(uint64_t)st.st_mtim.tv_sec * 1000000000ull +
					(uint64_t)st.st_mtim.tv_nsec };
	}
	if (shadow) {
		snprintf(ms->shadow, sizeof(ms->shadow), "%s", shadow_label);
		snprintf(ms->shadow_path, sizeof(ms->shadow_path), "%s", shadow);
	}
	*out = ms;
	return 0;
}

int lg_dp_set_models(struct lg_dp *dp, const char *active, const char *active_label,
		     const char *shadow, const char *shadow_label, char *err, size_t errlen)
{
	struct lg_modelset *ms = NULL, *old;
	int ret;

	pthread_mutex_lock(&dp->model_lock);
	/* The trusted keys and the window are the running policy's: hold it still. */
	pthread_mutex_lock(&dp->apply_lock);
	ret = build_modelset(dp, &atomic_load(&dp->gen)->policy, active, active_label, shadow,
			     shadow_label, &ms, err, errlen);
	pthread_mutex_unlock(&dp->apply_lock);
	if (ret) {
		pthread_mutex_unlock(&dp->model_lock);
		return ret;
	}
	ms->epoch = ++dp->model_epoch;
	ms->model_id = ms->epoch;
	/* The same active model (its path, label and file as loaded): only the shadow changed,
	 * and the drift monitors go on with the model that scores. */
	old = atomic_load(&dp->models);
	ms->active_id = old && same_active(old, ms) ? old->active_id : ms->epoch;
	old = atomic_exchange(&dp->models, ms);
	/* Before the workers run (start-up) there is nobody to wait for. */
	if (old)
		wait_workers(dp, 0, ms->epoch);
	if (!atomic_load(&dp->stop))
		lg_modelset_free(old, dp->nworkers);
	atomic_fetch_add(&dp->model_swaps, 1);
	pthread_mutex_unlock(&dp->model_lock);
	return 0;
}
