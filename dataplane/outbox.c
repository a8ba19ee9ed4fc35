// SPDX-License-Identifier: MIT
/* The on-disk outbox (outbox.h). */
#include "outbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <linegate/outpath.h>

#define OB_MAGIC 0x424f474cu /* "LGOB" in little endian */
#define OB_SEGS_PER_BOUND 8u /* a segment is 1/8 of max_bytes: eviction frees that much */

struct ob_seg {
	uint64_t first; /* from the file name: the sequence number of its first record */
	uint64_t last;	/* of its last record; first - 1 when empty */
	uint64_t bytes;
	int fd;
};

struct lg_outbox {
	char dir[PATH_MAX - 64];
	int dirfd, lockfd;
	uint64_t max_bytes, seg_max, score_limit, alert_limit;
	uint32_t sync_ms;

	struct ob_seg *segs; /* oldest first; the last is the one appended to */
	unsigned nsegs, cap;
	uint64_t total;	     /* bytes of all segments */

	uint64_t next_seq, acked, acked_saved, durable;
	bool data_dirty, dir_dirty;
	uint64_t last_sync_ns;

	/* Reader: the next sequence number to give, and where it starts when known. */
	uint64_t rseq, rseg_first, roff;
	bool rpos;
	uint8_t *rbuf, *wbuf; /* seg_max (+ 1 for a NUL) bytes each */
	char key[LG_OUTBOX_MAX_KEY + 1];
	char id[17];

	_Atomic uint64_t appended, dropped_scores, dropped_full, evicted, dropped_disk, torn,
		torn_bytes, sync_errors, read_bytes, st_next, st_acked, st_durable, st_bytes;
	_Atomic int disk_errno;
	_Atomic uint64_t dropped_features; /* issue 13 */
	_Atomic uint64_t dropped_alerts;   /* past alert_limit (trial Q, s23) */
	_Atomic uint64_t evicted_kind[LG_OUTBOX_KINDS];
};

struct ob_hdr {
	uint32_t magic, crc;
	uint64_t seq;
	uint8_t kind, keylen;
	uint16_t zero;
	uint32_t len;
};
_Static_assert(sizeof(struct ob_hdr) == LG_OUTBOX_HDR, "outbox record header");

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* crc32 of the header from seq on, then key and data. */
static uint32_t rec_crc(const struct ob_hdr *h, const void *body, size_t blen)
{
	uLong c = crc32(0L, Z_NULL, 0);

	c = crc32(c, (const Bytef *)&h->seq, LG_OUTBOX_HDR - offsetof(struct ob_hdr, seq));
	return (uint32_t)crc32(c, body, (uInt)blen);
}

