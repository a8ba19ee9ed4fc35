// SPDX-License-Identifier: MIT
/* User-space admission (include/linegate/uadmit.h): admit.h's decision over plain memory. */
#include <linegate/uadmit.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define TABLE_SEED_TRIES 64
/* A slot index no state has: the frame fails closed (LG_R_STATE_FULL). */
#define NO_SLOT LG_ADMIT_STATE_SLOTS

struct uadp_route {
	struct lg_admit_uadp_key key;
	lg_u32 device_id;
};

/* One generation, immutable once published. */
struct ugen {
	struct lg_admit_table t;
	struct uadp_route *uadp; /* sorted by key bytes */
	size_t nuadp;
};

/* What one queue writes: its grace-period counter and its reason counters. */
struct uqueue {
	_Alignas(64) _Atomic lg_u64 cs; /* odd while the queue judges or exports */
	_Atomic lg_u64 clock_ns;	/* the newest now_ns it judged at (lg_uadmit_clock()) */
	struct lg_admit_reason_ctr rc[LG_R_MAX];
};

/*
 * A device's slot: its bucket and replay pre-check state, and its counters, written by the
 * queue that judges its frames, on a cache line of its own. Two arrays of 32-byte entries
 * put two devices on a line, and the devices of a line are normally judged on two queues
 * (steered by id): two workers then wrote one line at every frame (issue 10, two workers'
 * CPU per frame 1.16x one's in bench/workers_replay.py).
 */
struct uslot {
	_Alignas(64) struct lg_admit_state st;
	struct lg_admit_dev_ctr c;
};
_Static_assert(sizeof(struct uslot) == 64, "one slot, one cache line");

struct lg_uadmit {
	_Atomic(struct ugen *) live;
	unsigned nqueues;
	struct uqueue *q;
	/* By slot; a device keeps its slot while it stays enrolled. */
	struct uslot *slot;
	pthread_mutex_t apply_lock;
};

static void gen_free(struct ugen *g)
{
	if (g) {
		free(g->uadp);
		free(g);
	}
}

int lg_uadmit_create(const struct lg_uadmit_opts *opts, struct lg_uadmit **out)
{
	struct lg_uadmit *ua;
	struct ugen *g;

	if (!opts || !opts->queues || opts->queues > LG_UADMIT_MAX_QUEUES ||
	    opts->default_not_ours > LG_ADMIT_NOT_OURS_PASS)
		return -EINVAL;
	ua = calloc(1, sizeof(*ua));
	if (!ua)
		return -ENOMEM;
	g = calloc(1, sizeof(*g));
	ua->q = aligned_alloc(64, sizeof(*ua->q) * opts->queues);
	ua->slot = aligned_alloc(64, LG_ADMIT_STATE_SLOTS * sizeof(*ua->slot));
	if (ua->slot)
		memset(ua->slot, 0, LG_ADMIT_STATE_SLOTS * sizeof(*ua->slot));
	if (!g || !ua->q || !ua->slot)
		goto err_alloc;
	if (pthread_mutex_init(&ua->apply_lock, NULL))
		goto err_alloc;
	memset(ua->q, 0, sizeof(*ua->q) * opts->queues);
	ua->nqueues = opts->queues;
	/* Generation 0: no table, frames for us fail closed (LG_R_NO_TABLE). */
	g->t.cfg.lgf_port = opts->default_lgf_port ? opts->default_lgf_port : LGF_DEFAULT_PORT;
	g->t.cfg.not_ours = opts->default_not_ours;
	atomic_init(&ua->live, g);
	*out = ua;
	return 0;

err_alloc:
	free(ua->slot);
	free(ua->q);
	free(g);
	free(ua);
	return -ENOMEM;
}

void lg_uadmit_destroy(struct lg_uadmit *ua)
{
	if (!ua)
		return;
	gen_free(atomic_load(&ua->live));
	pthread_mutex_destroy(&ua->apply_lock);
	free(ua->slot);
	free(ua->q);
	free(ua);
}

