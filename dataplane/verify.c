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
	/* Over MQTT the broker is the peer: only devices enrolled for it may speak there, so
	 * that a broker-side sender cannot speak for a UDP device. */
	if (pkt->transport == LG_RX_MQTT)
		return d->uadp_pub_type && d->uadp_transport != LG_UADP_TRANSPORT_UDP;
	if (d->uadp_pub_type && d->uadp_transport == LG_UADP_TRANSPORT_MQTT)
		return false;
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

/* The key of a device's slots whose id is the message's SecurityTokenId, live, or NULL. */
static const struct lg_policy_key *token_key(const struct lg_policy_device *d, uint32_t token,
					     unsigned *slot)
{
	for (unsigned j = 0; j < d->nkeys; j++)
		if (d->keys[j].id == token && key_live(&d->keys[j])) {
			*slot = j;
			return &d->keys[j];
		}
	return NULL;
}

/* The message's timestamp for DataSetMessage i: its own, else the NetworkMessage's; 0 none. */
static int64_t uadp_time(const struct lg_uadp_msg *m, unsigned i)
{
	if (m->dsm[i].flags2 & LG_UADP_D2_TIMESTAMP)
		return m->dsm[i].timestamp;
	return m->ext1 & LG_UADP_X1_TIMESTAMP ? m->timestamp : 0;
}

/*
 * The sequence DataSetMessage i is judged by in its device's replay window, by the device's
 * 'replay' (docs/policy.md, "Replay protection for UADP"), or 0 for none:
 *  - sequence: its DataSetMessageSequenceNumber, else the GroupHeader SequenceNumber, both
 *    16 bits, unwrapped with serial number arithmetic (RFC 1982) against the window;
 *  - nonce: SecurityTokenId << 32 | the UInt32 sequence in the signed MessageNonce
 *    (PubSub-Aes-CTR: 4 random bytes, then the sequence, which restarts at 1 with each
 *    token): monotonic across key rotations when tokens grow, as a security key service's do;
 *  - timestamp: the signed DateTime, in 100 ns ticks: only newer messages pass.
 * The one window and its persisted high-water mark serve all three.
 */
static enum lg_reason uadp_seq(const struct lg_policy_device *d, struct lg_dev_state *s,
			       const struct lg_uadp_msg *m, unsigned i, uint64_t *seq)
{
	const struct lg_uadp_dsm *dsm = &m->dsm[i];
	int64_t ts;

	*seq = 0;
	switch (d->uadp_replay) {
	case LG_UADP_REPLAY_SEQUENCE:
		if (dsm->flags1 & LG_UADP_D1_SEQUENCE)
			*seq = lg_replay_extend16(&s->replay, dsm->seq);
		else if (m->group_flags & LG_UADP_G_SEQUENCE)
			*seq = lg_replay_extend16(&s->replay, m->group_seq);
		else
			return LG_DROP_NO_REPLAY_FIELD;
		if (!*seq)
			return LG_DROP_TOO_OLD; /* unwrapped to before the first sequence */
		/* 16 bits come round every 65536 messages: a message recorded 32769 or more
		 * ago unwraps as newer. Its timestamp, when it has one, gives it away. */
		ts = uadp_time(m, i);
		if (ts && s->uadp_newest_ts &&
		    ts < s->uadp_newest_ts - (int64_t)d->uadp_replay_ms * 10000)
			return LG_DROP_STALE_TIMESTAMP;
		break;
	case LG_UADP_REPLAY_NONCE:
		if (!(m->sec_flags & LG_UADP_S_SIGNED) || m->nonce_len != 8)
			return LG_DROP_NO_REPLAY_FIELD;
		*seq = (uint64_t)m->token_id << 32 | (uint64_t)m->nonce[4] |
		       (uint64_t)m->nonce[5] << 8 | (uint64_t)m->nonce[6] << 16 |
		       (uint64_t)m->nonce[7] << 24;
		if (!(uint32_t)*seq)
			return LG_DROP_TOO_OLD; /* nonce sequences start at 1 */
		break;
	case LG_UADP_REPLAY_TIMESTAMP:
		ts = uadp_time(m, i);
		if (ts <= 0)
			return LG_DROP_NO_REPLAY_FIELD;
		*seq = (uint64_t)ts;
		break;
	default:
		return LG_OK; /* replay: none, reported as unprotected */
	}
	return lg_replay_check(&s->replay, *seq);
}

