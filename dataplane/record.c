// SPDX-License-Identifier: MIT
/*
 * Recording admitted frames (record.h, docs/recording.md): per-worker byte rings filled by
 * the workers, one recorder thread that turns them into pcapng files.
 */
#include "dataplane.h"
#include "record.h"

#include <linegate/pcapng.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define REC_RING (4u << 20)	  /* bytes per worker ring: ~4000 full-size LGF frames */
#define REC_WBUF (1u << 20)	  /* the recorder's write buffer */
#define REC_SPACE_NS 200000000ull /* free space checked this often */

/* A frame in a worker's ring; len 0 marks the rest of the ring as unused (wrap). */
struct rec_hdr {
	uint32_t len;	  /* of the record, header included, a multiple of 8 */
	uint32_t session; /* a frame of an earlier recording is skipped */
	uint64_t rx_ns;	  /* CLOCK_MONOTONIC arrival */
	uint32_t plen;
	uint16_t sport, dport;
	uint8_t family;
	uint8_t pad[5];
	uint16_t l2_off; /* the bytes after the header are the received frame: l2_off + plen */
	uint8_t src[16];
};

struct rec_ring {
	_Alignas(64) _Atomic uint64_t head; /* producer: the worker */
	_Alignas(64) _Atomic uint64_t tail; /* consumer: the recorder */
	uint8_t *buf;
};

/* What the workers look at: published whole, never changed, freed at destroy (a worker
 * may still hold one that a stop replaced; there is one per start). */
struct lg_rec_sel {
	struct lg_rec_sel *next; /* retired ones */
	uint32_t session;
	size_t nids;
	uint32_t ids[]; /* sorted */
};

struct rec_file {
	char *name;
	uint64_t bytes;
};

struct lg_recorder {
	struct lg_dp *dp;
	_Atomic(struct lg_rec_sel *) sel;
	struct lg_rec_sel *retired;
	unsigned nrings;
	struct rec_ring *rings;
	uint8_t dst4[4], dst6[16];
	pthread_t thread;
	bool thread_started;
	_Atomic bool quit;
	_Atomic uint64_t files, bytes, frames, dropped, errors, deleted;

	pthread_mutex_t lock; /* everything below */
	bool active;
	struct lg_rec_conf conf; /* conf.ids unused: the selection holds them */
	char origin[32];
	char state[320];
	uint32_t session;
	uint64_t start_frames; /* frames at this recording's start: its own are the rest */
	size_t last_nids;      /* devices the last recording selected (0: all): status after it */
	uint64_t mono_to_wall; /* CLOCK_REALTIME - CLOCK_MONOTONIC at the start */
	uint64_t deadline_ns;  /* monotonic; 0 = none */
	uint64_t next_space_ns;
	int fd;
	char cur[LG_PATH_MAX], cur_part[LG_PATH_MAX + 8];
	uint64_t file_bytes; /* written to the current file */
	uint64_t file_frames;
	uint64_t file_opened_ns; /* monotonic */
	unsigned n;		 /* the next file's number in this recording */
	uint8_t *wbuf;
	size_t wlen;
	uint64_t wframes;	 /* frames in wbuf */
	struct rec_file *closed; /* oldest first */
	size_t nclosed, capclosed;
	uint64_t closed_bytes;
	uint8_t *epb; /* one block */

	pthread_mutex_t ev_lock;
	char event[768]; /* pending event line, "" = none */

	/* What status shows, copied here whenever it changes: status, stats and scrapes take
	 * only this lock, never the one a write to a slow disk may hold for long. */
	pthread_mutex_t st_lock;
	struct lg_rec_status pub;
};

/* How long a start or a stop waits for the recorder (a write to a hung disk holds it). */
#define REC_LOCK_WAIT_S 2

