// SPDX-License-Identifier: MIT
/* Workers: receive, verify, window, featurise, score; run to completion, no locks. */
#include "dataplane.h"
#include "scorer.h"
#include "xdp.h"

#include <lgadmit.h>

#include <endian.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

uint64_t lg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int lg_spsc_init(struct lg_spsc *r, unsigned size)
{
	if (!size || size & (size - 1))
		return -EINVAL;
	r->slots = calloc(size, sizeof(*r->slots));
	if (!r->slots)
		return -ENOMEM;
	r->mask = size - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

void lg_spsc_free(struct lg_spsc *r)
{
	free(r->slots);
	r->slots = NULL;
}

bool lg_spsc_push(struct lg_spsc *r, const struct lg_event *e)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (h - atomic_load_explicit(&r->tail, memory_order_acquire) > r->mask)
		return false;
	r->slots[h & r->mask] = *e;
	/* Release: the consumer must see the slot before the new head. */
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return true;
}

bool lg_spsc_pop(struct lg_spsc *r, struct lg_event *e)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (t == atomic_load_explicit(&r->head, memory_order_acquire))
		return false;
	*e = r->slots[t & r->mask];
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return true;
}

static void state_free(struct lg_dev_state *s)
{
	if (s) {
		lg_mac_free(s->mac[0]);
		lg_mac_free(s->mac[1]);
		lg_uadp_hmac_free(s->uhmac[0]);
		lg_uadp_hmac_free(s->uhmac[1]);
		free(s->win);
		free(s);
	}
}

/* Find the state object the running generation has for this device id. */
static struct lg_dev_state *carry(const struct lg_gen *old, unsigned w, uint32_t id)
{
	const struct lg_policy_device *d;

	if (!old || w >= old->nworkers)
		return NULL;
	d = lg_policy_find(&old->policy, id);
	return d ? old->state[w][d - old->policy.devices] : NULL;
}

static int cmp_route(const void *a, const void *b)
{
	return memcmp(&((const struct lg_uadp_route *)a)->key, &((const struct lg_uadp_route *)b)->key,
		      sizeof(struct lg_uadp_device_key));
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

		if (!d->uadp_pub_type)
			continue;
		r->key.pub_type = (uint8_t)(d->uadp_pub_type - 1);
		r->key.writer_group_id = d->uadp_writer_group;
		r->key.writer_id = d->uadp_writer;
		if (r->key.pub_type == LG_UADP_PUBID_STRING) {
			r->key.pub_str_len = (uint8_t)strlen(d->uadp_pub_str);
			memcpy(r->key.pub_str, d->uadp_pub_str, r->key.pub_str_len);
		} else {
			r->key.pub_num = d->uadp_pub_num;
		}
		r->dev = (uint32_t)i;
		g->nuadp++;
	}
	if (g->nuadp)
		qsort(g->uadp, g->nuadp, sizeof(*g->uadp), cmp_route);
	return 0;
}

int lg_gen_build(struct lg_dp *dp, struct lg_policy *p, struct lg_gen **out)
{
	struct lg_gen *old = atomic_load(&dp->gen), *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->policy = *p;
	g->nworkers = dp->nworkers;
	if (build_routes(g))
		goto err;
	for (unsigned w = 0; w < dp->nworkers; w++) {
		g->state[w] = calloc(p->ndevices ? p->ndevices : 1, sizeof(*g->state[w]));
		if (!g->state[w])
			goto err;
		for (size_t i = 0; i < p->ndevices; i++) {
			struct lg_dev_state *s = carry(old, w, p->devices[i].id);

			if (!s)
				s = calloc(1, sizeof(*s));
			if (!s)
				goto err;
			g->state[w][i] = s;
		}
	}
	*out = g;
	return 0;
err:
	/* Only free what is ours: carried states still belong to the old generation. */
	lg_gen_free(g, old);
	return -ENOMEM;
}

