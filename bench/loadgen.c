// SPDX-License-Identifier: MIT
/*
 * linegate-loadgen: enrolled devices with realistic vibration, labelled fault
 * injection, and an attack mix, sent as LGF frames over UDP with sendmmsg.
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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	"                           their first key unless the policy says signed: false),\n"
	"                           the others LGF\n"
	"  -s, --seed N             seed of the simulated signals (default 1)\n"
	"      --first-seq N        the devices' first sequence number (default 1), to go on\n"
	"                           where an earlier run stopped\n"
	"  -j, --summary FILE       write what was sent, per class, as JSON\n"
	"  -q, --quiet              no progress lines\n"
	"  -h, --help               this text\n"
	"\n"
	"Attack frames are spread evenly through the run. The summary counts every frame by\n"
	"the verdict linegate must reach, so a test can compare the two exactly.\n";

enum cls { C_GOOD, C_UNKNOWN, C_BAD_TAG, C_REPLAY, C_MALFORMED, C_SPOOF, C_N };
static const char *const cls_names[C_N] = { "enrolled", "unknown_device", "bad_tag",
					     "replayed", "malformed", "spoofed" };

struct dev {
	const struct lg_policy_device *pd;
	struct lg_signal sig;
	uint64_t seq;
	uint8_t last[LGF_MAX_LEN]; /* last frame sent, for replays */
	int last_len;
};

static volatile sig_atomic_t stop;

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

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
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
	bool quiet, uadp;
};

