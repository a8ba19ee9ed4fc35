/* SPDX-License-Identifier: MIT */
/*
 * The outbox (docs/fleet.md "The outbox"): a bounded on-disk queue of records between the
 * output thread and a network output (NATS JetStream, MQTT), so that what was not
 * acknowledged by the far side is sent again after a broker outage, a crash or a restart
 * (at least once; the far side removes duplicates by the record's sequence number).
 *
 * A folder holds segment files named by the sequence number of their first record
 * (00000000000000000001.seg), each a run of records:
 *
 *	u32 magic "LGOB"  u32 crc32 of the rest (seq .. data)  u64 seq
 *	u8 kind  u8 keylen  u16 0  u32 datalen  key[keylen]  data[datalen]
 *
 * in host byte order (the folder is local), sequence numbers consecutive across segments,
 * a file "id" (lg_outbox_id), and a file "cursor" (written atomically: temp file,
 * fdatasync, rename) with the highest sequence number the far side acknowledged. Sequence
 * numbers never go back: a restarted outbox continues after the highest of the cursor, the
 * last record and the last segment's name. A record whose tail a crash cut off is cut from
 * its file at open (counted).
 *
 * Bounded by bytes (max_bytes, all segments): routine scores and feature records are refused
 * once they would take the outbox past 3/4 of it, keeping the last quarter for incidents,
 * alerts and events; alerts are refused past 7/8, keeping the last eighth for incident
 * lines and events, which evict the oldest segment (its unacknowledged records counted)
 * when the whole is full. A write that fails (ENOSPC, EIO, EFBIG) is cut back and counted;
 * nothing waits for a network. A reader is given only records made durable (fdatasync by
 * lg_outbox_sync), so a record lost by a power cut was never sent, and its sequence number
 * may be given again.
 *
 * One thread uses an outbox (the output thread); lg_outbox_stats may be called from any.
 */
#ifndef LG_OUTBOX_H
#define LG_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lg_outbox_kind {
	LG_OUTBOX_SCORE = 0, /* routine: dropped first when the outbox fills */
	LG_OUTBOX_ALERT,
	LG_OUTBOX_INCIDENT,
	LG_OUTBOX_EVENT,
	LG_OUTBOX_FEATURES, /* routine as scores (issue 13: decimated features of output.nats) */
	LG_OUTBOX_KINDS
};

#define LG_OUTBOX_MIN_BYTES (64u << 10)
#define LG_OUTBOX_HDR 24u
#define LG_OUTBOX_MAX_KEY 255u

struct lg_outbox_cfg {
	const char *dir;    /* made 0700 when missing */
	uint64_t max_bytes; /* all segments together, at least LG_OUTBOX_MIN_BYTES */
	uint32_t sync_ms;   /* lg_outbox_sync makes data and cursor durable at most this often */
};

struct lg_outbox_rec {
	uint64_t seq;
	enum lg_outbox_kind kind;
	const char *key; /* NUL-terminated; valid until the next lg_outbox_next */
	size_t keylen;
	const char *data;
	size_t len;
};

struct lg_outbox_stats {
	uint64_t next_seq;	     /* the sequence number the next record gets */
	uint64_t acked;		     /* the acknowledged cursor */
	uint64_t durable;	     /* records up to this one are synced and may be read */
	uint64_t records, bytes;     /* not yet acknowledged; bytes of all segment files */
	uint64_t appended;	     /* records written since open */
	uint64_t dropped_scores;     /* scores refused: the outbox past 3/4 of max_bytes */
	uint64_t dropped_features;   /* feature records refused, as scores (issue 13) */
	uint64_t dropped_full;	     /* records refused: larger than a segment */
	uint64_t dropped_alerts;     /* alerts refused: the outbox past 7/8 of max_bytes */
	uint64_t evicted;	     /* unacknowledged records removed for newer important ones */
	uint64_t evicted_kind[LG_OUTBOX_KINDS]; /* of them by kind, where its file was read */
	uint64_t dropped_disk;	     /* records whose write failed (cut back) */
	uint64_t torn, torn_bytes;   /* records cut at open (a crash mid-write), their bytes */
	uint64_t sync_errors;	     /* fdatasync or cursor writes that failed */
	uint64_t read_bytes;	     /* of records read (at open, and to send: resends too) */
	int disk_errno;		     /* the last write or sync error, 0 if none */
};

struct lg_outbox;

/* Open (or make) the folder, cut torn records, find the cursor. -EBUSY when another process
 * has it open; err says what and where. */
int lg_outbox_open(const struct lg_outbox_cfg *cfg, struct lg_outbox **out, char *err,
		   size_t errlen);
/* Append one record; its sequence number in *seq (may be NULL). 0, or -ENOSPC (a score,
 * feature record or alert refused as the outbox is past its share for it), -EMSGSIZE (larger than a segment), -EINVAL (key too
 * long) or the write's -errno: each counted in the stats. */
int lg_outbox_append(struct lg_outbox *ob, enum lg_outbox_kind kind, const char *key,
		     const void *data, size_t len, uint64_t *seq);
/* The next record to send (from the acknowledged cursor on, in order): 1 with *rec, 0 when
 * none is durable yet, or -errno. */
int lg_outbox_next(struct lg_outbox *ob, struct lg_outbox_rec *rec);
/* Send again from the record after the acknowledged cursor (a lost connection). */
void lg_outbox_rewind(struct lg_outbox *ob);
/* The far side has every record up to seq: segments wholly acknowledged are removed; the
 * cursor is persisted by the next due lg_outbox_sync. */
void lg_outbox_ack(struct lg_outbox *ob, uint64_t seq);
/* Make appended records and the cursor durable when sync_ms passed (or force). 0 or -errno
 * (counted). */
int lg_outbox_sync(struct lg_outbox *ob, bool force);
void lg_outbox_stats(const struct lg_outbox *ob, struct lg_outbox_stats *st);
/*
 * Losses said as they happen (trial Q, s23: an outbox that refused scores and evicted
 * incident opens said nothing until exit). The caller keeps a struct lg_outbox_said (zeroed
 * at start) and asks now and then: 1 with a sentence in buf (no prefix, no newline) when the
 * outbox refused scores, feature records or alerts, or evicted records, since it last said so, and
 * that was at least a minute ago (the first of each at once), else 0.
 */
struct lg_outbox_said {
	uint64_t drop_ns, dropped, evict_ns, evicted, kinds[LG_OUTBOX_KINDS], alert_ns, alerts;
};
int lg_outbox_loss_say(const struct lg_outbox *ob, struct lg_outbox_said *said, uint64_t now_ns,
		       char *buf, size_t len);
/* The folder's id: 16 hex digits drawn at random when the folder was made, kept in its
 * file "id". With a record's sequence number it names the record for the far side's
 * duplicate removal, and a folder made anew never reuses the names of an old one. */
const char *lg_outbox_id(const struct lg_outbox *ob);
/* Sync, close and free. Accepts NULL. */
void lg_outbox_close(struct lg_outbox *ob);

#endif
