// SPDX-License-Identifier: MIT
/*
 * linegate-loadgen: enrolled devices with realistic vibration, labelled fault
 * injection, and an attack mix, sent as LGF frames over UDP with sendmmsg, in batches,
 * paced by a token bucket on CLOCK_MONOTONIC, from one or several sender threads (each
 * with its own socket and its own share of the devices, so every device's sequence goes
 * out in order from one socket).
 */
#include <linegate/frame.h>
#include <linegate/policy.h>
#include <linegate/signal.h>
#include <linegate/uadp.h>

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"Usage: linegate-loadgen --policy FILE --target ADDR[:PORT] [options]\n"
	"\n"
	"Simulates enrolled line devices (vibration sensors) sending LGF frames, injects a\n"
	"labelled fault into one of them, and mixes in attack traffic. Device ids and keys\n"
	"come from the policy file, so the frames are exactly what enrolled devices send.\n"
	"\n"
	"Options:\n"
	"  -p, --policy FILE        policy YAML with the enrolled devices (required)\n"
	"  -t, --target ADDR[:PORT] where linegate listens (port default: the policy's)\n"
	"  -S, --source ADDR        bind the enrolled devices' socket to this address\n"
	"  -d, --devices N          simulate the first N enrolled devices (default: all)\n"
	"  -n, --frames N           frames per device (default 100)\n"
	"  -r, --rate FPS           total frames per second, 0 = as fast as possible (default 1000)\n"
	"      --threads N          sender threads, each with its own socket and every N-th\n"
	"                           device (and its share of the rate and of the attacks)\n"
	"                           (default 1)\n"
	"      --batch N            frames per sendmmsg call at most, 1..1024 (default 32); at a\n"
	"                           low rate a call carries about 0.5 ms of frames\n"
	"      --precompute         build and sign every enrolled device's frames before the\n"
	"                           clock starts (frames x bytes of memory; timestamps are then\n"
	"                           the build time), so that the generator's own signal and HMAC\n"
	"                           cost does not limit the rate. Only the first 64 frames of\n"
	"                           each LGF device are simulated; later ones repeat their\n"
	"                           samples (each with its own sequence, timestamp and tag):\n"
	"                           for load, not for detection\n"
	"      --hold               once the frames are ready, print 'loadgen: ready' and wait\n"
	"                           for SIGUSR1 (at most 60 s) before the clock starts, so that\n"
	"                           a benchmark measures from the first frame\n"
	"      --samples N          samples per frame (default 256)\n"
	"      --sample-rate HZ     samples per second per channel (default 10000)\n"
	"  -f, --fault ID[:FRAME[:KIND[:SEVERITY]]]\n"
	"                           device ID develops a fault at frame FRAME (default: half\n"
	"                           way), KIND bearing|imbalance|looseness (default bearing),\n"
	"                           SEVERITY 0..1 (default 1)\n"
	"      --unknown N          N frames from device ids that are not enrolled\n"
	"      --bad-tag N          N frames from enrolled devices with a wrong tag\n"
	"      --replay N           N exact copies of frames already sent\n"
	"      --malformed N        N frames that are not valid LGF (bad magic, lengths)\n"
	"      --spoof N            N validly tagged frames of enrolled ids from another address\n"
	"      --spoof-from ADDR    the address the spoofed frames come from\n"
	"  -u, --uadp               devices with a 'uadp' identity in the policy publish OPC UA\n"
	"                           PubSub UADP messages to the policy's uadp_port (signed with\n"
	"                           their first key unless the policy says signed: false;\n"
	"                           RawData for a device with typed 'fields', the samples in\n"
	"                           its Float and Double arrays), the others LGF\n"
	"  -s, --seed N             seed of the simulated signals (default 1)\n"
	"      --key-id N           sign with each device's key of id N (default: its first key),\n"
	"                           as a device does before or after a key rotation\n"
	"      --first-seq N        the devices' first sequence number (default 1), to go on\n"
	"                           where an earlier run stopped\n"
	"      --clock-offset S     the devices' clocks run S seconds (may be negative,\n"
	"                           fractional) off this machine's: their timestamps and the\n"
	"                           fault onset in the summary (a device with a wrong clock)\n"
	"  -j, --summary FILE       write what was sent, per class, as JSON\n"
	"  -q, --quiet              no progress lines\n"
	"  -h, --help               this text\n"
	"\n"
	"Attack frames are spread evenly through the run. The summary counts every frame by\n"
	"the verdict linegate must reach, so a test can compare the two exactly.\n"
	"Pacing: a token bucket on CLOCK_MONOTONIC filled at the rate, as deep as one batch;\n"
	"a thread sleeps until its next batch is due (absolute deadlines, so a late wake-up\n"
	"is caught up, not accumulated).\n";

enum cls { C_GOOD, C_UNKNOWN, C_BAD_TAG, C_REPLAY, C_MALFORMED, C_SPOOF, C_N };
static const char *const cls_names[C_N] = { "enrolled", "unknown_device", "bad_tag",
					     "replayed", "malformed", "spoofed" };

struct dev {
	const struct lg_policy_device *pd;
	const struct lg_policy_key *key; /* the key it signs with (--key-id) */
	struct lg_signal sig;
	uint64_t seq;
	const uint8_t *last; /* last frame queued, for replays: lastbuf or a precomputed one */
	int last_len;
	struct lg_mac *mac; /* --precompute: the keyed HMAC that re-tags repeated samples */
	/* UADP MessageNonce as PubSub-Aes-CTR lays it out (OPC 10000-14 8.4.3): 4 bytes of
	 * our choice, then a UInt32 sequence number that linegate's 'replay: nonce' checks. */
	uint8_t nonce[8];
	struct lg_uadp_keys *ukeys; /* a device with security: sign_and_encrypt */
	uint8_t lastbuf[LGF_MAX_LEN];
};