static int build_good(struct dev *d, const struct opts *o, float *fbuf, int16_t *ibuf,
		      uint8_t *out)
{
	const float scale = 1.0f / 1000.0f; /* int16 counts of 1 mg: +-32 g */
	struct lg_lgf_build b = {
		.device_id = d->pd->id, .key_id = d->pd->keys[0].id, .type = LGF_TYPE_SAMPLES,
		.sensor_kind = LGF_SENSOR_VIBRATION, .sample_format = LGF_FMT_I16, .channels = 1,
		.sample_count = (uint16_t)o->samples, .sample_rate = (uint32_t)o->sample_rate,
		.scale = scale, .sequence = ++d->seq, .timestamp_ns = wall_ns(), .samples = ibuf,
	};

	lg_signal_fill(&d->sig, fbuf, o->samples);
	for (unsigned i = 0; i < o->samples; i++) {
		double v = lrint(fbuf[i] / scale);

		ibuf[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
	}
	return lg_lgf_encode(&b, d->pd->keys[0].bytes, LG_KEY_LEN, out, LGF_MAX_LEN);
}

/* The same samples as one UADP NetworkMessage: PublisherId, GroupHeader with the
 * sequence, PayloadHeader, one key-frame DataSetMessage holding a Float array. */
static int build_uadp(struct dev *d, const struct opts *o, float *fbuf, uint8_t *out)
{
	static struct lg_uadp_msg m;
	static const uint8_t nonce[8] = { 'l', 'g', 'l', 'o', 'a', 'd', 0, 1 };
	const struct lg_policy_device *pd = d->pd;
	bool sign = !pd->uadp_unsigned_ok;

	lg_signal_fill(&d->sig, fbuf, o->samples);
	d->seq++;
	memset(&m, 0, sizeof(m));
	m.flags = LG_UADP_VERSION | LG_UADP_F_PUBLISHER_ID | LG_UADP_F_GROUP_HEADER |
		  LG_UADP_F_PAYLOAD_HEADER | LG_UADP_F_EXT1;
	m.ext1 = (uint8_t)(pd->uadp_pub_type - 1) | LG_UADP_X1_TIMESTAMP |
		 (sign ? LG_UADP_X1_SECURITY : 0);
	if (pd->uadp_pub_type - 1 == LG_UADP_PUBID_STRING) {
		m.pub_str = (const uint8_t *)pd->uadp_pub_str;
		m.pub_str_len = (uint32_t)strlen(pd->uadp_pub_str);
	} else {
		m.pub_num = pd->uadp_pub_num;
	}
	m.group_flags = LG_UADP_G_WRITER_GROUP_ID | LG_UADP_G_SEQUENCE;
	m.writer_group_id = pd->uadp_writer_group;
	m.group_seq = (uint16_t)(d->seq - 1);
	/* OPC UA DateTime: 100 ns ticks since 1601-01-01. */
	m.timestamp = (int64_t)(wall_ns() / 100) + 116444736000000000LL;
	if (sign) {
		m.sec_flags = LG_UADP_S_SIGNED;
		m.token_id = pd->keys[0].id;
		m.nonce_len = sizeof(nonce);
		m.nonce = nonce;
	}
	m.dsm_count = 1;
	m.dsm[0] = (struct lg_uadp_dsm){ .writer_id = pd->uadp_writer, .flags1 = LG_UADP_D1_VALID,
					 .field_count = 1 };
	m.fields[0] = (struct lg_uadp_field){ .type = LG_UADP_T_FLOAT, .is_array = 1,
					      .count = o->samples, .data = (const uint8_t *)fbuf };
	m.nfields = 1;
	return lg_uadp_encode(&m, NULL, pd->keys[0].bytes, LG_KEY_LEN, out, LGF_MAX_LEN);
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
		{ "summary", required_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .frames = 100, .rate = 1000, .samples = 256, .sample_rate = 10000,
			  .fault_kind = LG_FAULT_BEARING, .fault_severity = 1.0, .seed = 1,
			  .fault_frame = UINT64_MAX };
	uint64_t sent[C_N] = { 0 }, total_good, total, attack_total = 0, next_attack[C_N];
	struct sockaddr_storage dst, udst;
	socklen_t dstlen, udstlen = 0;
	struct lg_policy p;
	struct dev *devs;
	char err[1024];
	float *fbuf;
	int16_t *ibuf;
	uint8_t frame[LGF_MAX_LEN];
	int opt, fd, spoof_fd = -1, ret = 1;
	uint64_t t0, last_progress, fault_onset_ns = 0, i_total = 0, sent_uadp = 0;
	unsigned fault_idx = UINT32_MAX;

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
	fd = open_sock(dst.ss_family, o.source);
	if (fd < 0) {
		fprintf(stderr, "linegate-loadgen: socket from %s: %s\n", o.source ? o.source : "any",
			strerror(-fd));
		goto out_policy;
	}
	if (o.spoof_from) {
		spoof_fd = open_sock(dst.ss_family, o.spoof_from);
		if (spoof_fd < 0) {
			fprintf(stderr, "linegate-loadgen: socket from %s: %s\n", o.spoof_from,
				strerror(-spoof_fd));
			goto out_fd;
		}
	}
	devs = calloc(o.devices, sizeof(*devs));
	fbuf = calloc(o.samples, sizeof(*fbuf));
	ibuf = calloc(o.samples, sizeof(*ibuf));
	if (!devs || !fbuf || !ibuf)
		goto out_mem;
	if (o.fault_frame == UINT64_MAX)
		o.fault_frame = o.frames / 2;
	for (unsigned i = 0; i < o.devices; i++) {
		devs[i].pd = &p.devices[i];
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
	/* Attack class c's k-th frame goes out after good frame floor((k+0.5)*G/A_c). */
	for (int c = 1; c < C_N; c++)
		next_attack[c] = o.attacks[c] ? (uint64_t)(0.5 * total_good / o.attacks[c]) : UINT64_MAX;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (!o.quiet)
		fprintf(stderr, "loadgen: %u devices x %" PRIu64 " frames + %" PRIu64
				" attack frames at %.0f frames/s to %s\n",
			o.devices, o.frames, attack_total, o.rate, o.target);
	t0 = last_progress = now_ns();
	for (uint64_t g = 0; g < total_good && !stop; g++) {
		struct dev *d = &devs[g % o.devices];
		bool as_uadp = o.uadp && d->pd->uadp_pub_type;
		int len = as_uadp ? build_uadp(d, &o, fbuf, frame) : build_good(d, &o, fbuf, ibuf, frame);
		const struct sockaddr *to = as_uadp ? (struct sockaddr *)&udst : (struct sockaddr *)&dst;
		socklen_t tolen = as_uadp ? udstlen : dstlen;

		if (len < 0) {
			fprintf(stderr, "linegate-loadgen: encode: %s\n", strerror(-len));
			goto out_mem;
		}
		if (o.rate > 0) {
			uint64_t due = t0 + (uint64_t)(i_total * 1e9 / o.rate), now = now_ns();

			if (due > now) {
				struct timespec ts = { (time_t)((due - now) / 1000000000ull),
						       (long)((due - now) % 1000000000ull) };

				nanosleep(&ts, NULL);
			}
		}
		if (d == &devs[fault_idx] && d->seq == o.fault_frame + 1)
			fault_onset_ns = wall_ns();
		if (sendto(fd, frame, len, 0, to, tolen) != len) {
			fprintf(stderr, "linegate-loadgen: send: %s\n", strerror(errno));
			goto out_mem;
		}
		memcpy(d->last, frame, len);
		d->last_len = len;
		sent[C_GOOD]++;
		if (as_uadp)
			sent_uadp++;
		i_total++;
		/* The attack mix is LGF: it rides on the LGF devices' frames only. */
		for (int c = 1; c < C_N && !as_uadp; c++) {
			while (g + 1 >= next_attack[c] && sent[c] < o.attacks[c]) {
				uint8_t a[LGF_MAX_LEN];
				int alen = len, afd = fd;

				memcpy(a, frame, len);
				switch (c) {
				case C_UNKNOWN: {
					/* Ids from the top of the range, which policies leave free. */
					uint32_t id = htole32(0xfff00000u + (uint32_t)sent[c]);

					memcpy(a + 4, &id, 4);
					break;
				}
				case C_BAD_TAG: {
					/* A fresh sequence, so the frame passes the replay check and
					 * is refused by its tag; the device's next real frame reuses
					 * that sequence and must still be admitted. */
					uint64_t seq = htole64(d->seq + 1);

					memcpy(a + 24, &seq, 8);
					a[len - 1] ^= 0x5a;
					break;
				}
				case C_REPLAY:
					memcpy(a, d->last, d->last_len);
					break;
				case C_MALFORMED:
					if (sent[c] % 2)
						a[0] = 'X'; /* bad magic */
					else
						alen = len - 7; /* lengths disagree */
					break;
				case C_SPOOF:
					afd = spoof_fd;
					break;
				}
				if (sendto(afd, a, alen, 0, (struct sockaddr *)&dst, dstlen) != alen) {
					fprintf(stderr, "linegate-loadgen: send: %s\n", strerror(errno));
					goto out_mem;
				}
				sent[c]++;
				i_total++;
				next_attack[c] = (uint64_t)((sent[c] + 0.5) * total_good / o.attacks[c]);
			}
		}
		if (!o.quiet && now_ns() - last_progress > 1000000000ull) {
			last_progress = now_ns();
			fprintf(stderr, "loadgen: %" PRIu64 "/%" PRIu64 " frames (%.0f%%)\n", i_total,
				total, 100.0 * i_total / total);
		}
	}
	{
		double secs = (now_ns() - t0) / 1e9;
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
	free(devs);
	free(fbuf);
	free(ibuf);
	if (spoof_fd >= 0)
		close(spoof_fd);
out_fd:
	close(fd);
out_policy:
	lg_policy_free(&p);
	return ret;
}