static bool uadp_numeric(const struct lg_uadp_field *f)
{
	return f->type >= LG_UADP_T_BOOLEAN && f->type <= LG_UADP_T_DOUBLE;
}

/* The DataSet field index of field fi of DataSetMessage i. */
static unsigned uadp_field_index(const struct lg_uadp_msg *m, unsigned i, unsigned fi)
{
	(void)m;
	(void)i;
	return fi;
}

/*
 * The fields of DataSetMessage i that feed its device's windows, one channel each, into
 * f[] with their DataSet field indices in idx[] and their common length in *count: the
 * fields the policy's 'channels' names, else the numeric fields with the most values (a
 * vibration publisher's sample arrays; its scalars become output fields). Returns how many
 * (0: none in this message, as in a delta frame without them), or LGF_MAX_CHANNELS + 1
 * when the chosen fields disagree on their length.
 */
static unsigned uadp_channels(const struct lg_policy_device *d, const struct lg_uadp_msg *m,
			      unsigned i, const struct lg_uadp_field **f, uint8_t *idx,
			      uint32_t *count)
{
	const struct lg_uadp_dsm *dsm = &m->dsm[i];
	uint32_t most = 0;
	unsigned n = 0;

	*count = 0;
	if (!d->uadp_channels)
		for (unsigned fi = 0; fi < dsm->field_count; fi++) {
			const struct lg_uadp_field *fl = &m->fields[dsm->first_field + fi];

			if (uadp_numeric(fl) && fl->count > most)
				most = fl->count;
		}
	for (unsigned fi = 0; fi < dsm->field_count; fi++) {
		const struct lg_uadp_field *fl = &m->fields[dsm->first_field + fi];
		unsigned x = uadp_field_index(m, i, fi);
		bool chosen = d->uadp_channels ? x < 32 && (d->uadp_channels >> x & 1)
					       : fl->count == most;

		if (!chosen || !uadp_numeric(fl) || !fl->count)
			continue;
		if (n == LGF_MAX_CHANNELS || (n && fl->count != *count))
			return LGF_MAX_CHANNELS + 1;
		*count = fl->count;
		idx[n] = (uint8_t)(x < 255 ? x : 255);
		f[n++] = fl;
	}
	/* A channel the policy names but this message lacks: its samples are not here. */
	if (d->uadp_channels && n != (unsigned)__builtin_popcount(d->uadp_channels))
		return 0;
	return n;
}

/* A String field's value as a JSON string (printable ASCII kept, the rest as '?'), or false. */
static bool uadp_string(const struct lg_uadp_field *f, char *out, size_t len)
{
	(void)f;
	(void)out;
	(void)len;
	return false; /* until the decoder reports String fields */
}

/*
 * What the outputs show of DataSetMessage i besides its channels: its first DateTime
 * field as the source time, and the other fields' values as JSON members, by the names
 * the policy gives them (else f<index>): numbers, and strings as JSON strings.
 */
static void uadp_note_fields(const struct lg_policy_device *d, struct lg_dev_state *s,
			     const struct lg_uadp_msg *m, unsigned i)
{
	const struct lg_uadp_dsm *dsm = &m->dsm[i];
	size_t u = 0, cap = sizeof(s->uadp_fields);
	bool have_time = false;

	s->uadp_fields[0] = '\0';
	for (unsigned fi = 0; fi < dsm->field_count && u < cap; fi++) {
		const struct lg_uadp_field *fl = &m->fields[dsm->first_field + fi];
		unsigned x = uadp_field_index(m, i, fi);
		const char *name = lg_policy_uadp_field(d, x);
		char nb[16], val[48];
		bool chan = false;
		double v;
		int k;

		for (unsigned c = 0; c < s->channels; c++)
			chan |= s->uadp_chan_field[c] == x;
		if (fl->type == LG_UADP_T_DATETIME && fl->count == 1 && !have_time) {
			uint64_t raw;

			if (!lg_uadp_field_get_raw(fl, 0, &raw)) {
				s->uadp_source_time = (int64_t)raw;
				have_time = true;
			}
			continue;
		}
		if (chan || fl->count != 1)
			continue;
		if (uadp_numeric(fl) && !lg_uadp_field_get_f64(fl, 0, &v))
			snprintf(val, sizeof(val), "%.9g", v);
		else if (!uadp_string(fl, val, sizeof(val)))
			continue;
		if (!name) {
			snprintf(nb, sizeof(nb), "f%u", x);
			name = nb;
		}
		k = snprintf(s->uadp_fields + u, cap - u, "%s\"%s\":%s", u ? "," : "", name, val);
		if (k < 0 || (size_t)k >= cap - u) {
			s->uadp_fields[u] = '\0'; /* what fits, whole members only */
			break;
		}
		u += (size_t)k;
	}
}

