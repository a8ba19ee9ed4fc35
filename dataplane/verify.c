// SPDX-License-Identifier: MIT
/*
 * The verify stage: one datagram, LGF or UADP, judged by its device's owner: identity,
 * bound source, key, tag (OpenSSL HMAC), replay window (advanced only after the tag
 * verified); a frame of a device another worker owns goes to that worker (steer.c).
 */
#include "dataplane.h"
#include <lgadmit.h>
#include "record.h"
#include "stages.h"
#include "scorer.h"

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

/*
 * A datagram the kernel reassembled from IP fragments (uring; fragments: reassemble): XDP
 * passed its fragments without a device to charge, so its device's token bucket is charged
 * here, once, before the tag is checked (docs/admission.md, "Fragments"): LG_OK, or
 * LG_DROP_RATE_LIMITED. Not for a frame the reorder pool releases (charged when it came).
 * Counted in the device's admission counters (lg_admit_charge()).
 */
static enum lg_reason frag_charge(struct lg_worker *w, const struct lg_rx_pkt *pkt, uint32_t id)
{
	struct lg_admit_verdict v;

	if (!pkt->reassembled || w->releasing || !w->dp->admit)
		return LG_OK;
	if (lg_admit_charge(w->dp->admit, id, pkt->rx_ns, &v))
		return LG_OK; /* not in XDP's live table: the worker's checks decide */
	return v.pass ? LG_OK : LG_DROP_RATE_LIMITED;
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

/*
 * The UADP security group key of key slot k (signing key, and for SignAndEncrypt the
 * encrypting key and key nonce) with its prepared HMAC and AES-CTR contexts, (re)made when
 * missing or when the policy's key changed.
 */
static struct lg_uadp_keys *device_ukeys(struct lg_dev_state *s, unsigned k,
					 const struct lg_policy_key *key)
{
	uint8_t mat[sizeof(s->ukey_mat[0])];

	memcpy(mat, key->bytes, LG_KEY_LEN);
	memcpy(mat + LG_KEY_LEN, key->enc, LG_UADP_ENC_KEY_MAX);
	memcpy(mat + LG_KEY_LEN + LG_UADP_ENC_KEY_MAX, key->key_nonce, LG_UADP_KEY_NONCE_LEN);
	mat[sizeof(mat) - 1] = key->enc_len;
	if (s->ukeys[k] && !memcmp(s->ukey_mat[k], mat, sizeof(mat)))
		return s->ukeys[k];
	lg_uadp_keys_free(s->ukeys[k]);
	s->ukeys[k] = NULL;
	if (lg_uadp_keys_new(&s->ukeys[k], key->bytes, LG_KEY_LEN, key->enc_len ? key->enc : NULL,
			     key->enc_len, key->enc_len ? key->key_nonce : NULL,
			     key->enc_len ? LG_UADP_KEY_NONCE_LEN : 0))
		return NULL;
	memcpy(s->ukey_mat[k], mat, sizeof(mat));
	return s->ukeys[k];
}

/* Verify a signed message with the security group key in slot k of device state s. */
static enum lg_reason uadp_verify(struct lg_dev_state *s, unsigned k,
				  const struct lg_policy_key *key, const struct lg_uadp_msg *m)
{
	struct lg_uadp_keys *uk = device_ukeys(s, k, key);
	int ret;

	if (!uk)
		return LG_DROP_UADP_CRYPTO;
	ret = lg_uadp_verify_keys(m, uk);
	if (ret)
		return ret == -LG_UADP_BAD_SIGNATURE ? LG_DROP_BAD_TAG : lg_uadp_drop_reason(ret);
	return LG_OK;
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

/* 1970-01-01 as an OPC UA DateTime (100 ns ticks since 1601-01-01) */
#define UADP_1970 116444736000000000LL

/* The message's timestamp for DataSetMessage i: its own, else the NetworkMessage's; 0 none. */
static int64_t uadp_time(const struct lg_uadp_msg *m, unsigned i)
{
	if (m->dsm[i].flags2 & LG_UADP_D2_TIMESTAMP)
		return m->dsm[i].timestamp;
	return m->ext1 & LG_UADP_X1_TIMESTAMP ? m->timestamp : 0;
}

/* This server's clock as an OPC UA DateTime: 100 ns ticks since 1601-01-01. */
static int64_t uadp_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return UADP_1970 + (int64_t)t.tv_sec * 10000000 + t.tv_nsec / 100;
}

/* ts older than the device's newest accepted timestamp by more than its replay_window_ms. */
static bool uadp_stale(const struct lg_policy_device *d, const struct lg_dev_state *s, int64_t ts)
{
	return s->uadp_newest_ts && ts < s->uadp_newest_ts - (int64_t)d->uadp_replay_ms * 10000;
}

/* The 8 bytes of an open62541-style MessageNonce as one number (any byte order will do). */
static uint64_t nonce_key(const struct lg_uadp_msg *m)
{
	uint64_t v;

	memcpy(&v, m->nonce, sizeof(v));
	return v;
}

/*
 * replay: nonce. A signed message's MessageNonce is never taken twice: the nonces of the
 * device's last LG_NONCE_RING accepted messages are remembered with their timestamps, and
 * a message must (1) carry a timestamp newer than the last one a previous run accepted
 * (the persisted high-water mark), (2) be no older than the newest accepted one by more
 * than replay_window_ms, (3) be newer than the oldest remembered one once the ring is full
 * (an older one could repeat a forgotten nonce), (4) bring a nonce not remembered. The
 * nonce's own sequence number is not used: open62541 1.5 leaves it at 1 in every message.
 * *seq is the timestamp, which the commit makes the window's high-water mark.
 */
static enum lg_reason uadp_nonce(const struct lg_policy_device *d, struct lg_dev_state *s,
				 const struct lg_uadp_msg *m, unsigned i, uint64_t *seq)
{
	int64_t ts = uadp_time(m, i);
	enum lg_reason r;
	uint64_t key;

	if (!(m->sec_flags & LG_UADP_S_SIGNED) || m->nonce_len != 8 || ts <= 0)
		return LG_DROP_NO_REPLAY_FIELD;
	if (!s->nonces) {
		s->nonces = calloc(LG_NONCE_RING, sizeof(*s->nonces));
		if (!s->nonces)
			return LG_DROP_UNSUPPORTED; /* out of memory: counted, refused */
		s->nonce_floor = (int64_t)s->replay.highest;
	}
	if (ts <= s->nonce_floor)
		return LG_DROP_TOO_OLD;
	if (uadp_stale(d, s, ts))
		return LG_DROP_STALE_TIMESTAMP;
	key = nonce_key(m);
	r = lg_nonce_ring_check(s, key, ts);
	if (r == LG_OK)
		*seq = (uint64_t)ts;
	return r;
}

enum lg_reason lg_nonce_ring_check(const struct lg_dev_state *s, uint64_t nonce, int64_t ts)
{
	if (s->nonce_count == LG_NONCE_RING && ts <= s->nonces[s->nonce_next].ts)
		return LG_DROP_TOO_OLD;
	for (unsigned k = 0; k < s->nonce_count; k++)
		if (s->nonces[k].nonce == nonce)
			return LG_DROP_REPLAYED;
	return LG_OK;
}

void lg_nonce_ring_commit(struct lg_dev_state *s, uint64_t nonce, int64_t ts)
{
	s->nonces[s->nonce_next].nonce = nonce;
	s->nonces[s->nonce_next].ts = ts;
	s->nonce_next = (s->nonce_next + 1) % LG_NONCE_RING;
	if (s->nonce_count < LG_NONCE_RING)
		s->nonce_count++;
}

/* Remember an accepted message's nonce (replay: nonce), forgetting the oldest. */
static void uadp_nonce_commit(struct lg_dev_state *s, const struct lg_uadp_msg *m, int64_t ts)
{
	lg_nonce_ring_commit(s, nonce_key(m), ts);
}

/*
 * The sequence DataSetMessage i is judged by in its device's replay window, by the device's
 * 'replay' (docs/policy.md, "Replay protection for UADP"), or 0 for none:
 *  - sequence: its DataSetMessageSequenceNumber, else the GroupHeader SequenceNumber, both
 *    16 bits, unwrapped with serial number arithmetic (RFC 1982) against the window;
 *  - nonce: the message's signed timestamp, accepted once per MessageNonce (uadp_nonce());
 *  - timestamp: the signed DateTime, in 100 ns ticks: only newer messages pass.
 * The one window's high-water mark, persisted in the state folder, serves all three.
 */
static enum lg_reason uadp_seq(const struct lg_policy_device *d, struct lg_dev_state *s,
			       const struct lg_uadp_msg *m, unsigned i, uint64_t *seq)
{
	const struct lg_uadp_dsm *dsm = &m->dsm[i];
	int64_t ts = uadp_time(m, i);

	*seq = 0;
	/* A timestamp far ahead of this clock would become the device's mark and refuse every
	 * real message until the clock caught up: one forged message, a denial for years. */
	if (ts > 0 && d->uadp_ahead_ms && d->uadp_replay != LG_UADP_REPLAY_NONE &&
	    ts > uadp_now() + (int64_t)d->uadp_ahead_ms * 10000)
		return LG_DROP_FUTURE_TIMESTAMP;
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
		if (ts && uadp_stale(d, s, ts))
			return LG_DROP_STALE_TIMESTAMP;
		break;
	case LG_UADP_REPLAY_NONCE:
		return uadp_nonce(d, s, m, i, seq);
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

/*
 * The fields of DataSetMessage i that feed its device's windows (lg_uadp_sample_fields()):
 * the fields the policy's 'channels' names, else the numeric fields with the most values. A
 * delta frame carries the fields that changed: it feeds the channels its device's key
 * frames chose, when it has them all, and none else.
 */
static unsigned uadp_channels(const struct lg_policy_device *d, const struct lg_dev_state *s,
			      const struct lg_uadp_msg *m, unsigned i,
			      const struct lg_uadp_field **f, uint8_t *idx, uint32_t *count)
{
	uint32_t want = d->uadp_channels;

	*count = 0;
	if (!want && lg_uadp_dsm_type(&m->dsm[i]) == LG_UADP_DSM_DELTA_FRAME) {
		for (unsigned c = 0; c < s->channels && s->win; c++)
			want |= s->uadp_chan_field[c] < 32 ? 1u << s->uadp_chan_field[c] : 0;
		if (!want)
			return 0;
	}
	return lg_uadp_sample_fields(m, i, want, LGF_MAX_CHANNELS, f, idx, count);
}

/* A String field's value as a JSON string (printable ASCII kept, the rest as '?'), or false. */
static bool uadp_string(const struct lg_uadp_field *f, char *out, size_t len)
{
	const uint8_t *p;
	uint32_t n;
	size_t u = 0;

	if (f->type != LG_UADP_T_STRING || lg_uadp_field_get_bytes(f, 0, &p, &n) || len < 3)
		return false;
	out[u++] = '"';
	for (uint32_t k = 0; k < n && u + 2 < len; k++)
		out[u++] = p[k] >= 0x20 && p[k] < 0x7f && p[k] != '"' && p[k] != '\\' ? (char)p[k]
										    : '?';
	out[u++] = '"';
	out[u] = '\0';
	return true;
}

/* Set field x's shown value (JSON) in the device's table, kept in field order. */
static void uadp_meta_set(struct lg_dev_state *s, unsigned x, const char *val)
{
	unsigned j = 0;

	while (j < s->nmeta && s->meta[j].idx < x)
		j++;
	if (j == s->nmeta || s->meta[j].idx != x) {
		if (s->nmeta == LG_UADP_META_FIELDS)
			return; /* the first LG_UADP_META_FIELDS fields are shown */
		memmove(&s->meta[j + 1], &s->meta[j], (s->nmeta - j) * sizeof(s->meta[0]));
		s->nmeta++;
		s->meta[j].idx = (uint16_t)x;
	}
	snprintf(s->meta[j].val, sizeof(s->meta[j].val), "%s", val);
}

/*
 * What the outputs show of DataSetMessage i besides its channels: its first DateTime
 * field as the source time, and the other scalar fields' newest values (numbers, strings
 * as JSON strings), which a full window shows by name (window.c). A delta frame carries
 * only the fields that changed: the others keep their values.
 */
static void uadp_note_fields(struct lg_dev_state *s, const struct lg_uadp_msg *m, unsigned i)
{
	const struct lg_uadp_dsm *dsm = &m->dsm[i];
	bool have_time = false;

	for (unsigned fi = 0; fi < dsm->field_count; fi++) {
		const struct lg_uadp_field *fl = &m->fields[dsm->first_field + fi];
		unsigned x = fl->index;
		char val[sizeof(s->meta[0].val)];
		bool chan = false;
		double v;

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
		if (lg_uadp_type_numeric(fl->type) && !lg_uadp_field_get_f64(fl, 0, &v))
			snprintf(val, sizeof(val), "%.9g", v);
		else if (!uadp_string(fl, val, sizeof(val)))
			continue;
		uadp_meta_set(s, x, val);
	}
}

/*
 * The index of the device DataSetMessage i belongs to, when this worker owns it; else a
 * negative value and *why: LG_HANDED_OFF (-(owner's index) - 1 is returned: the message
 * goes to that worker) or the reason it cannot be mapped.
 */
static int uadp_device(struct lg_worker *w, const struct lg_gen *g, const struct lg_rx_pkt *pkt,
		       const struct lg_uadp_msg *m, unsigned i, enum lg_reason *why)
{
	struct lg_uadp_route key = { 0 }, *r;
	struct lg_admit_uadp_hdr h;
	int ret = lg_uadp_admit_hdr(m, i, &h);

	if (ret) {
		*why = lg_uadp_drop_reason(ret);
		return -1;
	}
	/* A publisher that sends no PublisherId is known by its source address. */
	lg_admit_uadp_key_make(&h, pkt->family == AF_INET ? LG_ADMIT_AF_INET : LG_ADMIT_AF_INET6,
			       pkt->src_addr, &key.key);
	r = bsearch(&key, g->uadp, g->nuadp, sizeof(*r), lg_uadp_route_cmp);
	if (!r) {
		*why = LG_DROP_UNKNOWN_DEVICE;
		return -1;
	}
	if (g->owner[r->dev] != w->id) {
		*why = LG_HANDED_OFF;
		return -(int)g->owner[r->dev] - 1;
	}
	return (int)r->dev;
}

/* Where lg_uadp_find_layouts() looks a DataSetMessage's device up: the generation's routes. */
struct raw_ctx {
	const struct lg_gen *g;
	const struct lg_rx_pkt *pkt;
	unsigned known; /* writers whose device is enrolled, typed or not */
	int first;      /* the first of them (a device index), -1 none */
};

/* A refusal of a message already known to be device dev's counts for it too (its drops). */
static enum lg_reason dev_refuse(const struct lg_gen *g, int dev, enum lg_reason r)
{
	if (r != LG_OK && r != LG_HANDED_OFF && dev >= 0)
		atomic_fetch_add_explicit(&g->state[dev]->drops[r], 1, memory_order_relaxed);
	return r;
}

static int raw_layout(void *ctx, const struct lg_admit_uadp_hdr *h, struct lg_uadp_layout *out)
{
	struct raw_ctx *c = ctx;
	struct lg_uadp_route key = { 0 }, *r;

	lg_admit_uadp_key_make(h, c->pkt->family == AF_INET ? LG_ADMIT_AF_INET : LG_ADMIT_AF_INET6,
			       c->pkt->src_addr, &key.key);
	r = bsearch(&key, c->g->uadp, c->g->nuadp, sizeof(*r), lg_uadp_route_cmp);
	c->known += r != NULL;
	if (r && c->first < 0)
		c->first = (int)r->dev;
	return r ? lg_policy_uadp_layout(&c->g->policy.devices[r->dev], out) : -ENOENT;
}

/*
 * A RawData DataSetMessage carries no types: the policy's typed 'fields' of its device are
 * its layout. Decoded again with the layouts of the message's writers' devices; one that
 * does not fit them is a layout other than the publisher's (uadp_layout_mismatch).
 */
static enum lg_reason uadp_decode_raw(const struct lg_gen *g, const struct lg_rx_pkt *pkt,
				      struct lg_uadp_msg *m)
{
	struct lg_uadp_layout v[LG_UADP_MAX_DSM];
	struct lg_uadp_layouts lays;
	struct raw_ctx c = { g, pkt, 0, -1 };
	int ret;

	/* From no enrolled device at all, it is that, not a layout the policy lacks. */
	if (!lg_uadp_find_layouts(m, raw_layout, &c, v, &lays))
		return c.known ? dev_refuse(g, c.first, LG_DROP_UADP_NO_LAYOUT)
			       : LG_DROP_UNKNOWN_DEVICE;
	ret = lg_uadp_decode(m, pkt->data, pkt->len, &lays);
	if (ret == -LG_UADP_TRUNCATED || ret == -LG_UADP_BAD_LENGTH)
		return dev_refuse(g, c.first, LG_DROP_UADP_LAYOUT_MISMATCH);
	return ret ? dev_refuse(g, c.first, lg_uadp_drop_reason(ret)) : LG_OK;
}

/*
 * An encrypted NetworkMessage (SignAndEncrypt): the device of its first DataSetMessage (the
 * PayloadHeader is in clear) names the security group key by the SecurityTokenId; the
 * signature over the ciphertext is verified with it before anything is decrypted, then the
 * payload is decrypted into the worker's buffer and decoded (m then points there).
 */
static enum lg_reason uadp_open(struct lg_worker *w, const struct lg_gen *g,
				const struct lg_rx_pkt *pkt, struct lg_uadp_msg *m,
				const struct lg_policy_key **opener)
{
	const struct lg_policy_device *d;
	const struct lg_policy_key *k;
	struct lg_uadp_keys *uk;
	struct lg_uadp_layout v[LG_UADP_MAX_DSM];
	struct lg_uadp_layouts lays;
	struct raw_ctx c = { g, pkt, 0, -1 };
	enum lg_reason why;
	unsigned slot = 0;
	int dev = uadp_device(w, g, pkt, m, 0, &why), ret;

	if (dev < 0)
		return why == LG_HANDED_OFF ? lg_steer_handoff(w, (unsigned)(-dev - 1), pkt) : why;
	d = &g->policy.devices[dev];
	if (!source_ok(d, pkt))
		return dev_refuse(g, dev, LG_DROP_SPOOFED);
	k = token_key(d, m->token_id, &slot);
	if (!k)
		return dev_refuse(g, dev, LG_DROP_UNKNOWN_KEY);
	/* released by the reorder pool: verified when it was held, decrypted again here */
	why = w->releasing ? LG_OK : uadp_verify(g->state[dev], slot, k, m);
	if (why != LG_OK)
		return dev_refuse(g, dev, why);
	uk = device_ukeys(g->state[dev], slot, k); /* made by uadp_verify() */
	if (!uk)
		return dev_refuse(g, dev, LG_DROP_UADP_CRYPTO);
	if (m->len > LG_UADP_CLEAR_MAX)
		return dev_refuse(g, dev, LG_DROP_BAD_LENGTH);
	/* The payload's field encoding is not known before it is decrypted: RawData would
	 * need the layouts of the writers' devices (the PayloadHeader is in clear). */
	lg_uadp_find_layouts(m, raw_layout, &c, v, &lays);
	ret = lg_uadp_decrypt(m, k->enc_len ? uk : NULL, w->ubuf, LG_UADP_CLEAR_MAX, &lays);
	switch (-ret) {
	case 0:
		break;
	case LG_UADP_ENCRYPTED_NO_KEY:
	case LG_UADP_BAD_POLICY:
	case LG_UADP_BAD_NONCE:
	case LG_UADP_CRYPTO:
		return dev_refuse(g, dev, lg_uadp_drop_reason(ret));
	default:
		/* Signed by the publisher, yet its clear text does not decode: opened with
		 * another encrypting key than the one it was sealed with. (A RawData payload
		 * without a layout counts here too: garbage can look like RawData.) */
		return dev_refuse(g, dev, LG_DROP_UADP_UNDECRYPTABLE);
	}
	*opener = k;
	return LG_OK;
}

/* Bad samples (issue 8): whether a DataSetMessage's channel values hold one. */
static bool uadp_has_bad(const struct lg_policy_device *dev, const struct lg_uadp_field *const *f,
			 unsigned nch, uint32_t count)
{
	float lo, hi;

	lg_sample_bounds(dev, &lo, &hi);
	for (uint32_t e = 0; e < count; e++)
		for (unsigned c = 0; c < nch; c++) {
			double v = 0;

			lg_uadp_field_get_f64(f[c], e, &v);
			if (!(lo <= v && v <= hi))
				return true;
		}
	return false;
}

/* A DataSetMessage of a message being judged: its device and what it brings. */
struct uadp_hit {
	const struct lg_policy_device *dev;
	struct lg_dev_state *s;
	uint64_t seq; /* 0: not replay-checked (replay: none) */
	int slot;     /* the key slot it verified under, -1: unsigned */
	const struct lg_uadp_field *f[LGF_MAX_CHANNELS];
	uint8_t idx[LGF_MAX_CHANNELS];
	unsigned nch;
	uint32_t count;
	enum lg_reason why; /* LG_OK: its data was used; else why it added nothing */
};

/* Whether DataSetMessage i goes through the reorder stage: under replay: sequence, and the
 * first of its device in the message. */
static bool uadp_ordered(const struct uadp_hit *hit, unsigned i)
{
	if (hit[i].dev->uadp_replay != LG_UADP_REPLAY_SEQUENCE || !hit[i].seq)
		return false;
	for (unsigned j = 0; j < i; j++)
		if (hit[j].s == hit[i].s)
			return false;
	return true;
}

/*
 * Whether a verified frame (or DataSetMessage) of nch channels fits the channel count its
 * device's detector was trained on (0: not recorded: any). A frame that does not is counted
 * (s->chan: lg_mismatch_drop(), the run status reports) and said by lg_dp_rate_watch(); one
 * that does ends the device's run. The owner worker is the only writer of these.
 */
static unsigned chan_want(struct lg_worker *w, const struct lg_gen *g,
			  const struct lg_policy_device *dev, struct lg_dev_state *s)
{
	return w->ms && w->ms->sc[w->id] ?
		       lg_scorer_channels(w->ms->sc[w->id], lg_window_detector(w, g, dev, s)) :
		       0;
}

/* Whether nch channels fit the detector's count (any when it records none). */
static bool chan_fits(unsigned want, unsigned nch)
{
	return !want || nch == want;
}

static bool chan_ok(struct lg_worker *w, const struct lg_gen *g,
		    const struct lg_policy_device *dev, struct lg_dev_state *s, unsigned nch)
{
	unsigned want = chan_want(w, g, dev, s);

	if (chan_fits(want, nch)) {
		lg_mismatch_pass(&s->chan);
		return true;
	}
	lg_mismatch_drop(&s->chan, nch, want, false);
	return false;
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
	struct uadp_hit hit[LG_UADP_MAX_DSM];
	const struct lg_policy_key *opener = NULL; /* the key an encrypted message opened with */
	bool is_signed, unprotected = false, bad = false, chan_bad = false, used = false;
	unsigned i_refused = 0; /* the DataSetMessage whose device refused the message */
	enum lg_reason rr;
	int ret;

	ret = lg_uadp_decode(m, pkt->data, pkt->len, NULL);
	if (ret == -LG_UADP_NO_LAYOUT) {
		enum lg_reason r = uadp_decode_raw(g, pkt, m);

		if (r != LG_OK)
			return r;
	} else if (ret) {
		return lg_uadp_drop_reason(ret);
	}
	is_signed = m->sec_flags & LG_UADP_S_SIGNED;
	if (m->encrypted) {
		enum lg_reason r = uadp_open(w, g, pkt, m, &opener);

		if (r != LG_OK)
			return r;
	}
	for (unsigned i = 0; i < m->dsm_count; i++) {
		const struct lg_policy_key *k = NULL;
		unsigned slot = 0;
		int dev = uadp_device(w, g, pkt, m, i, &rr);

		if (dev < 0 && rr == LG_HANDED_OFF)
			return lg_steer_handoff(w, (unsigned)(-dev - 1), pkt);
		if (dev < 0)
			return rr;
		hit[i].dev = &g->policy.devices[dev];
		hit[i].s = g->state[dev];
		hit[i].slot = -1;
		i_refused = i;
		if (!source_ok(hit[i].dev, pkt)) {
			rr = LG_DROP_SPOOFED;
			goto refused;
		}
		/* A device's first DataSetMessage in the message charges its bucket. */
		if (pkt->reassembled) {
			unsigned j = 0;

			while (j < i && hit[j].s != hit[i].s)
				j++;
			rr = j == i ? frag_charge(w, pkt, hit[i].dev->id) : LG_OK;
			if (rr != LG_OK)
				goto refused;
		}
		if (hit[i].dev->uadp_security == LG_UADP_SEC_ENCRYPT && !m->encrypted) {
			rr = is_signed ? LG_DROP_NOT_ENCRYPTED : LG_DROP_UNSIGNED;
			goto refused;
		}
		if (!is_signed) {
			if (hit[i].dev->uadp_security != LG_UADP_SEC_NONE) {
				rr = LG_DROP_UNSIGNED;
				goto refused;
			}
		} else {
			/* The SecurityTokenId names the key, as LGF's key id does. */
			k = token_key(hit[i].dev, m->token_id, &slot);
			if (!k) {
				rr = LG_DROP_UNKNOWN_KEY;
				goto refused;
			}
			if (opener) {
				/* Verified before it was decrypted, with the security group key of
				 * its first DataSetMessage's device: every device of the message
				 * must hold that same key. */
				if (memcmp(k->bytes, opener->bytes, LG_KEY_LEN)) {
					rr = LG_DROP_BAD_TAG;
					goto refused;
				}
			} else {
				/* released by the reorder pool: verified when it was held */
				rr = w->releasing ? LG_OK : uadp_verify(hit[i].s, slot, k, m);
				if (rr != LG_OK)
					goto refused;
			}
			hit[i].slot = (int)slot;
		}
		rr = uadp_seq(hit[i].dev, hit[i].s, m, i, &hit[i].seq);
		if (rr != LG_OK)
			goto refused;
		unprotected |= hit[i].dev->uadp_replay == LG_UADP_REPLAY_NONE;
		hit[i].nch = uadp_channels(hit[i].dev, hit[i].s, m, i, hit[i].f, hit[i].idx,
					   &hit[i].count);
		if (hit[i].nch > LGF_MAX_CHANNELS) {
			rr = LG_DROP_UNSUPPORTED; /* channels that disagree on their length */
			goto refused;
		}
		/* (a DataSetMessage of another channel count than the detector's is dropped
		 * below: it does not make the window afresh for its count) */
		if (hit[i].nch && lg_uadp_dsm_type(&m->dsm[i]) != LG_UADP_DSM_KEEP_ALIVE &&
		    chan_fits(chan_want(w, g, hit[i].dev, hit[i].s), hit[i].nch) &&
		    lg_window_ready(hit[i].s, hit[i].nch,
				    lg_window_len(w, g, hit[i].dev, hit[i].s))) {
			rr = LG_DROP_UNSUPPORTED; /* out of memory for the window */
			goto refused;
		}
	}
	/*
	 * Into the windows in sequence order (reorder.h), by each device's unwrapped sequence
	 * under replay: sequence (nonces and timestamps have gaps by nature: not ordered). The
	 * message is taken whole: held whole when a DataSetMessage is ahead of its device's
	 * sequence, dropped whole as late when one is behind. A device's first DataSetMessage
	 * in the message speaks for it.
	 */
	{
		bool hold = w->dp->hold_uadp_ns && w->ro.slot;
		int ahead = -1;

		for (unsigned i = 0; i < m->dsm_count; i++) {
			enum lg_order k;

			if (!uadp_ordered(hit, i))
				continue;
			k = lg_order_check(&hit[i].s->order, hit[i].seq, hold);
			if (k == LG_ORDER_LATE) {
				i_refused = i;
				rr = LG_DROP_LATE;
				goto refused;
			}
			if (k == LG_ORDER_AHEAD && ahead < 0 &&
			    lg_order_may_hold(&hit[i].s->order, hit[i].seq, w->dp->one_path_uadp))
				ahead = (int)i;
		}
		if (ahead >= 0 && hold &&
		    lg_order_hold(w, g, &hit[ahead].s->order, hit[ahead].seq, pkt,
				  w->dp->hold_uadp_ns, w->dp->one_path_uadp))
			return LG_HELD;
		for (unsigned i = 0; i < m->dsm_count; i++) {
			struct lg_seq_order *o = &hit[i].s->order;

			if (!uadp_ordered(hit, i))
				continue;
			lg_order_deliver(o, hit[i].seq);
			if (o->held)
				w->ro.pending = true;
		}
	}
	for (unsigned i = 0; i < m->dsm_count; i++) {
		struct lg_dev_state *s = hit[i].s;
		int64_t ts = uadp_time(m, i);
		/* the Timestamp as ns since 1970: the windows' sample time (incidents) */
		uint64_t ts_ns = ts > UADP_1970 ? (uint64_t)(ts - UADP_1970) * 100u
							  : 0;

		/* its key into the record of the keys the mark covers, before the mark moves */
		if (hit[i].seq && hit[i].slot >= 0)
			lg_dev_key_marks(g, (size_t)(hit[i].dev - g->policy.devices),
					 (unsigned)hit[i].slot);
		if (hit[i].dev->uadp_replay == LG_UADP_REPLAY_NONCE) {
			uadp_nonce_commit(s, m, ts);
			if (hit[i].seq > s->replay.highest)
				lg_dev_commit(s, hit[i].seq);
		} else if (hit[i].seq) {
			lg_dev_commit(s, hit[i].seq);
		}
		if (ts > s->uadp_newest_ts)
			s->uadp_newest_ts = ts;
		/* Bad samples (issue 8): under drop, a DataSetMessage holding one adds nothing
		 * (its replay state advanced above); its device's part counts as bad_sample. */
		hit[i].why = LG_OK;
		if (g->policy.bad_samples == LG_BAD_SAMPLES_DROP && hit[i].nch &&
		    lg_uadp_dsm_type(&m->dsm[i]) != LG_UADP_DSM_KEEP_ALIVE &&
		    uadp_has_bad(hit[i].dev, hit[i].f, hit[i].nch, hit[i].count)) {
			lg_window_drop_bad(s);
			hit[i].why = LG_DROP_BAD_SAMPLE;
			bad = true;
			continue;
		}
		/* Of another channel count than its detector was trained on: adds nothing, and
		 * its device's part counts as channels, as a bad sample's does. */
		if (hit[i].nch && lg_uadp_dsm_type(&m->dsm[i]) != LG_UADP_DSM_KEEP_ALIVE &&
		    !chan_ok(w, g, hit[i].dev, s, hit[i].nch)) {
			hit[i].why = LG_DROP_CHANNELS;
			chan_bad = true;
			continue;
		}
		used = true;
		if (!hit[i].nch || lg_uadp_dsm_type(&m->dsm[i]) == LG_UADP_DSM_KEEP_ALIVE)
			continue;
		memcpy(s->uadp_chan_field, hit[i].idx, hit[i].nch);
		uadp_note_fields(s, m, i);
		/* no window spans a gap in the device's sequence (replay: sequence) */
		if (hit[i].dev->uadp_replay == LG_UADP_REPLAY_SEQUENCE && hit[i].seq)
			lg_window_follow(w, s, hit[i].seq, 0, 0);
		for (uint32_t e = 0; e < hit[i].count; e++) {
			for (unsigned c = 0; c < hit[i].nch; c++) {
				double v = 0;

				lg_uadp_field_get_f64(hit[i].f[c], e, &v);
				w->ustep[c] = (float)v;
			}
			lg_window_step(w, g, hit[i].dev, s, w->ustep, hit[i].seq, pkt->rx_ns,
				       ts_ns);
		}
	}
	/* Per device, once per datagram: admitted when any of its DataSetMessages was used,
	 * else dropped for the first one's reason (docs/drop-reasons.md, "Several devices in
	 * one datagram"). The datagram itself is admitted when any device's data was used, else
	 * dropped as bad_sample or channels; it is recorded either way, for every device it
	 * holds: it is authentic and fresh, the line's own data (trial L, s22: a device whose
	 * frames were refused for their content could not be recorded to train on). */
	{
		uint32_t all[LG_UADP_MAX_DSM];
		unsigned nall = 0;

		for (unsigned i = 0; i < m->dsm_count; i++) {
			enum lg_reason why = hit[i].why;
			bool first = true;

			for (unsigned j = 0; j < i; j++)
				first &= hit[j].s != hit[i].s;
			if (!first)
				continue;
			all[nall++] = hit[i].dev->id;
			for (unsigned j = i + 1; j < m->dsm_count && why != LG_OK; j++)
				if (hit[j].s == hit[i].s && hit[j].why == LG_OK)
					why = LG_OK;
			if (why == LG_OK)
				atomic_fetch_add_explicit(&hit[i].s->admitted, 1,
							  memory_order_relaxed);
			else
				atomic_fetch_add_explicit(&hit[i].s->drops[why], 1,
							  memory_order_relaxed);
		}
		lg_record_frame(w, g->policy.uadp_port, pkt, all, nall);
		if (!used && (bad || chan_bad))
			return bad ? LG_DROP_BAD_SAMPLE : LG_DROP_CHANNELS;
	}
	if (bad || chan_bad)
		atomic_fetch_add_explicit(&w->st.uadp_partial, 1, memory_order_relaxed);
	if (!is_signed)
		atomic_fetch_add_explicit(&w->st.uadp_unsigned, 1, memory_order_relaxed);
	if (unprotected)
		atomic_fetch_add_explicit(&w->st.uadp_unprotected, 1, memory_order_relaxed);
	return LG_OK;
refused:
	/* DataSetMessage i's device is known: the message counts as refused for it */
	atomic_fetch_add_explicit(&hit[i_refused].s->drops[rr], 1, memory_order_relaxed);
	return rr;
}

static enum lg_reason lgf_judge(struct lg_worker *w, const struct lg_gen *g,
				const struct lg_policy_device *dev, struct lg_dev_state *s,
				const struct lg_rx_pkt *pkt, const struct lg_frame *fp);

enum lg_reason lg_worker_handle(struct lg_worker *w, const struct lg_gen *g,
				const struct lg_rx_pkt *pkt)
{
	const struct lg_policy_device *dev;
	struct lg_dev_state *s;
	struct lg_frame f;
	enum lg_reason r;

	/* Honest latency: the rows this frame completes carry its arrival and pickup. */
	w->cur_pickup_ns = pkt->rx_ns;
	w->cur_arrival_ns = pkt->arrival_ns && pkt->arrival_ns <= pkt->rx_ns ? pkt->arrival_ns
									  : pkt->rx_ns;
	if (pkt->truncated)
		return LG_DROP_BAD_LENGTH;
	if (pkt->port_idx == 1) {
		r = handle_uadp(w, g, pkt);
		/* A datagram handed to its owner worker (in the clear or encrypted) is counted
		 * there, once (2048 devices, two workers: 920 counted of 640 sent). */
		if (r < LG_HANDED_OFF) /* a held one counts when it is released */
			atomic_fetch_add_explicit(&w->st.uadp_rx, 1, memory_order_relaxed);
		return r;
	}
	r = lg_lgf_parse(pkt->data, pkt->len, &f);
	if (r != LG_OK)
		return r;
	dev = lg_policy_find(&g->policy, f.device_id);
	if (!dev)
		return LG_DROP_UNKNOWN_DEVICE;
	if (g->owner[dev - g->policy.devices] != w->id)
		return lg_steer_handoff(w, g->owner[dev - g->policy.devices], pkt);
	s = g->state[dev - g->policy.devices];
	r = lgf_judge(w, g, dev, s, pkt, &f);
	if (r != LG_OK && r != LG_HELD)
		atomic_fetch_add_explicit(&s->drops[r], 1, memory_order_relaxed);
	return r;
}

/* The frame of enrolled device dev (its owner worker): source, key, replay, tag, window. */
static enum lg_reason lgf_judge(struct lg_worker *w, const struct lg_gen *g,
				const struct lg_policy_device *dev, struct lg_dev_state *s,
				const struct lg_rx_pkt *pkt, const struct lg_frame *fp)
{
	const struct lg_policy_key *key = NULL;
	struct lg_frame f = *fp;
	enum lg_reason r;
	struct lg_mac *mac;
	unsigned slot = 0;

	if (!source_ok(dev, pkt))
		return LG_DROP_SPOOFED;
	r = frag_charge(w, pkt, dev->id);
	if (r != LG_OK)
		return r;
	for (unsigned k = 0; k < dev->nkeys; k++)
		if (dev->keys[k].id == f.key_id) {
			key = &dev->keys[k];
			slot = k;
		}
	if (!key || !key_live(key))
		return LG_DROP_UNKNOWN_KEY;
	/* Check the window first (cheap), but advance it only after the tag verified,
	 * so that a forged frame cannot shift it (RFC 4303 3.4.3). */
	r = lg_replay_check(&s->replay, f.sequence);
	if (r != LG_OK)
		return r;
	/* Without a MAC context (out of memory) nothing can be verified: refuse, counted. A
	 * frame the reorder pool releases was verified when it was held (w->releasing). */
	if (!w->releasing && (!(mac = device_mac(s, slot, key)) || lg_mac_check(mac, &f)))
		return LG_DROP_BAD_TAG;
	/* Into the window in sequence order (reorder.h): held or late, nothing is committed. */
	r = lg_order_stage(w, g, &s->order, f.sequence, pkt, w->dp->hold_lgf_ns);
	if (r != LG_OK)
		return r;
	/* its key into the record of the keys the mark covers, before the mark moves */
	lg_dev_key_marks(g, (size_t)(dev - g->policy.devices), slot);
	lg_dev_commit(s, f.sequence);
	/* Authentic and fresh: the line's own data, recorded whatever its content (trial L,
	 * s22: frames at another rate than the model's, the very case a recording is for, were
	 * left out, and nothing said so); a rate, channel count or bad sample the windows
	 * refuse below is counted as such, and is still in the recording. */
	lg_record_frame(w, g->policy.port, pkt, &dev->id, 1);
	if (f.type == LGF_TYPE_HEARTBEAT) {
		lg_window_seq_moves(s, f.sequence);
		atomic_fetch_add_explicit(&s->admitted, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->st.heartbeats, 1, memory_order_relaxed);
		return LG_OK;
	}
	/* Authentic (its sequence is spent), but of another rate than its model reads. */
	{
		double rate = lg_scorer_rate(w->ms->sc[w->id], lg_window_detector(w, g, dev, s));

		bool by_policy = dev->sample_rate && f.sample_rate != dev->sample_rate;

		if (by_policy || (rate > 0 && f.sample_rate != rate)) {
			uint32_t want = by_policy ? dev->sample_rate : (uint32_t)(rate + 0.5);

			/* what the control thread says of it (lg_dp_rate_watch()) */
			lg_mismatch_drop(&s->rate, f.sample_rate, want, by_policy);
			return LG_DROP_SAMPLE_RATE;
		}
		lg_mismatch_pass(&s->rate);
	}
	/* Authentic, at the right rate, but of another channel count than its detector was
	 * trained on (a model that records it): its windows would be judged wrongly. */
	if (!chan_ok(w, g, dev, s, f.channels))
		return LG_DROP_CHANNELS;
	/* A frame dropped for a bad sample (issue 8) was authentic: its sequence is committed
	 * above, but it is not admitted. Out of memory for the window is counted as
	 * unsupported, not lost silently. */
	r = lg_window_add_frame(w, g, dev, s, &f, pkt->rx_ns);
	if (r != LG_DROP_BAD_SAMPLE)
		atomic_fetch_add_explicit(&s->admitted, 1, memory_order_relaxed);
	return r;
}
