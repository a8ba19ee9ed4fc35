/* SPDX-License-Identifier: MIT */
/*
 * A received frame after parsing, and the reasons a worker rejects one.
 * The view points into the receive buffer: nothing is copied.
 */
#ifndef LINEGATE_FRAME_H
#define LINEGATE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <linegate/hmac.h>
#include <linegate/lgf.h>

/*
 * Why a frame was not used, one table for the whole user-space path: the worker's verdicts
 * (parse, identity, source, key, tag, replay) and the drops that happen before a worker
 * sees a frame (socket and ring overflows, backend buffers, handoff between workers).
 * Every frame a backend took off the wire, or knows it lost, is counted under exactly one
 * reason, so that received = admitted + dropped by reason. X(enum suffix, metric label,
 * what causes it); docs/drop-reasons.md is checked against this table by a test.
 */
#define LG_REASONS(X)                                                                             \
	X(OK, "admitted", "verified, fresh and handed to the device's window")                     \
	X(DROP_TRUNCATED, "truncated", "shorter than the format's header and tag")                 \
	X(DROP_BAD_MAGIC, "bad_magic", "not an LGF frame (magic bytes differ)")                    \
	X(DROP_BAD_VERSION, "bad_version", "an LGF or UADP version this build does not speak")     \
	X(DROP_BAD_LENGTH, "bad_length",                                                           \
	  "lengths in the header disagree with the datagram, or it did not fit the buffer")        \
	X(DROP_UNSUPPORTED, "unsupported", "type, sample format or flags this build does not handle") \
	X(DROP_UNKNOWN_DEVICE, "unknown_device", "the device id or UADP identity is not enrolled") \
	X(DROP_SPOOFED, "spoofed_source", "an enrolled id, but not from the device's bound address") \
	X(DROP_UNKNOWN_KEY, "unknown_key",                                                         \
	  "the key id is not one of the device's keys, or that key's 'expires' time has passed")   \
	X(DROP_BAD_TAG, "bad_tag", "the MAC or signature does not verify")                         \
	X(DROP_REPLAYED, "replayed", "inside the replay window and already seen")                   \
	X(DROP_TOO_OLD, "too_old",                                                                 \
	  "below the replay window: a replay, or (under overload) a frame that came more than "   \
	  "the window late (drop-reasons.md, \"Per device\")")                                      \
	X(DROP_UNSIGNED, "unsigned", "an unsigned UADP message for a device that must sign")        \
	X(DROP_MALFORMED, "malformed",                                                             \
	  "Ethernet, VLAN, IP or UDP headers do not parse (backends that see whole frames)")       \
	X(DROP_NOT_OURS, "not_ours", "a whole frame that is not UDP to the LGF or UADP port")      \
	X(DROP_BAD_CHECKSUM, "bad_checksum",                                                       \
	  "the IPv4 header or UDP checksum is wrong (backends that see whole frames check both "  \
	  "as the kernel does)")                                                                   \
	X(DROP_SOCKET, "socket_dropped",                                                           \
	  "the kernel dropped it at linegate's socket: receive buffer full, or a bad UDP "         \
	  "checksum (the socket's sk_drops, SO_MEMINFO)")                                          \
	X(DROP_RX_RING_FULL, "rx_ring_full",                                                       \
	  "the kernel or NIC dropped it: the receive ring was full (XSK rx_ring_full, DPDK "       \
	  "imissed)")                                                                              \
	X(DROP_NO_BUFFER, "no_buffer",                                                             \
	  "the kernel or NIC had no free buffer for it (XSK rx_dropped and fill ring empty, "      \
	  "DPDK rx_nombuf)")                                                                       \
	X(DROP_HANDOFF_FULL, "handoff_full",                                                       \
	  "another worker received it and the device's owner worker's handoff ring was full")      \
	X(DROP_RX_ERROR, "rx_error", "the backend reported a receive error for it")                \
	X(DROP_CAPTURE_TRUNCATED, "capture_truncated",                                             \
	  "a capture file's record lacks part of the datagram: the capture's snap length cut "     \
	  "it, or the file ends inside the record (pcap backend, cut=stop)") \
	X(DROP_TOO_BIG, "too_big",                                                                 \
	  "a frame in several buffers longer than the backend gathers into one (afxdp: its "       \
	  "9216-byte reassembly buffer; dpdk: one mbuf, mbuf_size=)")                             \
	X(DROP_UADP_BAD_FLAGS, "uadp_bad_flags",                                                   \
	  "a UADP reserved flag bit, PublisherId type, field encoding, DataSetMessage type or "   \
	  "NodeId/LocalizedText/ExtensionObject/DataValue encoding byte is set")                   \
	X(DROP_UADP_BAD_TYPE, "uadp_bad_type", "a UADP Variant of a built-in type id above 25")    \
	X(DROP_UADP_CAPACITY, "uadp_capacity",                                                     \
	  "a UADP message with more DataSetMessages, fields, promoted fields, nonce bytes or "     \
	  "matrix dimensions than the decoder's fixed capacities")                                \
	X(DROP_UADP_NO_LAYOUT, "uadp_no_layout",                                                   \
	  "a UADP RawData DataSetMessage from a writer whose field layout is not known: give "     \
	  "its device typed 'fields' in the policy, from the publisher's DataSetMetaData")        \
	X(DROP_UADP_LAYOUT_MISMATCH, "uadp_layout_mismatch",                                       \
	  "a UADP RawData DataSetMessage that does not fit its device's typed 'fields' (an array " \
	  "longer than its 'array', or more bytes than the message holds): the policy's types "   \
	  "or array lengths are not the publisher's DataSetMetaData")                              \
	X(DROP_UADP_NO_IDENTITY, "uadp_no_identity",                                               \
	  "a UADP message without the PublisherId, WriterGroupId or DataSetWriterId a device is " \
	  "enrolled by")                                                                           \
	X(DROP_UADP_EVENT, "uadp_event",                                                           \
	  "a UADP event DataSetMessage, or a JSON one (ua-event) over MQTT: only data is taken")    \
	X(DROP_UADP_CHUNK, "uadp_chunk", "a chunked UADP NetworkMessage")                          \
	X(DROP_UADP_DISCOVERY, "uadp_discovery", "a UADP discovery request or response")           \
	X(DROP_UADP_TOO_DEEP, "uadp_too_deep",                                                     \
	  "UADP Variants, DataValues or DiagnosticInfos nested deeper than the decoder's limit")   \
	X(DROP_UADP_ENCRYPTED_NO_KEY, "uadp_encrypted_no_key",                                     \
	  "an encrypted UADP message for a device with no encrypting key")                        \
	X(DROP_UADP_BAD_POLICY, "uadp_bad_policy",                                                 \
	  "the device's UADP keys fit no known security policy (PubSub-Aes128-CTR, "              \
	  "PubSub-Aes256-CTR)")                                                                    \
	X(DROP_UADP_BAD_NONCE, "uadp_bad_nonce",                                                   \
	  "an encrypted UADP message whose MessageNonce is not 8 bytes")                          \
	X(DROP_UADP_CRYPTO, "uadp_crypto", "the crypto library failed while checking or "         \
	  "decrypting a UADP message")                                                             \
	X(DROP_NO_REPLAY_FIELD, "no_replay_field",                                                 \
	  "a UADP message lacks what its device's 'replay' checks: a sequence number (sequence), " \
	  "a signed 8-byte MessageNonce (nonce) or a timestamp (timestamp); for an encrypted "    \
	  "message also a wrong EncryptingKey, whose garbage can decode without them")             \
	X(DROP_STALE_TIMESTAMP, "stale_timestamp",                                                 \
	  "a UADP message timestamp older than the device's newest accepted one by more than its " \
	  "replay_window_ms (replay: sequence or nonce): a recorded message sent again")           \
	X(DROP_FUTURE_TIMESTAMP, "future_timestamp",                                               \
	  "a UADP message timestamp further ahead of this server's clock than the device's "      \
	  "clock_ahead_ms: a publisher clock set wrong, or a forged message that would otherwise " \
	  "lift the device's replay mark and lock its real messages out")                         \
	X(DROP_NOT_ENCRYPTED, "not_encrypted",                                                     \
	  "a UADP message sent in clear (signed or not) for a device with 'security: "            \
	  "sign_and_encrypt'")                                                                     \
	X(DROP_FRAGMENT, "fragment",                                                               \
	  "an IP fragment: backends that see whole frames (afxdp, pcap, dpdk) cannot reassemble "  \
	  "it; the uring backend gets the datagram whole from the kernel (fragments: reassemble)") \
	X(DROP_MQTT_BAD_JSON, "mqtt_bad_json",                                                     \
	  "a message from the opcua_mqtt broker that is not valid JSON, or not an OPC UA PubSub "  \
	  "JSON NetworkMessage that linegate can turn into UADP (shape, types, sizes)")            \
	X(DROP_MQTT_QUEUE_FULL, "mqtt_queue_full",                                                 \
	  "a message from the opcua_mqtt broker found its worker's handoff ring full for longer "  \
	  "than it waits (100 ms)")                                                               \
	X(DROP_UADP_UNDECRYPTABLE, "uadp_undecryptable",                                           \
	  "a UADP message whose signature verified but whose payload, decrypted, is not "          \
	  "UADP: the device's EncryptingKey or KeyNonce (or security policy) is not the "          \
	  "publisher's")                                                                          \
	X(DROP_SAMPLE_RATE, "sample_rate",                                                         \
	  "an authentic LGF frame whose sample rate is not the device's sample_rate in the "       \
	  "policy or the rate the model was trained on: its samples would be judged wrongly")     \
	X(DROP_BAD_SAMPLE, "bad_sample",                                                           \
	  "a verified frame holding a NaN, +-Inf or out-of-range sample under "                    \
	  "detection.bad_samples: drop (its replay state advances, its device's partial window "  \
	  "is discarded)")                                                                        \
	X(DROP_LATE, "late",                                                                       \
	  "an authentic frame that came after its device's window went on without it: the gap "   \
	  "it belongs to was declared lost (its hold time ended or its worker's reorder pool "     \
	  "was full)")                                                                             \
	X(DROP_CHANNELS, "channels",                                                               \
	  "an authentic LGF frame (or UADP DataSetMessage) with another number of channels than "  \
	  "the device's detector was trained on: its extra channels, or its missing ones, would "  \
	  "be judged wrongly")                                                                     \
	X(DROP_STOP_UNREAD, "stop_unread",                                                         \
	  "still waiting in a worker's ring or socket when a stop's drain ran out of time (500 "   \
	  "ms; a slow worker at overload): taken out unjudged, so that every frame XDP handed "    \
	  "over is counted; in a pcap replay stopped by a signal, the record admission judged "   \
	  "that waited for its paced time, or that worker 0 could no longer hand over")           \
	X(DROP_RATE_LIMITED, "rate_limited",                                                       \
	  "a datagram that came as IP fragments (uring, fragments: reassemble; XDP passed the "    \
	  "fragments uncharged) found its device's token bucket empty: charged by the worker "     \
	  "before its tag is checked, as XDP charges a whole frame")