/* Under r->lock: what lg_record_status() shows. */
static void publish(struct lg_recorder *r)
{
	struct lg_rec_sel *s = atomic_load(&r->sel);

	pthread_mutex_lock(&r->st_lock);
	snprintf(r->pub.state, sizeof(r->pub.state), "%s", r->state);
	/* the last recording's origin stays after it stopped: state says how it stopped */
	snprintf(r->pub.origin, sizeof(r->pub.origin), "%s", r->origin);
	r->pub.running = r->active;
	snprintf(r->pub.current, sizeof(r->pub.current), "%s",
		 r->active && r->fd >= 0 ? r->cur_part : "");
	snprintf(r->pub.dir, sizeof(r->pub.dir), "%s", r->conf.dir);
	/* the last recording's selection stays after it stopped, as its origin does (trial P,
	 * s22: a one-device recording showed 0 selected, all devices, once stopped) */
	r->pub.nids = s ? s->nids : r->last_nids;
	pthread_mutex_unlock(&r->st_lock);
}

/* r->lock, waiting at most REC_LOCK_WAIT_S: 0, or -EBUSY with err set. */
static int lock_bounded(struct lg_recorder *r, char *err, size_t errlen)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += REC_LOCK_WAIT_S;
	if (!pthread_mutex_timedlock(&r->lock, &ts))
		return 0;
	if (err)
		snprintf(err, errlen,
			 "the recorder has been writing for more than %d s (a slow "
			 "or hung disk?): nothing changed, try again",
			 REC_LOCK_WAIT_S);
	return -EBUSY;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void lg_record_frame(struct lg_worker *w, uint16_t dport, const struct lg_rx_pkt *pkt,
		     const uint32_t *ids, unsigned n)
{
	struct lg_recorder *r = w->dp->rec;
	struct lg_rec_sel *s;
	struct rec_ring *q;
	struct rec_hdr *h;
	uint64_t head, tail, pos, need, total;
	bool hit;

	if (!r)
		return;
	s = atomic_load_explicit(&r->sel, memory_order_acquire);
	if (!s || pkt->transport != LG_RX_UDP)
		return;
	hit = !s->nids;
	for (unsigned i = 0; i < n && !hit; i++)
		hit = bsearch(&ids[i], s->ids, s->nids, sizeof(s->ids[0]), cmp_u32) != NULL;
	if (!hit)
		return;
	q = &r->rings[w->id];
	need = (sizeof(*h) + pkt->l2_off + pkt->len + 7) & ~7ull;
	head = atomic_load_explicit(&q->head, memory_order_relaxed);
	tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	pos = head % REC_RING;
	/* A record never wraps: the end of the ring is skipped when it does not fit there. */
	total = REC_RING - pos < need ? REC_RING - pos + need : need;
	if (need > REC_RING / 4 || head + total - tail > REC_RING) {
		atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
		return;
	}
	if (total != need) {
		((struct rec_hdr *)(q->buf + pos))->len = 0;
		pos = 0;
	}
	h = (struct rec_hdr *)(q->buf + pos);
	h->len = (uint32_t)need;
	h->session = s->session;
	h->rx_ns = pkt->rx_ns;
	h->plen = pkt->len;
	h->sport = pkt->src_port;
	h->dport = dport;
	h->family = pkt->family;
	h->l2_off = pkt->l2_off;
	memcpy(h->src, pkt->src_addr, 16);
	/* The frame as received when the backend saw one (afxdp, dpdk, pcap), else the
	 * datagram, which the recorder wraps in headers. */
	memcpy(h + 1, pkt->data - pkt->l2_off, (size_t)pkt->l2_off + pkt->len);
	atomic_store_explicit(&q->head, head + total, memory_order_release);
}

static void set_event(struct lg_recorder *r, const char *line)
{
	pthread_mutex_lock(&r->ev_lock);
	snprintf(r->event, sizeof(r->event), "%s", line);
	pthread_mutex_unlock(&r->ev_lock);
}

size_t lg_record_take_event(struct lg_recorder *r, char *buf, size_t len)
{
	size_t n = 0;

	if (!r)
		return 0;
	pthread_mutex_lock(&r->ev_lock);
	if (r->event[0] && strlen(r->event) < len) {
		n = strlen(r->event);
		memcpy(buf, r->event, n + 1);
		r->event[0] = '\0';
	}
	pthread_mutex_unlock(&r->ev_lock);
	return n;
}

/* JSON string contents: the few characters a path or a strerror() text could hold. */
static void json_esc(const char *s, char *out, size_t len)
{
	size_t u = 0;

	for (; *s && u + 3 < len; s++) {
		if (*s == '"' || *s == '\\')
			out[u++] = '\\';
		out[u++] = (unsigned char)*s < 0x20 ? '?' : *s;
	}
	out[u] = '\0';
}