/* Free a generation no worker uses any more, except the states next took over. */
void lg_gen_free(struct lg_gen *g, const struct lg_gen *next)
{
	if (!g)
		return;
	for (unsigned w = 0; w < g->nworkers; w++) {
		if (!g->state[w])
			continue;
		for (size_t i = 0; i < g->policy.ndevices; i++) {
			struct lg_dev_state *s = g->state[w][i];

			if (s && carry(next, w, g->policy.devices[i].id) != s)
				state_free(s);
		}
		free(g->state[w]);
	}
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
	ret = lg_admit_apply(dp->admit, &cfg, e, n, NULL);
	free(e);
	return ret;
}

int lg_dp_apply(struct lg_dp *dp, struct lg_policy *p)
{
	struct lg_gen *g, *old;
	int ret;

	pthread_mutex_lock(&dp->apply_lock);
	/* XDP first: if its tables cannot take the policy, nothing changes anywhere. */
	ret = lg_dp_apply_xdp(dp, p);
	if (ret) {
		atomic_fetch_add(&dp->apply_failures, 1);
		pthread_mutex_unlock(&dp->apply_lock);
		return ret;
	}
	ret = lg_gen_build(dp, p, &g);
	if (ret) {
		atomic_fetch_add(&dp->apply_failures, 1);
		pthread_mutex_unlock(&dp->apply_lock);
		return ret;
	}
	g->epoch = ++dp->epoch;
	old = atomic_exchange(&dp->gen, g);
	/* A worker switches between bursts; the old generation is freed only when no
	 * worker can still hold a pointer into it. */
	for (unsigned w = 0; w < dp->nworkers; w++)
		while (atomic_load(&dp->workers[w].seen_epoch) < g->epoch &&
		       !atomic_load(&dp->stop)) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
	if (!atomic_load(&dp->stop))
		lg_gen_free(old, g);
	atomic_fetch_add(&dp->applies, 1);
	pthread_mutex_unlock(&dp->apply_lock);
	return 0;
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
		if (out[w]->in_dim != LG_FEAT_N) {
			snprintf(err, errlen, "%s: the model takes %zu features per row, linegate "
				 "computes %d", path, out[w]->in_dim, LG_FEAT_N);
			return -EINVAL;
		}
	}
	return 0;
}