/*
 * Enter a read-side section. The increment and the pointer load are sequentially
 * consistent, as are the writer's exchange and its reads of the counters: either the
 * writer sees this queue inside (odd) and waits, or this load sees the new generation.
 */
static struct ugen *reader_enter(struct lg_uadmit *ua, unsigned q)
{
	atomic_fetch_add(&ua->q[q].cs, 1);
	return atomic_load(&ua->live);
}

static void reader_exit(struct lg_uadmit *ua, unsigned q)
{
	atomic_fetch_add_explicit(&ua->q[q].cs, 1, memory_order_release);
}

/* Wait until no queue is still inside a section that began before the exchange. */
static void synchronize(struct lg_uadmit *ua)
{
	for (unsigned i = 0; i < ua->nqueues; i++) {
		lg_u64 c = atomic_load(&ua->q[i].cs);

		while ((c & 1) && atomic_load(&ua->q[i].cs) == c)
			sched_yield();
	}
}

/* The UADP routes of devs, sorted; -EINVAL if two devices share an identity. */
static int routes_build(struct ugen *g, const struct lg_admit_entry *devs, size_t n)
{
	size_t i;

	g->uadp = calloc(n ? n : 1, sizeof(*g->uadp));
	if (!g->uadp)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (!devs[i].has_uadp)
			continue;
		g->uadp[g->nuadp].key = devs[i].uadp;
		g->uadp[g->nuadp].device_id = devs[i].device_id;
		g->nuadp++;
	}
	qsort(g->uadp, g->nuadp, sizeof(*g->uadp), lg_admit_uadp_key_cmp);
	for (i = 1; i < g->nuadp; i++)
		if (!lg_admit_uadp_key_cmp(&g->uadp[i - 1].key, &g->uadp[i].key))
			return -EINVAL;
	return 0;
}

/*
 * Slots for devs: a device of the live generation keeps its own, a new one takes a slot
 * that no live device holds (whose state the caller resets). slot[i] is devs[i]'s.
 */
static int slots_assign(const struct ugen *live, const struct lg_admit_entry *devs, size_t n,
			lg_u32 *slot, lg_u8 *is_new)
{
	lg_u8 *used = calloc(LG_ADMIT_STATE_SLOTS, 1);
	lg_u32 free_slot = 0;
	size_t i;

	if (!used)
		return -ENOMEM;
	for (i = 0; i < LG_ADMIT_INDEX_SLOTS; i++)
		if (live->t.ids[i] && live->t.devs[i].slot < NO_SLOT)
			used[live->t.devs[i].slot] = 1;
	for (i = 0; i < n; i++) {
		const struct lg_admit_dev *d =
		    live->t.cfg.generation ? lg_admit_table_find(&live->t, devs[i].device_id)
					   : NULL;

		is_new[i] = !d || d->slot >= NO_SLOT;
		if (!is_new[i]) {
			slot[i] = d->slot;
			continue;
		}
		while (free_slot < LG_ADMIT_STATE_SLOTS && used[free_slot])
			free_slot++;
		/* Live + new devices never exceed twice the table size. */
		if (free_slot == LG_ADMIT_STATE_SLOTS) {
			free(used);
			return -ENOSPC;
		}
		slot[i] = free_slot;
		used[free_slot] = 1;
	}
	free(used);
	return 0;
}

static int table_build(struct ugen *g, const struct lg_admit_entry *devs, size_t n,
		       const lg_u32 *slot)
{
	struct lg_admit_dev d;
	lg_u32 seed;
	int tries, r = 0;
	size_t i;

	for (tries = 0; tries < TABLE_SEED_TRIES; tries++) {
		if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
			return -errno;
		memset(g->t.ids, 0, sizeof(g->t.ids));
		g->t.count = 0;
		g->t.seed = seed;
		for (i = 0, r = 0; i < n && !r; i++) {
			d = devs[i].dev;
			d.slot = slot[i];
			r = lg_admit_table_insert(&g->t, devs[i].device_id, &d);
		}
		/* A device listed twice is a policy bug, not a last-one-wins. */
		if (r == -1)
			return -EINVAL;
		if (!r)
			return 0;
	}
	return -ENOSPC;
}