/* Write wbuf to the current file. On a failure the file is cut back to its last whole
 * block; the frames in wbuf are lost (counted as dropped) and errno says why. */
static int wflush(struct lg_recorder *r)
{
	size_t done = 0;

	while (done < r->wlen) {
		ssize_t n = write(r->fd, r->wbuf + done, r->wlen - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			if (ftruncate(r->fd, (off_t)r->file_bytes))
				(void)0; /* the reader stops at the cut block; nothing better */
			atomic_fetch_add_explicit(&r->dropped, r->wframes, memory_order_relaxed);
			r->wlen = 0;
			r->wframes = 0;
			return -e;
		}
		done += (size_t)n;
	}
	r->file_bytes += r->wlen;
	r->file_frames += r->wframes;
	atomic_fetch_add_explicit(&r->bytes, r->wlen, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->frames, r->wframes, memory_order_relaxed);
	r->wlen = 0;
	r->wframes = 0;
	return 0;
}

static void forget_oldest(struct lg_recorder *r)
{
	struct rec_file *f = &r->closed[0];

	if (!unlink(f->name) || errno == ENOENT)
		atomic_fetch_add_explicit(&r->deleted, 1, memory_order_relaxed);
	r->closed_bytes -= f->bytes;
	free(f->name);
	memmove(r->closed, r->closed + 1, --r->nclosed * sizeof(*r->closed));
}

/* Retention: delete the oldest closed files until extra more bytes fit max_total_bytes. */
static void make_room(struct lg_recorder *r, uint64_t extra)
{
	while (r->nclosed && r->closed_bytes + r->file_bytes + extra > r->conf.max_total_bytes)
		forget_oldest(r);
}

