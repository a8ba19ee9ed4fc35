// SPDX-License-Identifier: MIT
/* The worker's per-datagram path (lg_worker_handle) on LGF frames and UADP messages:
 * every verdict, the 16-bit UADP sequence unwrapped into the replay window, unsigned
 * messages only where the policy allows them, and values reaching the feature rows. */
#include "../../dataplane/dataplane.h"
#include "../../dataplane/scorer.h"

#include <math.h>
#include <sys/socket.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY2 "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

static const char policy_text[] =
	"version: 1\nuadp_port: 4840\ndetection: {window: 8, batch: 64}\ndevices:\n"
	"  - {id: 1, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}, {id: 2, key_file: k2.key}]}\n"
	"  - {id: 4, source: 10.0.0.1, port: 5555, keys: [{id: 1, key_file: k1.key}]}\n"
	/* A rotation's grace period over: key 1 expired, key 2 expires in 2099. */
	"  - {id: 5, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key, expires: 2020-01-01T00:00:00Z},"
	" {id: 2, key_file: k2.key, expires: 2099-01-01T00:00:00Z}]}\n"
	"  - id: 2\n    source: 10.0.0.1\n    keys: [{id: 3, key_file: k2.key}]\n"
	/* replay: sequence: these tests unwrap the 16-bit GroupHeader sequence (signed
	 * devices follow their MessageNonce by default, which needs a timestamp). */
	"    uadp: {publisher_id: 4000, writer_group: 17, writer: 1, replay: sequence}\n"
	"  - id: 3\n    source: 10.0.0.1\n    keys: [{id: 1, key_file: k1.key}]\n"
	"    uadp: {publisher_id: plc-7, publisher_type: string, writer_group: 5, writer: 9,"
	" signed: false}\n";

static const char *const key_files[] = { "k1", KEY1, "k2", KEY2, NULL };
static struct lgt_keys keys;
static uint8_t key2[32];
static float samples[4];
static uint8_t buf[2048];

/* A UADP message as open62541 lays one out: PublisherId, GroupHeader with sequence,
 * PayloadHeader, one key frame DataSetMessage with a Float array of 4 samples. */
