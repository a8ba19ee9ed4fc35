/* SPDX-License-Identifier: MIT */
/*
 * The policy: what the operator writes in YAML (docs/policy.md), parsed and
 * validated into plain structs. The control daemon, the data plane and the
 * load generator all read the same file through this one parser.
 */
#ifndef LINEGATE_POLICY_H
#define LINEGATE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linegate/admit.h>
#include <linegate/uadp.h>

#define LG_KEY_LEN 32 /* HMAC-SHA256 key bytes */
#define LG_NAME_MAX 64
#define LG_PATH_MAX 512
#define LG_POLICY_MAX_DEVICES 4096 /* the XDP device table's capacity (admit.h) */
#define LG_POLICY_MAX_GROUPS 64
#define LG_POLICY_MAX_CORES 64
/* detection.incidents: the most windows an incident's confirmation looks back over (incidents). */
#define LG_INCIDENT_MAX_OF 32
#define LG_POLICY_MAX_MODEL_KEYS 8
#define LG_POLICY_MAX_MCAST 8 /* uadp_multicast.groups */
#define LG_POLICY_MAX_VLANS 64 /* vlans */
#define LG_REC_MAX_NAMES 64   /* recording.devices, recording.groups */

/* A multicast group to join: family AF_INET or AF_INET6, address in network byte order. */
struct lg_mcast_group {
	int family;
	uint8_t addr[16];
};
#define LG_OPCUA_MQTT_MAX_TOPICS 8
#define LG_NATS_MAX_URLS 8 /* output.nats.urls */
/* output.mqtt: the kinds of message, each with its QoS and retain flag (qos_<kind>,
 * retain_<kind>). */
enum lg_mqtt_kind {
	LG_MQTT_ALERTS,
	LG_MQTT_INCIDENTS,
	LG_MQTT_SCORES,
	LG_MQTT_EVENTS,
	LG_MQTT_STATUS, /* <topic>/status (birth, last will) and <topic>/status/<device> */
	LG_MQTT_KINDS
};
extern const char *const lg_mqtt_kind_names[LG_MQTT_KINDS]; /* "alerts", ... "status" */

/*
 * Limits on the policy text, enforced on libyaml's event stream before any tree is built
 * (docs/policy.md, "Limits"), so that a hostile file is refused fast with bounded memory.
 */
#define LG_POLICY_MAX_BYTES (16u << 20)  /* the whole file */
#define LG_POLICY_MAX_DEPTH 32           /* nested mappings and lists */
#define LG_POLICY_MAX_SCALAR (64u << 10) /* one value or key, in bytes */
#define LG_POLICY_MAX_NODES 262144       /* values, mappings and lists together */

/* A UADP security group key (OPC 10000-14, 8.3.2): SigningKey | EncryptingKey | KeyNonce. */
#define LG_UADP_ENC_KEY_MAX 32 /* PubSub-Aes256-CTR; PubSub-Aes128-CTR uses 16 */
#define LG_UADP_KEY_NONCE_LEN 4
#define LG_UADP_MAX_NAMED_FIELDS 32 /* uadp.fields: names a device's DataSet may give */
#define LG_UADP_FIELD_NAMES 384     /* bytes for all of them, a NUL after each */

struct lg_policy_key {
	uint32_t id;               /* LGF key_id (0..255), or the UADP SecurityTokenId */
	int64_t expires;           /* unix seconds after which the key is refused; 0 = never */
	/* Read from the key file: never print, log or audit these. bytes is the HMAC key (LGF)
	 * or the SigningKey (UADP); a UADP group key file also holds an EncryptingKey and the
	 * KeyNonce (enc_len 0: the file held the signing key alone). */
	uint8_t bytes[LG_KEY_LEN];
	uint8_t enc_len;           /* 0, 16 (PubSub-Aes128-CTR) or 32 (PubSub-Aes256-CTR) */
	uint8_t enc[LG_UADP_ENC_KEY_MAX];
	uint8_t key_nonce[LG_UADP_KEY_NONCE_LEN];
};