static int add_closed(struct lg_recorder *r, const char *name, uint64_t bytes)
{
	if (r->nclosed == r->capclosed) {
		size_t cap = r->capclosed ? 2 * r->capclosed : 64;
		struct rec_file *f = realloc(r->closed, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		r->closed = f;
		r->capclosed = cap;
	}
	r->closed[r->nclosed].name = strdup(name);
	if (!r->closed[r->nclosed].name)
		return -ENOMEM;
	r->closed[r->nclosed++].bytes = bytes;
	r->closed_bytes += bytes;
	return 0;
}

/* Close the current file: renamed from .part, or removed when it holds no frame. */
static void close_file(struct lg_recorder *r)
{
	if (r->fd < 0)
		return;
	close(r->fd);
	r->fd = -1;
	if (!r->file_frames) {
		unlink(r->cur_part);
	} else if (rename(r->cur_part, r->cur)) {
		add_closed(r, r->cur_part, r->file_bytes);
	} else {
		add_closed(r, r->cur, r->file_bytes);
	}
	r->cur[0] = '\0';
	r->file_bytes = 0;
	r->file_frames = 0;
}

static int open_file(struct lg_recorder *r)
{
	uint64_t wall = clock_ns(CLOCK_REALTIME);
	time_t sec = (time_t)(wall / 1000000000ull);
	char stamp[32];
	struct tm tm;

	gmtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (unsigned tries = 0; tries < 1000; tries++) {
		struct stat st;
		int w = snprintf(r->cur, sizeof(r->cur), "%s/%s-%s-%06u.pcapng", r->conf.dir,
				 r->conf.prefix, stamp, r->n++);

		if (w < 0 || (size_t)w >= sizeof(r->cur))
			return -ENAMETOOLONG;
		snprintf(r->cur_part, sizeof(r->cur_part), "%s.part", r->cur);
		if (!stat(r->cur, &st))
			continue;
		r->fd = open(r->cur_part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (r->fd >= 0)
			break;
		if (errno != EEXIST)
			return -errno;
	}
	if (r->fd < 0)
		return -EEXIST;
	r->file_bytes = 0;
	r->file_frames = 0;
	r->file_opened_ns = clock_ns(CLOCK_MONOTONIC);
	r->wlen = lg_pcapng_header(r->wbuf);
	r->wframes = 0;
	atomic_fetch_add_explicit(&r->files, 1, memory_order_relaxed);
	if (r->active)
		publish(r); /* a rotation: the current file changed */
	return 0;
}

/* The end of a recording, under the lock: what wbuf holds is written when it can be. */
static void finish(struct lg_recorder *r, const char *state)
{
	struct lg_rec_sel *s = atomic_exchange(&r->sel, NULL);

	if (s) {
		s->next = r->retired;
		r->retired = s;
	}
	if (r->fd >= 0 && r->wlen)
		wflush(r);
	close_file(r);
	r->active = false;
	snprintf(r->state, sizeof(r->state), "%s", state);
	if (strcmp(state, "stopped: stopped by a command") &&
	    strcmp(state, "stopped: linegate stopped")) {
		pthread_mutex_lock(&r->st_lock);
		r->pub.ended++;
		snprintf(r->pub.last_end, sizeof(r->pub.last_end), "the %s recording in %s: %s",
			 r->origin[0] ? r->origin : "data plane's", r->conf.dir, state);
		pthread_mutex_unlock(&r->st_lock);
	}
	publish(r);
}

/* A write failed or the disk is full: stop, count, tell (event line and log line). */
static void fail(struct lg_recorder *r, const char *why)
{
	char st[320], esc[400], line[768];
	uint64_t frames;

	snprintf(st, sizeof(st), "stopped: %s", why);
	finish(r, st);
	atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
	/* frames: this recording's (trial L, s22: the total since linegate started read as
	 * the recording's own); frames_total: that total, as status's recording.frames */
	frames = atomic_load(&r->frames);
	json_esc(why, esc, sizeof(esc));
	snprintf(line, sizeof(line),
		 "{\"type\":\"event\",\"event\":\"recording_stopped\","
		 "\"reason\":\"%s\",\"frames\":%" PRIu64 ",\"frames_total\":%" PRIu64
		 ",\"time_ns\":%" PRIu64 "}\n",
		 esc, frames - r->start_frames, frames, clock_ns(CLOCK_REALTIME));
	set_event(r, line);
	fprintf(stderr, "linegate: recording stopped: %s (%" PRIu64 " frames in this "
		"recording)\n", why, frames - r->start_frames);
}

static void fail_errno(struct lg_recorder *r, const char *what, int e)
{
	char why[LG_PATH_MAX + 128];

	snprintf(why, sizeof(why), "%s %s: %s", what, r->cur[0] ? r->cur : r->conf.dir,
		 strerror(e));
	fail(r, why);
}

static uint64_t free_bytes(const char *dir)
{
	struct statvfs v;

	if (statvfs(dir, &v))
		return UINT64_MAX; /* not knowable: the writes will tell */
	return (uint64_t)v.f_bavail * v.f_frsize;
}

/* Retention first, then the write; a failure stops the recording. */
static int flush_room(struct lg_recorder *r)
{
	int ret;

	make_room(r, r->wlen);
	ret = wflush(r);
	if (ret)
		fail_errno(r, "write", -ret);
	return ret;
}

/* One frame from a ring into wbuf (and the file), with rotation and retention. */
static int put_frame(struct lg_recorder *r, const struct rec_hdr *h)
{
	uint32_t l2 = h->l2_off ? h->l2_off : lg_pcapng_l2_len(h->family);
	size_t blen = lg_pcapng_epb_len(l2 + h->plen);
	const uint8_t *dst = h->family == AF_INET6 ? r->dst6 : r->dst4;
	int ret = 0;

	if (r->file_frames + r->wframes &&
	    r->file_bytes + r->wlen + blen > r->conf.max_file_bytes) {
		ret = flush_room(r);
		if (!ret) {
			close_file(r);
			ret = open_file(r);
			if (ret) {
				fail_errno(r, "create", -ret);
				return ret;
			}
		}
	} else if (r->wlen + blen > REC_WBUF) {
		ret = flush_room(r);
	}
	if (ret)
		return ret;
	if (h->l2_off)
		lg_pcapng_epb(r->wbuf + r->wlen, h->rx_ns + r->mono_to_wall,
			      (const uint8_t *)(h + 1), l2 + h->plen);
	else
		lg_pcapng_udp_epb(r->wbuf + r->wlen, h->rx_ns + r->mono_to_wall, h->family, h->src,
				  h->sport, dst, h->dport, (const uint8_t *)(h + 1), h->plen);
	r->wlen += blen;
	r->wframes++;
	return 0;
}

/* Everything the rings hold, under the lock. */
static void drain(struct lg_recorder *r)
{
	for (unsigned i = 0; i < r->nrings; i++) {
		struct rec_ring *q = &r->rings[i];
		uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
		uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);

		while (tail != head) {
			uint64_t pos = tail % REC_RING;
			const struct rec_hdr *h = (const struct rec_hdr *)(q->buf + pos);

			if (!h->len) {
				tail += REC_RING - pos;
				continue;
			}
			/* After a failure put_frame() stopped the recording: the rest is skipped.
			 */
			if (r->active && h->session == r->session)
				put_frame(r, h);
			tail += h->len;
		}
		atomic_store_explicit(&q->tail, tail, memory_order_release);
	}
}

/* One round of the recorder, under the lock. */
static void round_locked(struct lg_recorder *r)
{
	uint64_t now;
	int ret;

	drain(r);
	if (!r->active)
		return;
	/* After the drain: it may have opened a file (now must not be older than that). */
	now = clock_ns(CLOCK_MONOTONIC);
	if (r->wlen && flush_room(r))
		return;
	if (r->file_frames && now - r->file_opened_ns >= r->conf.max_file_seconds * 1000000000ull) {
		close_file(r);
		if ((ret = open_file(r))) {
			fail_errno(r, "create", -ret);
			return;
		}
	}
	if (now >= r->next_space_ns) {
		uint64_t f = free_bytes(r->conf.dir);

		r->next_space_ns = now + REC_SPACE_NS;
		if (f < r->conf.min_free_bytes) {
			char why[256];

			snprintf(why, sizeof(why),
				 "free space in %.160s is %" PRIu64 " bytes, under "
				 "min_free_bytes %" PRIu64,
				 r->conf.dir, f, r->conf.min_free_bytes);
			fail(r, why);
			return;
		}
	}
	if (r->deadline_ns && now >= r->deadline_ns)
		finish(r, "stopped: its time (--for) is up");
}

static void *rec_main(void *arg)
{
	struct lg_recorder *r = arg;

	while (!atomic_load(&r->quit)) {
		struct timespec ts = {0, 5000000};

		pthread_mutex_lock(&r->lock);
		round_locked(r);
		pthread_mutex_unlock(&r->lock);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int lg_record_init(struct lg_dp *dp, const char *bind_addr, struct lg_recorder **out)
{
	struct lg_recorder *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->dp = dp;
	r->fd = -1;
	r->nrings = dp->nworkers;
	snprintf(r->state, sizeof(r->state), "off");
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->ev_lock, NULL);
	pthread_mutex_init(&r->st_lock, NULL);
	snprintf(r->pub.state, sizeof(r->pub.state), "off");
	if (bind_addr && inet_pton(AF_INET, bind_addr, r->dst4) != 1)
		memset(r->dst4, 0, 4);
	if (bind_addr && inet_pton(AF_INET6, bind_addr, r->dst6) != 1)
		memset(r->dst6, 0, 16);
	r->rings = calloc(r->nrings, sizeof(*r->rings));
	r->wbuf = malloc(REC_WBUF);
	if (!r->rings || !r->wbuf)
		goto err;
	for (unsigned i = 0; i < r->nrings; i++) {
		/* calloc of this size maps pages lazily: memory only once a recording runs. */
		r->rings[i].buf = calloc(1, REC_RING);
		if (!r->rings[i].buf)
			goto err;
	}
	if (pthread_create(&r->thread, NULL, rec_main, r))
		goto err;
	r->thread_started = true;
	pthread_setname_np(r->thread, "lg-record");
	*out = r;
	return 0;
err:
	lg_record_destroy(r);
	return -ENOMEM;
}

void lg_record_destroy(struct lg_recorder *r)
{
	if (!r)
		return;
	if (r->thread_started) {
		atomic_store(&r->quit, true);
		pthread_join(r->thread, NULL);
	}
	pthread_mutex_lock(&r->lock);
	if (r->active) {
		drain(r);
		finish(r, "stopped: linegate stopped");
	}
	pthread_mutex_unlock(&r->lock);
	while (r->retired) {
		struct lg_rec_sel *s = r->retired;

		r->retired = s->next;
		free(s);
	}
	for (size_t i = 0; i < r->nclosed; i++)
		free(r->closed[i].name);
	free(r->closed);
	for (unsigned i = 0; r->rings && i < r->nrings; i++)
		free(r->rings[i].buf);
	free(r->rings);
	free(r->wbuf);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->ev_lock);
	pthread_mutex_destroy(&r->st_lock);
	free(r);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct rec_file *)a)->name, ((const struct rec_file *)b)->name);
}