enum lg_reason {
#define LG_REASON_ENUM(e, name, desc) LG_##e,
	LG_REASONS(LG_REASON_ENUM)
#undef LG_REASON_ENUM
	LG_REASON_MAX,
};

/* The metric label of a reason ("invalid" out of range), and what causes it. */
const char *lg_reason_name(enum lg_reason r);
const char *lg_reason_desc(enum lg_reason r);

struct lg_frame {
	const struct lgf_hdr *hdr; /* in the receive buffer */
	uint32_t device_id;
	uint8_t key_id;
	uint8_t type;
	uint8_t sample_format;
	uint8_t channels;
	uint16_t sample_count;
	uint32_t sample_rate;
	float scale;
	uint64_t sequence;
	uint64_t timestamp_ns;
	const uint8_t *samples; /* channels * sample_count interleaved values */
	size_t samples_len;
	const uint8_t *tag;     /* LGF_TAG_LEN bytes */
	size_t signed_len;      /* bytes covered by the tag: header + samples */
};

/* Parse an LGF v1 datagram. Checks structure only, not the tag. */
enum lg_reason lg_lgf_parse(const uint8_t *buf, size_t len, struct lg_frame *f);

/* Decode n samples of one channel, starting at sample index first, into out as floats
 * (int16 x scale, or float32). The caller keeps first + n <= sample_count. */