static volatile sig_atomic_t stop;
static atomic_bool failed; /* a sender thread failed: the others stop too */

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* --clock-offset: the devices' clocks, this far from this machine's */
static int64_t clock_offset_ns;

/* The devices' wall clock: the time their frames carry, and the fault onset's. */
static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)((int64_t)((uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec) +
			  clock_offset_ns);
}

static int parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	snprintf(host, sizeof(host), "%s", s);
	/* ADDR:PORT for IPv4; [ADDR]:PORT for IPv6. */
	if (host[0] == '[') {
		char *end = strchr(host, ']');

		if (!end)
			return -EINVAL;
		*end = '\0';
		if (end[1] == ':')
			port = (uint16_t)atoi(end + 2);
		memmove(host, host + 1, strlen(host));
	} else if (colon && strchr(s, ':') == colon) {
		host[colon - s] = '\0';
		port = (uint16_t)atoi(colon + 1);
	}
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return 0;
	}
	return -EINVAL;
}

static int open_sock(int family, const char *src)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), sndbuf = 4 << 20;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (src) {
		if (parse_addr(src, 0, &ss, &len) || ss.ss_family != family) {
			close(fd);
			return -EINVAL;
		}
		if (bind(fd, (struct sockaddr *)&ss, len)) {
			int ret = -errno;

			close(fd);
			return ret;
		}
	}
	return fd;
}

struct opts {
	const char *policy, *target, *source, *spoof_from, *summary;
	unsigned devices, samples;
	uint64_t frames, attacks[C_N];
	double rate, sample_rate;
	uint32_t fault_id;
	uint64_t fault_frame;
	enum lg_fault fault_kind;
	double fault_severity;
	uint64_t seed, first_seq;
	int key_id; /* -1: each device's first key */
	unsigned threads, batch;
	bool quiet, uadp, precompute, hold;
};