static int uadp(int pub_str, uint16_t seq, bool sign, uint32_t token)
{
	static struct lg_uadp_msg m;
	static const uint8_t nonce[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	memset(&m, 0, sizeof(m));
	m.flags = LG_UADP_VERSION | LG_UADP_F_PUBLISHER_ID | LG_UADP_F_GROUP_HEADER |
		  LG_UADP_F_PAYLOAD_HEADER | LG_UADP_F_EXT1;
	m.ext1 = (pub_str ? LG_UADP_PUBID_STRING : LG_UADP_PUBID_UINT16) |
		 (sign ? LG_UADP_X1_SECURITY : 0);
	if (pub_str) {
		m.pub_str = (const uint8_t *)"plc-7";
		m.pub_str_len = 5;
	} else {
		m.pub_num = 4000;
	}
	m.group_flags = LG_UADP_G_WRITER_GROUP_ID | LG_UADP_G_SEQUENCE;
	m.writer_group_id = pub_str ? 5 : 17;
	m.group_seq = seq;
	if (sign) {
		m.sec_flags = LG_UADP_S_SIGNED;
		m.token_id = token;
		m.nonce_len = sizeof(nonce);
		m.nonce = nonce;
	}
	m.dsm_count = 1;
	m.dsm[0] = (struct lg_uadp_dsm){ .writer_id = pub_str ? 9 : 1, .flags1 = LG_UADP_D1_VALID,
					 .field_count = 1 };
	m.fields[0] = (struct lg_uadp_field){ .type = LG_UADP_T_FLOAT, .is_array = 1, .count = 4,
					      .data = (const uint8_t *)samples };
	m.nfields = 1;
	return lg_uadp_encode(&m, NULL, key2, sizeof(key2), buf, sizeof(buf));
}

static enum lg_reason feed(struct lg_worker *w, struct lg_gen *g, int len, int port_idx,
			   uint8_t last_octet)
{
	struct lg_rx_pkt pkt = { .data = buf, .len = (uint32_t)len, .family = AF_INET,
				 .src_addr = { 10, 0, 0, last_octet }, .port_idx = (uint8_t)port_idx };

	return lg_worker_handle(w, g, &pkt);
}

/* The same message through the opcua_mqtt broker: no source address, transport MQTT. */
static enum lg_reason feed_mqtt(struct lg_worker *w, struct lg_gen *g, int len)
{
	struct lg_rx_pkt pkt = { .data = buf, .len = (uint32_t)len, .port_idx = 1,
				 .transport = LG_RX_MQTT };

	return lg_worker_handle(w, g, &pkt);
}

/* Trial s21 Q: the key slots of device id in the record of the keys its replay mark covers
 * (bit k: slot k's fingerprint is recorded), and the generation's bits for it. */
static unsigned recorded(const struct lg_gen *g, uint32_t id, unsigned *kin)
{
	const struct lg_policy_device *d = lg_policy_find(&g->policy, id);
	size_t i = (size_t)(d - g->policy.devices);
	uint8_t (*rec)[LG_HWM_FP_LEN] = lg_dev_mark_keys(g->state[i]);
	unsigned bits = 0;

	for (unsigned k = 0; k < d->nkeys; k++)
		for (unsigned j = 0; j < LG_HWM_KEYS; j++)
			if (!memcmp(rec[j], g->kfp[i][k], LG_HWM_FP_LEN))
				bits |= 1u << k;
	*kin = g->kin[i];
	return bits;
}

static const char usage[] =
	"Usage: test_worker [options]\n"
	"\n"
	"The worker's per-datagram path (lg_worker_handle) on LGF frames and UADP messages: every\n"
	"verdict, the 16-bit UADP sequence unwrapped into the replay window, unsigned messages\n"
	"only where the policy allows them, and values reaching the feature rows.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_worker: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	struct lg_worker *w = &dp.workers[0];
	struct lg_policy p;
	struct lg_gen *g;
	char err[256];
	unsigned kin;
	int len;

	lgt_cli(argc, argv, usage, 0, 0);
	lgt_keys_make(&keys, key_files);
	memset(key2, 0x5a, sizeof(key2));
	CHECK_EQ(lg_policy_parse(policy_text, strlen(policy_text), keys.policy, &p, err, sizeof(err)), 0);
	dp.nworkers = 1;
	w->dp = &dp;
	static struct lg_modelset ms;
	static struct lg_scorer sc;

	dp.max_batch = 64;
	/* Rows are made by the scorer's feature extractor; nothing is scored here. */
	CHECK_EQ(lg_features_new(&sc.fx, NULL, LG_SPECTRUM_DEFAULT, 1), 0);
	ms.sc[0] = &sc;
	w->ms = &ms;
	CHECK_EQ(lg_worker_buffers(w, 64, 16, 16), 0);
	CHECK_EQ(lg_gen_build(&dp, &p, &g), 0);
	CHECK_EQ(g->nuadp, 2);

	/* Signed UADP from device 2. */
	for (int i = 0; i < 4; i++)
		samples[i] = (float)(i + 1); /* 1 2 3 4 */
	len = uadp(0, 100, true, 3);
	CHECK(len > 0);
	CHECK_EQ(recorded(g, 2, &kin), 0);
	CHECK_EQ(kin, 0);
	CHECK_EQ(feed(w, g, len, 1, 1), LG_OK);
	/* UADP shares the mark's record: the security group key it verified under */
	CHECK_EQ(recorded(g, 2, &kin), 1);
	CHECK_EQ(kin, 1);
	CHECK_EQ(feed(w, g, len, 1, 1), LG_DROP_REPLAYED);
	CHECK_EQ(feed(w, g, len, 1, 2), LG_DROP_SPOOFED);
	/* A UDP device's identity through the broker: refused, whatever the message holds. */
	CHECK_EQ(feed_mqtt(w, g, len), LG_DROP_SPOOFED);
	CHECK_EQ(feed(w, g, len, 0, 1), LG_DROP_BAD_MAGIC); /* UADP bytes on the LGF port */
	buf[len - 1] ^= 1;
	CHECK_EQ(feed(w, g, len, 1, 1), LG_DROP_BAD_TAG);
	CHECK_EQ(feed(w, g, uadp(0, 101, true, 2), 1, 1), LG_DROP_UNKNOWN_KEY);
	CHECK_EQ(feed(w, g, uadp(0, 101, false, 0), 1, 1), LG_DROP_UNSIGNED);
	CHECK_EQ(feed(w, g, uadp(0, 101, true, 3) - 5, 1, 1), LG_DROP_TRUNCATED);

	/* The second message completes the 8-sample window: one feature row. */
	for (int i = 0; i < 4; i++)
		samples[i] = (float)(i + 5); /* 5 6 7 8 */
	CHECK_EQ(w->rows, 0);
	CHECK_EQ(feed(w, g, uadp(0, 101, true, 3), 1, 1), LG_OK);
	CHECK_EQ(w->rows, 1);
	CHECK_NEAR(w->batch[LG_FEAT_MEAN], 4.5, 1e-6);
	CHECK_NEAR(w->batch[LG_FEAT_PEAK], 8, 1e-6);
	CHECK_EQ(w->meta[0].device_id, 2);

	/* A message behind its device's window, inside the replay window, is late: the window
	 * went on without it (one worker: nothing is held, reorder.h), and nothing of it is
	 * committed, so it is late again; one from before the device's first message (it
	 * started at 100) is refused by the replay window. */
	CHECK_EQ(feed(w, g, uadp(0, 99, true, 3), 1, 1), LG_DROP_LATE);
	CHECK_EQ(feed(w, g, uadp(0, 99, true, 3), 1, 1), LG_DROP_LATE);
	CHECK_EQ(feed(w, g, uadp(0, 65535, true, 3), 1, 1), LG_DROP_TOO_OLD);
	/* Sequence numbers wrap at 65536; the window follows them across. */
	{
		const uint16_t seqs[] = { 30000, 60000, 65534, 65535, 0, 1, 2 };

		for (unsigned i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
			CHECK_EQ(feed(w, g, uadp(0, seqs[i], true, 3), 1, 1), LG_OK);
		CHECK_EQ(feed(w, g, uadp(0, 65535, true, 3), 1, 1), LG_DROP_REPLAYED);
		CHECK_EQ(feed(w, g, uadp(0, 0, true, 3), 1, 1), LG_DROP_REPLAYED);
		CHECK_EQ(feed(w, g, uadp(0, 60000, true, 3), 1, 1), LG_DROP_TOO_OLD);
		CHECK_EQ(feed(w, g, uadp(0, 3, true, 3), 1, 1), LG_OK);
		CHECK_EQ(w->st.reason[0], 0); /* (lg_worker_handle does not count; the loop does) */
	}

	/* Device 3 may send unsigned; it is counted apart. A signed message from it must use
	 * its own key (id 1), so the one signed with device 2's key is refused. */
	CHECK_EQ(feed(w, g, uadp(1, 7, false, 0), 1, 1), LG_OK);
	CHECK_EQ(atomic_load(&w->st.uadp_unsigned), 1);
	CHECK_EQ(feed(w, g, uadp(1, 8, true, 1), 1, 1), LG_DROP_BAD_TAG);
	CHECK_EQ(recorded(g, 3, &kin), 0); /* unsigned: no key recorded, none refused */

	/* An unknown publisher, and garbage. */
	{
		int l = uadp(0, 500, true, 3);

		/* PublisherId sits right after the two flag bytes: make it 4001. */
		buf[2] = (uint8_t)(4001 & 0xff);
		buf[3] = (uint8_t)(4001 >> 8);
		CHECK_EQ(feed(w, g, l, 1, 1), LG_DROP_UNKNOWN_DEVICE);
		memset(buf, 0xff, 16);
		CHECK(feed(w, g, 16, 1, 1) != LG_OK);
	}

	/* LGF beside it: every verdict of the worker's LGF path. */
	{
		int16_t s16[4] = { 1, 2, 3, 4 };
		uint8_t k1[32];
		struct lg_lgf_build b = { .device_id = 1, .key_id = 1, .type = LGF_TYPE_SAMPLES,
					  .sample_format = LGF_FMT_I16, .channels = 1,
					  .sample_count = 4, .scale = 1, .sequence = 1,
					  .samples = s16 };
		struct lg_rx_pkt pkt = { .data = buf, .family = AF_INET,
					 .src_addr = { 10, 0, 0, 1 } };

		for (int i = 0; i < 32; i++)
			k1[i] = (uint8_t)i;
#define LGF(seq_, key_id_, key_) \
	(b.sequence = (seq_), b.key_id = (key_id_), lg_lgf_encode(&b, (key_), 32, buf, sizeof(buf)))
		len = LGF(1, 1, k1);
		CHECK_EQ(feed(w, g, len, 0, 1), LG_OK);
		CHECK_EQ(feed(w, g, len, 1, 1), LG_DROP_BAD_VERSION); /* LGF on the UADP port */
		CHECK_EQ(feed(w, g, len, 0, 1), LG_DROP_REPLAYED);
		/* Key rotation: the second key (id 2) is valid too; id 3 is unknown. */
		CHECK_EQ(recorded(g, 1, &kin), 1);
		CHECK_EQ(feed(w, g, LGF(2, 2, key2), 0, 1), LG_OK);
		CHECK_EQ(recorded(g, 1, &kin), 3); /* both keys' frames are in the mark */
		CHECK_EQ(kin, 3);
		CHECK_EQ(feed(w, g, LGF(3, 3, key2), 0, 1), LG_DROP_UNKNOWN_KEY);
		CHECK_EQ(feed(w, g, LGF(3, 1, key2), 0, 1), LG_DROP_BAD_TAG); /* wrong key for id 1 */
		CHECK_EQ(feed(w, g, LGF(3, 1, k1), 0, 1), LG_OK); /* the failed tag moved nothing */
		CHECK_EQ(feed(w, g, LGF(2000, 1, k1), 0, 1), LG_OK);
		CHECK_EQ(feed(w, g, LGF(900, 1, k1), 0, 1), LG_DROP_TOO_OLD);
		CHECK_EQ(feed(w, g, LGF(2001, 1, k1), 0, 7), LG_DROP_SPOOFED);
		CHECK_EQ(feed(w, g, LGF(0, 1, k1), 0, 1), LG_DROP_TOO_OLD);
		b.device_id = 99;
		CHECK_EQ(feed(w, g, LGF(1, 1, k1), 0, 1), LG_DROP_UNKNOWN_DEVICE);
		/* Device 4 is bound to source port 5555. */
		b.device_id = 4;
		len = LGF(1, 1, k1);
		pkt.len = (uint32_t)len;
		pkt.src_port = 5556;
		CHECK_EQ(lg_worker_handle(w, g, &pkt), LG_DROP_SPOOFED);
		pkt.src_port = 5555;
		CHECK_EQ(lg_worker_handle(w, g, &pkt), LG_OK);
		pkt.truncated = 1;
		CHECK_EQ(lg_worker_handle(w, g, &pkt), LG_DROP_BAD_LENGTH);
		/* An expired key is refused as an unknown one, its tag right or not; the other key
		 * of the device still works. */
		b.device_id = 5;
		CHECK_EQ(feed(w, g, LGF(1, 1, k1), 0, 1), LG_DROP_UNKNOWN_KEY);
		CHECK_EQ(feed(w, g, LGF(1, 2, key2), 0, 1), LG_OK);
		CHECK_EQ(feed(w, g, LGF(2, 1, k1), 0, 1), LG_DROP_UNKNOWN_KEY);
		/* only the key a frame was accepted under: not the expired one */
		CHECK_EQ(recorded(g, 5, &kin), 2);
		b.device_id = 4;
		len = LGF(2, 1, k1);
		/* Parse-level reasons come through unchanged (test_lgf has each one). */
		CHECK_EQ(feed(w, g, 20, 0, 1), LG_DROP_TRUNCATED);
		buf[0] = 'X';
		CHECK_EQ(feed(w, g, len, 0, 1), LG_DROP_BAD_MAGIC);
#undef LGF
	}
	lg_gen_free(g, NULL);
	lg_features_free(sc.fx);
	lg_worker_buffers_free(w);
	lgt_keys_remove(&keys, key_files);
	/* flood_watch.c (trial s18 H3): a device refused as over its rate 200/s in a second */
	CHECK(lg_flood_suspect(800, 5, 200, 1000000000ull, 200));    /* a bad-tag flood */
	CHECK(!lg_flood_suspect(800, 5, 0, 1000000000ull, 200));     /* no failed tags */
	CHECK(!lg_flood_suspect(300, 199, 1, 1000000000ull, 200));   /* over its own rate */
	CHECK(!lg_flood_suspect(300, 190, 10, 1000000000ull, 200));  /* 95% of the rate */
	CHECK(lg_flood_suspect(300, 170, 30, 1000000000ull, 200));   /* 85%, a 15% share */
	CHECK(!lg_flood_suspect(300, 170, 10, 1000000000ull, 200));  /* 85%, a 5.5% share */
	CHECK(!lg_flood_suspect(0, 5, 200, 1000000000ull, 200));     /* nothing refused */
	CHECK(!lg_flood_suspect(800, 5, 200, 1000000000ull, 0));     /* no rate */
	CHECK(lg_flood_suspect(1, 0, 1, 1ull << 40, 10000000));      /* no overflow */
	/* what counts as bad: failed as the device's, not its own frames dropped after */
	CHECK(lg_flood_forged_reason(LG_DROP_BAD_TAG) && lg_flood_forged_reason(LG_DROP_REPLAYED));
	CHECK(lg_flood_forged_reason(LG_DROP_UNKNOWN_KEY));
	CHECK(!lg_flood_forged_reason(LG_DROP_LATE) && !lg_flood_forged_reason(LG_DROP_BAD_SAMPLE));
	CHECK(!lg_flood_forged_reason(LG_DROP_HANDOFF_FULL));
	return lgt_done("test_worker");
}