/* What a UADP device's messages must carry (devices[].uadp.security). */
enum lg_uadp_security {
	LG_UADP_SEC_SIGN = 0,    /* signed (the default) */
	LG_UADP_SEC_NONE,        /* unsigned accepted, counted as uadp_unsigned_admitted */
	LG_UADP_SEC_ENCRYPT,     /* signed and encrypted (SignAndEncrypt) */
};

/*
 * How a UADP device's messages are protected against replay (devices[].uadp.replay,
 * docs/policy.md "Replay protection for UADP"). A device with LG_UADP_REPLAY_NONE is
 * reported as unprotected in status, metrics and the audit log.
 */
enum lg_uadp_replay {
	LG_UADP_REPLAY_AUTO = 0,  /* as parsed: nonce when signed, else sequence */
	LG_UADP_REPLAY_SEQUENCE,  /* the 16-bit sequence numbers, plus the timestamp guard */
	LG_UADP_REPLAY_NONCE,     /* the signed MessageNonce's 32-bit sequence, per token */
	LG_UADP_REPLAY_TIMESTAMP, /* the signed DataSetMessage timestamps only */
	LG_UADP_REPLAY_NONE,      /* none: every copy is taken */
};

/* Which transports a UADP device's messages may come over (devices[].uadp.transport). Over
 * MQTT the broker is the peer, so the bound source address does not apply. */
enum lg_uadp_transport {
	LG_UADP_TRANSPORT_UDP = 0, /* the default: UDP from the bound source only */
	LG_UADP_TRANSPORT_MQTT,    /* through the opcua_mqtt subscription only */
	LG_UADP_TRANSPORT_ANY,     /* either */
};

/*
 * Bad samples (issue 8, docs/policy.md "Bad samples"): a sample is bad when it is NaN,
 * +-Inf, outside its device's 'range', or, for a device without one, larger in magnitude
 * than LG_SAMPLE_LIMIT. The limit keeps every feature of a window finite in float: the
 * spectrum of the longest window (65536 samples) of values up to 1e12 has bins of at most
 * 65536 x 1e12 = 6.6e16, whose powers sum (Parseval) to at most 65536^2 x 1e24 = 4.3e33,
 * 1e5 below FLT_MAX (3.4e38); the time-domain statistics are scaled or summed in double.
 */
#define LG_SAMPLE_LIMIT 1e12f

enum lg_bad_samples {
	LG_BAD_SAMPLES_DROP = 0, /* the frame adds nothing; the partial window is discarded */
	LG_BAD_SAMPLES_MASK,     /* a bad sample becomes its channel's last good value */
};

/*
 * Metadata (issue 12, docs/policy.md "Metadata"): where a device sits on the line, carried
 * in every record it makes (JSON lines, MQTT, NATS), as metric labels (line, station, asset)
 * and as InfluxDB tags. Each value is 1..LG_META_STR_MAX-1 bytes of printable UTF-8; tag
 * keys are [A-Za-z][A-Za-z0-9_.-]*. "" = not given. A device's group gives the defaults.
 */
#define LG_META_STR_MAX 64  /* bytes of a value, NUL included */
#define LG_META_KEY_MAX 32  /* bytes of a tag key, NUL included */
#define LG_META_MAX_TAGS 8  /* tags of a device, its group's included */
struct lg_policy_meta {
	char line[LG_META_STR_MAX], station[LG_META_STR_MAX], asset[LG_META_STR_MAX];
	char sensor[LG_META_STR_MAX], units[LG_META_STR_MAX];
	uint8_t ntags;
	struct lg_policy_tag {
		char key[LG_META_KEY_MAX];
		char value[LG_META_STR_MAX];
	} tags[LG_META_MAX_TAGS]; /* in the order given: the device's, then its group's */
};