/*
 * A UADP NetworkMessage: every DataSetMessage in it must belong to an enrolled device,
 * come from its bound address, carry the security its device requires and verify with the
 * key its SecurityTokenId names, and be fresh by the device's replay protection; only then
 * are any of them used: a message is taken whole or not at all.
 */
static enum lg_reason handle_uadp(struct lg_worker *w, const struct lg_gen *g,
				  const struct lg_rx_pkt *pkt)
{
	struct lg_uadp_msg *m = w->umsg;
	struct {
		const struct lg_policy_device *dev;
		struct lg_dev_state *s;
		uint64_t seq; /* 0: not replay-checked (replay: none) */
		const struct lg_uadp_field *f[LGF_MAX_CHANNELS];
		unsigned nch;
		uint32_t count;
	} hit[LG_UADP_MAX_DSM];
	bool is_signed, unprotected = false;
	int ret;

	atomic_fetch_add_explicit(&w->st.uadp_rx, 1, memory_order_relaxed);
	ret = lg_uadp_decode(m, pkt->data, pkt->len, NULL);
	if (ret)
		return uadp_reason(ret);
	is_signed = m->sec_flags & LG_UADP_S_SIGNED;
	for (unsigned i = 0; i < m->dsm_count; i++) {
		struct lg_uadp_route key = { 0 }, *r;
		const struct lg_policy_key *k = NULL;
		enum lg_reason rr;
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
		if (hit[i].dev->uadp_security == LG_UADP_SEC_ENCRYPT &&
		    !(m->sec_flags & LG_UADP_S_ENCRYPTED))
			return is_signed ? LG_DROP_NOT_ENCRYPTED : LG_DROP_UNSIGNED;
		if (!is_signed) {
			if (hit[i].dev->uadp_security != LG_UADP_SEC_NONE)
				return LG_DROP_UNSIGNED;
		} else {
			struct lg_mac *h;

			/* The SecurityTokenId names the key, as LGF's key id does. */
			k = token_key(hit[i].dev, m->token_id, &slot);
			if (!k)
				return LG_DROP_UNKNOWN_KEY;
			h = device_mac(hit[i].s, slot, k);
			if (!h || lg_uadp_verify_hmac(m, h))
				return LG_DROP_BAD_TAG;
		}
		rr = uadp_seq(hit[i].dev, hit[i].s, m, i, &hit[i].seq);
		if (rr != LG_OK)
			return rr;
		unprotected |= hit[i].dev->uadp_replay == LG_UADP_REPLAY_NONE;
		hit[i].nch = uadp_channels(hit[i].dev, m, i, hit[i].f, hit[i].s->uadp_chan_field,
					   &hit[i].count);
		if (hit[i].nch > LGF_MAX_CHANNELS)
			return LG_DROP_UNSUPPORTED; /* channels that disagree on their length */
		if (hit[i].nch && lg_uadp_dsm_type(&m->dsm[i]) != LG_UADP_DSM_KEEP_ALIVE &&
		    lg_window_ready(hit[i].s, hit[i].nch, g->policy.window))
			return LG_DROP_UNSUPPORTED; /* out of memory for the window */
	}
	for (unsigned i = 0; i < m->dsm_count; i++) {
		struct lg_dev_state *s = hit[i].s;
		int64_t ts = uadp_time(m, i);

		if (hit[i].seq)
			lg_dev_commit(s, hit[i].seq);
		if (ts > s->uadp_newest_ts)
			s->uadp_newest_ts = ts;
		atomic_fetch_add_explicit(&s->admitted, 1, memory_order_relaxed);
		if (!hit[i].nch || lg_uadp_dsm_type(&m->dsm[i]) == LG_UADP_DSM_KEEP_ALIVE)
			continue;
		uadp_note_fields(hit[i].dev, s, m, i);
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
	if (unprotected)
		atomic_fetch_add_explicit(&w->st.uadp_unprotected, 1, memory_order_relaxed);
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