static void publish_stats(struct lg_outbox *ob)
{
	atomic_store_explicit(&ob->st_next, ob->next_seq, memory_order_relaxed);
	atomic_store_explicit(&ob->st_acked, ob->acked, memory_order_relaxed);
	atomic_store_explicit(&ob->st_durable, ob->durable, memory_order_relaxed);
	atomic_store_explicit(&ob->st_bytes, ob->total, memory_order_relaxed);
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void seg_name(uint64_t first, char *buf, size_t len)
{
	snprintf(buf, len, "%020" PRIu64 ".seg", first);
}

static int seg_push(struct lg_outbox *ob, uint64_t first, int fd, uint64_t last, uint64_t bytes)
{
	if (ob->nsegs == ob->cap) {
		unsigned cap = ob->cap ? ob->cap * 2 : 16;
		struct ob_seg *s = realloc(ob->segs, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		ob->segs = s;
		ob->cap = cap;
	}
	ob->segs[ob->nsegs++] = (struct ob_seg){ first, last, bytes, fd };
	ob->total += bytes;
	return 0;
}

/*
 * The unacknowledged records (sequence > after) of the oldest segment, counted by kind as
 * evicted: its headers are read (an eviction is rare; a segment is max_bytes / 8). What
 * cannot be read is counted by the caller's total only (trial Q, s23: two incident opens
 * were evicted and nothing could tell they were incidents).
 */
static void evicted_kinds(struct lg_outbox *ob, uint64_t after)
{
	const struct ob_seg *sg = &ob->segs[0];
	uint64_t off = 0;
	struct ob_hdr h;

	while (off + LG_OUTBOX_HDR <= sg->bytes &&
	       pread(sg->fd, &h, sizeof(h), (off_t)off) == (ssize_t)sizeof(h) &&
	       h.magic == OB_MAGIC) {
		if (h.seq > after && h.kind < LG_OUTBOX_KINDS)
			count(&ob->evicted_kind[h.kind], 1);
		off += LG_OUTBOX_HDR + h.keylen + h.len;
	}
}

/* Remove the oldest segment (file and entry). */
static void seg_drop_oldest(struct lg_outbox *ob)
{
	char name[32];

	seg_name(ob->segs[0].first, name, sizeof(name));
	close(ob->segs[0].fd);
	unlinkat(ob->dirfd, name, 0);
	ob->total -= ob->segs[0].bytes;
	memmove(ob->segs, ob->segs + 1, (ob->nsegs - 1) * sizeof(*ob->segs));
	ob->nsegs--;
	ob->dir_dirty = true;
	ob->rpos = false;
}

static int seg_create(struct lg_outbox *ob, uint64_t first)
{
	char name[32];
	int fd, rc;

	seg_name(first, name, sizeof(name));
	fd = openat(ob->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = seg_push(ob, first, fd, first - 1, 0);
	if (rc) {
		close(fd);
		unlinkat(ob->dirfd, name, 0);
		return rc;
	}
	ob->dir_dirty = true;
	return 0;
}

/* Read the record at off of a segment; its length, 0 at the end, -EBADMSG when it is not
 * a whole valid record with sequence number want. */
static ssize_t rec_read(struct lg_outbox *ob, int fd, uint64_t off, uint64_t size, uint64_t want,
			struct ob_hdr *h, uint8_t *body)
{
	size_t blen;

	if (off == size)
		return 0;
	if (size - off < LG_OUTBOX_HDR ||
	    pread(fd, h, LG_OUTBOX_HDR, (off_t)off) != (ssize_t)LG_OUTBOX_HDR)
		return -EBADMSG;
	blen = (size_t)h->keylen + h->len;
	if (h->magic != OB_MAGIC || h->seq != want || h->kind >= LG_OUTBOX_KINDS || h->zero ||
	    LG_OUTBOX_HDR + blen > ob->seg_max || size - off - LG_OUTBOX_HDR < blen)
		return -EBADMSG;
	if (pread(fd, body, blen, (off_t)(off + LG_OUTBOX_HDR)) != (ssize_t)blen ||
	    rec_crc(h, body, blen) != h->crc)
		return -EBADMSG;
	count(&ob->read_bytes, LG_OUTBOX_HDR + blen);
	return (ssize_t)(LG_OUTBOX_HDR + blen);
}

/* Walk a segment's records; a record that is not whole and valid is cut off with what
 * follows it (a crash mid-write). */
static int seg_scan(struct lg_outbox *ob, int fd, uint64_t first, uint64_t *last,
		    uint64_t *bytes)
{
	struct stat sb;
	struct ob_hdr h;
	uint64_t off = 0, seq = first;
	ssize_t n;

	if (fstat(fd, &sb))
		return -errno;
	while ((n = rec_read(ob, fd, off, (uint64_t)sb.st_size, seq, &h, ob->rbuf)) > 0) {
		off += (uint64_t)n;
		seq++;
	}
	if (n < 0) {
		count(&ob->torn, 1);
		count(&ob->torn_bytes, (uint64_t)sb.st_size - off);
		if (ftruncate(fd, (off_t)off) || fdatasync(fd))
			return -errno;
	}
	*last = seq - 1;
	*bytes = off;
	return 0;
}

static int read_cursor(struct lg_outbox *ob, char *err, size_t errlen)
{
	char buf[128];
	int fd = openat(ob->dirfd, "cursor", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "%s/cursor: %s", ob->dir, strerror(errno));
		return -errno;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s/cursor: %s", ob->dir, strerror(errno));
		return -EIO;
	}
	buf[n] = '\0';
	if (sscanf(buf, "linegate-outbox 1\nacked %" SCNu64, &ob->acked) != 1) {
		snprintf(err, errlen, "%s/cursor: not an outbox cursor (remove the folder to start "
			 "an empty outbox)", ob->dir);
		return -EINVAL;
	}
	ob->acked_saved = ob->acked;
	return 0;
}

static int write_cursor(struct lg_outbox *ob)
{
	char buf[128];
	int len = snprintf(buf, sizeof(buf), "linegate-outbox 1\nacked %" PRIu64 "\n", ob->acked);
	int fd = openat(ob->dirfd, "cursor.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len || fdatasync(fd))
		rc = errno ? -errno : -EIO;
	close(fd);
	if (!rc && renameat(ob->dirfd, "cursor.tmp", ob->dirfd, "cursor"))
		rc = -errno;
	if (!rc)
		ob->acked_saved = ob->acked;
	ob->dir_dirty = true;
	return rc;
}

/* The folder's id: read, or drawn and written (atomically) on the first open. */
static int load_id(struct lg_outbox *ob, char *err, size_t errlen)
{
	uint8_t r[8];
	char buf[32];
	int fd = openat(ob->dirfd, "id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if (n < 16 || strspn(buf, "0123456789abcdef") != 16) {
			snprintf(err, errlen, "%s/id: not an outbox id (16 hex digits)", ob->dir);
			return -EINVAL;
		}
		memcpy(ob->id, buf, 16);
		ob->id[16] = '\0';
		return 0;
	}
	if (errno != ENOENT || getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		snprintf(err, errlen, "%s/id: %s", ob->dir, strerror(errno));
		return -errno;
	}
	for (unsigned i = 0; i < 8; i++)
		snprintf(ob->id + 2 * i, 3, "%02x", r[i]);
	snprintf(buf, sizeof(buf), "%s\n", ob->id);
	fd = openat(ob->dirfd, "id.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, 17) != 17 || fdatasync(fd) ||
	    renameat(ob->dirfd, "id.tmp", ob->dirfd, "id")) {
		snprintf(err, errlen, "%s/id: %s", ob->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	close(fd);
	ob->dir_dirty = true;
	return 0;
}

const char *lg_outbox_id(const struct lg_outbox *ob)
{
	return ob->id;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_seg(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n == 24 && !strcmp(d->d_name + 20, ".seg") &&
	       strspn(d->d_name, "0123456789") == 20;
}

static int load_segments(struct lg_outbox *ob, char *err, size_t errlen)
{
	struct dirent **ents;
	int n = scandir(ob->dir, &ents, is_seg, name_cmp), rc = 0;
	uint64_t last_rec = 0, last_name = 0;

	if (n < 0) {
		snprintf(err, errlen, "%s: %s", ob->dir, strerror(errno));
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		uint64_t first = strtoull(ents[i]->d_name, NULL, 10), last = 0, bytes = 0;
		int fd = rc ? -1 : openat(ob->dirfd, ents[i]->d_name, O_RDWR | O_CLOEXEC);

		if (!rc && fd < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s/%s: %s", ob->dir, ents[i]->d_name,
				 strerror(errno));
		}
		if (!rc && first == 0) {
			rc = -EINVAL;
			snprintf(err, errlen, "%s/%s: not an outbox segment", ob->dir,
				 ents[i]->d_name);
		}
		if (!rc) {
			rc = seg_scan(ob, fd, first, &last, &bytes);
			if (rc)
				snprintf(err, errlen, "%s/%s: %s", ob->dir, ents[i]->d_name,
					 strerror(-rc));
		}
		if (!rc) {
			last_name = first;
			if (last >= first)
				last_rec = last;
			rc = seg_push(ob, first, fd, last, bytes);
			fd = rc ? fd : -1;
		}
		if (fd >= 0)
			close(fd);
		free(ents[i]);
	}
	free(ents);
	if (rc)
		return rc;
	ob->next_seq = ob->acked + 1;
	if (last_rec + 1 > ob->next_seq)
		ob->next_seq = last_rec + 1;
	if (last_name > ob->next_seq)
		ob->next_seq = last_name;
	/* Appends continue the last segment only where its records end at next_seq - 1 (the
	 * cursor may be past them). */
	if (!ob->nsegs || ob->segs[ob->nsegs - 1].last + 1 != ob->next_seq) {
		rc = seg_create(ob, ob->next_seq);
		if (rc) {
			snprintf(err, errlen, "%s: making a segment: %s", ob->dir, strerror(-rc));
			return rc;
		}
	}
	/* Segments before the last that hold nothing unacknowledged go. */
	while (ob->nsegs > 1 && ob->segs[0].last <= ob->acked)
		seg_drop_oldest(ob);
	return 0;
}

int lg_outbox_open(const struct lg_outbox_cfg *cfg, struct lg_outbox **out, char *err,
		   size_t errlen)
{
	char why[PATH_MAX + 300];
	struct lg_outbox *ob;
	int rc;

	if (!cfg->dir || !cfg->dir[0] || strlen(cfg->dir) >= sizeof(ob->dir)) {
		snprintf(err, errlen, "outbox: no folder, or its name is too long");
		return -EINVAL;
	}
	if (cfg->max_bytes < LG_OUTBOX_MIN_BYTES) {
		snprintf(err, errlen, "outbox %s: max_bytes %" PRIu64 " is below the minimum %u",
			 cfg->dir, cfg->max_bytes, LG_OUTBOX_MIN_BYTES);
		return -EINVAL;
	}
	ob = calloc(1, sizeof(*ob));
	if (!ob)
		return -ENOMEM;
	snprintf(ob->dir, sizeof(ob->dir), "%s", cfg->dir);
	ob->dirfd = ob->lockfd = -1;
	ob->max_bytes = cfg->max_bytes;
	ob->seg_max = cfg->max_bytes / OB_SEGS_PER_BOUND;
	if (ob->seg_max > (16u << 20))
		ob->seg_max = 16u << 20;
	ob->score_limit = cfg->max_bytes / 4 * 3;
	ob->alert_limit = cfg->max_bytes / 8 * 7;
	ob->sync_ms = cfg->sync_ms;
	ob->rbuf = malloc(ob->seg_max + 1);
	ob->wbuf = malloc(ob->seg_max);
	if (!ob->rbuf || !ob->wbuf) {
		rc = -ENOMEM;
		goto err;
	}
	if (mkdir(cfg->dir, 0700) && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "outbox %s: %s", cfg->dir, strerror(errno));
		goto err;
	}
	ob->dirfd = lg_outpath_open(cfg->dir, O_RDONLY | O_DIRECTORY, 0, why, sizeof(why));
	if (ob->dirfd < 0) {
		rc = ob->dirfd;
		snprintf(err, errlen, "outbox %s", why);
		goto err;
	}
	ob->lockfd = openat(ob->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ob->lockfd < 0 || flock(ob->lockfd, LOCK_EX | LOCK_NB)) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen, "outbox %s: %s", cfg->dir,
			 rc == -EBUSY ? "in use by another process (one outbox folder per linegate)"
				      : strerror(-rc));
		goto err;
	}
	rc = load_id(ob, err, errlen);
	if (!rc)
		rc = read_cursor(ob, err, errlen);
	if (!rc)
		rc = load_segments(ob, err, errlen);
	if (rc)
		goto err;
	/* What survived on disk is durable; what follows is given once it is synced. */
	ob->durable = ob->next_seq - 1;
	ob->rseq = ob->acked + 1;
	ob->last_sync_ns = mono_ns();
	publish_stats(ob);
	*out = ob;
	return 0;
err:
	lg_outbox_close(ob);
	return rc;
}

static void disk_error(struct lg_outbox *ob, int e)
{
	count(&ob->dropped_disk, 1);
	atomic_store_explicit(&ob->disk_errno, e, memory_order_relaxed);
}

int lg_outbox_append(struct lg_outbox *ob, enum lg_outbox_kind kind, const char *key,
		     const void *data, size_t len, uint64_t *seqp)
{
	size_t keylen = strlen(key), reclen = LG_OUTBOX_HDR + keylen + len;
	struct ob_hdr *h = (struct ob_hdr *)ob->wbuf;
	struct ob_seg *s;
	ssize_t n;

	if (keylen > LG_OUTBOX_MAX_KEY || (unsigned)kind >= LG_OUTBOX_KINDS) {
		count(&ob->dropped_full, 1);
		return -EINVAL;
	}
	if (reclen > ob->seg_max) {
		count(&ob->dropped_full, 1);
		return -EMSGSIZE;
	}
	if ((kind == LG_OUTBOX_SCORE || kind == LG_OUTBOX_FEATURES) &&
	    ob->total + reclen > ob->score_limit) {
		count(kind == LG_OUTBOX_SCORE ? &ob->dropped_scores : &ob->dropped_features, 1);
		return -ENOSPC;
	}
	/* The last eighth is for incident lines and events alone: alerts (a line per alerting
	 * window, hundreds per fault) past 7/8 are refused rather than evict older records,
	 * which may be the incident opens that the alerts detail (trial Q, s23). */
	if (kind == LG_OUTBOX_ALERT && ob->total + reclen > ob->alert_limit) {
		count(&ob->dropped_alerts, 1);
		return -ENOSPC;
	}
	/* Full: the oldest segment makes room (never the one appended to). */
	while (ob->total + reclen > ob->max_bytes && ob->nsegs > 1) {
		uint64_t last = ob->segs[0].last;

		if (last > ob->acked) {
			count(&ob->evicted, last - ob->acked);
			evicted_kinds(ob, ob->acked);
			ob->acked = last;
		}
		seg_drop_oldest(ob);
	}
	if (ob->rseq <= ob->acked)
		ob->rseq = ob->acked + 1;
	s = &ob->segs[ob->nsegs - 1];
	if (s->bytes + reclen > ob->seg_max && s->last >= s->first) {
		int rc;

		/* The full segment is made durable before the next one starts. */
		if (fdatasync(s->fd)) {
			count(&ob->sync_errors, 1);
			atomic_store_explicit(&ob->disk_errno, errno, memory_order_relaxed);
		}
		rc = seg_create(ob, ob->next_seq);
		if (rc) {
			disk_error(ob, -rc);
			return rc;
		}
		s = &ob->segs[ob->nsegs - 1];
	}
	*h = (struct ob_hdr){ .magic = OB_MAGIC, .seq = ob->next_seq, .kind = (uint8_t)kind,
			      .keylen = (uint8_t)keylen, .len = (uint32_t)len };
	memcpy(ob->wbuf + LG_OUTBOX_HDR, key, keylen);
	memcpy(ob->wbuf + LG_OUTBOX_HDR + keylen, data, len);
	h->crc = rec_crc(h, ob->wbuf + LG_OUTBOX_HDR, keylen + len);
	for (size_t done = 0; done < reclen; done += (size_t)n) {
		n = pwrite(s->fd, ob->wbuf + done, reclen - done, (off_t)(s->bytes + done));
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			int e = n < 0 ? errno : ENOSPC;

			/* A part written is cut back: the file holds whole records only. */
			if (done && ftruncate(s->fd, (off_t)s->bytes))
				count(&ob->sync_errors, 1);
			disk_error(ob, e);
			return -e;
		}
	}
	s->bytes += reclen;
	s->last = ob->next_seq;
	ob->total += reclen;
	if (seqp)
		*seqp = ob->next_seq;
	ob->next_seq++;
	ob->data_dirty = true;
	count(&ob->appended, 1);
	publish_stats(ob);
	return 0;
}