/* The recordings already in the folder (this prefix, closed or cut short), oldest first:
 * retention counts them. Names sort by time, then number. */
static int scan_dir(struct lg_recorder *r)
{
	size_t plen = strlen(r->conf.prefix);
	DIR *d = opendir(r->conf.dir);
	struct dirent *e;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char path[LG_PATH_MAX + 300];
		struct stat st;
		const char *dot = strstr(e->d_name, ".pcapng");

		if (strncmp(e->d_name, r->conf.prefix, plen) || e->d_name[plen] != '-' || !dot ||
		    (strcmp(dot, ".pcapng") && strcmp(dot, ".pcapng.part")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", r->conf.dir, e->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (add_closed(r, path, (uint64_t)st.st_size)) {
			closedir(d);
			return -ENOMEM;
		}
	}
	closedir(d);
	if (r->nclosed) /* qsort(NULL, 0) is undefined */
		qsort(r->closed, r->nclosed, sizeof(*r->closed), cmp_file);
	return 0;
}

int lg_record_start(struct lg_recorder *r, const struct lg_rec_conf *c, char *err, size_t errlen)
{
	struct lg_rec_sel *s;
	uint64_t f;
	struct stat st;
	int ret;

	if (c->max_file_bytes < 4096 || c->max_total_bytes < c->max_file_bytes ||
	    !c->max_file_seconds) {
		snprintf(err, errlen,
			 "recording bounds do not fit: max_file_bytes must be at least "
			 "4096 and at most max_total_bytes, max_file_seconds at least 1");
		return -EINVAL;
	}
	if (!c->dir[0] || !c->prefix[0] || strchr(c->prefix, '/')) {
		snprintf(err, errlen,
			 "a recording needs a folder (recording.dir in the policy) "
			 "and a prefix without '/'");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s) + c->nids * sizeof(s->ids[0]));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (c->nids) { /* memcpy and qsort of NULL, 0 are undefined */
		memcpy(s->ids, c->ids, c->nids * sizeof(s->ids[0]));
		qsort(s->ids, c->nids, sizeof(s->ids[0]), cmp_u32);
	}
	s->nids = c->nids;
	if (lock_bounded(r, err, errlen)) {
		free(s);
		return -EBUSY;
	}
	if (r->active) {
		snprintf(err, errlen,
			 "a recording runs already (started by %s, %s): "
			 "stop it first (linegatectl record stop)",
			 r->origin, r->cur);
		ret = -EBUSY;
		goto out;
	}
	if (mkdir(c->dir, 0750) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "recording folder %s: %s", c->dir, strerror(errno));
		goto out;
	}
	if (stat(c->dir, &st) || !S_ISDIR(st.st_mode) || access(c->dir, W_OK | X_OK)) {
		ret = -ENOTDIR;
		snprintf(err, errlen, "recording folder %s is not a folder linegate can write",
			 c->dir);
		goto out;
	}
	f = free_bytes(c->dir);
	if (f < c->min_free_bytes) {
		ret = -ENOSPC;
		snprintf(err, errlen,
			 "free space in %s is %" PRIu64 " bytes, under min_free_bytes "
			 "%" PRIu64 ": free some or lower min_free_bytes",
			 c->dir, f, c->min_free_bytes);
		goto out;
	}
	r->conf = *c;
	r->conf.ids = NULL;
	snprintf(r->origin, sizeof(r->origin), "%s", c->origin ? c->origin : "command");
	for (size_t i = 0; i < r->nclosed; i++)
		free(r->closed[i].name);
	r->nclosed = 0;
	r->closed_bytes = 0;
	ret = scan_dir(r);
	if (ret) {
		snprintf(err, errlen, "reading %s: %s", c->dir, strerror(-ret));
		goto out;
	}
	r->n = 1;
	r->session++;
	r->start_frames = atomic_load(&r->frames);
	r->last_nids = c->nids;
	r->mono_to_wall = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	r->deadline_ns =
	    c->for_seconds ? clock_ns(CLOCK_MONOTONIC) + c->for_seconds * 1000000000ull : 0;
	r->next_space_ns = 0;
	ret = open_file(r);
	if (ret) {
		snprintf(err, errlen, "creating a file in %s: %s", c->dir, strerror(-ret));
		goto out;
	}
	r->active = true;
	snprintf(r->state, sizeof(r->state), "recording");
	s->session = r->session;
	atomic_store_explicit(&r->sel, s, memory_order_release);
	s = NULL;
	publish(r);