static int build_good(struct dev *d, const struct opts *o, float *fbuf, int16_t *ibuf,
		      uint8_t *out)
{
	const float scale = 1.0f / 1000.0f; /* int16 counts of 1 mg: +-32 g */
	struct lg_lgf_build b = {
		.device_id = d->pd->id, .key_id = d->key->id, .type = LGF_TYPE_SAMPLES,
		.sensor_kind = LGF_SENSOR_VIBRATION, .sample_format = LGF_FMT_I16, .channels = 1,
		.sample_count = (uint16_t)o->samples, .sample_rate = (uint32_t)o->sample_rate,
		.scale = scale, .sequence = ++d->seq, .timestamp_ns = wall_ns(), .samples = ibuf,
	};

	lg_signal_fill(&d->sig, fbuf, o->samples);
	for (unsigned i = 0; i < o->samples; i++) {
		double v = lrint(fbuf[i] / scale);

		ibuf[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
	}
	return lg_lgf_encode(&b, d->key->bytes, LG_KEY_LEN, out, LGF_MAX_LEN);
}

/*
 * A device with typed 'fields' (a RawData layout) publishes RawData as the layout says: the
 * samples in each Float or Double array (as many as its length holds), zero in every other
 * field, as the workers will decode it with the same layout.
 */
static void raw_fields(const struct lg_uadp_layout *lay, const float *fbuf, const double *dbuf,
		       unsigned n, struct lg_uadp_msg *m)
{
	static const uint8_t zero[16]; /* the largest fixed-size element, a Guid */

	for (unsigned i = 0; i < lay->nfields; i++) {
		const struct lg_uadp_raw_field *lf = &lay->fields[i];
		struct lg_uadp_field *f = &m->fields[i];

		*f = (struct lg_uadp_field){ .type = lf->type, .index = (uint16_t)i,
					     .is_array = lf->max_len != 0,
					     .count = lf->max_len ? 0 : 1, .data = zero };
		if (lf->max_len && (lf->type == LG_UADP_T_FLOAT || lf->type == LG_UADP_T_DOUBLE)) {
			f->count = n < lf->max_len ? n : lf->max_len;
			f->data = lf->type == LG_UADP_T_FLOAT ? (const uint8_t *)fbuf
							      : (const uint8_t *)dbuf;
		}
	}
	m->nfields = lay->nfields;
	m->dsm[0].field_count = lay->nfields;
	m->dsm[0].flags1 |= LG_UADP_ENC_RAW << 1;
}

/* The same samples as one UADP NetworkMessage: PublisherId, GroupHeader with the
 * sequence, PayloadHeader, one key-frame DataSetMessage holding a Float array (or, for a
 * device with typed fields, RawData in their layout). */
static int build_uadp(struct dev *d, const struct opts *o, float *fbuf, struct lg_uadp_msg *m,
		      uint8_t *out)
{
	const struct lg_policy_device *pd = d->pd;
	bool sign = pd->uadp_security != LG_UADP_SEC_NONE;
	bool has_pub = pd->uadp_pub_type - 1 != LG_ADMIT_UADP_PUBID_NONE;
	double dbuf[(LGF_MAX_LEN - LGF_MIN_LEN) / 2];
	struct lg_uadp_layout lay;
	struct lg_uadp_layouts lays = { &lay, 1 };

	lg_signal_fill(&d->sig, fbuf, o->samples);
	d->seq++;
	memset(m, 0, sizeof(*m));
	/* The identity parts the policy enrolls the device by, and no others: no PublisherId
	 * for a device known by its address, no PayloadHeader for one known by position. */
	m->flags = LG_UADP_VERSION | LG_UADP_F_GROUP_HEADER | LG_UADP_F_EXT1 |
		   (has_pub ? LG_UADP_F_PUBLISHER_ID : 0) |
		   (pd->uadp_by_position ? 0 : LG_UADP_F_PAYLOAD_HEADER);
	m->ext1 = (uint8_t)(has_pub ? pd->uadp_pub_type - 1 : 0) | LG_UADP_X1_TIMESTAMP |
		  (sign ? LG_UADP_X1_SECURITY : 0);
	if (pd->uadp_pub_type - 1 == LG_UADP_PUBID_STRING) {
		m->pub_str = (const uint8_t *)pd->uadp_pub_str;
		m->pub_str_len = (uint32_t)strlen(pd->uadp_pub_str);
	} else {
		m->pub_num = pd->uadp_pub_num;
	}
	m->group_flags = (pd->uadp_writer_group ? LG_UADP_G_WRITER_GROUP_ID : 0) |
			 LG_UADP_G_SEQUENCE;
	m->writer_group_id = pd->uadp_writer_group;
	m->group_seq = (uint16_t)(d->seq - 1);
	/* OPC UA DateTime: 100 ns ticks since 1601-01-01. */
	m->timestamp = (int64_t)(wall_ns() / 100) + 116444736000000000LL;
	if (sign) {
		m->sec_flags = LG_UADP_S_SIGNED;
		m->token_id = d->key->id;
		memcpy(d->nonce, "lgld", 4);
		d->nonce[4] = (uint8_t)d->seq;
		d->nonce[5] = (uint8_t)(d->seq >> 8);
		d->nonce[6] = (uint8_t)(d->seq >> 16);
		d->nonce[7] = (uint8_t)(d->seq >> 24);
		m->nonce_len = sizeof(d->nonce);
		m->nonce = d->nonce;
	}
	m->dsm_count = 1;
	m->dsm[0] = (struct lg_uadp_dsm){ .writer_id = pd->uadp_writer, .flags1 = LG_UADP_D1_VALID,
					  .field_count = 1 };
	m->fields[0] = (struct lg_uadp_field){ .type = LG_UADP_T_FLOAT, .is_array = 1,
					       .count = o->samples, .data = (const uint8_t *)fbuf };
	m->nfields = 1;
	if (!lg_policy_uadp_layout(pd, &lay)) {
		for (unsigned i = 0; i < o->samples; i++)
			dbuf[i] = fbuf[i];
		raw_fields(&lay, fbuf, dbuf, o->samples, m);
	}
	if (pd->uadp_security == LG_UADP_SEC_ENCRYPT) {
		m->sec_flags |= LG_UADP_S_ENCRYPTED;
		return lg_uadp_encode_keys(m, &lays, d->ukeys, out, LGF_MAX_LEN);
	}
	return lg_uadp_encode(m, &lays, d->key->bytes, LG_KEY_LEN, out, LGF_MAX_LEN);
}

static int parse_fault(const char *s, struct opts *o)
{
	char buf[128], *save = NULL, *tok;
	int field = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ":", &save); tok; tok = strtok_r(NULL, ":", &save), field++) {
		switch (field) {
		case 0:
			o->fault_id = (uint32_t)strtoul(tok, NULL, 0);
			break;
		case 1:
			o->fault_frame = strtoull(tok, NULL, 0);
			break;
		case 2:
			if (lg_fault_parse(tok, &o->fault_kind))
				return -EINVAL;
			break;
		case 3:
			o->fault_severity = atof(tok);
			break;
		default:
			return -EINVAL;
		}
	}
	return o->fault_id ? 0 : -EINVAL;
}

/* Frames waiting for one sendmmsg() on one socket. */
struct queue {
	int fd;
	unsigned n;
	struct mmsghdr *mm;
	struct iovec *iov;
	uint8_t *slots; /* batch x LGF_MAX_LEN: frames built here, unless precomputed */
};

/*
 * One sender thread: its own sockets, devices idx, idx + stride, ... (so each device's
 * frames leave from one socket, in sequence order), its share of the rate and of each
 * attack class, and a token bucket: the k-th frame it sends is due at t0 + k / rate, and
 * a batch goes out when its last frame is due.
 */
struct sender {
	const struct opts *o;
	struct dev *devs;
	unsigned idx, ndev, stride;
	const struct sockaddr_storage *dst, *udst;
	socklen_t dstlen, udstlen;
	/* attacks: this thread's share of each class; attack_base: the earlier threads' */
	uint64_t good, attacks[C_N], attack_base[C_N];
	double rate;
	unsigned batch;
	const struct dev *fault_dev;
	pthread_t tid;
	atomic_uint *ready;     /* threads done preparing */
	const atomic_bool *go;  /* t0 is set: start */
	const uint64_t *t0;
	struct queue q[2]; /* 0: the devices' socket, 1: the spoofed source's */
	uint64_t queued;   /* frames sent before the current batch */
	bool onset_pending;
	float *fbuf;
	int16_t *ibuf;
	struct lg_uadp_msg umsg;
	uint8_t *pre; /* --precompute: the good frames back to back, 64-byte aligned */
	size_t pre_size;
	uint64_t *pre_off;
	uint32_t *pre_len;
	/* results */
	_Atomic uint64_t progress;
	atomic_bool finished;
	uint64_t sent[C_N], sent_uadp, fault_onset_ns, end_ns;
	int err;
};