void lg_lgf_samples(const struct lg_frame *f, unsigned channel, size_t first, size_t n,
		    float *out);

/* HMAC-SHA256(key, msg) truncated to LGF_TAG_LEN. Returns 0 or -EIO. */
int lg_lgf_tag(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
	       uint8_t tag[LGF_TAG_LEN]);

/* Constant-time: 0 when the frame's tag is right for key. */
int lg_lgf_check_tag(const struct lg_frame *f, const uint8_t *key, size_t keylen);

/* An LGF tag (HMAC-SHA256 truncated to LGF_TAG_LEN) with a keyed context (hmac.h). */
int lg_mac_tag(struct lg_mac *m, const uint8_t *msg, size_t len, uint8_t tag[LGF_TAG_LEN]);
/* Constant-time: 0 when the frame's tag is right, -EBADMSG when not, -EIO on failure. */
int lg_mac_check(struct lg_mac *m, const struct lg_frame *f);

/* What a sender needs to build a frame. */
struct lg_lgf_build {
	uint32_t device_id;
	uint8_t key_id;
	uint8_t type;
	uint8_t sensor_kind;
	uint8_t sample_format;
	uint8_t channels;
	uint16_t sample_count;
	uint32_t sample_rate;
	float scale;
	uint64_t sequence;
	uint64_t timestamp_ns;
	const void *samples; /* host-order int16 or float, interleaved */
};

/* Encode and tag a frame into out. Returns its length, or -ENOSPC / -EINVAL / -EIO. */
int lg_lgf_encode(const struct lg_lgf_build *b, const uint8_t *key, size_t keylen, uint8_t *out,
		  size_t outlen);

#endif /* LINEGATE_FRAME_H */