static struct ob_seg *seg_of(struct lg_outbox *ob, uint64_t seq)
{
	for (unsigned i = 0; i < ob->nsegs; i++)
		if (seq >= ob->segs[i].first && seq <= ob->segs[i].last)
			return &ob->segs[i];
	return NULL;
}

int lg_outbox_next(struct lg_outbox *ob, struct lg_outbox_rec *rec)
{
	struct ob_hdr h;
	struct ob_seg *s;
	ssize_t n;

	if (ob->rseq <= ob->acked)
		ob->rseq = ob->acked + 1;
	if (ob->rseq > ob->durable)
		return 0;
	s = seg_of(ob, ob->rseq);
	if (!s) {
		/* Records a torn segment lost before the next one (counted at open as torn):
		 * go on with the first record after them. */
		for (unsigned i = 0; i < ob->nsegs && !s; i++)
			if (ob->segs[i].first > ob->rseq && ob->segs[i].last >= ob->segs[i].first)
				s = &ob->segs[i];
		if (!s || s->first > ob->durable)
			return 0;
		ob->rseq = s->first;
	}
	if (!ob->rpos || ob->rseg_first != s->first) {
		uint64_t off = 0;

		/* From the segment's start, stepping over what was acknowledged. */
		for (uint64_t q = s->first; q < ob->rseq; q++) {
			n = rec_read(ob, s->fd, off, s->bytes, q, &h, ob->rbuf);
			if (n <= 0)
				return -EBADMSG;
			off += (uint64_t)n;
		}
		ob->rseg_first = s->first;
		ob->roff = off;
		ob->rpos = true;
	}
	n = rec_read(ob, s->fd, ob->roff, s->bytes, ob->rseq, &h, ob->rbuf);
	if (n <= 0) {
		ob->rpos = false;
		return -EBADMSG;
	}
	/* Key and data each end in a NUL for the caller (rbuf has the byte to spare). */
	memcpy(ob->key, ob->rbuf, h.keylen);
	ob->key[h.keylen] = '\0';
	ob->rbuf[h.keylen + h.len] = '\0';
	*rec = (struct lg_outbox_rec){ .seq = h.seq, .kind = (enum lg_outbox_kind)h.kind,
				       .key = ob->key, .keylen = h.keylen,
				       .data = (const char *)ob->rbuf + h.keylen, .len = h.len };
	/* At the end of the segment too: the next record appended starts there. */
	ob->roff += (uint64_t)n;
	ob->rseq++;
	return 1;
}