int lg_uadmit_apply(struct lg_uadmit *ua, const struct lg_admit_cfg *cfg,
		    const struct lg_admit_entry *devs, size_t n, lg_u64 *generation)
{
	struct ugen *g, *old;
	lg_u32 *slot = NULL;
	lg_u8 *is_new = NULL;
	size_t i;
	int err;

	if (!cfg || (n && !devs) || n > LG_ADMIT_MAX_DEVICES)
		return -EINVAL;
	if (cfg->not_ours > LG_ADMIT_NOT_OURS_PASS || !cfg->lgf_port ||
	    cfg->uadp_port == cfg->lgf_port)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (lg_admit_entry_check(&devs[i]))
			return -EINVAL;
	g = calloc(1, sizeof(*g));
	slot = calloc(n ? n : 1, sizeof(*slot));
	is_new = calloc(n ? n : 1, 1);
	if (!g || !slot || !is_new) {
		err = -ENOMEM;
		goto err_free;
	}
	err = routes_build(g, devs, n);
	if (err)
		goto err_free;
	pthread_mutex_lock(&ua->apply_lock);
	old = atomic_load(&ua->live);
	err = slots_assign(old, devs, n, slot, is_new);
	if (!err)
		err = table_build(g, devs, n, slot);
	if (err)
		goto err_unlock;
	g->t.cfg = *cfg;
	g->t.cfg.generation = old->t.cfg.generation + 1;
	/*
	 * New devices start fresh: full bucket (last_ns 0), nothing verified, no counts. No
	 * queue reads these slots: their previous owners left with an earlier switch, which
	 * waited for every queue still on the generation it replaced.
	 */
	for (i = 0; i < n; i++) {
		if (!is_new[i])
			continue;
		memset(&ua->slot[slot[i]].st, 0, sizeof(ua->slot[0].st));
		__atomic_store_n(&ua->slot[slot[i]].c.admitted, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&ua->slot[slot[i]].c.dropped, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&ua->slot[slot[i]].c.audited, 0, __ATOMIC_RELAXED);
	}
	atomic_exchange(&ua->live, g);
	synchronize(ua);
	if (generation)
		*generation = g->t.cfg.generation;
	pthread_mutex_unlock(&ua->apply_lock);
	gen_free(old);
	free(is_new);
	free(slot);
	return 0;

err_unlock:
	pthread_mutex_unlock(&ua->apply_lock);
err_free:
	gen_free(g);
	free(is_new);
	free(slot);
	return err;
}

lg_u64 lg_uadmit_generation(struct lg_uadmit *ua)
{
	lg_u64 gen;

	pthread_mutex_lock(&ua->apply_lock);
	gen = atomic_load(&ua->live)->t.cfg.generation;
	pthread_mutex_unlock(&ua->apply_lock);
	return gen;
}

static lg_u32 uadp_device(const struct ugen *g, const struct lg_admit_uadp_key *k)
{
	const struct uadp_route *r = bsearch(k, g->uadp, g->nuadp, sizeof(*r), lg_admit_uadp_key_cmp);

	return r ? r->device_id : 0;
}