struct lg_policy_device {
	uint32_t id;
	char name[LG_NAME_MAX];
	int family;        /* AF_INET or AF_INET6: the bound source address */
	uint8_t addr[16];  /* network byte order; IPv4 in the first 4 bytes */
	uint16_t port;     /* bound UDP source port, 0 = any */
	bool has_mac;      /* mac is bound (else any source MAC: a device behind a router) */
	uint8_t mac[6];
	uint32_t rate;     /* admission token bucket, frames per second; 0 = unlimited */
	uint32_t burst;    /* bucket depth in frames */
	/* Samples per second per channel the device sends (0 = not given): the model must have
	 * been trained at this rate, and LGF frames of another rate are dropped (sample_rate). */
	uint32_t sample_rate;
	/* "score: false" (trial s19 C M3): the device is verified, admitted and recorded, but
	 * its windows are not scored (counted, linegate_windows_unscored_total; status lists it
	 * in not_scored, reason "policy"), and the model needs no detector for it: how a new
	 * machine is recorded to train its detector (docs/getting-started-own-line.md "Adding a
	 * machine"). Parsed as score: false; false here = scored (the default). */
	bool unscored;
	uint16_t group;    /* index into lg_policy.groups + 1; 0 = no group */
	/* OPC UA PubSub (UADP) identity: messages from (publisher, writer group, dataset
	 * writer) are this device's. uadp_pub_type 0 = the device does not speak UADP. */
	uint8_t uadp_pub_type;   /* enum lg_uadp_pubid_type (uadp.h), or
				  * LG_ADMIT_UADP_PUBID_NONE: no PublisherId, known by addr */
	uint8_t uadp_security;   /* enum lg_uadp_security */
	uint8_t uadp_replay;     /* enum lg_uadp_replay, never AUTO after parsing */
	uint8_t uadp_enc_len;    /* SignAndEncrypt: the policy's key length, 16 or 32 */
	uint8_t uadp_transport;  /* enum lg_uadp_transport */
	uint32_t uadp_replay_ms; /* how far behind the newest accepted timestamp one may be */
	uint32_t uadp_ahead_ms;  /* how far ahead of this server's clock one may be (0: any) */
	/* The DataSet's field names in DataSet order (the publisher's DataSetMetaData), NUL
	 * after each, for outputs and 'channels'; uadp_nfields 0 = not given. */
	uint8_t uadp_nfields;
	char uadp_fields[LG_UADP_FIELD_NAMES];
	/* Fields (by index) that feed the device's windows, one channel each; 0 = the numeric
	 * fields with the most values (the sample arrays), whatever their names. */
	uint32_t uadp_channels;
	/* RawData layout (typed 'fields', docs/policy.md): each field's built-in type and
	 * array length, in DataSet order, as the publisher's DataSetMetaData gives them;
	 * uadp_typed false = plain names only (Variant/DataValue publishers), no layout. */
	bool uadp_typed;
	struct lg_uadp_raw_field uadp_raw[LG_UADP_MAX_NAMED_FIELDS];
	uint16_t uadp_writer_group;
	uint16_t uadp_writer;    /* DataSetWriterId, or with uadp_by_position a position */
	bool uadp_by_position;   /* writer_position: the publisher sends no PayloadHeader */
	uint64_t uadp_pub_num;
	char uadp_pub_str[33];
	/* Bad samples (issue 8): 'range: [min, max]', the values this sensor can give (after
	 * an int16 frame's scale); has_range false = any |x| <= LG_SAMPLE_LIMIT. */
	bool has_range;
	float range_min, range_max;
	unsigned nkeys;    /* 1, or 2 while a key is being rotated */
	struct lg_policy_key keys[2];
	/* Metadata (issue 12): the device's 'meta', its group's filling what it leaves out.
	 * Applied live. */
	struct lg_policy_meta meta;
};

struct lg_policy_group {
	char name[LG_NAME_MAX];
	bool audit;             /* admission counts what it would drop but lets it through */
	struct lg_policy_meta meta; /* issue 12: defaults for the group's devices' 'meta' */
};