void lg_outbox_rewind(struct lg_outbox *ob)
{
	ob->rseq = ob->acked + 1;
	ob->rpos = false;
}

void lg_outbox_ack(struct lg_outbox *ob, uint64_t seq)
{
	if (seq >= ob->next_seq)
		seq = ob->next_seq - 1;
	if (seq <= ob->acked)
		return;
	ob->acked = seq;
	while (ob->nsegs > 1 && ob->segs[0].last <= ob->acked)
		seg_drop_oldest(ob);
	if (ob->rseq <= ob->acked)
		lg_outbox_rewind(ob);
	publish_stats(ob);
}

int lg_outbox_sync(struct lg_outbox *ob, bool force)
{
	uint64_t now = mono_ns();
	int rc = 0;

	if (!force && now - ob->last_sync_ns < (uint64_t)ob->sync_ms * 1000000u)
		return 0;
	ob->last_sync_ns = now;
	if (ob->data_dirty) {
		if (fdatasync(ob->segs[ob->nsegs - 1].fd))
			rc = -errno;
		else
			ob->durable = ob->next_seq - 1;
		ob->data_dirty = rc != 0;
	}
	if (!rc && ob->acked != ob->acked_saved)
		rc = write_cursor(ob);
	if (!rc && ob->dir_dirty) {
		if (fsync(ob->dirfd))
			rc = -errno;
		ob->dir_dirty = rc != 0;
	}
	if (rc) {
		count(&ob->sync_errors, 1);
		atomic_store_explicit(&ob->disk_errno, -rc, memory_order_relaxed);
	}
	publish_stats(ob);
	return rc;
}