/* Single writer per queue; relaxed stores so that readers of the sums see whole values. */
static inline void ctr_add(lg_u64 *c, lg_u64 v)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static void judge_one(struct lg_uadmit *ua, struct uqueue *uq, const struct ugen *g,
		      const lg_u8 *frame, lg_u32 len, lg_u64 now_ns, struct lg_admit_verdict *v)
{
	const struct lg_admit_dev *dev = NULL;
	struct lg_admit_state *st = NULL;
	struct lg_admit_uadp_key ukey;
	struct lg_admit_pkt pkt = {0};
	int rc;

	rc = lg_admit_parse(frame, frame + len, &g->t.cfg, &pkt, &ukey);
	if (rc == LG_R_ADMITTED && g->t.cfg.generation) {
		if (!pkt.device_id)
			pkt.device_id = uadp_device(g, &ukey);
		dev = pkt.device_id ? lg_admit_table_find(&g->t, pkt.device_id) : NULL;
		if (dev && dev->slot < NO_SLOT)
			st = &ua->slot[dev->slot].st;
	}
	lg_admit_decide(rc, &pkt, dev, st, &g->t.cfg, now_ns, lg_admit_jiffy(now_ns), v);

	ctr_add(&uq->rc[v->reason].frames, 1);
	ctr_add(&uq->rc[v->reason].bytes, len);
	if (v->reason == LG_R_AUDIT)
		ctr_add(&uq->rc[v->audited].audited, 1);
	if (st) {
		/* Shared by the queues a device's frames arrive on (normally one, by RSS). */
		struct lg_admit_dev_ctr *c = &ua->slot[dev->slot].c;
		lg_u64 *which = v->reason == LG_R_ADMITTED ? &c->admitted
				: v->reason == LG_R_AUDIT  ? &c->audited
							   : &c->dropped;

		__atomic_fetch_add(which, 1, __ATOMIC_RELAXED);
		/* as lg_admit_dev_count(), atomically */
		if (v->reason == LG_R_RATE_LIMITED ||
		    (v->reason == LG_R_AUDIT && v->audited == LG_R_RATE_LIMITED))
			__atomic_fetch_add(&c->rate_limited, 1, __ATOMIC_RELAXED);
	}
}

void lg_uadmit_judge_burst(struct lg_uadmit *ua, unsigned q, const lg_u8 *const *frames,
			   const lg_u32 *lens, unsigned n, lg_u64 now_ns,
			   struct lg_admit_verdict *v)
{
	struct uqueue *uq = &ua->q[q];
	const struct ugen *g = reader_enter(ua, q);

	for (unsigned i = 0; i < n; i++)
		judge_one(ua, uq, g, frames[i], lens[i], now_ns, &v[i]);
	reader_exit(ua, q);
	/* the queue's own line, written by its worker alone: a load and, at most, a store */
	if (n && now_ns > atomic_load_explicit(&uq->clock_ns, memory_order_relaxed))
		atomic_store_explicit(&uq->clock_ns, now_ns, memory_order_relaxed);
}

lg_u64 lg_uadmit_clock(struct lg_uadmit *ua)
{
	lg_u64 t = 0;

	for (unsigned q = 0; q < ua->nqueues; q++) {
		lg_u64 c = atomic_load_explicit(&ua->q[q].clock_ns, memory_order_relaxed);

		if (c > t)
			t = c;
	}
	return t;
}

int lg_uadmit_export_seq(struct lg_uadmit *ua, unsigned q, lg_u32 device_id, lg_u64 seq)
{
	const struct ugen *g = reader_enter(ua, q);
	const struct lg_admit_dev *d = g->t.cfg.generation && device_id
					   ? lg_admit_table_find(&g->t, device_id)
					   : NULL;
	lg_u64 cur;

	if (!d || d->slot >= NO_SLOT) {
		reader_exit(ua, q);
		return -ENOENT;
	}
	cur = __atomic_load_n(&ua->slot[d->slot].st.highest_seq, __ATOMIC_RELAXED);
	while (seq > cur && !__atomic_compare_exchange_n(&ua->slot[d->slot].st.highest_seq, &cur,
							   seq, 0, __ATOMIC_RELAXED,
							   __ATOMIC_RELAXED))
		;
	reader_exit(ua, q);
	return 0;
}