struct lg_policy {
	uint16_t port;          /* UDP port the data plane listens on */
	uint16_t uadp_port;     /* UDP port for OPC UA PubSub UADP, 0 = off */
	/* uadp_multicast: groups the UADP socket joins (OPC UA publishers send to a group by
	 * default), on interface mcast_if ("" = the kernel's choice). */
	unsigned nmcast;
	struct lg_mcast_group mcast[LG_POLICY_MAX_MCAST];
	char mcast_if[16];
	/* What XDP (or user-space admission) does with traffic that is neither LGF nor UADP:
	 * the admission program's own enum, so that nothing converts between two. */
	enum lg_admit_not_ours not_ours;
	/* IP fragments of UDP: dropped in XDP, or passed to the kernel to reassemble when they
	 * come from an enrolled device's source address (admission's own enum again). */
	enum lg_admit_fragments fragments;
	/* vlans: the VLAN ids (0..4094; 0 = priority-tagged) whose tagged frames are the line's
	 * (admit.h's lg_admit_vlan_ok()); nvlans 0 = tagged frames of ours are dropped as vlan. */
	unsigned nvlans;
	uint16_t vlans[LG_POLICY_MAX_VLANS];
	/* workers.cores: worker i runs on CPU cores[i % ncores]; ncores 0 = not pinned */
	unsigned ncores;
	uint16_t cores[LG_POLICY_MAX_CORES];
	size_t ngroups;
	struct lg_policy_group groups[LG_POLICY_MAX_GROUPS];
	uint32_t window;        /* samples per channel in one feature window */
	uint32_t batch;         /* rows per model batch */
	uint32_t deadline_ms;   /* flush a partial batch when its oldest row is this old */
	char model[LG_PATH_MAX];  /* model file, relative paths are relative to the policy */
	uint32_t model_line, model_col; /* of the detection.model key, for the deep check */
	float threshold;        /* alert when score > threshold; <= 0: take the model's */
	/* Bad samples (issue 8): detection.bad_samples, enum lg_bad_samples. */
	uint8_t bad_samples;
	/* detection.gemm: the ONNX models' GEMM route, enum lg_model_gemm (model.h): 0 auto,
	 * 1 openblas, 2 xsmm, 3 xsmm-bf16 (with its guard: fp32's verdicts). Applied live (the
	 * models are reloaded). */
	uint8_t gemm;
	/* detection.incidents (incidents, dataplane/incident.h): per device, an incident opens
	 * when 'confirm' of its last 'of' windows alerted, and resolves after 'resolve_after'
	 * windows in a row whose score < threshold x hysteresis; at most one update a
	 * update_ms. Applied live. */
	struct lg_policy_incidents {
		uint16_t confirm, of, resolve_after;
		float hysteresis;
		uint32_t update_ms;
	} incidents;
	/* detection.drift: the drift monitors (docs/models.md, "Drift"), applied live. */
	struct lg_policy_drift {
		bool enabled;          /* true */
		uint32_t psi_windows;  /* windows per PSI comparison, 1000 */
		float psi_threshold;   /* drift when a feature's PSI is above it, 0.25 */
		float ph_delta;        /* Page-Hinkley: change tolerated, ln units, 0.5 */
		float ph_lambda;       /* Page-Hinkley: alarm level, 50 */
		/* retrain (linegated, control/retrain.c): a device whose data drifts is recorded
		 * for record_seconds, then a candidate is trained on that recording in a
		 * low-priority process, for a person to approve. record_seconds 0 = off. */
		struct lg_policy_retrain {
			uint32_t record_seconds;   /* 10..86400, 0 = no retraining */
			uint32_t min_windows;      /* fewest windows to train on, 200 */
			uint32_t cooldown_seconds; /* per device, between two retrains, 3600 */
		} retrain;
	} drift;
	char jsonl[LG_PATH_MAX];  /* JSON lines output: a path, or "-" for stdout */
	/* output.jsonl {path, max_bytes, keep}: rotation by size (0 = none); files kept */
	uint64_t jsonl_max_bytes;
	unsigned jsonl_keep;
	struct lg_policy_mqtt {
		char host[256];       /* "" = no MQTT output */
		uint16_t port;
		char client_id[64];
		char topic[128];      /* prefix: <topic>/{alerts,scores,incidents,events}/<device> */
		bool scores;          /* publish routine scores too, not only alerts */
		/* issue 12 (docs/policy.md "MQTT output"): all start-only. */
		uint8_t protocol;     /* MQTT protocol level: 5 (the default) or 4 (3.1.1) */
		/* QoS and retain flag per kind of message (enum lg_mqtt_kind) */
		uint8_t qos[LG_MQTT_KINDS];
		bool retain[LG_MQTT_KINDS];
		char username[64];    /* "" = none */
		/* Read from password_file (0600): never print, log or audit it. */
		char password[128];
		/* tls: the broker's CA ("" = plain TCP), a client certificate and key (0600). */
		char tls_ca[LG_PATH_MAX], tls_cert[LG_PATH_MAX], tls_key[LG_PATH_MAX];
		/* <topic>/status/<device> turns offline after this long without a record; 0 =
		 * no per-device status (the line server's <topic>/status is always there). */
		uint32_t device_offline_s;
		/* outbox: alerts, incidents, events and scores on disk until the broker has them
		 * (dataplane/outbox.h); "" = in memory only, lost by a restart. */
		char outbox_dir[LG_PATH_MAX];
		uint64_t outbox_max_bytes; /* 256 MiB */
	} mqtt;
	/* output.nats (docs/fleet.md): incidents, alerts, drift events and every score_every-th
	 * score of a device to NATS JetStream on <subject_prefix>.<plant>.<line>.<kind>.<device>,
	 * at least once through an on-disk outbox (dataplane/outbox.h). Start-only. */
	struct lg_policy_nats {
		uint8_t nurls;		       /* 0 = no NATS output */
		char urls[LG_NATS_MAX_URLS][256];
		char subject_prefix[64];       /* "linegate"; prefix, plant, line: subject tokens */
		char plant[64], line[64];
		char outbox_dir[LG_PATH_MAX];  /* relative to the policy */
		uint64_t outbox_max_bytes;     /* 256 MiB */
		uint32_t score_every;	       /* 0: no scores; N: one in N per device */
		/* tls: the CA of the servers ("" = plain TCP), a client certificate and key (0600,
		 * both or neither). Paths only: libnats reads them at connect. */
		char tls_ca[LG_PATH_MAX], tls_cert[LG_PATH_MAX], tls_key[LG_PATH_MAX];
		uint32_t line_no, col_no;      /* of output.nats, for errors found later */
		/* Credentials (issue 13, docs/fleet.md "Credentials"), one or neither: an nkey
		 * user seed file or a .creds file (user JWT and seed), 0600 each, checked when
		 * the policy is read; paths only, the seed is read again at connect and never
		 * printed. Start-only. */
		char nkey_file[LG_PATH_MAX], creds_file[LG_PATH_MAX];
		/* Decimated features (issue 13): bit j = lg_feature_names[j] (as
		 * output.influx.features; 0 = no feature records), for the 1st, N+1-th, ... row
		 * of each device channel, N = feature_every (1). Start-only. */
		uint32_t features;
		uint32_t feature_every;
	} nats;
	/* output.influx (issue 12, docs/policy.md "InfluxDB line protocol"): scores, features
	 * and incidents as InfluxDB line protocol over HTTP (dataplane/influx.h). Start-only. */
	struct lg_policy_influx {
		char url[512];             /* the write endpoint; "" = no InfluxDB output */
		char database[128];        /* 1.x: ?db= */
		char bucket[128], org[128]; /* 2.x: ?bucket=&org= */
		/* Read from token_file or password_file (0600): never print, log or audit. */
		char token[512];
		char username[128], password[128];
		char prefix[64];           /* measurements <prefix>_score, _features, _incident */
		uint32_t decimation;       /* one in N windows of each device channel, 1 */
		uint32_t features;         /* bit j: lg_feature_names[j] as a field; 0 = none */
		bool scores;               /* <prefix>_score points, true */
		uint32_t batch_lines;      /* lines per POST, 1000 */
		uint32_t flush_ms;         /* the longest a line waits for its batch, 1000 */
		uint32_t max_buffer_lines; /* lines held while the server is away, 100000 */
		uint32_t timeout_ms;       /* one request, connecting included, 5000 */
	} influx;
	/* backend (docs/operations.md, "Backends from the policy"): the packet backend a
	 * linegate started without --backend uses, and its options, built from the policy's
	 * typed keys into --backend's own syntax (key=value,...; ';' for a ',' inside a value),
	 * so the backend checks them once more as it does a command line's. workers: the
	 * receive workers (= RX queues) when -w is not given. Start-only. */
	struct lg_policy_backend {
		char name[16];	   /* "" = not set: --backend, else uring */
		char opts[1024];   /* the options for name */
		uint16_t workers;  /* 0 = not set */
		uint32_t line_no, col_no; /* of 'backend', for errors found at start */
	} backend;
	/* opcua_mqtt: OPC UA PubSub NetworkMessages (UADP or JSON) taken from an MQTT broker
	 * (docs/opcua.md, "OPC UA PubSub over MQTT"). Start-only. */
	struct lg_policy_opcua_mqtt {
		char host[256];       /* "" = no MQTT input */
		uint16_t port;        /* 1883 */
		uint8_t qos;          /* 0 or 1 (the default) */
		uint8_t ntopics;
		char topics[LG_OPCUA_MQTT_MAX_TOPICS][256]; /* subscription filters (+ # allowed) */
		char client_id[64];
		char username[64];    /* "" = none */
		/* Read from password_file (0600): never print, log or audit it. */
		char password[128];
		/* tls: the CA that signs the broker's certificate ("" = plain TCP), and a client
		 * certificate with its key (0600), both or neither. */
		char tls_ca[LG_PATH_MAX];
		char tls_cert[LG_PATH_MAX];
		char tls_key[LG_PATH_MAX];
	} opcua_mqtt;
	/* Ed25519 public keys whose signatures make a model artifact loadable. */
	size_t nmodel_keys;
	uint8_t model_keys[LG_POLICY_MAX_MODEL_KEYS][32];
	char registry[LG_PATH_MAX]; /* model registry folder, relative to the policy */
	/* recording (docs/recording.md): admitted frames of the devices named (and of the
	 * groups' devices; none named = all) to pcapng files in dir, rotated and bounded.
	 * Applied live. Absent: enabled false, the bounds' defaults, dir "". */
	struct lg_policy_recording {
		bool enabled;
		char dir[LG_PATH_MAX];    /* relative paths from the policy's folder */
		char prefix[LG_NAME_MAX]; /* file names: PREFIX-<UTC time>-<n>.pcapng */
		unsigned ndevices, ngroups;
		char devices[LG_REC_MAX_NAMES][LG_NAME_MAX];
		char groups[LG_REC_MAX_NAMES][LG_NAME_MAX];
		uint64_t max_file_bytes, max_file_seconds, max_total_bytes, min_free_bytes;
	} recording;
	size_t ndevices;
	struct lg_policy_device *devices; /* sorted by id, ids unique */
	uint8_t hash[32];       /* SHA-256 of the policy text */
};

