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

#include <lgadmit.h>

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void state_free(struct lg_dev_state *s)
{
	if (s) {
		lg_mac_free(s->mac[0]);
		lg_mac_free(s->mac[1]);
		free(s->win);
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
		qsort(g->uadp, g->nuadp, sizeof(*g->uadp), lg_uadp_route_cmp);
	return 0;
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
	if (!g->state || !g->owner || build_routes(g))
		goto err;
	for (size_t i = 0; i < p->ndevices; i++) {
		struct lg_dev_state *s;

		g->owner[i] = (uint16_t)lg_dev_owner(&p->devices[i], dp->nworkers);
		s = carry(old, p->devices[i].id, g->owner[i]);
		if (!s)
			s = calloc(1, sizeof(*s));
		if (!s)
			goto err;
		g->state[i] = s;
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
	for (size_t i = 0; g->state && i < g->policy.ndevices; i++) {
		struct lg_dev_state *s = g->state[i];

		if (s && carry(next, g->policy.devices[i].id, g->owner[i]) != s)
			state_free(s);
	}
	free(g->state);
	free(g->owner);
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

int lg_dp_apply(struct lg_dp *dp, struct lg_policy *p)
{
	struct lg_gen *g, *old;
	int ret;

	pthread_mutex_lock(&dp->apply_lock);
	/* Checks that can refuse come before anything changes. */
	ret = lg_dp_check_cores(p);
	if (ret) {
		atomic_fetch_add(&dp->apply_failures, 1);
		pthread_mutex_unlock(&dp->apply_lock);
		return ret;
	}
	/* XDP first: if its tables cannot take the policy, nothing changes anywhere. */
	ret = lg_dp_apply_xdp(dp, p);
	if (!ret)
		ret = lg_dp_apply_uadmit(dp, p);
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
	/* The cores were checked above; only a thread that ended can refuse, and then there
	 * is nothing to pin. */
	lg_dp_pin_workers(dp, &g->policy);
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