int lg_dp_set_models(struct lg_dp *dp, const char *active, const char *active_label,
		     const char *shadow, const char *shadow_label, char *err, size_t errlen)
{
	struct lg_modelset *ms, *old;
	struct lg_policy *p;
	int ret;

	if (strlen(active_label) >= sizeof(ms->active) ||
	    (shadow && strlen(shadow_label) >= sizeof(ms->shadow))) {
		snprintf(err, errlen, "a model label is longer than %zu characters",
			 sizeof(ms->active) - 1);
		return -ENAMETOOLONG;
	}
	ms = calloc(1, sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	pthread_mutex_lock(&dp->model_lock);
	/* The trusted keys are the running policy's: hold it still while loading. */
	pthread_mutex_lock(&dp->apply_lock);
	p = &atomic_load(&dp->gen)->policy;
	ret = load_for_workers(dp, p, active, active_label, ms->sc, err, errlen);
	if (!ret && shadow)
		ret = load_for_workers(dp, p, shadow, shadow_label, ms->shadow_sc, err, errlen);
	pthread_mutex_unlock(&dp->apply_lock);
	if (ret) {
		lg_modelset_free(ms, dp->nworkers);
		pthread_mutex_unlock(&dp->model_lock);
		return ret;
	}
	snprintf(ms->active, sizeof(ms->active), "%s", active_label);
	if (shadow)
		snprintf(ms->shadow, sizeof(ms->shadow), "%s", shadow_label);
	ms->epoch = ++dp->model_epoch;
	old = atomic_exchange(&dp->models, ms);
	/* Before the workers run (start-up) there is nobody to wait for. */
	for (unsigned w = 0; old && w < dp->nworkers; w++)
		while (atomic_load(&dp->workers[w].models_seen) < ms->epoch &&
		       !atomic_load(&dp->stop)) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
	if (!atomic_load(&dp->stop))
		lg_modelset_free(old, dp->nworkers);
	atomic_fetch_add(&dp->model_swaps, 1);
	pthread_mutex_unlock(&dp->model_lock);
	return 0;
}

static void emit(struct lg_worker *w, const struct lg_event *e)
{
	struct lg_spsc *r = e->alert ? &w->alerts : &w->scores_ring;

	while (!lg_spsc_push(r, e)) {
		/* A recording replayed unpaced has no line to keep up with: it waits for room
		 * (a slow output, a full pipe) rather than lose a score, until linegate stops. */
		if (!w->unpaced || atomic_load_explicit(&w->dp->stop, memory_order_relaxed)) {
			atomic_fetch_add_explicit(e->alert ? &w->st.ring_full_alerts :
							     &w->st.ring_full_scores,
						  1, memory_order_relaxed);
			return;
		}
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
}

void lg_worker_flush(struct lg_worker *w)
{
	struct timespec wall;
	uint64_t now, wall_ns;

	struct lg_scorer *sc, *shadow;

	if (!w->rows)
		return;
	sc = w->ms->sc[w->id];
	shadow = w->ms->shadow_sc[w->id];
	lg_scorer_score(sc, w->batch, w->rows, w->scores);
	if (shadow)
		lg_scorer_score(shadow, w->batch, w->rows, w->shadow_scores);
	now = lg_now_ns();
	clock_gettime(CLOCK_REALTIME, &wall);
	wall_ns = (uint64_t)wall.tv_sec * 1000000000ull + wall.tv_nsec;
	for (unsigned i = 0; i < w->rows; i++) {
		struct lg_event *e = &w->meta[i];
		struct lg_dev_state *s;
		uint64_t lat = now - e->rx_ns;
		/* The policy's threshold, when it sets one, holds for every model; else
		 * each model brings its own. */
		float pol = e->threshold, thr = pol > 0 ? pol : sc->threshold;
		uint32_t bits;

		e->score = w->scores[i];
		e->threshold = thr;
		e->alert = e->score > thr;
		e->scored_ns = now;
		e->scored_wall_ns = wall_ns;
		e->model_epoch = w->ms->epoch;
		s = w->row_state[i];
		if (shadow && (w->shadow_scores[i] > (pol > 0 ? pol : shadow->threshold)) !=
				      (bool)e->alert)
			atomic_fetch_add_explicit(&w->st.shadow_disagree, 1, memory_order_relaxed);
		memcpy(&bits, &e->score, sizeof(bits));
		atomic_store_explicit(&s->last_score_bits, bits, memory_order_relaxed);
		if (e->alert) {
			atomic_fetch_add_explicit(&s->alerts, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&w->st.alerts, 1, memory_order_relaxed);
		}
		atomic_fetch_add_explicit(&w->st.latency_ns_sum, lat, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->st.lat_hist[lg_latency_bucket(lat)], 1,
					  memory_order_relaxed);
		if (lat > atomic_load_explicit(&w->st.latency_ns_max, memory_order_relaxed))
			atomic_store_explicit(&w->st.latency_ns_max, lat, memory_order_relaxed);
		emit(w, e);
	}
	atomic_fetch_add_explicit(&w->st.scored, w->rows, memory_order_relaxed);
	if (shadow)
		atomic_fetch_add_explicit(&w->st.shadow_scored, w->rows, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st.batches, 1, memory_order_relaxed);
	{
		unsigned b = 0;

		while (b < LG_BATCH_BUCKETS - 1 && w->rows > (1u << b))
			b++;
		atomic_fetch_add_explicit(&w->st.batch_hist[b], 1, memory_order_relaxed);
	}
	w->rows = 0;
}

/* A full window: one feature row per channel, straight into the batch. */
static void window_done(struct lg_worker *w, const struct lg_gen *g,
			const struct lg_policy_device *dev, struct lg_dev_state *s)
{
	const struct lg_policy *p = &g->policy;

	for (unsigned c = 0; c < s->channels; c++) {
		struct lg_event *e = &w->meta[w->rows];

		lg_features_rows(w->ms->sc[w->id]->fx, s->win + (size_t)c * p->window, 1, p->window,
				 p->window, w->batch + (size_t)w->rows * LG_FEAT_N);
		memset(e, 0, sizeof(*e));
		e->device_id = dev->id;
		e->channel = (uint8_t)c;
		e->seq = s->last_seq;
		e->rx_ns = s->first_rx_ns;
		e->threshold = p->threshold;
		snprintf(e->name, sizeof(e->name), "%s", dev->name);
		w->row_state[w->rows] = s;
		if (!w->rows)
			w->oldest_ns = s->first_rx_ns;
		if (++w->rows == p->batch || w->rows == w->dp->max_batch)
			lg_worker_flush(w);
	}
	atomic_fetch_add_explicit(&s->windows, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st.windows, 1, memory_order_relaxed);
	s->fill = 0;
}

/* The device's window for this many channels; on its first frame, or when the device
 * changes its channel count, it starts afresh. */
static int window_ready(struct lg_dev_state *s, unsigned channels, uint32_t win)
{
	if (s->win && s->channels == channels)
		return 0;
	free(s->win);
	s->win = malloc(sizeof(float) * win * channels);
	if (!s->win)
		return -ENOMEM;
	s->channels = (uint8_t)channels;
	s->fill = 0;
	return 0;
}

/* Append one time step, one value per channel. */
static void window_step(struct lg_worker *w, const struct lg_gen *g,
			const struct lg_policy_device *dev, struct lg_dev_state *s, const float *v,
			uint64_t seq, uint64_t rx_ns)
{
	uint32_t win = g->policy.window;

	if (!s->fill)
		s->first_rx_ns = rx_ns;
	for (unsigned c = 0; c < s->channels; c++)
		s->win[(size_t)c * win + s->fill] = v[c];
	s->fill++;
	s->last_seq = seq;
	if (s->fill == win)
		window_done(w, g, dev, s);
}

/* Append a verified frame's samples to the device's window, de-interleaving. */
static int add_samples(struct lg_worker *w, const struct lg_gen *g,
		       const struct lg_policy_device *dev, struct lg_dev_state *s,
		       const struct lg_frame *f, uint64_t rx_ns)
{
	uint32_t win = g->policy.window;
	size_t i = 0;

	if (window_ready(s, f->channels, win))
		return -ENOMEM;
	while (i < f->sample_count) {
		size_t m = f->sample_count - i < win - s->fill ? f->sample_count - i : win - s->fill;

		if (!s->fill)
			s->first_rx_ns = rx_ns;
		for (unsigned c = 0; c < f->channels; c++)
			lg_lgf_samples(f, c, i, m, s->win + (size_t)c * win + s->fill);
		i += m;
		s->fill += (uint32_t)m;
		s->last_seq = f->sequence;
		if (s->fill == win)
			window_done(w, g, dev, s);
	}
	return 0;
}

static bool source_ok(const struct lg_policy_device *d, const struct lg_rx_pkt *pkt)
{
	if (d->family != pkt->family)
		return false;
	if (memcmp(d->addr, pkt->src_addr, d->family == AF_INET ? 4 : 16))
		return false;
	return !d->port || d->port == pkt->src_port;
}

/* The keyed MAC for key slot k, (re)made when missing or when the policy's key changed. */
static struct lg_mac *device_mac(struct lg_dev_state *s, unsigned k,
				 const struct lg_policy_key *key)
{
	if (s->mac[k] && !memcmp(s->mac_key[k], key->bytes, LG_KEY_LEN))
		return s->mac[k];
	lg_mac_free(s->mac[k]);
	s->mac[k] = NULL;
	if (lg_mac_new(&s->mac[k], key->bytes, LG_KEY_LEN))
		return NULL;
	memcpy(s->mac_key[k], key->bytes, LG_KEY_LEN);
	return s->mac[k];
}

static enum lg_reason uadp_reason(int err)
{
	switch (-err) {
	case LG_UADP_TRUNCATED:
		return LG_DROP_TRUNCATED;
	case LG_UADP_BAD_VERSION:
		return LG_DROP_BAD_VERSION;
	case LG_UADP_BAD_FLAGS:
	case LG_UADP_BAD_LENGTH:
	case LG_UADP_CAPACITY:
		return LG_DROP_BAD_LENGTH;
	case LG_UADP_NO_IDENTITY:
		return LG_DROP_UNKNOWN_DEVICE;
	default:
		return LG_DROP_UNSUPPORTED;
	}
}

static struct lg_uadp_hmac *device_uhmac(struct lg_dev_state *s, unsigned k,
					 const struct lg_policy_key *key)
{
	if (s->uhmac[k] && !memcmp(s->uhmac_key[k], key->bytes, LG_KEY_LEN))
		return s->uhmac[k];
	lg_uadp_hmac_free(s->uhmac[k]);
	s->uhmac[k] = NULL;
	if (lg_uadp_hmac_new(&s->uhmac[k], key->bytes, LG_KEY_LEN))
		return NULL;
	memcpy(s->uhmac_key[k], key->bytes, LG_KEY_LEN);
	return s->uhmac[k];
}

/* A 16-bit UADP sequence number, unwrapped against the highest one accepted so far into
 * the 64-bit space of the replay window (which starts at 1): a number up to 32767 ahead
 * is newer, one up to 32768 behind is older. 0 when it falls before the first. */
static uint64_t uadp_seq64(const struct lg_replay *r, uint16_t seq)
{
	int64_t ext;

	if (!r->highest)
		return (uint64_t)seq + 1;
	ext = (int64_t)r->highest + (int16_t)(uint16_t)(seq - (uint16_t)(r->highest - 1));
	return ext < 1 ? 0 : (uint64_t)ext;
}

static bool source_ok(const struct lg_policy_device *d, const struct lg_rx_pkt *pkt);

/*
 * A UADP NetworkMessage: every DataSetMessage in it must belong to an enrolled device,
 * come from its bound address, verify (unless the device may send unsigned) and be fresh;
 * only then are any of them used: a message is taken whole or not at all.
 */
static enum lg_reason handle_uadp(struct lg_worker *w, const struct lg_gen *g,
				  const struct lg_rx_pkt *pkt)
{
	struct lg_uadp_msg *m = w->umsg;
	struct {
		const struct lg_policy_device *dev;
		struct lg_dev_state *s;
		uint64_t seq; /* 0: the message carries no sequence number */
		const struct lg_uadp_field *f[LGF_MAX_CHANNELS];
		unsigned nch;
		uint32_t count;
	} hit[LG_UADP_MAX_DSM];
	bool is_signed;
	int ret;

	atomic_fetch_add_explicit(&w->st.uadp_rx, 1, memory_order_relaxed);
	ret = lg_uadp_decode(m, pkt->data, pkt->len, NULL);
	if (ret)
		return uadp_reason(ret);
	is_signed = m->sec_flags & LG_UADP_S_SIGNED;
	for (unsigned i = 0; i < m->dsm_count; i++) {
		struct lg_uadp_route key = { 0 }, *r;
		const struct lg_policy_key *k = NULL;
		unsigned slot = 0;

		ret = lg_uadp_device_key(m, i, &key.key);
		if (ret)
			return uadp_reason(ret);
		r = bsearch(&key, g->uadp, g->nuadp, sizeof(*r), cmp_route);
		if (!r)
			return LG_DROP_UNKNOWN_DEVICE;
		hit[i].dev = &g->policy.devices[r->dev];
		hit[i].s = g->state[w->id][r->dev];
		if (!source_ok(hit[i].dev, pkt))
			return LG_DROP_SPOOFED;
		if (!is_signed) {
			if (!hit[i].dev->uadp_unsigned_ok)
				return LG_DROP_UNSIGNED;
		} else {
			struct lg_uadp_hmac *h;

			/* The SecurityTokenId names the key, as LGF's key id does. */
			for (unsigned j = 0; j < hit[i].dev->nkeys; j++)
				if (hit[i].dev->keys[j].id == m->token_id) {
					k = &hit[i].dev->keys[j];
					slot = j;
				}
			if (!k)
				return LG_DROP_UNKNOWN_KEY;
			h = device_uhmac(hit[i].s, slot, k);
			if (!h || lg_uadp_verify_hmac(m, h))
				return LG_DROP_BAD_TAG;
		}
		/* The DataSetMessage's own sequence number, else the NetworkMessage's. */
		if (m->dsm[i].flags1 & LG_UADP_D1_SEQUENCE)
			hit[i].seq = uadp_seq64(&hit[i].s->replay, m->dsm[i].seq);
		else if (m->group_flags & LG_UADP_G_SEQUENCE)
			hit[i].seq = uadp_seq64(&hit[i].s->replay, m->group_seq);
		else if (is_signed)
			return LG_DROP_UNSUPPORTED; /* signed but unsequenced: replayable */
		else
			hit[i].seq = 0;
		if (!hit[i].seq && (m->dsm[i].flags1 & LG_UADP_D1_SEQUENCE ||
				    m->group_flags & LG_UADP_G_SEQUENCE))
			return LG_DROP_TOO_OLD; /* unwrapped to before the first sequence */
		if (hit[i].seq) {
			enum lg_reason rr = lg_replay_check(&hit[i].s->replay, hit[i].seq);

			if (rr != LG_OK)
				return rr;
		}
		/* Channels are the numeric fields; every one must carry as many values. */
		hit[i].nch = 0;
		hit[i].count = 0;
		for (unsigned fi = 0; fi < m->dsm[i].field_count; fi++) {
			const struct lg_uadp_field *fl = &m->fields[m->dsm[i].first_field + fi];

			if (fl->type == LG_UADP_T_NULL || fl->type == LG_UADP_T_DATETIME)
				continue;
			if (hit[i].nch == LGF_MAX_CHANNELS || (hit[i].nch && fl->count != hit[i].count))
				return LG_DROP_UNSUPPORTED;
			hit[i].count = fl->count;
			hit[i].f[hit[i].nch++] = fl;
		}
		if (hit[i].nch && lg_uadp_dsm_type(&m->dsm[i]) != LG_UADP_DSM_KEEP_ALIVE &&
		    window_ready(hit[i].s, hit[i].nch, g->policy.window))
			return LG_DROP_UNSUPPORTED; /* out of memory for the window */
	}
	for (unsigned i = 0; i < m->dsm_count; i++) {
		struct lg_dev_state *s = hit[i].s;

		if (hit[i].seq)
			lg_replay_commit(&s->replay, hit[i].seq);
		atomic_fetch_add_explicit(&s->admitted, 1, memory_order_relaxed);
		if (!hit[i].nch || lg_uadp_dsm_type(&m->dsm[i]) == LG_UADP_DSM_KEEP_ALIVE)
			continue;
		for (uint32_t e = 0; e < hit[i].count; e++) {
			for (unsigned c = 0; c < hit[i].nch; c++) {
				double v = 0;

				lg_uadp_field_get_f64(hit[i].f[c], e, &v);
				w->ustep[c] = (float)v;
			}
			window_step(w, g, hit[i].dev, s, w->ustep, hit[i].seq, pkt->rx_ns);
		}
	}
	if (!is_signed)
		atomic_fetch_add_explicit(&w->st.uadp_unsigned, 1, memory_order_relaxed);
	return LG_OK;
}

enum lg_reason lg_worker_handle(struct lg_worker *w, const struct lg_gen *g,
				const struct lg_rx_pkt *pkt)
{
	const struct lg_policy_device *dev;
	const struct lg_policy_key *key = NULL;
	struct lg_dev_state *s;
	struct lg_frame f;
	enum lg_reason r;
	struct lg_mac *mac;
	unsigned slot = 0;

	if (pkt->truncated)
		return LG_DROP_BAD_LENGTH;
	if (pkt->port_idx == 1)
		return handle_uadp(w, g, pkt);
	r = lg_lgf_parse(pkt->data, pkt->len, &f);
	if (r != LG_OK)
		return r;
	dev = lg_policy_find(&g->policy, f.device_id);
	if (!dev)
		return LG_DROP_UNKNOWN_DEVICE;
	if (!source_ok(dev, pkt))
		return LG_DROP_SPOOFED;
	for (unsigned k = 0; k < dev->nkeys; k++)
		if (dev->keys[k].id == f.key_id) {
			key = &dev->keys[k];
			slot = k;
		}
	if (!key)
		return LG_DROP_UNKNOWN_KEY;
	s = g->state[w->id][dev - g->policy.devices];
	/* Check the window first (cheap), but advance it only after the tag verified,
	 * so that a forged frame cannot shift it (RFC 4303 3.4.3). */
	r = lg_replay_check(&s->replay, f.sequence);
	if (r != LG_OK)
		return r;
	mac = device_mac(s, slot, key);
	/* Without a MAC context (out of memory) nothing can be verified: refuse, counted. */
	if (!mac || lg_mac_check(mac, &f))
		return LG_DROP_BAD_TAG;
	lg_replay_commit(&s->replay, f.sequence);
	atomic_fetch_add_explicit(&s->admitted, 1, memory_order_relaxed);
	if (f.type == LGF_TYPE_HEARTBEAT) {
		atomic_fetch_add_explicit(&w->st.heartbeats, 1, memory_order_relaxed);
		return LG_OK;
	}
	if (add_samples(w, g, dev, s, &f, pkt->rx_ns))
		return LG_DROP_UNSUPPORTED; /* out of memory for the window: counted, not lost silently */
	return LG_OK;
}

void lg_worker_export_seqs(struct lg_worker *w, const struct lg_gen *g)
{
	for (size_t i = 0; i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[w->id][i];

		if (s->replay.highest > s->exported_seq &&
		    !lg_admit_export_seq(w->dp->admit, g->policy.devices[i].id, s->replay.highest))
			s->exported_seq = s->replay.highest;
	}
}

void *lg_worker_main(void *arg)
{
	struct lg_worker *w = arg;
	struct lg_dp *dp = w->dp;
	struct lg_rx_pkt pkts[LG_BURST];
	uint64_t epoch = 0;

	while (!atomic_load_explicit(&dp->stop, memory_order_relaxed)) {
		struct lg_gen *g = atomic_load_explicit(&dp->gen, memory_order_acquire);
		int timeout = 100, n;

		struct lg_modelset *ms = atomic_load_explicit(&dp->models, memory_order_acquire);

		if (g->epoch != epoch) {
			/* Rows of the batch point at state objects of the old generation,
			 * which is freed once we say we have moved on: score them first. */
			lg_worker_flush(w);
			epoch = g->epoch;
			atomic_store_explicit(&w->seen_epoch, epoch, memory_order_release);
		}
		if (ms != w->ms) {
			/* Rows gathered so far are scored by the model they were gathered
			 * under; the next batch by the new one. None twice, none skipped. */
			lg_worker_flush(w);
			w->ms = ms;
			atomic_store_explicit(&w->models_seen, ms->epoch, memory_order_release);
		}
		/* Unpaced: batches by size (and the end of the stream) alone, the same every run. */
		if (w->rows && !w->unpaced) {
			uint64_t age = lg_now_ns() - w->oldest_ns,
				 dl = (uint64_t)g->policy.deadline_ms * 1000000ull;

			if (age >= dl) {
				lg_worker_flush(w);
			} else {
				timeout = (int)((dl - age) / 1000000ull);
				if (timeout < 1)
					timeout = 1;
			}
		}
		if (dp->admit && lg_now_ns() - w->last_export_ns > LG_EXPORT_NS) {
			lg_worker_export_seqs(w, g);
			w->last_export_ns = lg_now_ns();
		}
		n = w->ops->rx_burst(w->be, pkts, LG_BURST, timeout);
		if (n == LG_RX_EOF) {
			/* A finite stream ended: what is in the batch is scored now, not at a
			 * deadline that would never come. */
			lg_worker_flush(w);
			atomic_fetch_add(&dp->eof_workers, 1);
			return NULL;
		}
		if (n < 0) {
			/* A backend error is not a reason to stop receiving: count and go on. */
			atomic_fetch_add_explicit(&w->st.rx_errors, 1, memory_order_relaxed);
			continue;
		}
		for (int i = 0; i < n; i++) {
			enum lg_reason r = lg_worker_handle(w, g, &pkts[i]);

			atomic_fetch_add_explicit(&w->st.reason[r], 1, memory_order_relaxed);
		}
		atomic_fetch_add_explicit(&w->st.rx, (uint64_t)n, memory_order_relaxed);
		w->ops->release(w->be, pkts, (unsigned)n);
	}
	lg_worker_flush(w);
	return NULL;
}