/*
 * Parse and validate policy text. name is the file it came from: errors name it, and
 * relative paths in the policy (model, jsonl, registry and key files) are taken relative
 * to its folder (for a name without a '/', the current folder: "./"). Key files are read
 * here, so the name must be the policy's real path when the text came from elsewhere.
 * Hostile text (NUL, invalid UTF-8, nesting, aliases, sizes past the limits above, extra
 * documents, duplicate keys) is refused at its line and column before a tree is built.
 * No error message quotes a value that could be a key (24 characters or more).
 * On failure returns a negative errno and writes "name:line:column: message"
 * to err (NUL-terminated, at most errlen bytes); *out is untouched.
 */
int lg_policy_parse(const char *text, size_t len, const char *name, struct lg_policy *out,
		    char *err, size_t errlen);
/* Read a file and parse it; relative model/jsonl paths are resolved against its folder. */
/* The UADP identity key of device d as the data plane looks it up (lg_admit_uadp_key_make()):
 * 0, or -ENOENT when d does not speak UADP. */
int lg_policy_uadp_key(const struct lg_policy_device *d, struct lg_admit_uadp_key *k);
int lg_policy_load(const char *path, struct lg_policy *out, char *err, size_t errlen);
/* Whether workers.cores must be CPUs this process may run on (true, the default: the check
 * linegate makes when it pins). A tool that reads a policy but runs no worker (the trainer,
 * which linegated runs off the worker cores) turns it off. */