void lg_outbox_stats(const struct lg_outbox *ob, struct lg_outbox_stats *st)
{
	struct lg_outbox *o = (struct lg_outbox *)ob;
	uint64_t next = atomic_load_explicit(&o->st_next, memory_order_relaxed);
	uint64_t acked = atomic_load_explicit(&o->st_acked, memory_order_relaxed);

	*st = (struct lg_outbox_stats){
		.next_seq = next,
		.acked = acked,
		.durable = atomic_load_explicit(&o->st_durable, memory_order_relaxed),
		.records = next - 1 > acked ? next - 1 - acked : 0,
		.bytes = atomic_load_explicit(&o->st_bytes, memory_order_relaxed),
		.appended = atomic_load_explicit(&o->appended, memory_order_relaxed),
		.dropped_scores = atomic_load_explicit(&o->dropped_scores, memory_order_relaxed),
		.dropped_features = atomic_load_explicit(&o->dropped_features,
							 memory_order_relaxed),
		.dropped_alerts = atomic_load_explicit(&o->dropped_alerts, memory_order_relaxed),
		.dropped_full = atomic_load_explicit(&o->dropped_full, memory_order_relaxed),
		.evicted = atomic_load_explicit(&o->evicted, memory_order_relaxed),
		.dropped_disk = atomic_load_explicit(&o->dropped_disk, memory_order_relaxed),
		.torn = atomic_load_explicit(&o->torn, memory_order_relaxed),
		.torn_bytes = atomic_load_explicit(&o->torn_bytes, memory_order_relaxed),
		.sync_errors = atomic_load_explicit(&o->sync_errors, memory_order_relaxed),
		.read_bytes = atomic_load_explicit(&o->read_bytes, memory_order_relaxed),
		.disk_errno = atomic_load_explicit(&o->disk_errno, memory_order_relaxed),
	};
	for (int k = 0; k < LG_OUTBOX_KINDS; k++)
		st->evicted_kind[k] = atomic_load_explicit(&o->evicted_kind[k], memory_order_relaxed);
}