out:
	pthread_mutex_unlock(&r->lock);
	free(s);
	return ret;
}

int lg_record_stop(struct lg_recorder *r, const char *why)
{
	char st[320];

	if (lock_bounded(r, NULL, 0))
		return -EBUSY;
	if (!r->active) {
		pthread_mutex_unlock(&r->lock);
		return -ENOENT;
	}
	/* Frames a worker took before the stop are in its ring now, or will be within the
	 * frame it is handling: unpublish, let that frame land, then write them all. */
	{
		struct lg_rec_sel *s = atomic_exchange(&r->sel, NULL);
		struct timespec ts = {0, 2000000};

		if (s) {
			s->next = r->retired;
			r->retired = s;
		}
		nanosleep(&ts, NULL);
	}
	drain(r);
	if (r->active) {
		snprintf(st, sizeof(st), "stopped: %s", why);
		finish(r, st);
	}
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int lg_record_rotate(struct lg_recorder *r, char *next, size_t len)
{
	int ret;

	if (lock_bounded(r, NULL, 0))
		return -EBUSY;
	if (!r->active) {
		pthread_mutex_unlock(&r->lock);
		return -ENOENT;
	}
	/* What the workers took before the rotate goes into the file it closes. */
	drain(r);
	if (r->active && r->wlen)
		flush_room(r);
	if (!r->active) { /* the drain or the write failed: fail() said why */
		pthread_mutex_unlock(&r->lock);
		return -EIO;
	}
	close_file(r);
	ret = open_file(r);
	if (ret) {
		fail_errno(r, "create", -ret);
		pthread_mutex_unlock(&r->lock);
		return ret;
	}
	snprintf(next, len, "%s", r->cur);
	publish(r);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

bool lg_record_running(struct lg_recorder *r, char *origin, size_t len)
{
	bool on;

	pthread_mutex_lock(&r->st_lock);
	on = r->pub.running;
	snprintf(origin, len, "%s", on ? r->pub.origin : "");
	pthread_mutex_unlock(&r->st_lock);
	return on;
}

void lg_record_status(struct lg_recorder *r, struct lg_rec_status *st)
{
	pthread_mutex_lock(&r->st_lock);
	*st = r->pub;
	pthread_mutex_unlock(&r->st_lock);
	st->files = atomic_load(&r->files);
	st->bytes = atomic_load(&r->bytes);
	st->frames = atomic_load(&r->frames);
	st->dropped = atomic_load(&r->dropped);
	st->errors = atomic_load(&r->errors);
	st->deleted = atomic_load(&r->deleted);
}

int lg_record_select(const struct lg_policy *p, const char *const *devices, size_t ndev,
		     const char *const *groups, size_t ngroups, uint32_t **ids, size_t *nids,
		     char *err, size_t errlen)
{
	uint32_t *v = calloc(p->ndevices ? p->ndevices : 1, sizeof(*v));
	size_t n = 0;

	*ids = NULL;
	*nids = 0;
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < ndev; i++) {
		size_t k = 0;

		while (k < p->ndevices && strcmp(p->devices[k].name, devices[i]))
			k++;
		if (k == p->ndevices) {
			snprintf(err, errlen,
				 "no device named '%.64s' in the running policy "
				 "(linegatectl devices lists them)",
				 devices[i]);
			free(v);
			return -ENOENT;
		}
	}
	for (size_t i = 0; i < ngroups; i++) {
		size_t k = 0;

		while (k < p->ngroups && strcmp(p->groups[k].name, groups[i]))
			k++;
		if (k == p->ngroups) {
			snprintf(err, errlen, "no group named '%.64s' in the running policy",
				 groups[i]);
			free(v);
			return -ENOENT;
		}
	}
	for (size_t k = 0; k < p->ndevices; k++) {
		const struct lg_policy_device *d = &p->devices[k];
		bool hit = false;

		for (size_t i = 0; i < ndev && !hit; i++)
			hit = !strcmp(d->name, devices[i]);
		for (size_t i = 0; i < ngroups && !hit; i++)
			hit = d->group && !strcmp(p->groups[d->group - 1].name, groups[i]);
		if (hit)
			v[n++] = d->id;
	}
	if ((ndev || ngroups) && !n) {
		snprintf(err, errlen, "the groups named hold no device");
		free(v);
		return -ENOENT;
	}
	*ids = v;
	*nids = n;
	return 0;
}

static bool rec_same(const struct lg_policy_recording *a, const struct lg_policy_recording *b)
{
	return !memcmp(a, b, sizeof(*a));
}

int lg_record_apply_policy(struct lg_recorder *r, const struct lg_policy_recording *old,
			   const struct lg_policy *p, char *err, size_t errlen)
{
	const struct lg_policy_recording *pr = &p->recording;
	const char *devs[LG_REC_MAX_NAMES], *grps[LG_REC_MAX_NAMES];
	struct lg_rec_conf c = {0};
	uint32_t *ids;
	size_t nids;
	char origin[32];
	int ret;

	if (!r || (old && rec_same(old, pr)))
		return 0;
	if (lg_record_running(r, origin, sizeof(origin)) &&
	    (pr->enabled || !strcmp(origin, "policy")))
		lg_record_stop(r, "the policy changed its recording section");
	if (!pr->enabled)
		return 0;
	for (unsigned i = 0; i < pr->ndevices; i++)
		devs[i] = pr->devices[i];
	for (unsigned i = 0; i < pr->ngroups; i++)
		grps[i] = pr->groups[i];
	ret = lg_record_select(p, devs, pr->ndevices, grps, pr->ngroups, &ids, &nids, err, errlen);
	if (ret)
		return ret;
	snprintf(c.dir, sizeof(c.dir), "%s", pr->dir);
	snprintf(c.prefix, sizeof(c.prefix), "%s", pr->prefix);
	c.ids = ids;
	c.nids = nids;
	c.max_file_bytes = pr->max_file_bytes;
	c.max_file_seconds = pr->max_file_seconds;
	c.max_total_bytes = pr->max_total_bytes;
	c.min_free_bytes = pr->min_free_bytes;
	c.origin = "policy";
	ret = lg_record_start(r, &c, err, errlen);
	free(ids);
	return ret;
}

void lg_record_stats_json(struct lg_recorder *r, void *obj)
{
	json_object *o = obj, *rec;
	struct lg_rec_status st;

	if (!r)
		return;
	lg_record_status(r, &st);
	rec = json_object_new_object();
	json_object_object_add(rec, "state", json_object_new_string(st.state));
	json_object_object_add(rec, "origin", json_object_new_string(st.origin));
	json_object_object_add(rec, "dir", json_object_new_string(st.dir));
	json_object_object_add(rec, "current_file", json_object_new_string(st.current));
	json_object_object_add(rec, "devices_selected", json_object_new_uint64(st.nids));
	/* none named: every device, also those an apply enrolls later */
	json_object_object_add(rec, "all_devices", json_object_new_boolean(!st.nids));
	json_object_object_add(rec, "files", json_object_new_uint64(st.files));
	json_object_object_add(rec, "bytes", json_object_new_uint64(st.bytes));
	json_object_object_add(rec, "frames", json_object_new_uint64(st.frames));
	json_object_object_add(rec, "dropped", json_object_new_uint64(st.dropped));
	json_object_object_add(rec, "errors", json_object_new_uint64(st.errors));
	json_object_object_add(rec, "deleted", json_object_new_uint64(st.deleted));
	json_object_object_add(rec, "ended", json_object_new_uint64(st.ended));
	json_object_object_add(rec, "last_end", json_object_new_string(st.last_end));
	json_object_object_add(o, "recording", rec);
	json_object_object_add(o, "record_dropped", json_object_new_uint64(st.dropped));
	json_object_object_add(o, "record_errors", json_object_new_uint64(st.errors));
}