static int queue_init(struct queue *q, int fd, unsigned batch)
{
	q->fd = fd;
	q->n = 0;
	q->mm = calloc(batch, sizeof(*q->mm));
	q->iov = calloc(batch, sizeof(*q->iov));
	q->slots = malloc((size_t)batch * LGF_MAX_LEN);
	if (!q->mm || !q->iov || !q->slots)
		return -ENOMEM;
	for (unsigned i = 0; i < batch; i++) {
		q->mm[i].msg_hdr.msg_iov = &q->iov[i];
		q->mm[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

static void queue_free(struct queue *q)
{
	free(q->mm);
	free(q->iov);
	free(q->slots);
}

static uint8_t *queue_slot(struct queue *q)
{
	return q->slots + (size_t)q->n * LGF_MAX_LEN;
}

static int queue_send(struct queue *q)
{
	unsigned off = 0;

	while (off < q->n) {
		int r = sendmmsg(q->fd, q->mm + off, q->n - off, 0);

		if (r < 0) {
			if (errno == EINTR && !stop)
				continue;
			return -errno;
		}
		off += (unsigned)r;
	}
	q->n = 0;
	return 0;
}

static void sleep_until(uint64_t due)
{
	struct timespec ts = { (time_t)(due / 1000000000ull), (long)(due % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
		;
}

/* Wait until the batch's last frame is due, then send both queues. */
static int flush(struct sender *s)
{
	unsigned n = s->q[0].n + s->q[1].n;
	int ret;

	if (!n)
		return 0;
	if (s->rate > 0) {
		uint64_t due = *s->t0 + (uint64_t)((s->queued + n - 1) * 1e9 / s->rate);

		if (due > now_ns())
			sleep_until(due);
	}
	for (int i = 0; i < 2; i++) {
		ret = queue_send(&s->q[i]);
		if (ret)
			return ret;
	}
	if (s->onset_pending) {
		s->fault_onset_ns = wall_ns();
		s->onset_pending = false;
	}
	s->queued += n;
	atomic_store_explicit(&s->progress, s->queued, memory_order_relaxed);
	return 0;
}

/* Queue len bytes at buf (in the queue's next slot, or precomputed) for to. */
static int queue_add(struct sender *s, int qi, const uint8_t *buf, int len,
		     const struct sockaddr_storage *to, socklen_t tolen)
{
	struct queue *q = &s->q[qi];
	struct msghdr *h = &q->mm[q->n].msg_hdr;

	q->iov[q->n].iov_base = (void *)buf;
	q->iov[q->n].iov_len = (size_t)len;
	h->msg_name = (void *)to;
	h->msg_namelen = tolen;
	q->n++;
	return s->q[0].n + s->q[1].n >= s->batch ? flush(s) : 0;
}

static struct dev *sender_dev(const struct sender *s, uint64_t g)
{
	return &s->devs[s->idx + (g % s->ndev) * s->stride];
}

/* UADP for a UADP device (--uadp): one DataSetMessage per NetworkMessage, so a device known
 * by a position after the first (writer_position > 1) sends LGF instead. */
static bool as_uadp(const struct sender *s, const struct dev *d)
{
	return s->o->uadp && d->pd->uadp_pub_type &&
	       !(d->pd->uadp_by_position && d->pd->uadp_writer > 1);
}

static int build(struct sender *s, struct dev *d, uint8_t *out)
{
	if (as_uadp(s, d))
		return build_uadp(d, s->o, s->fbuf, &s->umsg, out);
	return build_good(d, s->o, s->fbuf, s->ibuf, out);
}

static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* --precompute simulates this many frames of samples per device, then repeats them. */
#define PRE_DISTINCT 64

/* Frame g again with the samples of frame g - PRE_DISTINCT * ndev of the same device, and
 * its own sequence, timestamp and tag. */
static int pre_repeat(struct sender *s, struct dev *d, uint64_t g, uint8_t *out)
{
	uint64_t gs = g - PRE_DISTINCT * (uint64_t)s->ndev, v;
	int len = (int)s->pre_len[gs];

	if (!d->mac && lg_mac_new(&d->mac, d->key->bytes, LG_KEY_LEN))
		return -ENOMEM;
	memcpy(out, s->pre + s->pre_off[gs], len);
	v = htole64(++d->seq);
	memcpy(out + 24, &v, 8);
	v = htole64(wall_ns());
	memcpy(out + 32, &v, 8);
	if (lg_mac_tag(d->mac, out, len - LGF_TAG_LEN, out + len - LGF_TAG_LEN))
		return -EIO;
	return len;
}

/*
 * Build and sign every good frame now; sending then only hands them to the socket. The
 * signal simulation costs tens of microseconds a frame, so only the first PRE_DISTINCT
 * frames of each device are simulated and later LGF frames repeat their samples (UADP
 * frames are each built in full). The mapping is reserved for the largest frames and
 * filled as far as the real ones need.
 */
static int precompute(struct sender *s)
{
	size_t off = 0;
	uint64_t *seq0 = calloc(s->ndev, sizeof(*seq0));
	int ret = 0;

	if (!seq0)
		return -ENOMEM;
	for (unsigned i = 0; i < s->ndev; i++)
		seq0[i] = sender_dev(s, i)->seq;
	s->pre_size = s->good * align64(LGF_MAX_LEN);
	s->pre = mmap(NULL, s->pre_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	s->pre_len = calloc(s->good, sizeof(*s->pre_len));
	s->pre_off = calloc(s->good, sizeof(*s->pre_off));
	if (s->pre == MAP_FAILED || !s->pre_len || !s->pre_off) {
		if (s->pre == MAP_FAILED)
			s->pre = NULL;
		ret = -ENOMEM;
		goto out;
	}
	/* Huge pages where the kernel has them: a page fault per 4 KiB costs more than the
	 * HMAC of the frames in it (on a VM, twice as much). */
	madvise(s->pre, s->pre_size, MADV_HUGEPAGE);
	for (uint64_t g = 0; g < s->good && !stop; g++) {
		struct dev *d = sender_dev(s, g);
		int len = g >= PRE_DISTINCT * (uint64_t)s->ndev && !as_uadp(s, d) ?
				  pre_repeat(s, d, g, s->pre + off) :
				  build(s, d, s->pre + off);

		if (len < 0) {
			ret = len;
			goto out;
		}
		s->pre_off[g] = off;
		s->pre_len[g] = (uint32_t)len;
		off += align64((size_t)len);
	}
	/* Sending counts the sequences again, as it would have built them. */
	for (unsigned i = 0; i < s->ndev; i++)
		sender_dev(s, i)->seq = seq0[i];
out:
	free(seq0);
	return ret;
}

/* The attack frames of class c due after the good frame just queued (frame, len, of d). */
static int queue_attacks(struct sender *s, uint64_t g, struct dev *d, const uint8_t *frame,
			 int len, uint64_t *next)
{
	for (int c = 1; c < C_N; c++) {
		while (g + 1 >= next[c] && s->sent[c] < s->attacks[c]) {
			int qi = c == C_SPOOF, alen = len, ret;
			uint8_t *a = queue_slot(&s->q[qi]);

			memcpy(a, frame, len);
			switch (c) {
			case C_UNKNOWN: {
				/* Ids from the top of the range, which policies leave free. */
				uint32_t id = htole32(0xfff00000u +
						      (uint32_t)(s->attack_base[c] + s->sent[c]));

				memcpy(a + 4, &id, 4);
				break;
			}
			case C_BAD_TAG: {
				/* A fresh sequence, so the frame passes the replay check and is
				 * refused by its tag; the device's next real frame reuses that
				 * sequence and must still be admitted. */
				uint64_t seq = htole64(d->seq + 1);

				memcpy(a + 24, &seq, 8);
				a[len - 1] ^= 0x5a;
				break;
			}
			case C_REPLAY:
				memcpy(a, d->last, d->last_len);
				alen = d->last_len;
				break;
			case C_MALFORMED:
				if ((s->attack_base[c] + s->sent[c]) % 2)
					a[0] = 'X'; /* bad magic */
				else
					alen = len - 7; /* lengths disagree */
				break;
			}
			s->sent[c]++;
			next[c] = (uint64_t)((s->sent[c] + 0.5) * s->good / s->attacks[c]);
			ret = queue_add(s, qi, a, alen, s->dst, s->dstlen);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static int run_sender(struct sender *s)
{
	const struct opts *o = s->o;
	uint64_t next[C_N];
	int ret;

	/* Attack class c's k-th frame goes out after good frame floor((k+0.5)*G/A_c). */
	for (int c = 1; c < C_N; c++)
		next[c] = s->attacks[c] ? (uint64_t)(0.5 * s->good / s->attacks[c]) : UINT64_MAX;
	for (uint64_t g = 0; g < s->good && !stop && !atomic_load(&failed); g++) {
		struct dev *d = sender_dev(s, g);
		bool uadp = as_uadp(s, d);
		const uint8_t *frame;
		int len;

		if (s->pre) {
			frame = s->pre + s->pre_off[g];
			len = (int)s->pre_len[g];
			d->seq++;
			d->last = frame;
		} else {
			len = build(s, d, d->lastbuf);
			if (len < 0)
				return len;
			frame = d->lastbuf;
			d->last = d->lastbuf;
			/* The device's buffer is rewritten by its next frame, maybe in this batch. */
			memcpy(queue_slot(&s->q[0]), frame, len);
		}
		d->last_len = len;
		if (d == s->fault_dev && d->seq == o->fault_frame + 1)
			s->onset_pending = true;
		s->sent[C_GOOD]++;
		if (uadp)
			s->sent_uadp++;
		ret = queue_add(s, 0, s->pre ? frame : queue_slot(&s->q[0]), len,
				uadp ? s->udst : s->dst, uadp ? s->udstlen : s->dstlen);
		if (ret)
			return ret;
		/* The attack mix is LGF: it rides on the LGF devices' frames only. */
		if (!uadp) {
			ret = queue_attacks(s, g, d, frame, len, next);
			if (ret)
				return ret;
		}
	}
	return flush(s);
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	struct timespec ms = { 0, 1000000 };

	/* Wake-ups at the deadline, not up to 50 us after it. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	if (s->o->precompute) {
		s->err = precompute(s);
		if (s->err)
			atomic_store(&failed, true);
	}
	atomic_fetch_add(s->ready, 1);
	/* The main thread starts the clock once every sender is ready (or one failed). */
	while (!atomic_load(s->go))
		nanosleep(&ms, NULL);
	if (!s->err && !atomic_load(&failed)) {
		s->err = run_sender(s);
		if (s->err)
			atomic_store(&failed, true);
	}
	s->end_ns = now_ns();
	atomic_store(&s->finished, true);
	return NULL;
}

static void sender_free(struct sender *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->q[i].fd >= 0)
			close(s->q[i].fd);
		queue_free(&s->q[i]);
	}
	if (s->pre)
		munmap(s->pre, s->pre_size);
	free(s->pre_len);
	free(s->pre_off);
	free(s->fbuf);
	free(s->ibuf);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "target", required_argument, NULL, 't' },
		{ "source", required_argument, NULL, 'S' },
		{ "devices", required_argument, NULL, 'd' },
		{ "frames", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "samples", required_argument, NULL, 1 },
		{ "sample-rate", required_argument, NULL, 2 },
		{ "fault", required_argument, NULL, 'f' },
		{ "unknown", required_argument, NULL, 3 },
		{ "bad-tag", required_argument, NULL, 4 },
		{ "replay", required_argument, NULL, 5 },
		{ "malformed", required_argument, NULL, 6 },
		{ "spoof", required_argument, NULL, 7 },
		{ "spoof-from", required_argument, NULL, 8 },
		{ "seed", required_argument, NULL, 's' },
		{ "uadp", no_argument, NULL, 'u' },
		{ "first-seq", required_argument, NULL, 9 },
		{ "clock-offset", required_argument, NULL, 15 },
		{ "key-id", required_argument, NULL, 14 },
		{ "threads", required_argument, NULL, 10 },
		{ "batch", required_argument, NULL, 11 },
		{ "precompute", no_argument, NULL, 12 },
		{ "hold", no_argument, NULL, 13 },
		{ "summary", required_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .frames = 100, .rate = 1000, .samples = 256, .sample_rate = 10000,
			  .fault_kind = LG_FAULT_BEARING, .fault_severity = 1.0, .seed = 1,
			  .fault_frame = UINT64_MAX, .threads = 1, .batch = 32, .key_id = -1 };
	uint64_t sent[C_N] = { 0 }, total_good, total, attack_total = 0, i_total = 0;
	uint64_t t0 = 0, t_start, t_end, last_progress, fault_onset_ns = 0, sent_uadp = 0, base[C_N] = { 0 };
	struct sockaddr_storage dst, udst;
	socklen_t dstlen, udstlen = 0;
	atomic_uint ready = 0;
	atomic_bool go = false;
	sigset_t usr1;
	struct sender *snd = NULL;
	struct lg_policy p;
	struct dev *devs = NULL;
	char err[1024];
	int opt, ret = 1;
	unsigned fault_idx = UINT32_MAX, started = 0;

	while ((opt = getopt_long(argc, argv, "p:t:S:d:n:r:f:s:j:quh", lopts, NULL)) != -1) {
		switch (opt) {
		case 'p': o.policy = optarg; break;
		case 't': o.target = optarg; break;
		case 'S': o.source = optarg; break;
		case 'd': o.devices = (unsigned)atoi(optarg); break;
		case 'n': o.frames = strtoull(optarg, NULL, 0); break;
		case 'r': o.rate = atof(optarg); break;
		case 1: o.samples = (unsigned)atoi(optarg); break;
		case 2: o.sample_rate = atof(optarg); break;
		case 'f':
			if (parse_fault(optarg, &o)) {
				fprintf(stderr, "linegate-loadgen: bad --fault '%s'\n", optarg);
				return 2;
			}
			break;
		case 3: o.attacks[C_UNKNOWN] = strtoull(optarg, NULL, 0); break;
		case 4: o.attacks[C_BAD_TAG] = strtoull(optarg, NULL, 0); break;
		case 5: o.attacks[C_REPLAY] = strtoull(optarg, NULL, 0); break;
		case 6: o.attacks[C_MALFORMED] = strtoull(optarg, NULL, 0); break;
		case 7: o.attacks[C_SPOOF] = strtoull(optarg, NULL, 0); break;
		case 8: o.spoof_from = optarg; break;
		case 's': o.seed = strtoull(optarg, NULL, 0); break;
		case 'j': o.summary = optarg; break;
		case 'q': o.quiet = true; break;
		case 'u': o.uadp = true; break;
		case 9: o.first_seq = strtoull(optarg, NULL, 0); break;
		case 15: {
			char *end;
			double s;

			errno = 0;
			s = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(fabs(s) <= 1e9)) {
				fprintf(stderr, "linegate-loadgen: --clock-offset takes seconds, "
					"-1e9..1e9, not '%s'\n", optarg);
				return 2;
			}
			clock_offset_ns = (int64_t)(s * 1e9);
			break;
		}
		case 10: o.threads = (unsigned)atoi(optarg); break;
		case 11: o.batch = (unsigned)atoi(optarg); break;
		case 12: o.precompute = true; break;
		case 13: o.hold = true; break;
		case 14: {
			char *end;
			unsigned long k = strtoul(optarg, &end, 10);

			if (!*optarg || *end || k > 255 || optarg[0] == '-') {
				fprintf(stderr, "linegate-loadgen: --key-id must be 0..255\n");
				return 2;
			}
			o.key_id = (int)k;
			break;
		}
		case 'h': fputs(usage, stdout); return 0;
		default: return 2; /* getopt_long() said why */
		}
	}
	if (!o.policy || !o.target) {
		fprintf(stderr, "linegate-loadgen: --policy and --target are required (see --help)\n");
		return 2;
	}
	if (!o.samples || o.samples > (LGF_MAX_LEN - LGF_MIN_LEN) / 2) {
		fprintf(stderr, "linegate-loadgen: --samples must be 1..%d\n",
			(LGF_MAX_LEN - LGF_MIN_LEN) / 2);
		return 2;
	}
	if (o.attacks[C_SPOOF] && !o.spoof_from) {
		fprintf(stderr, "linegate-loadgen: --spoof needs --spoof-from ADDR\n");
		return 2;
	}
	if (o.threads < 1 || o.threads > 64 || o.batch < 1 || o.batch > 1024 || o.rate < 0) {
		fprintf(stderr, "linegate-loadgen: --threads must be 1..64, --batch 1..1024 and "
				"--rate at least 0\n");
		return 2;
	}
	if (lg_policy_load(o.policy, &p, err, sizeof(err))) {
		fprintf(stderr, "linegate-loadgen: %s\n", err);
		return 1;
	}
	if (!p.ndevices) {
		fprintf(stderr, "linegate-loadgen: the policy enrolls no devices\n");
		goto out_policy;
	}
	if (!o.devices || o.devices > p.ndevices)
		o.devices = (unsigned)p.ndevices;
	if (o.threads > o.devices) {
		fprintf(stderr, "linegate-loadgen: %u threads for %u devices: each thread sends "
				"for at least one device\n", o.threads, o.devices);
		goto out_policy;
	}
	if (parse_addr(o.target, p.port, &dst, &dstlen)) {
		fprintf(stderr, "linegate-loadgen: bad --target '%s'\n", o.target);
		goto out_policy;
	}
	if (o.uadp) {
		if (!p.uadp_port) {
			fprintf(stderr, "linegate-loadgen: --uadp, but the policy sets no uadp_port\n");
			goto out_policy;
		}
		udst = dst;
		udstlen = dstlen;
		if (udst.ss_family == AF_INET)
			((struct sockaddr_in *)&udst)->sin_port = htons(p.uadp_port);
		else
			((struct sockaddr_in6 *)&udst)->sin6_port = htons(p.uadp_port);
	}
	devs = calloc(o.devices, sizeof(*devs));
	snd = calloc(o.threads, sizeof(*snd));
	if (!devs || !snd)
		goto out_mem;
	if (o.fault_frame == UINT64_MAX)
		o.fault_frame = o.frames / 2;
	for (unsigned i = 0; i < o.devices; i++) {
		devs[i].pd = &p.devices[i];
		devs[i].key = &p.devices[i].keys[0];
		for (unsigned k = 0; o.key_id >= 0 && k < p.devices[i].nkeys; k++)
			if (p.devices[i].keys[k].id == (uint32_t)o.key_id)
				devs[i].key = &p.devices[i].keys[k];
		if (o.key_id >= 0 && devs[i].key->id != (uint32_t)o.key_id) {
			fprintf(stderr, "linegate-loadgen: device %u has no key with id %d\n",
				p.devices[i].id, o.key_id);
			goto out_mem;
		}
		/* SignAndEncrypt: the key file's group key, prepared once. */
		if (o.uadp && p.devices[i].uadp_security == LG_UADP_SEC_ENCRYPT &&
		    lg_uadp_keys_new(&devs[i].ukeys, devs[i].key->bytes, LG_KEY_LEN,
				     devs[i].key->enc, devs[i].key->enc_len,
				     devs[i].key->key_nonce, LG_UADP_KEY_NONCE_LEN)) {
			fprintf(stderr, "linegate-loadgen: device %u: key %u is no group key to "
				"encrypt with\n", p.devices[i].id, devs[i].key->id);
			goto out_mem;
		}
		devs[i].seq = o.first_seq ? o.first_seq - 1 : 0;
		lg_signal_init(&devs[i].sig, o.seed, i, o.sample_rate);
		if (o.fault_id && p.devices[i].id == o.fault_id) {
			fault_idx = i;
			lg_signal_set_fault(&devs[i].sig, o.fault_kind, o.fault_severity,
					    o.fault_frame * o.samples);
		}
	}
	if (o.fault_id && fault_idx == UINT32_MAX) {
		fprintf(stderr, "linegate-loadgen: --fault device %u is not among the %u simulated\n",
			o.fault_id, o.devices);
		goto out_mem;
	}

	total_good = o.frames * o.devices;
	for (int c = 1; c < C_N; c++)
		attack_total += o.attacks[c];
	total = total_good + attack_total;
	for (unsigned t = 0; t < o.threads; t++) {
		struct sender *s = &snd[t];
		uint64_t mine;

		s->q[0].fd = s->q[1].fd = -1;
		s->o = &o;
		s->devs = devs;
		s->idx = t;
		s->stride = o.threads;
		s->ndev = (o.devices - t + o.threads - 1) / o.threads;
		s->good = o.frames * s->ndev;
		mine = s->good;
		for (int c = 1; c < C_N; c++) {
			s->attacks[c] = o.attacks[c] / o.threads + (t < o.attacks[c] % o.threads);
			s->attack_base[c] = base[c];
			base[c] += s->attacks[c];
			mine += s->attacks[c];
		}
		s->dst = &dst;
		s->dstlen = dstlen;
		s->udst = &udst;
		s->udstlen = udstlen;
		s->rate = total ? o.rate * (double)mine / (double)total : 0;
		/* A batch holds about 0.5 ms of this thread's frames: the bucket's depth. */
		s->batch = o.batch;
		if (s->rate > 0 && s->rate * 0.0005 < o.batch)
			s->batch = s->rate * 0.0005 < 1 ? 1 : (unsigned)(s->rate * 0.0005);
		s->fault_dev = fault_idx != UINT32_MAX ? &devs[fault_idx] : NULL;
		s->ready = &ready;
		s->go = &go;
		s->t0 = &t0;
		s->fbuf = calloc(o.samples, sizeof(*s->fbuf));
		s->ibuf = calloc(o.samples, sizeof(*s->ibuf));
		if (!s->fbuf || !s->ibuf || queue_init(&s->q[0], -1, o.batch) ||
		    queue_init(&s->q[1], -1, o.batch))
			goto out_mem;
		s->q[0].fd = open_sock(dst.ss_family, o.source);
		if (s->q[0].fd < 0) {
			fprintf(stderr, "linegate-loadgen: socket from %s: %s\n",
				o.source ? o.source : "any", strerror(-s->q[0].fd));
			goto out_mem;
		}
		if (o.spoof_from) {
			s->q[1].fd = open_sock(dst.ss_family, o.spoof_from);
			if (s->q[1].fd < 0) {
				fprintf(stderr, "linegate-loadgen: socket from %s: %s\n", o.spoof_from,
					strerror(-s->q[1].fd));
				goto out_mem;
			}
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (!o.quiet)
		fprintf(stderr, "loadgen: %u devices x %" PRIu64 " frames + %" PRIu64
				" attack frames at %.0f frames/s to %s\n",
			o.devices, o.frames, attack_total, o.rate, o.target);
	if (o.hold) {
		/* Blocked here, so in every sender thread too: only sigtimedwait() takes it. */
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	}
	t_start = now_ns();
	for (; started < o.threads; started++) {
		if (pthread_create(&snd[started].tid, NULL, sender_main, &snd[started])) {
			fprintf(stderr, "linegate-loadgen: cannot start sender threads\n");
			atomic_store(&failed, true);
			break;
		}
	}
	while (atomic_load(&ready) < started && !stop) {
		struct timespec ms = { 0, 1000000 };

		nanosleep(&ms, NULL);
	}
	if (o.precompute && !o.quiet && !atomic_load(&failed))
		fprintf(stderr, "loadgen: %" PRIu64 " frames precomputed in %.2f s\n", total_good,
			(now_ns() - t_start) / 1e9);
	if (o.hold && !atomic_load(&failed)) {
		struct timespec limit = { 60, 0 };

		fputs("loadgen: ready\n", stderr);
		if (sigtimedwait(&usr1, NULL, &limit) < 0 && !stop) {
			fprintf(stderr, "linegate-loadgen: --hold: no SIGUSR1 within 60 s\n");
			atomic_store(&failed, true);
		}
	}
	t0 = last_progress = now_ns();
	atomic_store(&go, true);
	for (;;) {
		struct timespec ts = { 0, 20000000 };
		uint64_t done = 0;
		bool running = false;

		for (unsigned t = 0; t < started; t++) {
			done += atomic_load_explicit(&snd[t].progress, memory_order_relaxed);
			running |= !atomic_load(&snd[t].finished);
		}
		if (!running)
			break;
		if (!o.quiet && now_ns() - last_progress > 1000000000ull) {
			last_progress = now_ns();
			fprintf(stderr, "loadgen: %" PRIu64 "/%" PRIu64 " frames (%.0f%%)\n", done,
				total, 100.0 * done / total);
		}
		nanosleep(&ts, NULL);
	}
	for (unsigned t = 0; t < started; t++)
		pthread_join(snd[t].tid, NULL);
	/* A thread that failed said why below; a failure before any sent (threads, --hold)
	 * was said where it happened. */
	if (started < o.threads)
		goto out_mem;
	t_end = t0;
	for (unsigned t = 0; t < o.threads; t++) {
		struct sender *s = &snd[t];

		if (s->err) {
			fprintf(stderr, "linegate-loadgen: %s: %s\n", o.precompute ? "build/send" : "send",
				strerror(-s->err));
			goto out_mem;
		}
		for (int c = 0; c < C_N; c++)
			sent[c] += s->sent[c];
		sent_uadp += s->sent_uadp;
		i_total += s->queued;
		if (s->fault_onset_ns)
			fault_onset_ns = s->fault_onset_ns;
		if (s->end_ns > t_end)
			t_end = s->end_ns;
	}
	if (atomic_load(&failed))
		goto out_mem;
	{
		double secs = (t_end - t0) / 1e9;
		FILE *f = o.summary ? fopen(o.summary, "w") : NULL;

		if (!o.quiet)
			fprintf(stderr, "loadgen: sent %" PRIu64 " frames in %.2f s (%.0f frames/s)%s\n",
				i_total, secs, i_total / (secs > 0 ? secs : 1), stop ? " (interrupted)" : "");
		if (o.summary && !f) {
			fprintf(stderr, "linegate-loadgen: %s: %s\n", o.summary, strerror(errno));
			goto out_mem;
		}
		if (f) {
			fprintf(f, "{\"sent\":%" PRIu64 ",\"seconds\":%.3f,\"uadp\":%" PRIu64, i_total,
				secs, sent_uadp);
			for (int c = 0; c < C_N; c++)
				fprintf(f, ",\"%s\":%" PRIu64, cls_names[c], sent[c]);
			if (fault_idx != UINT32_MAX)
				fprintf(f, ",\"fault\":{\"device\":%u,\"name\":\"%s\",\"kind\":\"%s\","
					   "\"onset_frame\":%" PRIu64 ",\"onset_wall_ns\":%" PRIu64 "}",
					o.fault_id, devs[fault_idx].pd->name, lg_fault_name(o.fault_kind),
					o.fault_frame + 1, fault_onset_ns);
			fprintf(f, ",\"interrupted\":%s}\n", stop ? "true" : "false");
			fclose(f);
		}
	}
	ret = stop ? 130 : 0;
out_mem:
	for (unsigned t = 0; snd && t < o.threads; t++)
		sender_free(&snd[t]);
	free(snd);
	for (unsigned i = 0; devs && i < o.devices; i++)
		lg_mac_free(devs[i].mac);
	for (unsigned i = 0; devs && i < o.devices; i++)
		lg_uadp_keys_free(devs[i].ukeys);
	free(devs);
out_policy:
	lg_policy_free(&p);
	return ret;
}