int lg_uadmit_reset_seq(struct lg_uadmit *ua, unsigned q, lg_u32 device_id, lg_u64 seq)
{
	const struct ugen *g = reader_enter(ua, q);
	const struct lg_admit_dev *d = g->t.cfg.generation && device_id
					   ? lg_admit_table_find(&g->t, device_id)
					   : NULL;

	if (!d || d->slot >= NO_SLOT) {
		reader_exit(ua, q);
		return -ENOENT;
	}
	__atomic_store_n(&ua->slot[d->slot].st.highest_seq, seq, __ATOMIC_RELAXED);
	reader_exit(ua, q);
	return 0;
}

void lg_uadmit_read_reasons(struct lg_uadmit *ua, struct lg_admit_reason_ctr *out)
{
	memset(out, 0, sizeof(*out) * LG_R_MAX);
	for (unsigned i = 0; i < ua->nqueues; i++) {
		for (int r = 0; r < LG_R_MAX; r++) {
			const struct lg_admit_reason_ctr *c = &ua->q[i].rc[r];

			out[r].frames += __atomic_load_n(&c->frames, __ATOMIC_RELAXED);
			out[r].bytes += __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
			out[r].audited += __atomic_load_n(&c->audited, __ATOMIC_RELAXED);
		}
	}
}

/* The live entry of device_id, read under the apply lock (the writer's own view). */
static const struct lg_admit_dev *live_find(struct lg_uadmit *ua, lg_u32 device_id)
{
	const struct ugen *g = atomic_load(&ua->live);
	const struct lg_admit_dev *d;

	if (!g->t.cfg.generation || !device_id)
		return NULL;
	d = lg_admit_table_find(&g->t, device_id);
	return d && d->slot < NO_SLOT ? d : NULL;
}

int lg_uadmit_read_device(struct lg_uadmit *ua, lg_u32 device_id, struct lg_admit_dev_ctr *out)
{
	const struct lg_admit_dev *d;
	int err = -ENOENT;

	pthread_mutex_lock(&ua->apply_lock);
	d = live_find(ua, device_id);
	if (d) {
		const struct lg_admit_dev_ctr *c = &ua->slot[d->slot].c;

		out->admitted = __atomic_load_n(&c->admitted, __ATOMIC_RELAXED);
		out->dropped = __atomic_load_n(&c->dropped, __ATOMIC_RELAXED);
		out->audited = __atomic_load_n(&c->audited, __ATOMIC_RELAXED);
		out->rate_limited = __atomic_load_n(&c->rate_limited, __ATOMIC_RELAXED);
		if (out->admitted || out->dropped || out->audited)
			err = 0;
	}
	pthread_mutex_unlock(&ua->apply_lock);
	return err;
}

int lg_uadmit_read_state(struct lg_uadmit *ua, lg_u32 device_id, struct lg_admit_state *out)
{
	const struct lg_admit_dev *d;

	pthread_mutex_lock(&ua->apply_lock);
	d = live_find(ua, device_id);
	if (d) {
		const struct lg_admit_state *s = &ua->slot[d->slot].st;

		out->tokens = __atomic_load_n(&s->tokens, __ATOMIC_RELAXED);
		out->last_ns = __atomic_load_n(&s->last_ns, __ATOMIC_RELAXED);
		out->highest_seq = __atomic_load_n(&s->highest_seq, __ATOMIC_RELAXED);
		out->jiffy = __atomic_load_n(&s->jiffy, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&ua->apply_lock);
	return d ? 0 : -ENOENT;
}

int lg_uadmit_test_unslot(struct lg_uadmit *ua, lg_u32 device_id)
{
	const struct lg_admit_dev *d;

	pthread_mutex_lock(&ua->apply_lock);
	d = live_find(ua, device_id);
	if (d)
		((struct lg_admit_dev *)d)->slot = NO_SLOT;
	pthread_mutex_unlock(&ua->apply_lock);
	return d ? 0 : -ENOENT;
}