void lg_policy_check_cores(bool on);
void lg_policy_free(struct lg_policy *p);

/* The name of field idx of a UADP device's DataSet, NULL when the policy names none. */
const char *lg_policy_uadp_field(const struct lg_policy_device *d, unsigned idx);

/* The RawData layout (uadp.h) the typed 'fields' of device d give, its writer_id the
 * device's DataSetWriterId (or position); out->fields points into d. 0, or -ENOENT when d's
 * 'fields' are not typed. */
int lg_policy_uadp_layout(const struct lg_policy_device *d, struct lg_uadp_layout *out);

/* The OPC UA name of built-in type id t ("Float"), "?" for one RawData does not take. */
const char *lg_policy_uadp_type_name(unsigned t);

/* The names of the UADP devices admitted without replay protection ('replay: none'),
 * comma-separated into out (cut at len); returns how many there are. Status, the audit log
 * and linegate's start-up line show them. */
size_t lg_policy_unprotected(const struct lg_policy *p, char *out, size_t len);

/* Find an enrolled device by id (binary search), NULL when not enrolled. */
const struct lg_policy_device *lg_policy_find(const struct lg_policy *p, uint32_t id);

/* Hex helpers shared by every tool that prints or reads keys and hashes. */
void lg_hex_encode(const uint8_t *in, size_t len, char *out /* 2*len+1 */);
/* The SHA-256 of len bytes at buf, in lower-case hex: how model files and evaluations are
 * named and compared (model_sha256, candidate provenance). */