int lg_outbox_loss_say(const struct lg_outbox *ob, struct lg_outbox_said *said, uint64_t now_ns,
		       char *buf, size_t len)
{
	static const char *const name[LG_OUTBOX_KINDS] = { "scores", "alerts", "incident lines",
							   "events", "feature records" };
	const uint64_t minute = 60000000000ull;
	struct lg_outbox_stats st;
	uint64_t dropped, ev;
	bool say_drop, say_alert, say_ev;
	size_t n;

	lg_outbox_stats(ob, &st);
	dropped = st.dropped_scores + st.dropped_features;
	ev = st.evicted;
	say_drop = dropped > said->dropped && (!said->drop_ns || now_ns - said->drop_ns >= minute);
	say_alert = st.dropped_alerts > said->alerts &&
		    (!said->alert_ns || now_ns - said->alert_ns >= minute);
	say_ev = ev > said->evicted && (!said->evict_ns || now_ns - said->evict_ns >= minute);
	if (!say_drop && !say_alert && !say_ev)
		return 0;
	/* Said of what happened, not of now: a line a minute late may come after the far side
	 * took everything again (trial S, s23: "is full ... the outage goes on" of an outbox
	 * of 16 records) */
	n = (size_t)snprintf(buf, len, "the outbox lost records: ");
	if (say_drop && n < len) {
		n += (size_t)snprintf(buf + n, len - n, "%" PRIu64 " scores and feature records "
				      "refused since %s (past 3/4 of max_bytes)%s",
				      dropped - said->dropped,
				      said->drop_ns ? "the last such line" : "the start",
				      say_alert ? ", " : say_ev ? "; " : "");
		said->drop_ns = now_ns;
		said->dropped = dropped;
	}
	if (say_alert && n < len) {
		n += (size_t)snprintf(buf + n, len - n, "%" PRIu64 " alerts refused since %s (past "
				      "7/8 of max_bytes: the last eighth is kept for incident lines "
				      "and events)%s", st.dropped_alerts - said->alerts,
				      said->alert_ns ? "the last such line" : "the start",
				      say_ev ? "; " : "");
		said->alert_ns = now_ns;
		said->alerts = st.dropped_alerts;
	}
	if (say_ev && n < len) {
		n += (size_t)snprintf(buf + n, len - n, "%" PRIu64 " unsent records evicted (",
				      ev - said->evicted);
		for (int k = 0, first = 1; k < LG_OUTBOX_KINDS && n < len; k++) {
			uint64_t d = st.evicted_kind[k] - said->kinds[k];

			if (!d)
				continue;
			n += (size_t)snprintf(buf + n, len - n, "%s%" PRIu64 " %s", first ? "" : ", ",
					      d, name[k]);
			first = 0;
		}
		if (n < len)
			n += (size_t)snprintf(buf + n, len - n, ") since %s: they never reach the "
					      "far side", said->evict_ns ? "the last such line" :
					      "the start");
		said->evict_ns = now_ns;
		said->evicted = ev;
		for (int k = 0; k < LG_OUTBOX_KINDS; k++)
			said->kinds[k] = st.evicted_kind[k];
	}
	if (n < len)
		snprintf(buf + n, len - n, "; it holds %" PRIu64 " records now (%" PRIu64 " bytes "
			 "of files): max_bytes holds less than the outage lasted", st.records,
			 st.bytes);
	return 1;
}

void lg_outbox_close(struct lg_outbox *ob)
{
	if (!ob)
		return;
	if (ob->nsegs)
		lg_outbox_sync(ob, true);
	for (unsigned i = 0; i < ob->nsegs; i++)
		close(ob->segs[i].fd);
	free(ob->segs);
	if (ob->lockfd >= 0)
		close(ob->lockfd);
	if (ob->dirfd >= 0)
		close(ob->dirfd);
	free(ob->rbuf);
	free(ob->wbuf);
	free(ob);
}
