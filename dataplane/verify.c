// SPDX-License-Identifier: MIT
/*
 * The verify stage: one datagram, LGF or UADP, judged by its device's owner: identity,
 * bound source, key, tag (OpenSSL HMAC), replay window (advanced only after the tag
 * verified); a frame of a device another worker owns goes to that worker (steer.c).
 */
#include "dataplane.h"
#include "stages.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

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

/*
 * A key past its 'expires' (unix seconds, UTC) is no longer one of the device's: how a
 * rotation's grace period ends, also across restarts. The coarse clock is a vDSO read of a
 * few nanoseconds, and only keys that expire pay for it.
 */
static bool key_live(const struct lg_policy_key *k)
{
	struct timespec ts;

	if (!k->expires)
		return true;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts.tv_sec < k->expires;
}

static enum lg_reason uadp_reason(int err)
{
	return lg_uadp_drop_reason(err);
}

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
		r = bsearch(&key, g->uadp, g->nuadp, sizeof(*r), lg_uadp_route_cmp);
		if (!r)
			return LG_DROP_UNKNOWN_DEVICE;
		if (g->owner[r->dev] != w->id)
			return lg_steer_handoff(w, g->owner[r->dev], pkt);
		hit[i].dev = &g->policy.devices[r->dev];
		hit[i].s = g->state[r->dev];
		if (!source_ok(hit[i].dev, pkt))
			return LG_DROP_SPOOFED;
		if (!is_signed) {
			if (!hit[i].dev->uadp_unsigned_ok)
				return LG_DROP_UNSIGNED;
		} else {
			struct lg_mac *h;

			/* The SecurityTokenId names the key, as LGF's key id does. */
			for (unsigned j = 0; j < hit[i].dev->nkeys; j++)
				if (hit[i].dev->keys[j].id == m->token_id) {
					k = &hit[i].dev->keys[j];
					slot = j;
				}
			if (!k || !key_live(k))
				return LG_DROP_UNKNOWN_KEY;
			h = device_mac(hit[i].s, slot, k);
			if (!h || lg_uadp_verify_hmac(m, h))
				return LG_DROP_BAD_TAG;
		}
		/* The DataSetMessage's own sequence number, else the NetworkMessage's. */
		if (m->dsm[i].flags1 & LG_UADP_D1_SEQUENCE)
			hit[i].seq = lg_replay_extend16(&hit[i].s->replay, m->dsm[i].seq);
		else if (m->group_flags & LG_UADP_G_SEQUENCE)
			hit[i].seq = lg_replay_extend16(&hit[i].s->replay, m->group_seq);
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
		    lg_window_ready(hit[i].s, hit[i].nch, g->policy.window))
			return LG_DROP_UNSUPPORTED; /* out of memory for the window */
	}
	for (unsigned i = 0; i < m->dsm_count; i++) {
		struct lg_dev_state *s = hit[i].s;

		if (hit[i].seq)
			lg_dev_commit(s, hit[i].seq);
		atomic_fetch_add_explicit(&s->admitted, 1, memory_order_relaxed);
		if (!hit[i].nch || lg_uadp_dsm_type(&m->dsm[i]) == LG_UADP_DSM_KEEP_ALIVE)
			continue;
		for (uint32_t e = 0; e < hit[i].count; e++) {
			for (unsigned c = 0; c < hit[i].nch; c++) {
				double v = 0;

				lg_uadp_field_get_f64(hit[i].f[c], e, &v);
				w->ustep[c] = (float)v;
			}
			lg_window_step(w, g, hit[i].dev, s, w->ustep, hit[i].seq, pkt->rx_ns);
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
	if (g->owner[dev - g->policy.devices] != w->id)
		return lg_steer_handoff(w, g->owner[dev - g->policy.devices], pkt);
	if (!source_ok(dev, pkt))
		return LG_DROP_SPOOFED;
	for (unsigned k = 0; k < dev->nkeys; k++)
		if (dev->keys[k].id == f.key_id) {
			key = &dev->keys[k];
			slot = k;
		}
	if (!key || !key_live(key))
		return LG_DROP_UNKNOWN_KEY;
	s = g->state[dev - g->policy.devices];
	/* Check the window first (cheap), but advance it only after the tag verified,
	 * so that a forged frame cannot shift it (RFC 4303 3.4.3). */
	r = lg_replay_check(&s->replay, f.sequence);
	if (r != LG_OK)
		return r;
	mac = device_mac(s, slot, key);
	/* Without a MAC context (out of memory) nothing can be verified: refuse, counted. */
	if (!mac || lg_mac_check(mac, &f))
		return LG_DROP_BAD_TAG;
	lg_dev_commit(s, f.sequence);
	atomic_fetch_add_explicit(&s->admitted, 1, memory_order_relaxed);
	if (f.type == LGF_TYPE_HEARTBEAT) {
		atomic_fetch_add_explicit(&w->st.heartbeats, 1, memory_order_relaxed);
		return LG_OK;
	}
	if (lg_window_add_frame(w, g, dev, s, &f, pkt->rx_ns))
		return LG_DROP_UNSUPPORTED; /* out of memory for the window: counted, not lost silently */
	return LG_OK;
}