void lg_sha256_hex(const void *buf, size_t len, char out[65]);
/* The longest run of hex digits in s. */
size_t lg_hex_run(const char *s);
/* A key is 64 hex digits; a run of this many (64 bits of a key) is treated as a secret
 * wherever text reaches someone: an error, a reply, a log line, the audit. */
#define LG_SECRET_HEX_RUN 16
/* Replace every run of LG_SECRET_HEX_RUN or more hex digits in s with "<hidden>", in place
 * (the text only shrinks). Returns how many runs it hid. Every server applies it to what it
 * sends and logs, so that a key typed where a name or a number belongs is never echoed. */
size_t lg_redact_secrets(char *s);
/* A time as the policy writes it, RFC 3339 in UTC to the second (2026-12-04T18:00:00Z), to
 * unix seconds: 0, -EINVAL (not that form) or -ERANGE (a day that does not exist). */
int lg_time_parse_utc(const char *s, int64_t *out);

/* What may be shown of a key: the first 8 hex digits of the SHA-256 of the key file's bytes
 * ("a1b2c3d4"): of all of a UADP group key (SigningKey | EncryptingKey | KeyNonce), so that a
 * changed EncryptingKey shows as a changed key. */
#define LG_KEY_FP_LEN 8
void lg_key_fingerprint(const uint8_t *key, size_t len, char out[LG_KEY_FP_LEN + 1]);
/* The fingerprint of a policy key: its key file's bytes, as above. */
void lg_policy_key_fingerprint(const struct lg_policy_key *k, char out[LG_KEY_FP_LEN + 1]);

/*
 * The deep check: everything linegate refuses at start or apply that the parser cannot see
 * from the text alone (the model file, its signature against models.trusted_keys, its
 * window and feature count, ...). One function for linegatectl validate, linegated
 * (validate, diff, apply, file watch, start) and linegate (start, apply), so all of them
 * give the same answer. Call it on a policy lg_policy_parse() accepted.
 * Returns 0, or a negative errno with "name:line:col: detection.model: message" in err, name
 * being the policy's file. On success err holds "" or a warning ("name:line:col: WARNING:
 * ...", e.g. an ONNX model that does not say its window) for the caller to show its
 * operator. Needs lgcheck (control/check.c),
 * which links the data plane's model loader.
 */
int lg_policy_check(const struct lg_policy *p, const char *name, char *err, size_t errlen);
/*
 * Whether two devices hold one key (the same key bytes), at least one of them an LGF device
 * (a UADP security group's keys may be shared by its publishers' writers): 1 with the pair
 * described in buf, 0, or -ENOMEM. A warning for a policy written by hand (lg_policy_check);
 * linegated refuses an enroll or rotate-key that would make one (trial J, s21).
 */
int lg_policy_shared_key(const struct lg_policy *p, char *buf, size_t len);
/*
 * The public half of the demo signing key: its secret half is in linegate's source
 * (control/defaults/demo-signing.key), so a model signed with it proves nothing. The demo,
 * the tests and dist/policy.yaml.in trust it on purpose.
 */
#define LG_DEMO_SIGNING_PUB "c3126d69f8a2631f3922c10c7d9dd9422464cbeb25dc6416f0d452089979b3f6"
/*
 * Whether models.trusted_keys holds the demo key (LG_DEMO_SIGNING_PUB): 1 with a sentence
 * for the operator in buf (a warning: lg_policy_check(), linegated's status), else 0 (trial
 * J F19).
 */
int lg_policy_trusts_demo_key(const struct lg_policy *p, char *buf, size_t len);
/*
 * The deep check of a model file that is not (yet) the policy's detection.model: would the
 * data plane load it under policy p (its signature, window, layout, a detector for every
 * device at the device's rate, ...)? The check a model activation runs, for a registry
 * addition (linegatectl model add). 0, or a negative errno with the loader's message in err
 * ("path: ..."). Needs lgcheck.
 */
int lg_policy_check_model(const struct lg_policy *p, const char *path, char *err,
			  size_t errlen);
/* The devices whose model's normal level is above the policy's hysteresis (where an open
 * incident resolves below threshold x that level, docs/policy.md "Incidents"), as "name
 * level, ..." into buf; returns how many (0 also when the model does not load). lgcheck. */
size_t lg_policy_levels(const struct lg_policy *p, char *buf, size_t len);
/* lg_policy_parse() or lg_policy_load() followed by lg_policy_check(): what every tool that
 * validates, applies or starts from a policy calls (lgcheck). *out is untouched on failure. */
int lg_policy_validate(const char *text, size_t len, const char *name, struct lg_policy *out,
		       char *err, size_t errlen);
int lg_policy_load_valid(const char *path, struct lg_policy *out, char *err, size_t errlen);

/*
 * A process that will become another user (--user, priv.h) accepts secret files (keys,
 * passwords) owned by that user too, besides root and itself: once it is that user, it
 * can read no other. Call once at start, before reading a policy.
 */
void lg_policy_secret_owner(uid_t uid);

/*
 * Bad samples (issue 8), one rule for the data plane and the tools that read recordings
 * (linegate-train, linegate-quality): the values a device's samples may take ('range', else
 * +-LG_SAMPLE_LIMIT). NaN fails both comparisons, so !(lo <= x && x <= hi) is the one test
 * for NaN, +-Inf and out of range.
 */
static inline void lg_sample_bounds(const struct lg_policy_device *dev, float *lo, float *hi)
{
	*lo = dev && dev->has_range ? dev->range_min : -LG_SAMPLE_LIMIT;
	*hi = dev && dev->has_range ? dev->range_max : LG_SAMPLE_LIMIT;
}

static inline bool lg_sample_bad(float x, float lo, float hi)
{
	return !(lo <= x && x <= hi);
}

/* bad_samples: mask: each bad sample of one channel's run x[0..n) becomes its channel's last
 * good value (*last_good, 0 before any; kept up to date). Returns the samples masked. */
static inline uint64_t lg_sample_mask_run(float *x, size_t n, float *last_good, float lo,
					  float hi)
{
	uint64_t masked = 0;

	for (size_t i = 0; i < n; i++) {
		if (lg_sample_bad(x[i], lo, hi)) {
			x[i] = *last_good;
			masked++;
		} else {
			*last_good = x[i];
		}
	}
	return masked;
}

#endif /* LINEGATE_POLICY_H */
