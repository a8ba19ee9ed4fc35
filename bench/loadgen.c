// SPDX-License-Identifier: MIT
/*
 * linegate-loadgen: enrolled devices with realistic vibration, labelled fault
 * injection, and an attack mix, sent as LGF frames over UDP with sendmmsg, in batches,
 * paced by a token bucket on CLOCK_MONOTONIC, from one or several sender threads (each
 * with its own socket and its own share of the devices, so every device's sequence goes
 * out in order from one socket).
 */
#include <linegate/frame.h>
#include <linegate/outpath.h>
#include <linegate/policy.h>
#include <linegate/signal.h>
#include <linegate/uadp.h>

#include "loadgen_dpdk.h"
#include "loadgen_files.h"
#include "loadgen_parse.h"
#include "loadgen_xsk.h"

#include <json-c/json.h>
#include <pcap/pcap.h>

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* --fault and --gain may be given this many times (one each per device); --labels may give
 * as many faults as --from gives recordings */
#define MAX_FAULT_ARGS 64
#define MAX_FAULTS 1024

static const char usage[] =
	"Usage: linegate-loadgen --policy FILE --target ADDR[:PORT] [options]\n"
	"\n"
	"Simulates enrolled line devices (vibration sensors) sending LGF frames, injects\n"
	"labelled faults into some of them, and mixes in attack traffic. Device ids and keys\n"
	"come from the policy file, so the frames are exactly what enrolled devices send.\n"
	"\n"
	"Options:\n"
	"  -p, --policy FILE        policy YAML with the enrolled devices (required)\n"
	"  -t, --target ADDR[:PORT] where linegate listens (port default: the policy's); with\n"
	"                           --pcap the frames' destination (default 127.0.0.1)\n"
	"  -S, --source ADDR        bind the enrolled devices' socket to this address\n"
	"  -d, --devices N          simulate the first N enrolled devices (default: all)\n"
	"  -n, --frames N           frames per device (default 100)\n"
	"  -r, --rate FPS           total frames per second, 0 = as fast as possible (default 1000)\n"
	"      --threads N          sender threads, each with its own socket and every N-th\n"
	"                           device (and its share of the rate and of the attacks)\n"
	"                           (default 1)\n"
	"      --batch N            frames per sendmmsg call (or AF_XDP TX batch) at most, 1..1024\n"
	"                           (default 32); at a low rate a call carries about 0.5 ms of\n"
	"                           frames\n"
	"      --tx MODE            how the frames leave: sendmmsg (default; UDP sockets) or\n"
	"                           afxdp:IFNAME[:QUEUE]: whole Ethernet, IPv4/IPv6 and UDP frames\n"
	"                           (checksums filled in) written into an AF_XDP socket's UMEM on\n"
	"                           IFNAME, thread t on queue QUEUE + t (default 0; a veth has\n"
	"                           several when made with numtxqueues N numrxqueues N), each\n"
	"                           device's frames from its policy source address, port and MAC\n"
	"                           (else IFNAME's), the spoofed ones from --spoof-from; zero-copy\n"
	"                           where the driver has it, copy mode otherwise (veth). Needs\n"
	"                           root. A frame the kernel refused or the driver dropped is\n"
	"                           counted, and fails the run. Not with --source or --pcap.\n"
	"                           Or dpdk:OPTIONS (where built with DPDK): the same whole\n"
	"                           frames in mbufs through rte_eth_tx_burst() on a DPDK port,\n"
	"                           thread t on its TX queue t; OPTIONS as linegate's --backend\n"
	"                           dpdk: (comma separated, ';' for DPDK's own ','): port=N,\n"
	"                           vdev=SPEC, pci=BDF, nohuge, mem=MB, lcores=LIST, mbufs=N\n"
	"                           (4095), txd=N (1024), log=LEVEL, eal='ARGS'; e.g.\n"
	"                           dpdk:vdev=net_af_packet0;iface=lg1,nohuge (with --threads\n"
	"                           N the port needs N TX queues: net_af_packet's qpairs=N,\n"
	"                           e.g. vdev=net_af_packet0;iface=lg1;qpairs=2). A frame the\n"
	"                           driver does not take within a second of retries, or that\n"
	"                           the port counts as an output error, fails the run\n"
	"      --dst-mac MAC        --tx afxdp: the target's MAC, or its router's (default: the\n"
	"                           kernel's IPv4 neighbour table on IFNAME: ping it once to fill\n"
	"                           it; IPv6 targets need --dst-mac); --tx dpdk: required\n"
	"      --precompute         build and sign every enrolled device's frames before the\n"
	"                           clock starts (frames x bytes of memory; timestamps are then\n"
	"                           the build time), so that the generator's own signal and HMAC\n"
	"                           cost does not limit the rate. Only the first 64 frames of\n"
	"                           each LGF device are simulated (16384 / devices a thread,\n"
	"                           at least 4, with more than 256); later ones repeat their\n"
	"                           samples (each with its own sequence, timestamp and tag):\n"
	"                           for load, not for detection\n"
	"      --hold               once the frames are ready, print 'loadgen: ready' and wait\n"
	"                           for SIGUSR1 (at most 60 s) before the clock starts, so that\n"
	"                           a benchmark measures from the first frame\n"
	"      --samples N[,N...]   samples per channel per frame (default 256); a list gives\n"
	"                           device i (of the simulated, in the policy's id order) the\n"
	"                           value i % its length: per-device sensor layouts\n"
	"      --channels N[,N...]  LGF channels per frame, 1..16 (default 1; a list as for\n"
	"                           --samples), interleaved; channel c is the simulated axis at\n"
	"                           a gain of 1 - c/8. A UADP device with typed 'fields' sends\n"
	"                           its Float/Double arrays' lengths (at most --samples) instead,\n"
	"                           and simulates as many samples a message as its longest\n"
	"                           array holds: consecutive samples, the signal an LGF frame\n"
	"                           of that many carries\n"
	"      --sample-rate HZ     samples per second per channel of a device whose policy\n"
	"                           entry gives no sample_rate (default 10000; the others send at\n"
	"                           theirs, as linegate drops LGF frames of another rate); with\n"
	"                           --from, the rate of the files after it that carry none\n"
	"  -f, --fault ID[:FRAME[:KIND[:SEVERITY]]]\n"
	"                           device ID develops a fault at frame FRAME (default: half\n"
	"                           way), KIND bearing|imbalance|looseness (default bearing),\n"
	"                           SEVERITY 0..1 (default 1). Frames count from 0: FRAME\n"
	"                           healthy frames, then the fault, so 0 <= FRAME < -n; its\n"
	"                           sequence number is --first-seq + FRAME. Repeat it for\n"
	"                           several faults in one run (at most 64, one per device)\n"
	"      --ground-truth FILE  write every injected fault as a JSON line: device, name,\n"
	"                           kind, severity, onset frame (FRAME) and sequence, onset\n"
	"                           time (the devices' clock and this machine's), once the\n"
	"                           run has sent it\n"
	"      --alerts FILE        linegate's JSON lines (its --output): after the run, read\n"
	"                           them back (waiting up to --alerts-wait) and report per fault\n"
	"                           the time to insight, MTTI: onset -> incident open\n"
	"      --alerts-wait S      seconds to wait for every fault's incident (default 5)\n"
	"      --unknown N          N frames from device ids that are not enrolled\n"
	"      --bad-tag N          N frames from enrolled devices with a wrong tag\n"
	"      --replay N           N exact copies of frames already sent\n"
	"      --malformed N        N frames that are not valid LGF (bad magic, lengths)\n"
	"      --spoof N            N validly tagged frames of enrolled ids from another address\n"
	"      --spoof-from ADDR    the address the spoofed frames come from\n"
	"      --attack-rate KIND=FPS\n"
	"                           KIND (unknown, bad-tag, replay, malformed, spoof) at FPS\n"
	"                           frames/s for the whole run, added to its count: --rate is\n"
	"                           then the total, the enrolled devices send at --rate minus\n"
	"                           the attack rates (which must leave them a rate above 0).\n"
	"                           Repeat for several kinds\n"
	"      --pcap FILE          write the frames to FILE (pcap, nanosecond stamps, Ethernet,\n"
	"                           each from its device's bound source address, port and MAC)\n"
	"                           instead of sending them, stamped at the times the pacing\n"
	"                           gives them, for linegate --backend pcap:file=FILE (pace=1\n"
	"                           replays them at --rate). One thread; not with --precompute\n"
	"  -u, --uadp               devices with a 'uadp' identity in the policy publish OPC UA\n"
	"                           PubSub UADP messages to the policy's uadp_port (signed with\n"
	"                           their first key unless the policy says signed: false;\n"
	"                           RawData for a device with typed 'fields', the samples in\n"
	"                           its Float and Double arrays), the others LGF\n"
	"      --from [DEVICE=]FILE send the recording FILE (WAV, FLAC, CSV, .npy: read as\n"
	"                           linegate-train reads it) as enrolled DEVICE (its name or\n"
	"                           id in the policy; without DEVICE=, the file's stem) instead\n"
	"                           of simulated devices: float32 LGF frames with all the file's\n"
	"                           channels, --samples per channel (default: the most, up to\n"
	"                           256, that fit one datagram on a 1500-byte MTU), the file's\n"
	"                           rate (a file without one: the --sample-rate given before\n"
	"                           its --from, else the device's policy sample_rate), refused\n"
	"                           where the policy's sample_rate for DEVICE differs; gaps (bad\n"
	"                           sample rows cut out) leave a sequence number out. Repeat\n"
	"                           it; a device's files are sent one after the other, as\n"
	"                           linegate-train joins them; -n caps each device's frames.\n"
	"                           --sample-rate and --scale apply to the --from files after\n"
	"                           them, as for linegate-train. Not with --rate, --devices,\n"
	"                           --channels, --fault, --uadp, --precompute or --attack-rate;\n"
	"                           the attack counts (--unknown N, ...), --gain, --pcap, --tx,\n"
	"                           --threads and --alerts work as with simulated devices.\n"
	"                           Sequences start at --first-seq each run: a linegate that saw\n"
	"                           an earlier run drops them as replayed (the end says the\n"
	"                           --first-seq a next run needs)\n"
	"      --scale X            --from: the samples of the --from files after it times X,\n"
	"                           as linegate-train --scale (an integer WAV/FLAC is read as a\n"
	"                           fraction of full scale: X is its units per full scale)\n"
	"      --pace F             --from: each frame leaves when its last sample's time in\n"
	"                           the recording, over F, has passed since the start: 1 (the\n"
	"                           default) is the recorded pace, 4 four times faster, 0 as\n"
	"                           fast as the sender goes\n"
	"      --labels FILE        --from: the recordings' ground truth (device,kind,onset[,end]\n"
	"                           as linegate-quality reads it; onset in seconds from the\n"
	"                           recording's first sample): each labelled device's fault\n"
	"                           starts at the frame its onset sample is in, for\n"
	"                           --ground-truth and --alerts (MTTI per labelled fault); a\n"
	"                           device's later labels (by onset) and labels of devices not\n"
	"                           sent are said and left out\n"
	"  -s, --seed N             seed of the simulated signals (default 1)\n"
	"      --gain ID:FRAME:G    device ID's samples times G from frame FRAME on (frames\n"
	"                           count from 0, as for --fault): a sensor whose gain changed\n"
	"                           (replaced, re-mounted, its amplifier re-set), what the\n"
	"                           drift monitors are for (docs/models.md, \"Drift\"); no\n"
	"                           fault, no ground truth. Repeat it for several devices\n"
	"      --key-id N           sign with each device's key of id N (default: its first key),\n"
	"                           as a device does before or after a key rotation\n"
	"      --first-seq N        the devices' first sequence number (default 1), to go on\n"
	"                           where an earlier run stopped\n"
	"      --clock-offset S     the devices' clocks run S seconds (may be negative,\n"
	"                           fractional) off this machine's: their timestamps and the\n"
	"                           fault onset in the summary (a device with a wrong clock)\n"
	"  -j, --summary FILE       write what was sent, per class, as JSON\n"
	"  -q, --quiet              no progress lines (the start and sent lines); the result\n"
	"                           stays: --alerts' per-fault MTTI lines and its count of\n"
	"                           incidents opened by devices without a fault, and any\n"
	"                           lost-frames line\n"
	"  -h, --help               this text\n"
	"\n"
	"Attack frames are spread evenly through the run. The summary counts every frame by\n"
	"the verdict linegate must reach, so a test can compare the two exactly.\n"
	"Pacing: a token bucket on CLOCK_MONOTONIC filled at the rate, as deep as one batch;\n"
	"a thread sleeps until its next batch is due (absolute deadlines, so a late wake-up\n"
	"is caught up, not accumulated).\n"
	"\n"
	"Thousands of devices: bench/make_policy.py OUT_DIR N [--head POLICY] writes a policy\n"
	"of N devices (up to 4096, the XDP device table) to OUT_DIR/policy.yaml, each with its\n"
	"own key file (OUT_DIR/keys, 0600), source address (--subnet, default 10.77.16.0/20),\n"
	"port and MAC, every K-th a UADP publisher with its own array length (--uadp-every K);\n"
	"--samples/--channels lists vary the LGF layouts. The source addresses are the\n"
	"devices' own only with --tx afxdp or --pcap; sendmmsg sends from one socket's.\n";

enum cls { C_GOOD, C_UNKNOWN, C_BAD_TAG, C_REPLAY, C_MALFORMED, C_SPOOF, C_N };
static const char *const cls_names[C_N] = { "enrolled", "unknown_device", "bad_tag",
					     "replayed", "malformed", "spoofed" };

struct dev {
	const struct lg_policy_device *pd;
	const struct lg_policy_key *key; /* the key it signs with (--key-id) */
	struct lg_signal sig;
	uint64_t seq;
	uint64_t seq0;	/* seq before its first frame of this run (--first-seq - 1) */
	uint64_t gain_from; /* --gain: its samples times gain from this frame (of this run) */
	double gain;
	const uint8_t *last; /* last frame queued, for replays: lastbuf or a precomputed one */
	int last_len;
	struct lg_mac *mac; /* --precompute: the keyed HMAC that re-tags repeated samples */
	/* UADP MessageNonce as PubSub-Aes-CTR lays it out (OPC 10000-14 8.4.3): 4 bytes of
	 * our choice, then a UInt32 sequence number that linegate's 'replay: nonce' checks. */
	uint8_t nonce[8];
	struct lg_uadp_keys *ukeys; /* a device with security: sign_and_encrypt */
	/* --fault: its index in opts.faults (-1: healthy); when its first faulty frame left,
	 * on the devices' clock and on this machine's */
	int fault;
	uint64_t onset_wall_ns, onset_host_ns;
	uint64_t onset_seq; /* the sequence its onset frame went out with (0: not yet) */
	/* its sensor layout: samples per channel per frame (--samples), channels (--channels,
	 * LGF), samples per second (its policy's sample_rate, else --sample-rate) */
	unsigned samples, channels;
	double fs;
	struct lg_lgfile *src; /* --from: its recording (NULL: simulated) */
	uint64_t skipped;      /* --from: sequence numbers left out at its recording's gaps */
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

/* --pcap: the time the pacing gives the frame being built (this machine's clock), which
 * stands in for the clock there; 0 when sending live. Per sender thread. */
static _Thread_local uint64_t virt_host_ns;

/* This machine's wall clock (or the frame's scheduled time with --pcap). */
static uint64_t host_ns(void)
{
	struct timespec ts;

	if (virt_host_ns)
		return virt_host_ns;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The devices' wall clock: the time their frames carry, and the fault onset's. */
static uint64_t wall_ns(void)
{
	return (uint64_t)((int64_t)host_ns() + clock_offset_ns);
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

/* --samples and --channels: at most this many values, cycled over the devices */
#define MAX_LAYOUTS 16
/* --from may be given this many times (one recording per device) */
#define MAX_FROM 1024

struct opts {
	const char *policy, *target, *source, *spoof_from, *summary;
	unsigned devices, samples; /* samples: the largest of samples_list */
	unsigned samples_list[MAX_LAYOUTS], nsamples, channels_list[MAX_LAYOUTS], nchannels;
	unsigned max_values;       /* samples x channels of the largest LGF frame */
	uint64_t frames, attacks[C_N];
	double rate, sample_rate;
	struct fault {
		uint32_t id;
		uint64_t frame; /* UINT64_MAX: half way */
		enum lg_fault kind;
		double severity; /* < 0: not known (--labels) */
		/* --labels: the label's kind and onset, seconds from the recording's start */
		const char *label_kind;
		double onset_s;
	} faults[MAX_FAULTS];
	unsigned nfaults;
	struct gain {
		uint32_t id;
		uint64_t frame;
		double g;
	} gains[MAX_FAULT_ARGS];
	unsigned ngains;
	const char *ground_truth, *alerts, *pcap;
	double alerts_wait, attack_rate[C_N];
	uint64_t seed, first_seq;
	int key_id; /* -1: each device's first key */
	unsigned threads, batch;
	bool quiet, uadp, precompute, hold;
	struct lg_loadgen_tx tx; /* --tx */
	uint8_t dst_mac[6];      /* --dst-mac, or the neighbour table's */
	bool dst_mac_set;
	/* --from DEVICE=FILE: recordings sent as enrolled devices, --pace, --labels; and which
	 * options were given (a recording sets what they otherwise default to) */
	struct from {
		char *device, *path;
		/* the --sample-rate and --scale given before it (0: none), and whether the rate
		 * came right before it (then over a rate the file carries, as linegate-train) */
		double rate, scale;
		bool rate_here;
	} from[MAX_FROM];
	unsigned nfrom;
	double pace;
	const char *labels;
	bool rate_set, frames_set, samples_set, channels_set, sample_rate_set, devices_set;
};

/* The sequence of fault i's onset frame: as sent, else as it would be (--first-seq + FRAME;
 * a recording's gaps leave sequence numbers out before it). */
static uint64_t onset_seq(const struct opts *o, const struct dev *d, unsigned i)
{
	return d->onset_seq ? d->onset_seq : d->seq0 + o->faults[i].frame + 1;
}

/* A fault's kind as said: the simulated kind, or the label's (--labels). */
static const char *fault_kind(const struct opts *o, unsigned i)
{
	return o->faults[i].label_kind ? o->faults[i].label_kind
				       : lg_fault_name(o->faults[i].kind);
}

/* --gain: the samples of the device's frame (seq_before: its seq before the frame's
 * sequence number was taken) times its gain from frame gain_from of this run on. */
static void apply_gain(const struct dev *d, float *fbuf, uint64_t seq_before)
{
	if (d->gain == 1.0 || seq_before - d->seq0 < d->gain_from)
		return;
	for (unsigned i = 0; i < d->samples; i++)
		fbuf[i] = (float)(fbuf[i] * d->gain);
}

static int build_good(struct dev *d, float *fbuf, int16_t *ibuf, uint8_t *out)
{
	const float scale = 1.0f / 1000.0f; /* int16 counts of 1 mg: +-32 g */
	struct lg_lgf_build b = {
		.device_id = d->pd->id, .key_id = d->key->id, .type = LGF_TYPE_SAMPLES,
		.sensor_kind = LGF_SENSOR_VIBRATION, .sample_format = LGF_FMT_I16,
		.channels = (uint8_t)d->channels, .sample_count = (uint16_t)d->samples,
		.sample_rate = (uint32_t)d->fs, .scale = scale, .sequence = ++d->seq,
		.timestamp_ns = wall_ns(), .samples = ibuf,
	};

	/* Channel c is the simulated axis at a gain of 1 - c/8 (interleaved), so that each
	 * channel's window differs and the frame's size is what the layout says. */
	lg_signal_fill(&d->sig, fbuf, d->samples);
	apply_gain(d, fbuf, d->seq - 1);
	for (unsigned i = 0; i < d->samples; i++) {
		for (unsigned c = 0; c < d->channels; c++) {
			double v = lrint(fbuf[i] * (1.0 - c / 8.0) / scale);

			ibuf[i * d->channels + c] =
				(int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
		}
	}
	return lg_lgf_encode(&b, d->key->bytes, LG_KEY_LEN, out, LGF_MAX_LEN);
}

/* --from: the recording's next frame, float32 as the file gave it (times --gain), all its
 * channels interleaved. */
static int build_file(struct dev *d, float *fbuf, uint8_t *out)
{
	unsigned nv = d->samples * d->channels;
	struct lg_lgf_build b = {
		.device_id = d->pd->id, .key_id = d->key->id, .type = LGF_TYPE_SAMPLES,
		.sensor_kind = LGF_SENSOR_VIBRATION, .sample_format = LGF_FMT_F32,
		.channels = (uint8_t)d->channels, .sample_count = (uint16_t)d->samples,
		.sample_rate = (uint32_t)lrint(d->fs), .sequence = ++d->seq,
		.timestamp_ns = wall_ns(), .samples = fbuf,
	};

	/* A gap in the recording (a cut for bad samples, a stop) is a sequence number left out,
	 * so that linegate starts a window after it as the trainer does (trial W M1: the
	 * segments went out back to back, and windows spanned the cuts). */
	if (lg_lgfile_next(d->src, fbuf)) {
		b.sequence = ++d->seq;
		d->skipped++;
	}
	if (d->gain != 1.0 && d->src->sent - 1 >= d->gain_from)
		for (unsigned i = 0; i < nv; i++)
			fbuf[i] = (float)(fbuf[i] * d->gain);
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

/* UADP for a UADP device (--uadp): one DataSetMessage per NetworkMessage, so a device known
 * by a position after the first (writer_position > 1) sends LGF instead. */
static bool sends_uadp(const struct opts *o, const struct lg_policy_device *pd)
{
	return o->uadp && pd->uadp_pub_type && !(pd->uadp_by_position && pd->uadp_writer > 1);
}

/*
 * The samples a UADP device with typed 'fields' carries a message: its longest Float or
 * Double array (the field linegate takes as its channel), at most n (--samples). It
 * simulates that many a message, so that its arrays hold consecutive samples: simulating
 * n and sending the first 64 of them made a 64-sample array jump 3/4 of the signal every
 * message, which the detectors rightly took for a fault (trial s14). 0: no such array.
 */
static unsigned uadp_samples(const struct lg_policy_device *pd, unsigned n)
{
	struct lg_uadp_layout lay;
	unsigned most = 0;

	if (lg_policy_uadp_layout(pd, &lay))
		return 0;
	for (unsigned i = 0; i < lay.nfields; i++) {
		const struct lg_uadp_raw_field *lf = &lay.fields[i];

		if (lf->max_len > most &&
		    (lf->type == LG_UADP_T_FLOAT || lf->type == LG_UADP_T_DOUBLE))
			most = lf->max_len;
	}
	return most < n ? most : n;
}

/* The same samples as one UADP NetworkMessage: PublisherId, GroupHeader with the
 * sequence, PayloadHeader, one key-frame DataSetMessage holding a Float array (or, for a
 * device with typed fields, RawData in their layout). */
static int build_uadp(struct dev *d, float *fbuf, struct lg_uadp_msg *m, uint8_t *out)
{
	const struct lg_policy_device *pd = d->pd;
	bool sign = pd->uadp_security != LG_UADP_SEC_NONE;
	bool has_pub = pd->uadp_pub_type - 1 != LG_ADMIT_UADP_PUBID_NONE;
	double dbuf[(LGF_MAX_LEN - LGF_MIN_LEN) / 2];
	struct lg_uadp_layout lay;
	struct lg_uadp_layouts lays = { &lay, 1 };

	lg_signal_fill(&d->sig, fbuf, d->samples);
	apply_gain(d, fbuf, d->seq);
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
					       .count = d->samples, .data = (const uint8_t *)fbuf };
	m->nfields = 1;
	if (!lg_policy_uadp_layout(pd, &lay)) {
		for (unsigned i = 0; i < d->samples; i++)
			dbuf[i] = fbuf[i];
		raw_fields(&lay, fbuf, dbuf, d->samples, m);
	}
	if (pd->uadp_security == LG_UADP_SEC_ENCRYPT) {
		m->sec_flags |= LG_UADP_S_ENCRYPTED;
		return lg_uadp_encode_keys(m, &lays, d->ukeys, out, LGF_MAX_LEN);
	}
	return lg_uadp_encode(m, &lays, d->key->bytes, LG_KEY_LEN, out, LGF_MAX_LEN);
}

/*
 * --tx afxdp/dpdk stopped with EMSGSIZE: a frame with its Ethernet, IP and UDP headers is
 * above the interface's MTU (l2_flush()). Name the MTU, the largest frame and the --samples
 * that fits with the most channels a device sends.
 */
static void say_too_long(const struct opts *o, bool afxdp, unsigned mtu, int family)
{
	unsigned ip = family == AF_INET6 ? 40 : 20, ch = 1, fit, biggest;

	for (unsigned i = 0; i < o->nchannels; i++)
		if (o->channels_list[i] > ch)
			ch = o->channels_list[i];
	biggest = 14 + ip + 8 + LGF_MIN_LEN + 2 * o->max_values;
	fit = mtu > ip + 8 + LGF_MIN_LEN ? (mtu - ip - 8 - LGF_MIN_LEN) / (2 * ch) : 0;
	fprintf(stderr, "linegate-loadgen: the largest LGF frame (--samples %u x --channels %u, "
			"int16) is %u bytes with its Ethernet, IP and UDP headers; the MTU of %s is "
			"%u (%u with Ethernet), and --tx %s sends no IP fragments: lower --samples "
			"to at most %u%s, or raise the MTU (ip link set IFNAME mtu N, on both ends)\n",
		o->samples, ch, biggest, afxdp ? o->tx.ifname : "the DPDK port", mtu, mtu + 14,
		afxdp ? "afxdp" : "dpdk", fit,
		ch > 1 ? " (with that many channels)" : "");
}

static int parse_fault(const char *s, struct opts *o)
{
	struct lg_loadgen_fault f = { .frame = UINT64_MAX, .kind = LG_FAULT_BEARING,
				      .severity = 1.0 };

	if (o->nfaults == MAX_FAULT_ARGS)
		return -E2BIG;
	if (lg_loadgen_parse_fault(s, &f))
		return -EINVAL;
	for (unsigned i = 0; i < o->nfaults; i++)
		if (o->faults[i].id == f.id)
			return -EEXIST;
	o->faults[o->nfaults++] = (struct fault){ f.id, f.frame, f.kind, f.severity };
	return 0;
}

/* --gain ID:FRAME:G */
static int parse_gain(const char *s, struct opts *o)
{
	unsigned long id;
	unsigned long long frame;
	double g;
	int end = 0;

	if (o->ngains == MAX_FAULT_ARGS)
		return -E2BIG;
	if (sscanf(s, "%lu:%llu:%lf%n", &id, &frame, &g, &end) != 3 || s[end] || !id ||
	    id > UINT32_MAX || !(g > 0) || !isfinite(g))
		return -EINVAL;
	for (unsigned i = 0; i < o->ngains; i++)
		if (o->gains[i].id == id)
			return -EEXIST;
	o->gains[o->ngains++] = (struct gain){ (uint32_t)id, frame, g };
	return 0;
}

/* --attack-rate KIND=FPS */
static int parse_attack_rate(const char *s, struct opts *o)
{
	static const char *const kinds[C_N] = { NULL, "unknown", "bad-tag", "replay", "malformed",
						 "spoof" };
	double fps;
	int c;

	if (lg_loadgen_parse_attack_rate(s, kinds, C_N, &c, &fps))
		return -EINVAL;
	o->attack_rate[c] = fps;
	return 0;
}

/* Frames waiting for one sendmmsg() on one socket. */
struct queue {
	int fd;
	unsigned n;
	struct mmsghdr *mm;
	struct iovec *iov;
	uint8_t *slots; /* batch x LGF_MAX_LEN: frames built here, unless precomputed */
	const struct dev **who; /* --pcap: whose source each frame carries */
	uint64_t *ts;           /* --pcap: each frame's scheduled time (this machine's clock) */
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
	pthread_t tid;
	atomic_uint *ready;     /* threads done preparing */
	const atomic_bool *go;  /* t0 is set: start */
	const uint64_t *t0;
	struct queue q[2]; /* 0: the devices' socket, 1: the spoofed source's */
	uint64_t queued;   /* frames sent before the current batch */
	/* faulty devices whose first faulty frame is in the current batch */
	struct dev *pending[MAX_FAULTS];
	unsigned npending;
	/* --pcap: the file instead of the sockets, the time frame 0 is due, the spoofed
	 * frames' source, an IPv4 id counter */
	pcap_dumper_t *dump;
	uint64_t pcap_base_ns;
	const struct sockaddr_storage *spoof_src;
	uint16_t ip_id;
	/* --tx afxdp: this thread's socket (on queue QUEUE + idx), the MACs, the MTU, and at
	 * the end what became of the frames */
	struct lg_xsk_tx *xsk;
	struct lg_dpdk_tx *dtx; /* --tx dpdk: this thread's TX queue (idx) of the port */
	const uint8_t *dst_mac, *src_mac;
	unsigned mtu;
	struct lg_xsk_tx_stats xst;
	float *fbuf;
	int16_t *ibuf;
	struct lg_uadp_msg umsg;
	uint64_t due_ns; /* --from: when the frame being queued is due, from t0 */
	uint8_t *pre; /* --precompute: the good frames back to back, 64-byte aligned */
	size_t pre_size;
	uint64_t *pre_off;
	uint32_t *pre_len;
	/* results */
	_Atomic uint64_t progress;
	atomic_bool finished;
	uint64_t sent[C_N], sent_uadp, end_ns;
	int err;
};

static int queue_init(struct queue *q, int fd, unsigned batch)
{
	q->fd = fd;
	q->n = 0;
	q->mm = calloc(batch, sizeof(*q->mm));
	q->iov = calloc(batch, sizeof(*q->iov));
	q->slots = malloc((size_t)batch * LGF_MAX_LEN);
	q->who = calloc(batch, sizeof(*q->who));
	q->ts = calloc(batch, sizeof(*q->ts));
	if (!q->mm || !q->iov || !q->slots || !q->who || !q->ts)
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
	free(q->who);
	free(q->ts);
}

static uint8_t *queue_slot(struct queue *q)
{
	return q->slots + (size_t)q->n * LGF_MAX_LEN;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The longest frame on the wire: Ethernet, IPv6, UDP, the longest LGF frame. */
#define L2_MAX_LEN (14 + 40 + 8 + LGF_MAX_LEN)

/*
 * Frame i of queue qi as it leaves, into pkt (room bytes): Ethernet to dst_mac, IPv4 (with
 * its checksum) or IPv6, UDP (with its checksum), from its device's bound source (address,
 * port or 40000, MAC or src_mac), or from --spoof-from for the spoofed ones, to the target.
 * Returns its length.
 */
static int frame_l2(struct sender *s, int qi, unsigned i, uint8_t *pkt, size_t room,
		    const uint8_t *dst_mac, const uint8_t *src_mac)
{
	struct queue *q = &s->q[qi];
	const struct msghdr *h = &q->mm[i].msg_hdr;
	const struct sockaddr_storage *to = h->msg_name;
	const struct lg_policy_device *pd = q->who[i]->pd;
	size_t len = q->iov[i].iov_len, l3, off;
	uint8_t src[16], dst[16];
	uint16_t sport = qi ? 40001 : pd->port ? pd->port : 40000, dport, ulen, v;
	int family = to->ss_family, alen = family == AF_INET ? 4 : 16;
	uint32_t sum;

	if ((family == AF_INET ? 14 + 20 + 8 : 14 + 40 + 8) + len > room)
		return -EMSGSIZE;

	if (qi) {
		const struct sockaddr_storage *sp = s->spoof_src;

		memcpy(src, sp->ss_family == AF_INET ?
			       (const void *)&((const struct sockaddr_in *)sp)->sin_addr :
			       (const void *)&((const struct sockaddr_in6 *)sp)->sin6_addr, alen);
	} else {
		if (pd->family != family)
			return -EAFNOSUPPORT;
		memcpy(src, pd->addr, alen);
	}
	if (family == AF_INET) {
		memcpy(dst, &((const struct sockaddr_in *)to)->sin_addr, 4);
		dport = ((const struct sockaddr_in *)to)->sin_port;
	} else {
		memcpy(dst, &((const struct sockaddr_in6 *)to)->sin6_addr, 16);
		dport = ((const struct sockaddr_in6 *)to)->sin6_port;
	}
	memcpy(pkt, dst_mac, 6);
	memcpy(pkt + 6, !qi && pd->has_mac ? pd->mac : src_mac, 6);
	pkt[12] = family == AF_INET ? 0x08 : 0x86;
	pkt[13] = family == AF_INET ? 0x00 : 0xdd;
	l3 = family == AF_INET ? 20 : 40;
	off = 14 + l3;
	ulen = (uint16_t)(8 + len);
	if (family == AF_INET) {
		uint8_t *ip = pkt + 14;

		memset(ip, 0, 20);
		ip[0] = 0x45;
		v = htons((uint16_t)(20 + ulen));
		memcpy(ip + 2, &v, 2);
		v = htons(s->ip_id++);
		memcpy(ip + 4, &v, 2);
		ip[6] = 0x40; /* DF */
		ip[8] = 64;
		ip[9] = IPPROTO_UDP;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		v = htons(csum_fold(csum_add(0, ip, 20)));
		memcpy(ip + 10, &v, 2);
	} else {
		uint8_t *ip = pkt + 14;

		memset(ip, 0, 40);
		ip[0] = 0x60;
		v = htons(ulen);
		memcpy(ip + 4, &v, 2);
		ip[6] = IPPROTO_UDP;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	}
	v = htons(sport);
	memcpy(pkt + off, &v, 2);
	memcpy(pkt + off + 2, &dport, 2);
	v = htons(ulen);
	memcpy(pkt + off + 4, &v, 2);
	memset(pkt + off + 6, 0, 2);
	memcpy(pkt + off + 8, q->iov[i].iov_base, len);
	/* the pseudo-header, then the datagram */
	sum = csum_add(0, src, alen);
	sum = csum_add(sum, dst, alen);
	sum += IPPROTO_UDP + ulen;
	v = htons(csum_fold(csum_add(sum, pkt + off, ulen)));
	if (!v)
		v = 0xffff;
	memcpy(pkt + off + 6, &v, 2);
	return (int)(off + ulen);
}

/* --pcap: frame i of queue qi, stamped with its scheduled time; the MACs are made up. */
static int pcap_write(struct sender *s, int qi, unsigned i)
{
	static const uint8_t dst_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const uint8_t local_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	struct queue *q = &s->q[qi];
	uint8_t pkt[L2_MAX_LEN];
	struct pcap_pkthdr ph;
	int len = frame_l2(s, qi, i, pkt, sizeof(pkt), dst_mac, local_mac);

	if (len < 0)
		return len;
	ph.ts.tv_sec = (time_t)(q->ts[i] / 1000000000ull);
	ph.ts.tv_usec = (suseconds_t)(q->ts[i] % 1000000000ull); /* a nanosecond dumper */
	ph.caplen = ph.len = (bpf_u_int32)len;
	pcap_dump((u_char *)s->dump, &ph, pkt);
	return 0;
}

/* --tx afxdp and --tx dpdk: the same three steps on an AF_XDP socket or a DPDK TX queue */
static int l2_reserve(struct sender *s, unsigned n, uint8_t **bufs)
{
	return s->dtx ? lg_dpdk_tx_reserve(s->dtx, n, bufs) : lg_xsk_tx_reserve(s->xsk, n, bufs);
}

static int l2_submit(struct sender *s, unsigned n, const uint32_t *lens)
{
	return s->dtx ? lg_dpdk_tx_submit(s->dtx, n, lens) : lg_xsk_tx_submit(s->xsk, n, lens);
}

static void l2_cancel(struct sender *s)
{
	if (s->dtx)
		lg_dpdk_tx_cancel(s->dtx);
	else
		lg_xsk_tx_cancel(s->xsk);
}

/*
 * --tx afxdp and dpdk: both queues' frames (the devices', then the spoofed ones, as
 * sendmmsg sends them) built whole into UMEM frames or mbufs, onto the TX ring in batches
 * of what is free. A frame longer than the interface's MTU would be dropped by the device,
 * unseen: neither sends IP fragments, so the run stops there with EMSGSIZE instead.
 */
static int l2_flush(struct sender *s)
{
	size_t room = s->dtx ? lg_dpdk_tx_room(s->dtx) : LG_XSK_TX_ROOM;
	uint8_t *bufs[1024];
	uint32_t lens[1024];

	for (int qi = 0; qi < 2; qi++) {
		struct queue *q = &s->q[qi];
		unsigned done = 0;

		while (done < q->n) {
			unsigned want = q->n - done < 1024 ? q->n - done : 1024;
			int got = l2_reserve(s, want, bufs), ret;

			if (got < 0)
				return got;
			for (int k = 0; k < got; k++) {
				unsigned i = done + (unsigned)k;
				int len = frame_l2(s, qi, i, bufs[k], room, s->dst_mac,
						   s->src_mac);

				if (len > 0 && (unsigned)len > s->mtu + 14)
					len = -EMSGSIZE;
				if (len < 0) {
					l2_cancel(s);
					return len;
				}
				lens[k] = (uint32_t)len;
			}
			ret = l2_submit(s, (unsigned)got, lens);
			if (ret)
				return ret;
			done += (unsigned)got;
		}
		q->n = 0;
	}
	return 0;
}

/* --pcap: both queues' frames into the file in the order they were queued (their times). */
static int pcap_flush(struct sender *s)
{
	unsigned i = 0, j = 0;

	while (i < s->q[0].n || j < s->q[1].n) {
		bool first = j == s->q[1].n || (i < s->q[0].n && s->q[0].ts[i] <= s->q[1].ts[j]);
		int ret = first ? pcap_write(s, 0, i++) : pcap_write(s, 1, j++);

		if (ret)
			return ret;
	}
	s->q[0].n = s->q[1].n = 0;
	return 0;
}

static int queue_send(struct sender *s, int qi)
{
	struct queue *q = &s->q[qi];
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
	if (s->rate > 0 && !s->dump) {
		uint64_t due = *s->t0 + (uint64_t)((s->queued + n - 1) * 1e9 / s->rate);

		if (due > now_ns())
			sleep_until(due);
	}
	for (int i = 0; i < 2; i++) {
		ret = s->dump ? pcap_flush(s) : s->xsk || s->dtx ? l2_flush(s) : queue_send(s, i);
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < s->npending; i++) {
		s->pending[i]->onset_host_ns = host_ns();
		s->pending[i]->onset_wall_ns = wall_ns();
	}
	s->npending = 0;
	s->queued += n;
	atomic_store_explicit(&s->progress, s->queued, memory_order_relaxed);
	return 0;
}

/* --pcap: the time the pacing gives the next frame queued (this machine's clock). */
static uint64_t sched_ns(const struct sender *s)
{
	uint64_t k = s->queued + s->q[0].n + s->q[1].n;
	struct timespec ts;

	if (s->o->nfrom && s->o->pace > 0)
		return s->pcap_base_ns + s->due_ns;
	if (s->rate > 0)
		return s->pcap_base_ns + (uint64_t)(k * 1e9 / s->rate);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Queue len bytes at buf (in the queue's next slot, or precomputed) of device d for to. */
static int queue_add(struct sender *s, int qi, const struct dev *d, const uint8_t *buf, int len,
		     const struct sockaddr_storage *to, socklen_t tolen)
{
	struct queue *q = &s->q[qi];
	struct msghdr *h = &q->mm[q->n].msg_hdr;

	q->who[q->n] = d;
	if (s->dump)
		q->ts[q->n] = sched_ns(s);

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

static bool as_uadp(const struct sender *s, const struct dev *d)
{
	return sends_uadp(s->o, d->pd);
}

static int build(struct sender *s, struct dev *d, uint8_t *out)
{
	if (d->src)
		return build_file(d, s->fbuf, out);
	if (as_uadp(s, d))
		return build_uadp(d, s->fbuf, &s->umsg, out);
	return build_good(d, s->fbuf, s->ibuf, out);
}

static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* --precompute simulates this many frames of samples per device, then repeats them. */
#define PRE_DISTINCT 64
/* ... but a thread simulates at most this many in all (at least 4 a device): 4096 devices
 * x 64 took 18 s before the clock started, 16384 frames take about one. */
#define PRE_DISTINCT_ALL 16384

/* How many frames of each of this thread's devices --precompute simulates. */
static uint64_t pre_distinct(const struct sender *s)
{
	uint64_t n = PRE_DISTINCT_ALL / s->ndev;

	return n > PRE_DISTINCT ? PRE_DISTINCT : n < 4 ? 4 : n;
}

/* Frame g again with the samples of frame g - pre_distinct() * ndev of the same device, and
 * its own sequence, timestamp and tag. */
static int pre_repeat(struct sender *s, struct dev *d, uint64_t g, uint8_t *out)
{
	uint64_t gs = g - pre_distinct(s) * s->ndev, v;
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
 * signal simulation costs tens of microseconds a frame, so only the first pre_distinct()
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
		int len = g >= pre_distinct(s) * s->ndev && !as_uadp(s, d) ?
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
				uint32_t id = htole32(lg_loadgen_unknown_id(s->attack_base[c] +
									    s->sent[c]));

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
			ret = queue_add(s, qi, d, a, alen, s->dst, s->dstlen);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/*
 * Queue good frame g (from 0) of device d, its attack mix, and note its fault's onset.
 * next: run_sender()'s attack schedule.
 */
static int send_good(struct sender *s, uint64_t g, struct dev *d, uint64_t *next)
{
	const struct opts *o = s->o;
	bool uadp = as_uadp(s, d);
	const uint8_t *frame;
	int len, ret;

	if (s->dump)
		virt_host_ns = sched_ns(s);
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
	/* frame FRAME of the run (from 0) is the one after FRAME healthy ones, whatever
	 * sequence number the run started at (--first-seq) */
	if (d->fault >= 0 && (d->src ? d->src->sent : d->seq - d->seq0) ==
				     o->faults[d->fault].frame + 1) {
		d->onset_seq = d->seq;
		if (s->dump) {
			d->onset_host_ns = virt_host_ns;
			d->onset_wall_ns = wall_ns();
		} else {
			s->pending[s->npending++] = d;
		}
	}
	s->sent[C_GOOD]++;
	if (uadp)
		s->sent_uadp++;
	ret = queue_add(s, 0, d, s->pre ? frame : queue_slot(&s->q[0]), len,
			uadp ? s->udst : s->dst, uadp ? s->udstlen : s->dstlen);
	if (ret)
		return ret;
	/* The attack mix is LGF: it rides on the LGF devices' frames only. */
	return uadp ? 0 : queue_attacks(s, g, d, frame, len, next);
}

/*
 * --from: this thread's recordings merged by time: the next frame is the one whose last
 * sample falls first; at --pace F it leaves when that time over F has passed since the
 * run's start (frames already queued go first), at --pace 0 at once.
 */
static int send_files(struct sender *s, uint64_t *next)
{
	const struct opts *o = s->o;
	int ret;

	for (uint64_t g = 0; !stop && !atomic_load(&failed); g++) {
		struct dev *d = NULL;
		double t = 0;

		for (unsigned k = 0; k < s->ndev; k++) {
			struct dev *c = &s->devs[s->idx + k * s->stride];
			double tc = lg_lgfile_due(c->src);

			if (tc >= 0 && (!d || tc < t)) {
				d = c;
				t = tc;
			}
		}
		if (!d)
			break;
		if (o->pace > 0) {
			s->due_ns = (uint64_t)(t / o->pace * 1e9);
			if (!s->dump && *s->t0 + s->due_ns > now_ns()) {
				ret = flush(s);
				if (ret)
					return ret;
				sleep_until(*s->t0 + s->due_ns);
			}
		}
		ret = send_good(s, g, d, next);
		if (ret)
			return ret;
	}
	return 0;
}

static int run_sender(struct sender *s)
{
	uint64_t next[C_N];
	int ret = 0;

	/* Attack class c's k-th frame goes out after good frame floor((k+0.5)*G/A_c). */
	for (int c = 1; c < C_N; c++)
		next[c] = s->attacks[c] ? (uint64_t)(0.5 * s->good / s->attacks[c]) : UINT64_MAX;
	if (s->o->nfrom)
		ret = send_files(s, next);
	for (uint64_t g = 0; !s->o->nfrom && g < s->good && !stop && !atomic_load(&failed) && !ret;
	     g++)
		ret = send_good(s, g, sender_dev(s, g), next);
	if (ret)
		return ret;
	ret = flush(s);
	/* --tx afxdp: the run ends when the kernel has sent (or refused) every frame; what it
	 * still holds after a second is counted as refused in the summary */
	if (!ret && s->xsk) {
		ret = lg_xsk_tx_drain(s->xsk, 1000000000ull);
		if (ret == -ETIMEDOUT)
			ret = 0;
	}
	return ret;
}

/* The incident that --alerts found for a fault: MTTI = opened - onset (this machine's clock) */
struct mtti {
	bool found;
	uint64_t opened_ns;
	char incident[96];
	/* the device's last incident opened before the onset (0: none): it may still be open,
	 * and linegate then updates it rather than opening another (trial W M2) */
	uint64_t before_ns;
	char before[96];
};

/* When this run started, this machine's clock: --alerts counts the incidents of devices
 * without a fault from then on, not those of earlier runs in the same file (trial W M2). */
static uint64_t run_start_host_ns;

static void utc_string(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRIu64 "Z", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (uint64_t)(ns % 1000000000ull));
}

/*
 * Read linegate's JSON lines and match each fault to the first incident its device opened
 * at or after the fault's onset ("opened" has millisecond resolution: 1 ms of slack).
 * Returns the faults matched; *false_opens: incidents opened by devices without a fault,
 * or before their fault's onset.
 */
static unsigned match_incidents(const struct opts *o, const struct dev *devs,
				const unsigned *fault_idx, struct mtti *m, unsigned *false_opens)
{
	FILE *f = fopen(o->alerts, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned found = 0;

	*false_opens = 0;
	memset(m, 0, sizeof(*m) * o->nfaults);
	if (!f)
		return 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		uint64_t opened, dev;
		char inc[sizeof(m->incident)];
		bool ours = false;

		if (lg_loadgen_incident_open(line, (size_t)n, &dev, &opened, inc, sizeof(inc)) != 1)
			continue; /* another kind of line, or one still being written */
		for (unsigned i = 0; i < o->nfaults; i++) {
			const struct dev *d = &devs[fault_idx[i]];

			if (o->faults[i].id != dev || !d->onset_host_ns)
				continue;
			if (opened + 1000000 < d->onset_host_ns) {
				if (opened >= m[i].before_ns) {
					m[i].before_ns = opened;
					memcpy(m[i].before, inc, sizeof(inc));
				}
				continue;
			}
			ours = true;
			if (!m[i].found) {
				m[i].found = true;
				m[i].opened_ns = opened;
				memcpy(m[i].incident, inc, sizeof(inc));
				found++;
			}
		}
		if (!ours && opened + 1000000 >= run_start_host_ns)
			++*false_opens;
	}
	free(line);
	fclose(f);
	return found;
}

/* --alerts: wait up to --alerts-wait for every fault's incident, then say what was found
 * (also with --quiet: it is the run's result, not progress). */
static void wait_incidents(const struct opts *o, const struct dev *devs,
			   const unsigned *fault_idx, struct mtti *m)
{
	uint64_t end = now_ns() + (uint64_t)(o->alerts_wait * 1e9);
	unsigned false_opens = 0;

	while (match_incidents(o, devs, fault_idx, m, &false_opens) < o->nfaults && !stop &&
	       now_ns() < end) {
		struct timespec ms100 = { 0, 100000000 };

		nanosleep(&ms100, NULL);
	}
	if (access(o->alerts, R_OK))
		fprintf(stderr, "linegate-loadgen: --alerts %s: %s: no incident can be found in "
			"it\n", o->alerts, strerror(errno));
	for (unsigned i = 0; i < o->nfaults; i++) {
		const struct dev *d = &devs[fault_idx[i]];
		double ms = ((double)m[i].opened_ns - (double)d->onset_host_ns) / 1e6;

		fprintf(stderr, "loadgen: fault %u: device %u %s from frame %" PRIu64 " (sequence %"
			PRIu64 "): ", i + 1, o->faults[i].id, fault_kind(o, i), o->faults[i].frame,
			onset_seq(o, d, i));
		if (m[i].found) /* "opened" has ms resolution: not -0.0 */
			fprintf(stderr, "incident %s open after %.1f ms (MTTI)\n", m[i].incident,
				ms < 0 ? 0 : ms);
		else if (!d->onset_host_ns)
			fprintf(stderr, "its onset frame was not sent (the run stopped before it)\n");
		else if (m[i].before_ns)
			fprintf(stderr, "no incident opened after its onset in %s within %.1f s; "
				"incident %s of this device opened %.1f s before the onset and may "
				"still be open (linegate updates an open incident rather than opening "
				"another)\n", o->alerts, o->alerts_wait, m[i].before,
				((double)d->onset_host_ns - (double)m[i].before_ns) / 1e9);
		else
			fprintf(stderr, "no incident in %s within %.1f s\n", o->alerts,
				o->alerts_wait);
	}
	if (false_opens)
		fprintf(stderr, "loadgen: %u incident%s opened in this run by devices without a "
			"fault, or before it\n", false_opens, false_opens == 1 ? "" : "s");
}

/* "severity", and for a labelled fault (--labels) null and its "onset_s" instead */
static void put_severity(FILE *f, const struct opts *o, unsigned i)
{
	if (o->faults[i].severity >= 0)
		fprintf(f, "\"severity\":%g", o->faults[i].severity);
	else
		fprintf(f, "\"severity\":null,\"onset_s\":%.6f", o->faults[i].onset_s);
}

/* "faults": every fault with its onset and, with --alerts, its MTTI (null: none found) */
static void write_faults(FILE *f, const struct opts *o, const struct dev *devs,
			 const unsigned *fault_idx, const struct mtti *m)
{
	double sum = 0;
	unsigned n = 0, false_opens = 0;

	fputs(",\"faults\":[", f);
	for (unsigned i = 0; i < o->nfaults; i++) {
		const struct dev *d = &devs[fault_idx[i]];

		fprintf(f, "%s{\"device\":%u,\"name\":\"%s\",\"kind\":\"%s\",", i ? "," : "",
			o->faults[i].id, d->pd->name, fault_kind(o, i));
		put_severity(f, o, i);
		fprintf(f, ",\"onset_frame\":%" PRIu64 ",\"onset_seq\":%" PRIu64
			   ",\"onset_wall_ns\":%" PRIu64 ",\"onset_host_ns\":%" PRIu64,
			o->faults[i].frame, onset_seq(o, d, i), d->onset_wall_ns,
			d->onset_host_ns);
		/* as in --ground-truth: false when the run stopped before its onset frame */
		fprintf(f, ",\"sent\":%s", d->onset_host_ns ? "true" : "false");
		if (m && m[i].found) {
			double ms = ((double)m[i].opened_ns - (double)d->onset_host_ns) / 1e6;

			ms = ms < 0 ? 0 : ms; /* within the 1 ms "opened" resolution */
			fprintf(f, ",\"incident\":\"%s\",\"mtti_ms\":%.1f", m[i].incident, ms);
			sum += ms;
			n++;
		} else if (m) {
			fputs(",\"incident\":null,\"mtti_ms\":null", f);
		}
		fputc('}', f);
	}
	fputc(']', f);
	if (m) {
		struct mtti again[MAX_FAULTS];

		match_incidents(o, devs, fault_idx, again, &false_opens);
		fprintf(f, ",\"faults_with_incident\":%u,\"false_incidents\":%u", n, false_opens);
		if (n)
			fprintf(f, ",\"mtti_ms_mean\":%.1f", sum / n);
		else
			fputs(",\"mtti_ms_mean\":null", f);
	}
}

/* --ground-truth: one JSON line per fault; a fault whose onset frame was never sent has
 * "sent":false and no times. */
static int write_ground_truth(const char *path, const struct opts *o, const struct dev *devs,
			      const unsigned *fault_idx, char *err, size_t errlen)
{
	FILE *f = lg_outpath_fopen(path, "w", err, errlen);

	if (!f)
		return -errno;
	for (unsigned i = 0; i < o->nfaults; i++) {
		const struct dev *d = &devs[fault_idx[i]];
		char when[48];

		fprintf(f, "{\"device\":%u,\"name\":\"%s\",\"kind\":\"%s\",", o->faults[i].id,
			d->pd->name, fault_kind(o, i));
		put_severity(f, o, i);
		fprintf(f, ",\"onset_frame\":%" PRIu64 ",\"onset_seq\":%" PRIu64,
			o->faults[i].frame, onset_seq(o, d, i));
		if (d->onset_host_ns) {
			utc_string(d->onset_wall_ns, when, sizeof(when));
			fprintf(f, ",\"sent\":true,\"onset_time\":\"%s\",\"onset_wall_ns\":%" PRIu64
				   ",\"onset_host_ns\":%" PRIu64 ",\"clock_offset_ns\":%" PRId64
				   "}\n", when, d->onset_wall_ns, d->onset_host_ns,
				clock_offset_ns);
		} else {
			fputs(",\"sent\":false}\n", f);
		}
	}
	if (fclose(f)) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	return 0;
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
	lg_xsk_tx_close(s->xsk);
	lg_dpdk_tx_close(s->dtx);
	if (s->pre)
		munmap(s->pre, s->pre_size);
	free(s->pre_len);
	free(s->pre_off);
	free(s->fbuf);
	free(s->ibuf);
}

/* --tx afxdp: how many queues IFNAME has (the larger of RX and TX, as AF_XDP binds), from
 * /sys/class/net/IFNAME/queues/ (this network namespace's /sys: `ip netns exec` mounts it). */
static unsigned if_queues(const char *ifname)
{
	unsigned n[2] = { 0, 0 };
	char path[128];

	for (int dir = 0; dir < 2; dir++) {
		for (;; n[dir]++) {
			snprintf(path, sizeof(path), "/sys/class/net/%s/queues/%s-%u", ifname,
				 dir ? "tx" : "rx", n[dir]);
			if (access(path, F_OK))
				break;
		}
	}
	return n[0] > n[1] ? n[0] : n[1];
}

/* --tx afxdp: IFNAME's own MAC and MTU. */
static int if_mac_mtu(const char *ifname, uint8_t mac[6], unsigned *mtu)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		ret = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	if (!ret && ioctl(fd, SIOCGIFMTU, &ifr))
		ret = -errno;
	else if (!ret)
		*mtu = (unsigned)ifr.ifr_mtu;
	close(fd);
	return ret;
}

/* --tx afxdp without --dst-mac: the target's MAC from the kernel's IPv4 neighbour table on
 * IFNAME (-ENOENT: no complete entry; IPv6 is not looked up: -EAFNOSUPPORT). */
static int neigh_mac(const char *ifname, const struct sockaddr_storage *dst, uint8_t mac[6])
{
	struct arpreq r = { 0 };
	struct sockaddr_in *pa = (struct sockaddr_in *)&r.arp_pa;
	int fd, ret = 0;

	if (dst->ss_family != AF_INET)
		return -EAFNOSUPPORT;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	pa->sin_family = AF_INET;
	pa->sin_addr = ((const struct sockaddr_in *)dst)->sin_addr;
	snprintf(r.arp_dev, sizeof(r.arp_dev), "%s", ifname);
	if (ioctl(fd, SIOCGARP, &r))
		ret = errno == ENXIO ? -ENOENT : -errno;
	else if (!(r.arp_flags & ATF_COM))
		ret = -ENOENT;
	else
		memcpy(mac, r.arp_ha.sa_data, 6);
	close(fd);
	return ret;
}

/* The policy device that a --from names: by name, else by a decimal id. */
static const struct lg_policy_device *policy_device(const struct lg_policy *p, const char *name)
{
	char *end;
	unsigned long id;

	for (size_t i = 0; i < p->ndevices; i++)
		if (!strcmp(p->devices[i].name, name))
			return &p->devices[i];
	errno = 0;
	id = strtoul(name, &end, 10);
	for (size_t i = 0; !errno && !*end && end != name && i < p->ndevices; i++)
		if (p->devices[i].id == id)
			return &p->devices[i];
	return NULL;
}

/*
 * --from: read each recording as its policy device's (devs[i].pd), at the device's policy
 * sample_rate where the file has no rate of its own (else --sample-rate), and cut it in
 * frames: --samples per channel, or the most (a power of two up to 256) that fit with all
 * the file's channels in one datagram of a 1500-byte MTU (an IP fragment is dropped by
 * linegate unless the policy says fragments: reassemble). Says each recording on stderr.
 */
/* Each channel's rms and peak, as linegate-train prints them for the same file: a --scale in
 * the wrong place shows as other levels than the trainer's (trial W2 N4). */
static void say_levels(const struct lg_lgfile *f)
{
	const struct lg_ingest_dev *d = f->dev;

	fputs("; rms", stderr);
	for (unsigned c = 0; c < d->channels && c < 4; c++) {
		double ss = 0, peak = 0;
		size_t n = 0;

		for (size_t k = 0; k < d->nseg; k++) {
			const float *x = d->seg[k].x + (size_t)c * d->seg[k].cap;

			for (size_t i = 0; i < d->seg[k].n; i++) {
				ss += (double)x[i] * x[i];
				peak = fabs(x[i]) > peak ? fabs(x[i]) : peak;
			}
			n += d->seg[k].n;
		}
		fprintf(stderr, "%s %.4g (peak %.4g)", c ? "," : "", n ? sqrt(ss / n) : 0, peak);
	}
	if (d->channels > 4)
		fprintf(stderr, ", ... (%u channels)", d->channels);
}

static int open_recordings(struct opts *o, const struct lg_policy *p, int family,
			   struct dev *devs, struct lg_lgfile *src)
{
	unsigned room = (family == AF_INET6 ? 1452 : 1472) - LGF_MIN_LEN, nd = 0;
	char err[1024], stem[LG_INGEST_NAME_MAX];

	/* Each file into its device's recording: a device named again gets the file after its
	 * others, as its own segment, as linegate-train appends a device's files. */
	for (unsigned i = 0; i < o->nfrom; i++) {
		const char *name = o->from[i].device;
		const struct lg_policy_device *pd;
		struct lg_ingest_opts io;
		unsigned k;
		int ret;

		if (!name) {
			/* a capture is no one device's (trial W M5: it was said an unknown one) */
			if (lg_ingest_is_capture(o->from[i].path)) {
				fprintf(stderr, "linegate-loadgen: --from %s: a capture holds its "
					"devices' own frames: replay it with linegate --backend "
					"pcap:file=%s (docs/replay.md), not --from\n",
					o->from[i].path, o->from[i].path);
				return -EINVAL;
			}
			/* what linegate-train names it */
			lg_ingest_stem(o->from[i].path, stem, sizeof(stem));
			name = stem;
		}
		pd = policy_device(p, name);
		if (!pd) {
			fprintf(stderr, "linegate-loadgen: --from %s%s%s: the policy %s enrolls no "
				"device '%s' (name or id)%s\n", o->from[i].device ? name : "",
				o->from[i].device ? "=" : "", o->from[i].path, o->policy, name,
				o->from[i].device ? "" : ": without DEVICE=, the file's stem names it");
			return -ENOENT;
		}
		for (k = 0; k < nd && devs[k].pd != pd; k++)
			;
		/* as linegate-train: the --sample-rate given before it for a file without a rate
		 * of its own (right before it: over the file's), and its --scale; else the
		 * device's policy sample_rate */
		if (o->from[i].rate > 0)
			io = (struct lg_ingest_opts){ .rate = o->from[i].rate,
						      .rate_here = o->from[i].rate_here };
		else
			io = (struct lg_ingest_opts){ .rate = pd->sample_rate,
						      .rate_said = "the policy's sample_rate" };
		io.scale = o->from[i].scale;
		io.device = pd->name;
		io.policy = p; /* its devices' ranges */
		io.bad_samples = p->bad_samples; /* drop or mask, as linegate-train with it */
		if (k == nd) {
			devs[nd++].pd = pd;
			ret = lg_lgfile_open(&src[k], o->from[i].path, &io, err, sizeof(err));
		} else {
			ret = lg_lgfile_add(&src[k], o->from[i].path, &io, err, sizeof(err));
		}
		if (ret) {
			fprintf(stderr, "linegate-loadgen: --from %s\n", err);
			return -EINVAL;
		}
		if (!o->quiet && src[k].in.notes_len)
			fprintf(stderr, "%.*s%s", (int)src[k].in.notes_len, src[k].in.notes,
				src[k].in.notes[src[k].in.notes_len - 1] == '\n' ? "" : "\n");
		if (src[k].in.bad.dropped)
			fprintf(stderr, "loadgen: WARNING: %s: %" PRIu64 " sample row%s with a NaN, "
				"+-Inf or out-of-range value left out, the first at %s: the recording "
				"is cut there (as linegate-train cuts it), and a sequence number is left "
				"out at each cut so that linegate starts its windows again after it\n",
				o->from[i].path, src[k].in.bad.dropped,
				src[k].in.bad.dropped == 1 ? "" : "s", src[k].in.bad.first);
	}
	o->devices = nd;
	/* Each device's recording in frames. */
	for (unsigned k = 0; k < nd; k++) {
		const struct lg_policy_device *pd = devs[k].pd;
		struct lg_lgfile *f = &src[k];
		const char *what = f->in.files[0];
		double rate = f->dev->rate;
		unsigned ch = f->dev->channels, n;
		char files[64];

		if (f->in.nfiles > 1) {
			snprintf(files, sizeof(files), "%zu files", f->in.nfiles);
			what = files;
		}
		if (pd->sample_rate && fabs(rate - pd->sample_rate) > 0.5) {
			fprintf(stderr, "linegate-loadgen: --from %s: %g Hz, but the policy gives "
				"%s (id %u) sample_rate %u: linegate would drop every frame as "
				"sample_rate; send it as the device it was recorded from, or correct "
				"the policy\n", what, rate, pd->name, pd->id, pd->sample_rate);
			return -EINVAL;
		}
		if (fabs(rate - lrint(rate)) > 0.01 || rate < 1 || rate > 4e9) {
			fprintf(stderr, "linegate-loadgen: --from %s: %g Hz: an LGF frame carries a "
				"whole number of samples per second (1..4e9)\n", what, rate);
			return -EINVAL;
		}
		if (o->samples_set) {
			n = o->samples_list[k % o->nsamples];
		} else {
			for (n = 256; n > 1 && n * ch * 4 > room; n /= 2)
				;
		}
		if ((size_t)n * ch * 4 > LGF_MAX_LEN - LGF_MIN_LEN || n > 65535) {
			fprintf(stderr, "linegate-loadgen: --from %s: --samples %u x %u channels in "
				"float32 is %u bytes, more than one LGF frame holds (%d): give "
				"--samples %u or fewer\n", what, n, ch, n * ch * 4,
				LGF_MAX_LEN - LGF_MIN_LEN, (LGF_MAX_LEN - LGF_MIN_LEN) / (4 * ch));
			return -E2BIG;
		}
		if (n * ch * 4 > room)
			fprintf(stderr, "loadgen: WARNING: --from %s: a frame of %u samples x %u "
				"channels is %u bytes, above one datagram on a 1500-byte MTU: it "
				"leaves as IP fragments, which linegate drops unless its policy says "
				"'fragments: reassemble' (or the path has a larger MTU)%s\n",
				what, n, ch, n * ch * 4 + LGF_MIN_LEN, o->pcap ?
				"; --pcap writes it whole, and a replay admits what the wire would "
				"not" : "");
		lg_lgfile_frames(f, n, o->frames_set ? o->frames : 0);
		if (!f->frames) {
			/* (trial W2 N7: --scale 1e30 made every row out of range, said as this) */
			fprintf(stderr, "linegate-loadgen: --from %s: no segment of its %zu holds a "
				"frame of %u samples%s\n", what, f->dev->nseg, n,
				f->in.st.bad_dropped ? ": its sample rows were left out as bad samples "
				"(NaN, +-Inf, or past the device's range, else +-1e12, once times --scale; "
				"the warning above says where the first was)" : "");
			return -ENODATA;
		}
		devs[k].src = f;
		devs[k].fs = (double)lrint(rate);
		devs[k].samples = n;
		devs[k].channels = ch;
		if (o->quiet)
			continue;
		fprintf(stderr, "loadgen: %s (id %u) from %s: %g Hz, %u channel%s, %.3f s, %" PRIu64
			" frames of %u samples", pd->name, pd->id, what, rate, ch,
			ch == 1 ? "" : "s", lg_ingest_seconds(f->dev), f->frames, n);
		/* -n: what is sent of it (trial W3 F5: the whole file's length was said) */
		if (o->frames_set && lg_lgfile_last_end(f) < lg_ingest_end(f->dev) - (double)n /
								   rate)
			fprintf(stderr, " (-n: its first %.3f s sent; the rms and peaks are the "
				"whole file's)", lg_lgfile_last_end(f));
		if (f->dev->nseg > 1)
			fprintf(stderr, ", %zu segments", f->dev->nseg);
		if (f->left_out)
			fprintf(stderr, " (%" PRIu64 " samples a channel after the last whole frame%s "
				"left out)", f->left_out, f->dev->nseg > 1 ? "s of segments" : "");
		say_levels(f);
		fputc('\n', stderr);
	}
	return 0;
}

/*
 * --from: each recording against its device's detector in the policy's model (a
 * linegate-detectors file): linegate drops every frame of a device whose channels or rate
 * are not its detector's (drop reasons channels, sample_rate), so that is said before the
 * run (trial W2: a 1-channel file went to a 2-channel detector without a word). A model of
 * another kind, or one linegated's registry runs instead, is not read.
 */
static void check_model(const struct opts *o, const struct lg_policy *p, const struct dev *devs)
{
	json_object *m = p->model[0] ? json_object_from_file(p->model) : NULL, *dets, *fmt;

	if (!m || !json_object_object_get_ex(m, "format", &fmt) ||
	    strncmp(json_object_get_string(fmt), "linegate-detectors", 18) ||
	    !json_object_object_get_ex(m, "detectors", &dets)) {
		json_object_put(m);
		return;
	}
	for (unsigned i = 0; i < o->devices; i++) {
		const struct dev *d = &devs[i];

		for (size_t k = 0; k < json_object_array_length(dets); k++) {
			json_object *e = json_object_array_get_idx(dets, k), *names, *dm, *v;
			bool mine = false;
			int ch = 0;
			double rate = 0;

			if (!json_object_object_get_ex(e, "devices", &names) ||
			    !json_object_object_get_ex(e, "model", &dm))
				continue;
			for (size_t j = 0; j < json_object_array_length(names); j++)
				mine |= !strcmp(json_object_get_string(
							json_object_array_get_idx(names, j)),
						d->pd->name);
			if (!mine)
				continue;
			if (json_object_object_get_ex(dm, "channels", &v))
				ch = json_object_get_int(v);
			if (json_object_object_get_ex(dm, "sample_rate", &v))
				rate = json_object_get_double(v);
			else if (json_object_object_get_ex(m, "sample_rate", &v))
				rate = json_object_get_double(v);
			if (ch > 0 && (unsigned)ch != d->channels)
				fprintf(stderr, "loadgen: WARNING: %s: its recording has %u channel%s, "
					"its detector in %s reads %d: linegate drops every frame of it "
					"(drop reason channels)\n", d->pd->name, d->channels,
					d->channels == 1 ? "" : "s", p->model, ch);
			if (rate > 0 && fabs(rate - d->fs) > 0.5)
				fprintf(stderr, "loadgen: WARNING: %s: its recording is at %g Hz, its "
					"detector in %s reads %g Hz: linegate drops every frame of it "
					"(drop reason sample_rate)\n", d->pd->name, d->fs, p->model,
					rate);
			break;
		}
	}
	json_object_put(m);
}

/* Seconds to the end of the last frame of the longest recording: the run at --pace 1. */
static double longest_s(const struct dev *devs, unsigned n)
{
	double most = 0;

	for (unsigned i = 0; i < n; i++)
		if (lg_lgfile_last_end(devs[i].src) > most)
			most = lg_lgfile_last_end(devs[i].src);
	return most;
}

/*
 * --from over UDP sockets: the address this host sends to the target from (--source, or the
 * route's), against each device's policy source. A device enrolled from another address has
 * every frame dropped by linegate as spoofed_source: said at the start (trial W M5), not left
 * to the counters.
 */
static void say_source(const struct opts *o, const struct dev *devs,
		       const struct sockaddr_storage *dst, socklen_t dstlen)
{
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);
	int fd = open_sock(dst->ss_family, o->source);
	unsigned n = 0, first = 0;
	char mine[INET6_ADDRSTRLEN] = "?", want[INET6_ADDRSTRLEN] = "?";
	const void *ma;

	if (fd < 0)
		return;
	if (connect(fd, (const struct sockaddr *)dst, dstlen) ||
	    getsockname(fd, (struct sockaddr *)&me, &len)) {
		close(fd);
		return;
	}
	close(fd);
	ma = me.ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)&me)->sin_addr
				     : (const void *)&((struct sockaddr_in6 *)&me)->sin6_addr;
	for (unsigned i = 0; i < o->devices; i++) {
		const struct lg_policy_device *pd = devs[i].pd;

		if (pd->family != me.ss_family ||
		    !memcmp(pd->addr, ma, me.ss_family == AF_INET ? 4 : 16))
			continue;
		if (!n++)
			first = i;
	}
	if (!n)
		return;
	inet_ntop(me.ss_family, ma, mine, sizeof(mine));
	inet_ntop(devs[first].pd->family, devs[first].pd->addr, want, sizeof(want));
	fprintf(stderr, "loadgen: WARNING: %u device%s enrolled from another address than this "
		"host sends from (%s from %s; this host from %s): linegate drops %s frames as "
		"spoofed_source; send from the address the policy gives (-S %s, on a host or "
		"network namespace that holds it)\n", n, n == 1 ? "" : "s", devs[first].pd->name,
		want, mine, n == 1 ? "its" : "their", want);
}

/* A label's kind goes into JSON lines as it is: no quote, backslash or control character. */
static bool json_plain(const char *t)
{
	for (; *t; t++)
		if (*t == '"' || *t == '\\' || (unsigned char)*t < 0x20)
			return false;
	return true;
}

/*
 * --labels: each labelled device that is sent becomes a fault whose onset is the frame its
 * onset sample falls in (so --ground-truth and --alerts say it as a --fault); labels of
 * devices not sent are counted and said. Kinds are kept in lab (freed by the caller).
 */
static int load_labels(struct opts *o, struct dev *devs, unsigned *fault_idx,
		       struct lg_labels *lab)
{
	char err[1024];
	unsigned other = 0, more = 0;
	const char *first_other = NULL;

	if (lg_labels_load(o->labels, lab, err, sizeof(err))) {
		fprintf(stderr, "linegate-loadgen: --labels %s\n", err);
		return -EINVAL;
	}
	for (size_t k = 0; k < lab->n; k++) {
		const struct lg_label *l = &lab->l[k];
		unsigned i;
		uint64_t frame;

		for (i = 0; i < o->devices && strcmp(devs[i].pd->name, l->device); i++)
			;
		for (unsigned j = 0; i == o->devices && j < o->devices; j++) {
			char id[16];

			snprintf(id, sizeof(id), "%u", devs[j].pd->id);
			if (!strcmp(id, l->device)) {
				fprintf(stderr, "linegate-loadgen: --labels %s:%u: '%s' is the id of %s: "
					"labels name devices by their names (as linegate-quality "
					"reads them)\n", o->labels, l->line, l->device,
					devs[j].pd->name);
				return -EINVAL;
			}
		}
		if (i == o->devices) {
			if (!other++)
				first_other = l->device;
			continue;
		}
		if (!json_plain(l->kind)) {
			char shown[sizeof(l->kind)];

			/* not echoed raw: a control character would act on the terminal */
			for (size_t c = 0; c < sizeof(shown); c++)
				shown[c] = (unsigned char)l->kind[c] < 0x20 && l->kind[c] ? '?' :
					   l->kind[c];
			fprintf(stderr, "linegate-loadgen: --labels %s:%u: the kind '%s' holds a "
				"quote, backslash or control character (shown as ?)\n", o->labels,
				l->line, shown);
			return -EINVAL;
		}
		if (devs[i].fault >= 0) {
			struct fault *f = &o->faults[devs[i].fault];

			/* the earliest onset is the one followed, whatever the file's order */
			more++;
			if (l->onset >= f->onset_s)
				continue;
			frame = lg_lgfile_frame_at(devs[i].src, l->onset);
			f->frame = frame;
			f->label_kind = l->kind;
			f->onset_s = l->onset;
			continue;
		}
		frame = lg_lgfile_frame_at(devs[i].src, l->onset);
		if (frame == UINT64_MAX) {
			fprintf(stderr, "linegate-loadgen: --labels %s:%u: %s's onset %g s is past "
				"its last frame sent (%.3f s of %s)\n", o->labels, l->line, l->device,
				l->onset, lg_lgfile_last_end(devs[i].src), devs[i].src->in.files[0]);
			return -ERANGE;
		}
		fault_idx[o->nfaults] = i;
		devs[i].fault = (int)o->nfaults;
		o->faults[o->nfaults++] = (struct fault){ .id = devs[i].pd->id, .frame = frame,
							  .severity = -1, .label_kind = l->kind,
							  .onset_s = l->onset };
	}
	if (other && !o->quiet)
		fprintf(stderr, "loadgen: WARNING: --labels %s: %u label%s of devices not sent "
			"(first: %s) left out\n", o->labels, other, other == 1 ? "" : "s",
			first_other);
	if (more)
		fprintf(stderr, "loadgen: WARNING: --labels %s: %u later label%s of a device "
			"already labelled left out: its earliest fault is the one followed\n",
			o->labels, more, more == 1 ? "" : "s");
	return 0;
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
		{ "channels", required_argument, NULL, 23 },
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
		{ "ground-truth", required_argument, NULL, 16 },
		{ "alerts", required_argument, NULL, 17 },
		{ "alerts-wait", required_argument, NULL, 18 },
		{ "attack-rate", required_argument, NULL, 19 },
		{ "pcap", required_argument, NULL, 20 },
		{ "tx", required_argument, NULL, 21 },
		{ "dst-mac", required_argument, NULL, 22 },
		{ "gain", required_argument, NULL, 40 },
		{ "from", required_argument, NULL, 24 },
		{ "pace", required_argument, NULL, 25 },
		{ "labels", required_argument, NULL, 26 },
		{ "scale", required_argument, NULL, 27 },
		{ "summary", required_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool pace_set = false, rate_fresh = false;
	double cur_scale = 0;
	const char *after_last = NULL; /* a --sample-rate or --scale after the last --from */
	char pace_said[48] = "";
	struct opts o = { .frames = 100, .rate = 1000, .pace = 1, .samples_list = { 256 }, .nsamples = 1,
			  .channels_list = { 1 }, .nchannels = 1, .sample_rate = 10000,
			  .seed = 1, .threads = 1, .batch = 32, .key_id = -1, .alerts_wait = 5 };
	uint64_t sent[C_N] = { 0 }, total_good, total, attack_total = 0, i_total = 0;
	uint64_t t0 = 0, t_start, t_end, last_progress, sent_uadp = 0, base[C_N] = { 0 };
	struct mtti mtti[MAX_FAULTS] = { 0 };
	unsigned fault_idx[MAX_FAULTS];
	bool gain_found[MAX_FAULT_ARGS] = { false };
	pcap_t *pcap_dead = NULL;
	pcap_dumper_t *dump = NULL;
	struct sockaddr_storage spoof_ss;
	socklen_t spoof_len;
	struct sockaddr_storage dst, udst;
	uint8_t if_mac[6];
	unsigned if_mtu = 0;
	bool afxdp, dpdk, l2;
	struct lg_dpdk_port *dport = NULL;
	struct lg_dpdk_tx_stats dst_st = { 0 };
	uint64_t d_oerrors = 0;
	struct lg_xsk_tx_stats xst = { 0 };
	socklen_t dstlen, udstlen = 0;
	atomic_uint ready = 0;
	atomic_bool go = false;
	sigset_t usr1;
	struct sender *snd = NULL;
	struct lg_policy p;
	struct dev *devs = NULL;
	struct lg_lgfile *src = NULL;
	struct lg_labels labels = { 0 };
	char err[1024];
	int opt, ret = 1;
	unsigned started = 0;

	while ((opt = getopt_long(argc, argv, "p:t:S:d:n:r:f:s:j:quh", lopts, NULL)) != -1) {
		switch (opt) {
		case 'p': o.policy = optarg; break;
		case 't': o.target = optarg; break;
		case 'S': o.source = optarg; break;
		case 'd': o.devices = (unsigned)atoi(optarg); o.devices_set = true; break;
		case 'n': o.frames = strtoull(optarg, NULL, 0); o.frames_set = true; break;
		case 'r': o.rate = atof(optarg); o.rate_set = true; break;
		case 24: {
			const char *dev, *path;

			if (o.nfrom == MAX_FROM ||
			    lg_lgfile_parse_arg(optarg, &dev, &path)) {
				fprintf(stderr, "linegate-loadgen: bad --from '%s': want DEVICE=FILE "
					"or FILE (at most %d)\n", optarg, MAX_FROM);
				return 2;
			}
			o.from[o.nfrom] = (struct from){ (char *)dev, (char *)path,
							 o.sample_rate_set ? o.sample_rate : 0,
							 cur_scale, rate_fresh };
			o.nfrom++;
			rate_fresh = false;
			after_last = NULL;
			break;
		}
		case 25: {
			char *end;

			errno = 0;
			o.pace = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(o.pace >= 0 && o.pace <= 1e6)) {
				fprintf(stderr, "linegate-loadgen: --pace takes a factor, 0..1e6 "
					"(1: the recorded pace, 0: as fast as possible), not '%s'\n",
					optarg);
				return 2;
			}
			pace_set = true;
			break;
		}
		case 26: o.labels = optarg; break;
		case 1:
		case 23: {
			bool smp = opt == 1;
			/* LGF carries 1..LGF_MAX_CHANNELS channels: more would be sent, and dropped
			 * by linegate as bad_length. */
			int n = lg_loadgen_parse_list(optarg, 1, smp ? 65535 : LGF_MAX_CHANNELS,
						      smp ? o.samples_list : o.channels_list,
						      MAX_LAYOUTS);

			if (n < 0) {
				fprintf(stderr, "linegate-loadgen: bad --%s '%s': want N or "
					"N,N,... (at most %d values, each 1..%u%s)\n",
					smp ? "samples" : "channels", optarg, MAX_LAYOUTS,
					smp ? 65535 : LGF_MAX_CHANNELS,
					smp ? "" : ": an LGF frame carries at most 16 channels");
				return 2;
			}
			*(smp ? &o.nsamples : &o.nchannels) = (unsigned)n;
			*(smp ? &o.samples_set : &o.channels_set) = true;
			break;
		}
		case 2:
		case 27: {
			char *end;
			double v;

			errno = 0;
			v = strtod(optarg, &end);
			if (errno || *end || end == optarg || !isfinite(v) ||
			    (opt == 2 ? !(v > 0 && v <= 1e7) : v == 0)) {
				fprintf(stderr, "linegate-loadgen: --%s %s: %s\n",
					opt == 2 ? "sample-rate" : "scale", optarg, opt == 2 ?
					"samples per second, above 0 and at most 1e7" :
					"a number other than 0");
				return 2;
			}
			if (opt == 2) {
				o.sample_rate = v;
				o.sample_rate_set = true;
				rate_fresh = true;
			} else {
				cur_scale = v;
			}
			after_last = opt == 2 ? "--sample-rate" : "--scale";
			break;
		}
		case 40: {
			int r = parse_gain(optarg, &o);

			if (r) {
				fprintf(stderr, "linegate-loadgen: bad --gain '%s': %s\n", optarg,
					r == -E2BIG ? "more than 64 gains" :
					r == -EEXIST ? "that device has a gain already" :
					"want ID:FRAME:G, G > 0");
				return 2;
			}
			break;
		}
		case 'f': {
			int r = parse_fault(optarg, &o);

			if (r) {
				fprintf(stderr, "linegate-loadgen: bad --fault '%s': %s\n", optarg,
					r == -E2BIG ? "more than 64 faults" :
					r == -EEXIST ? "that device has a fault already" :
					"want ID[:FRAME[:KIND[:SEVERITY]]], KIND bearing|imbalance|"
					"looseness, SEVERITY 0..1");
				return 2;
			}
			break;
		}
		case 16: o.ground_truth = optarg; break;
		case 17: o.alerts = optarg; break;
		case 18: {
			char *end;

			errno = 0;
			o.alerts_wait = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(o.alerts_wait >= 0 &&
								o.alerts_wait <= 3600)) {
				fprintf(stderr, "linegate-loadgen: --alerts-wait takes seconds, "
					"0..3600, not '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 19:
			if (parse_attack_rate(optarg, &o)) {
				fprintf(stderr, "linegate-loadgen: bad --attack-rate '%s': want "
					"KIND=FPS, KIND unknown|bad-tag|replay|malformed|spoof, "
					"FPS 0..1e9\n", optarg);
				return 2;
			}
			break;
		case 20: o.pcap = optarg; break;
		case 21:
			if (lg_loadgen_parse_tx(optarg, &o.tx)) {
				fprintf(stderr, "linegate-loadgen: bad --tx '%s': want sendmmsg, "
					"afxdp:IFNAME[:QUEUE] (IFNAME 1..15 characters without '/' "
					"or ':', QUEUE 0..65535) or dpdk:OPTIONS (1..1023 "
					"characters)\n", optarg);
				return 2;
			}
			break;
		case 22:
			if (lg_loadgen_parse_mac(optarg, o.dst_mac)) {
				fprintf(stderr, "linegate-loadgen: bad --dst-mac '%s': want six "
					"hexadecimal bytes, 02:00:5e:10:00:01\n", optarg);
				return 2;
			}
			o.dst_mac_set = true;
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
		case 9: {
			int r = lg_loadgen_parse_seq(optarg, &o.first_seq);

			if (r) {
				fprintf(stderr, "linegate-loadgen: --first-seq %s: %s\n", optarg,
					r == -ERANGE ? "past the largest sequence, 2^64 - 1 = "
						       "18446744073709551615"
						     : "want a sequence number from 1 (LGF sequences "
						       "start at 1) to 18446744073709551615");
				return 2;
			}
			break;
		}
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
	/* Into a pcap file, -t is only the frames' destination address (trial X2, s26: the
	 * docs said --pcap replaces the target, and it was required all the same) */
	if (o.pcap && !o.target)
		o.target = "127.0.0.1";
	if (!o.policy || !o.target) {
		fprintf(stderr, "linegate-loadgen: --policy and --target are required (--target: "
			"not with --pcap; see --help)\n");
		return 2;
	}
	/* The largest frame the layouts give must fit in one LGF frame: every combination of a
	 * --samples and a --channels value some device gets (device i: i % each count). */
	for (unsigned i = 0; i < o.nsamples * o.nchannels; i++) {
		unsigned n = o.samples_list[i % o.nsamples], ch = o.channels_list[i % o.nchannels];

		if (n * ch > (LGF_MAX_LEN - LGF_MIN_LEN) / 2) {
			fprintf(stderr, "linegate-loadgen: --samples %u x --channels %u is more than "
				"one LGF frame holds (%d int16 values)\n", n, ch,
				(LGF_MAX_LEN - LGF_MIN_LEN) / 2);
			return 2;
		}
		if (n > o.samples)
			o.samples = n;
		if (n * ch > o.max_values)
			o.max_values = n * ch;
	}
	if (o.nfrom && (o.rate_set || o.devices_set || o.channels_set || o.nfaults || o.uadp ||
			o.precompute)) {
		fprintf(stderr, "linegate-loadgen: --from sends recordings: their devices, "
				"channels and pace are the files' (--pace sets the pace, --labels "
				"their faults): not with %s\n",
			o.rate_set ? "--rate" : o.devices_set ? "--devices" : o.channels_set ?
			"--channels" : o.nfaults ? "--fault" : o.uadp ? "--uadp" : "--precompute");
		return 2;
	}
	for (int c = 1; o.nfrom && c < C_N; c++)
		if (o.attack_rate[c] > 0) {
			fprintf(stderr, "linegate-loadgen: --attack-rate is a share of --rate: with "
					"--from give the attacks as counts (--unknown N, ...)\n");
			return 2;
		}
	if (!o.nfrom && (pace_set || o.labels || cur_scale != 0)) {
		fprintf(stderr, "linegate-loadgen: %s is for recordings sent with --from FILE\n",
			pace_set ? "--pace" : o.labels ? "--labels" : "--scale");
		return 2;
	}
	if (o.nfrom && after_last)
		fprintf(stderr, "loadgen: WARNING: %s after the last --from applies to no file: it "
				"applies to the --from files after it, as for linegate-train\n",
			after_last);
	if (o.nfrom && pace_set && o.pace > 0 && o.pace < 1e-3) {
		fprintf(stderr, "linegate-loadgen: --pace %g: at least 0.001 (a thousand times slower "
				"than recorded), or 0\n", o.pace);
		return 2;
	}
	if (o.attacks[C_SPOOF] && !o.spoof_from) {
		fprintf(stderr, "linegate-loadgen: --spoof needs --spoof-from ADDR\n");
		return 2;
	}
	/* A device's sequences are --first-seq .. --first-seq + -n - 1: past 2^64 - 1 they would
	 * wrap to 0, which a receiver refuses as replays (trial s19 B L6: it went on silently). */
	if (o.frames && o.first_seq > 1 && o.first_seq - 1 > UINT64_MAX - o.frames) {
		fprintf(stderr, "linegate-loadgen: --first-seq %" PRIu64 " with -n %" PRIu64 ": the "
			"last sequence would pass 2^64 - 1 and wrap to 0; at most -n %" PRIu64 "\n",
			o.first_seq, o.frames, UINT64_MAX - (o.first_seq - 1));
		return 2;
	}
	/* frames count from 0: a device sends frames 0 .. -n - 1; a fault at a frame it
	 * never sends would be a run that silently injects nothing */
	for (unsigned f = 0; f < o.nfaults; f++) {
		if (o.faults[f].frame != UINT64_MAX && o.faults[f].frame >= o.frames) {
			fprintf(stderr, "linegate-loadgen: --fault %u:%" PRIu64 ": a device sends "
					"frames 0 to %" PRIu64 " (-n %" PRIu64 "): FRAME must be below "
					"-n\n", o.faults[f].id, o.faults[f].frame,
				o.frames ? o.frames - 1 : 0, o.frames);
			return 2;
		}
	}
	if (o.threads < 1 || o.threads > 64 || o.batch < 1 || o.batch > 1024 || o.rate < 0) {
		fprintf(stderr, "linegate-loadgen: --threads must be 1..64, --batch 1..1024 and "
				"--rate at least 0\n");
		return 2;
	}
	if (o.pcap && (o.threads != 1 || o.precompute || o.hold)) {
		fprintf(stderr, "linegate-loadgen: --pcap writes from one thread and builds each "
				"frame at its scheduled time: not with --threads, --precompute or "
				"--hold\n");
		return 2;
	}
	afxdp = o.tx.kind == LG_LOADGEN_TX_AFXDP;
	dpdk = o.tx.kind == LG_LOADGEN_TX_DPDK;
	l2 = afxdp || dpdk;
	if (l2 && (o.pcap || o.source)) {
		fprintf(stderr, "linegate-loadgen: --tx %s sends each device's frames from its "
				"policy source address (and MAC): not with --source or --pcap\n",
			afxdp ? "afxdp" : "dpdk");
		return 2;
	}
	if (o.dst_mac_set && !l2) {
		fprintf(stderr, "linegate-loadgen: --dst-mac is for --tx afxdp:IFNAME and dpdk:\n");
		return 2;
	}
	if (dpdk && !o.dst_mac_set) {
		fprintf(stderr, "linegate-loadgen: --tx dpdk needs --dst-mac (a DPDK port has no "
				"neighbour table)\n");
		return 2;
	}
	if (dpdk && !lg_dpdk_tx_built) {
		fprintf(stderr, "linegate-loadgen: --tx dpdk: this linegate-loadgen was built "
				"without DPDK (meson -Ddpdk=enabled, libdpdk-dev)\n");
		return 2;
	}
	if (o.attack_rate[C_SPOOF] > 0 && !o.spoof_from) {
		fprintf(stderr, "linegate-loadgen: --attack-rate spoof=... needs --spoof-from "
				"ADDR\n");
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
	if (o.nfrom)
		o.devices = o.nfrom; /* the recordings' devices, in --from's order */
	/* Unknown-device frames take their ids from the top of the range: none may be
	 * enrolled there, or they would count as that device's (trial s20 I L4). */
	for (size_t i = 0; (o.attacks[C_UNKNOWN] || o.attack_rate[C_UNKNOWN] > 0) &&
			   i < p.ndevices; i++)
		if (p.devices[i].id >= LG_LOADGEN_UNKNOWN_ID_BASE) {
			fprintf(stderr, "linegate-loadgen: the policy enrolls device %u, in the "
				"range 0x%x.. that unknown-device frames take their ids from: "
				"renumber it, or send no unknown-device frames\n",
				p.devices[i].id, LG_LOADGEN_UNKNOWN_ID_BASE);
			goto out_policy;
		}
	if (o.threads > o.devices) {
		fprintf(stderr, "linegate-loadgen: %u threads for %u devices: each thread sends "
				"for at least one device\n", o.threads, o.devices);
		goto out_policy;
	}
	if (o.spoof_from) {
		/* spoofed frames from an enrolled device's own address are not spoofed: linegate
		 * takes them as that device's (replayed, when the copy's sequence was seen),
		 * not as spoofed_source (trial W3 F4) */
		struct sockaddr_storage sp;
		socklen_t spl;

		for (size_t i = 0; !parse_addr(o.spoof_from, 0, &sp, &spl) && i < p.ndevices;
		     i++) {
			const void *a = sp.ss_family == AF_INET ?
				(const void *)&((struct sockaddr_in *)&sp)->sin_addr :
				(const void *)&((struct sockaddr_in6 *)&sp)->sin6_addr;

			if (p.devices[i].family == sp.ss_family &&
			    !memcmp(p.devices[i].addr, a, sp.ss_family == AF_INET ? 4 : 16)) {
				fprintf(stderr, "loadgen: WARNING: --spoof-from %s is the address %s "
					"(id %u) is enrolled from: its frames are no spoof there, and "
					"linegate counts them as that device's (replayed), not as "
					"spoofed_source; spoof from an address no device has\n",
					o.spoof_from, p.devices[i].name, p.devices[i].id);
				break;
			}
		}
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
	src = o.nfrom ? calloc(o.nfrom, sizeof(*src)) : NULL;
	if (!devs || !snd || (o.nfrom && !src))
		goto out_mem;
	if (o.nfrom && open_recordings(&o, &p, dst.ss_family, devs, src))
		goto out_mem;
	if (o.nfrom)
		check_model(&o, &p, devs);
	if (o.threads > o.devices) { /* a device's files are one recording */
		fprintf(stderr, "linegate-loadgen: %u threads for %u devices: each thread sends "
				"for at least one device\n", o.threads, o.devices);
		goto out_mem;
	}
	for (unsigned f = 0; f < o.nfaults; f++) {
		if (o.faults[f].frame == UINT64_MAX)
			o.faults[f].frame = o.frames / 2;
		fault_idx[f] = UINT32_MAX;
	}
	for (unsigned i = 0; i < o.devices; i++) {
		const struct lg_policy_device *pd;

		if (!o.nfrom)
			devs[i].pd = &p.devices[i];
		pd = devs[i].pd;
		devs[i].key = &pd->keys[0];
		for (unsigned k = 0; o.key_id >= 0 && k < pd->nkeys; k++)
			if (pd->keys[k].id == (uint32_t)o.key_id)
				devs[i].key = &pd->keys[k];
		if (o.key_id >= 0 && devs[i].key->id != (uint32_t)o.key_id) {
			fprintf(stderr, "linegate-loadgen: device %u has no key with id %d\n",
				pd->id, o.key_id);
			goto out_mem;
		}
		/* SignAndEncrypt: the key file's group key, prepared once. */
		if (o.uadp && pd->uadp_security == LG_UADP_SEC_ENCRYPT &&
		    lg_uadp_keys_new(&devs[i].ukeys, devs[i].key->bytes, LG_KEY_LEN,
				     devs[i].key->enc, devs[i].key->enc_len,
				     devs[i].key->key_nonce, LG_UADP_KEY_NONCE_LEN)) {
			fprintf(stderr, "linegate-loadgen: device %u: key %u is no group key to "
				"encrypt with\n", pd->id, devs[i].key->id);
			goto out_mem;
		}
		devs[i].seq = o.first_seq ? o.first_seq - 1 : 0;
		devs[i].seq0 = devs[i].seq;
		if (!o.nfrom) {
			devs[i].samples = o.samples_list[i % o.nsamples];
			devs[i].channels = o.channels_list[i % o.nchannels];
		}
		if (sends_uadp(&o, pd) && uadp_samples(pd, devs[i].samples))
			devs[i].samples = uadp_samples(pd, devs[i].samples);
		/* a device the policy gives a rate sends at it: linegate drops LGF frames of
		 * another (sample_rate) */
		if (!o.nfrom)
			devs[i].fs = pd->sample_rate ? pd->sample_rate : o.sample_rate;
		lg_signal_init(&devs[i].sig, o.seed, i, devs[i].fs);
		devs[i].fault = -1;
		devs[i].gain = 1.0;
		for (unsigned k = 0; k < o.ngains; k++)
			if (pd->id == o.gains[k].id) {
				devs[i].gain = o.gains[k].g;
				devs[i].gain_from = o.gains[k].frame;
				gain_found[k] = true;
			}
		for (unsigned f = 0; f < o.nfaults; f++) {
			if (pd->id != o.faults[f].id)
				continue;
			fault_idx[f] = i;
			devs[i].fault = (int)f;
			lg_signal_set_fault(&devs[i].sig, o.faults[f].kind, o.faults[f].severity,
					    o.faults[f].frame * devs[i].samples);
		}
	}
	for (unsigned k = 0; k < o.ngains; k++) {
		if (!gain_found[k]) {
			fprintf(stderr, "linegate-loadgen: --gain device %u is not among the %u "
				"%s\n", o.gains[k].id, o.devices,
				o.nfrom ? "devices whose recordings are sent" : "simulated");
			goto out_mem;
		}
	}
	/* --from: a gain's frame is in its device's own frames (their sizes differ): said in
	 * the recording's seconds, and refused past its last frame (trial W3 F3) */
	for (unsigned i = 0; o.nfrom && i < o.devices; i++) {
		if (devs[i].gain == 1.0)
			continue;
		if (devs[i].gain_from >= devs[i].src->frames) {
			fprintf(stderr, "linegate-loadgen: --gain %u:%" PRIu64 ": %s sends frames 0 "
				"to %" PRIu64 " of %u samples: FRAME must be below %" PRIu64 "\n",
				devs[i].pd->id, devs[i].gain_from, devs[i].pd->name,
				devs[i].src->frames - 1, devs[i].samples, devs[i].src->frames);
			goto out_mem;
		}
		if (!o.quiet)
			fprintf(stderr, "loadgen: %s: its samples times %g from its frame %" PRIu64
				" on, %.3f s into its recording (--gain)\n", devs[i].pd->name,
				devs[i].gain, devs[i].gain_from,
				lg_lgfile_frame_t0(devs[i].src, devs[i].gain_from));
	}
	for (unsigned f = 0; f < o.nfaults; f++) {
		if (fault_idx[f] == UINT32_MAX) {
			fprintf(stderr, "linegate-loadgen: --fault device %u is not among the %u "
				"simulated\n", o.faults[f].id, o.devices);
			goto out_mem;
		}
	}
	if (o.labels && load_labels(&o, devs, fault_idx, &labels))
		goto out_mem;
	if (o.pcap || l2) {
		if (o.spoof_from && (parse_addr(o.spoof_from, 0, &spoof_ss, &spoof_len) ||
				     spoof_ss.ss_family != dst.ss_family)) {
			fprintf(stderr, "linegate-loadgen: --spoof-from '%s' is no address of the "
				"target's family\n", o.spoof_from);
			goto out_mem;
		}
		for (unsigned i = 0; i < o.devices; i++) {
			if (devs[i].pd->family != dst.ss_family) {
				fprintf(stderr, "linegate-loadgen: --%s: device %u's source and "
					"the target are of different address families\n",
					o.pcap ? "pcap" : afxdp ? "tx afxdp" : "tx dpdk",
					devs[i].pd->id);
				goto out_mem;
			}
		}
	}
	if (afxdp) {
		const char *ifn = o.tx.ifname;
		unsigned nq;
		int r;

		if (!if_nametoindex(ifn)) {
			fprintf(stderr, "linegate-loadgen: --tx afxdp:%s: no interface '%s' in this "
				"network namespace ('ip link' lists them)\n", ifn, ifn);
			goto out_mem;
		}
		nq = if_queues(ifn);
		if (nq && o.tx.queue + o.threads > nq) {
			fprintf(stderr, "linegate-loadgen: --tx afxdp:%s:%u: %s has %u queue%s, "
				"--threads %u from queue %u needs %u (a veth gets more with "
				"'numtxqueues N numrxqueues N' when it is made)\n", ifn,
				o.tx.queue, ifn, nq, nq == 1 ? "" : "s", o.threads, o.tx.queue,
				o.tx.queue + o.threads);
			goto out_mem;
		}
		r = if_mac_mtu(ifn, if_mac, &if_mtu);
		if (r) {
			fprintf(stderr, "linegate-loadgen: --tx afxdp:%s: its MAC and MTU: %s\n",
				ifn, strerror(-r));
			goto out_mem;
		}
		r = o.dst_mac_set ? 0 : neigh_mac(ifn, &dst, o.dst_mac);
		if (r) {
			char host[INET6_ADDRSTRLEN] = "?";

			inet_ntop(dst.ss_family, dst.ss_family == AF_INET ?
				  (const void *)&((struct sockaddr_in *)&dst)->sin_addr :
				  (const void *)&((struct sockaddr_in6 *)&dst)->sin6_addr, host,
				  sizeof(host));
			if (r == -EAFNOSUPPORT)
				fprintf(stderr, "linegate-loadgen: --tx afxdp: the IPv6 neighbour "
					"table is not read: give the MAC of %s (or of the router "
					"to it) with --dst-mac\n", host);
			else
				fprintf(stderr, "linegate-loadgen: --tx afxdp: no MAC for %s in "
					"%s's neighbour table (%s): ping it once ('ip neigh show "
					"dev %s' shows the table) or give it with --dst-mac\n",
					host, ifn, strerror(-r), ifn);
			goto out_mem;
		}
	}
	if (dpdk) {
		int r = lg_dpdk_port_open(&dport, o.tx.opts, o.threads, if_mac, &if_mtu, err,
					  sizeof(err));

		if (r) {
			fprintf(stderr, "linegate-loadgen: --tx dpdk: %s\n", err);
			goto out_mem;
		}
	}
	if (o.pcap) {
		pcap_dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535,
								 PCAP_TSTAMP_PRECISION_NANO);
		char why[PATH_MAX + 300];
		FILE *pf = pcap_dead ? lg_outpath_fopen(o.pcap, "w", why, sizeof(why)) : NULL;

		dump = pf ? pcap_dump_fopen(pcap_dead, pf) : NULL;
		if (!dump) {
			if (pf)
				fclose(pf);
			fprintf(stderr, "linegate-loadgen: --pcap %s\n",
				!pcap_dead ? "cannot open" : pf ? pcap_geterr(pcap_dead) : why);
			goto out_mem;
		}
	}

	total_good = o.frames * o.devices;
	if (o.nfrom) {
		total_good = 0;
		for (unsigned i = 0; i < o.devices; i++) { /* a device's files: one recording */
			total_good += src[i].frames;
			/* sequences past 2^64 - 1 would wrap to 0 (as for -n below) */
			if (o.first_seq > 1 && o.first_seq - 1 > UINT64_MAX - src[i].frames) {
				fprintf(stderr, "linegate-loadgen: --first-seq %" PRIu64 ": %s's %"
					PRIu64 " frames would pass 2^64 - 1 and wrap to 0\n",
					o.first_seq, devs[i].pd->name, src[i].frames);
				goto out_mem;
			}
		}
	}
	{
		/* --attack-rate: A_c = r_c x the run's length, the run being the enrolled frames
		 * at what the total rate leaves them, G / (rate - sum r) */
		double sum_r = 0;

		for (int c = 1; c < C_N; c++)
			sum_r += o.attack_rate[c];
		if (sum_r > 0 && !(o.rate > sum_r)) {
			fprintf(stderr, "linegate-loadgen: --attack-rate: the attack rates add up "
				"to %.0f frames/s, --rate %.0f leaves the enrolled devices "
				"nothing: raise --rate above the attack rates\n", sum_r, o.rate);
			goto out_mem;
		}
		for (int c = 1; c < C_N; c++) {
			double n = o.attack_rate[c] * (double)total_good / (o.rate - sum_r);

			if (o.attack_rate[c] > 0)
				o.attacks[c] += (uint64_t)llround(n);
		}
	}
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
		if (o.nfrom) {
			s->good = 0;
			for (unsigned k = 0; k < s->ndev; k++)
				s->good += src[t + k * o.threads].frames;
		}
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
		s->rate = total && !o.nfrom ? o.rate * (double)mine / (double)total : 0;
		/* A batch holds about 0.5 ms of this thread's frames: the bucket's depth. */
		s->batch = o.batch;
		if (s->rate > 0 && s->rate * 0.0005 < o.batch)
			s->batch = s->rate * 0.0005 < 1 ? 1 : (unsigned)(s->rate * 0.0005);
		s->dump = dump;
		s->spoof_src = o.spoof_from && (o.pcap || l2) ? &spoof_ss : NULL;
		s->ready = &ready;
		s->go = &go;
		s->t0 = &t0;
		s->fbuf = calloc(o.nfrom ? LGF_MAX_LEN / 4 : o.samples, sizeof(*s->fbuf));
		s->ibuf = calloc(o.max_values, sizeof(*s->ibuf));
		if (!s->fbuf || !s->ibuf || queue_init(&s->q[0], -1, o.batch) ||
		    queue_init(&s->q[1], -1, o.batch))
			goto out_mem;
		if (dump)
			continue; /* no sockets: the frames go to the file */
		if (dpdk) {
			if (lg_dpdk_tx_open(&s->dtx, dport, (uint16_t)t))
				goto out_mem;
			s->dst_mac = o.dst_mac;
			s->src_mac = if_mac;
			s->mtu = if_mtu;
			continue;
		}
		if (afxdp) {
			int r = lg_xsk_tx_open(&s->xsk, o.tx.ifname, o.tx.queue + t);

			if (r) {
				fprintf(stderr, "linegate-loadgen: --tx afxdp:%s: AF_XDP socket on "
					"queue %u: %s%s\n", o.tx.ifname, o.tx.queue + t,
					strerror(-r), r == -EPERM ? " (needs root: CAP_NET_RAW, "
					"CAP_NET_ADMIN and CAP_IPC_LOCK)" : "");
				goto out_mem;
			}
			s->dst_mac = o.dst_mac;
			s->src_mac = if_mac;
			s->mtu = if_mtu;
			continue;
		}
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
	if (o.nfrom && !dump && !l2)
		say_source(&o, devs, &dst, dstlen);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (o.pace != 1)
		snprintf(pace_said, sizeof(pace_said), "%g times ", o.pace);
	if (!o.quiet && o.nfrom && o.pace > 0)
		fprintf(stderr, "loadgen: %u recording%s, %" PRIu64 " frames + %" PRIu64 " attack "
				"frames at %sthe recorded pace (%.1f s) %s %s\n", o.devices,
			o.devices == 1 ? "" : "s", total_good, attack_total, pace_said,
			longest_s(devs, o.devices) / o.pace, o.pcap ? "into" : "to",
			o.pcap ? o.pcap : o.target);
	else if (!o.quiet && o.nfrom)
		fprintf(stderr, "loadgen: %u recording%s, %" PRIu64 " frames + %" PRIu64 " attack "
				"frames as fast as they go (--pace 0) %s %s\n", o.devices,
			o.devices == 1 ? "" : "s", total_good, attack_total, o.pcap ? "into" : "to",
			o.pcap ? o.pcap : o.target);
	else if (!o.quiet)
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
	run_start_host_ns = host_ns();
	for (unsigned t = 0; t < started; t++)
		snd[t].pcap_base_ns = host_ns();
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
			if (s->err == -EMSGSIZE && l2)
				say_too_long(&o, afxdp, if_mtu, dst.ss_family);
			if (o.summary)
				fprintf(stderr, "linegate-loadgen: the run stopped: no summary "
						"written to %s\n", o.summary);
			goto out_mem;
		}
		for (int c = 0; c < C_N; c++)
			sent[c] += s->sent[c];
		sent_uadp += s->sent_uadp;
		i_total += s->queued;
		if (s->dtx) {
			struct lg_dpdk_tx_stats st;

			lg_dpdk_tx_stats(s->dtx, &st);
			dst_st.submitted += st.submitted;
			dst_st.sent += st.sent;
			dst_st.refused += st.refused;
		}
		if (s->xsk) {
			struct lg_xsk_tx_stats st;

			lg_xsk_tx_stats(s->xsk, &st);
			xst.submitted += st.submitted;
			xst.completed += st.completed;
			xst.refused += st.refused;
			xst.pending += st.pending;
			xst.zerocopy |= st.zerocopy;
			xst.need_wakeup |= st.need_wakeup;
		}
		if (s->end_ns > t_end)
			t_end = s->end_ns;
	}
	if (atomic_load(&failed))
		goto out_mem;
	{
		double secs = (t_end - t0) / 1e9;
		char why[PATH_MAX + 300];
		FILE *f = o.summary ? lg_outpath_fopen(o.summary, "w", why, sizeof(why)) : NULL;
		int gt_err;

		uint64_t n_sent = afxdp ? xst.completed : i_total;

		/* --tx dpdk: what the driver took, less what the port then failed to send
		 * (oerrors: frames an af_packet or af_xdp PMD could not hand on) */
		if (dpdk) {
			d_oerrors = lg_dpdk_port_oerrors(dport);
			if (d_oerrors > dst_st.sent)
				d_oerrors = dst_st.sent;
			n_sent = dst_st.sent - d_oerrors;
		}

		if (!o.quiet && dump)
			/* nothing was sent: the frames' stamps follow --rate (or the clock
			 * when it is 0), not how fast the file was written */
			fprintf(stderr, "loadgen: wrote %" PRIu64 " frames to %s in %.2f s, "
					"stamped %s%.0f frames/s%s\n", n_sent, o.pcap, secs,
				o.nfrom && o.pace > 0 ? "at the pace of the recordings, on average " :
				o.nfrom ? "as written (--pace 0): " :
				o.rate > 0 ? "at " : "as written (--rate 0): ",
				o.nfrom && o.pace > 0 ? n_sent / (longest_s(devs, o.devices) / o.pace) :
				o.rate > 0 && !o.nfrom ? o.rate : n_sent / (secs > 0 ? secs : 1),
				stop ? " (interrupted)" : "");
		else if (!o.quiet)
			fprintf(stderr, "loadgen: sent %" PRIu64 " frames in %.2f s (%.0f frames/s)%s\n",
				n_sent, secs, n_sent / (secs > 0 ? secs : 1),
				stop ? " (interrupted)" : "");
		/* Said also with --quiet when a frame was lost: never silently. */
		if (afxdp && (!o.quiet || xst.refused || xst.pending))
			fprintf(stderr, "loadgen: afxdp %s queue %u..%u (%s, %s): %" PRIu64
				" frames on the ring, %" PRIu64 " sent, %" PRIu64
				" refused (invalid descriptors or dropped by the driver), %" PRIu64
				" never completed\n",
				o.tx.ifname, o.tx.queue, o.tx.queue + o.threads - 1,
				xst.zerocopy ? "zero-copy" : "copy mode",
				xst.need_wakeup ? "need_wakeup" : "a kick per batch", xst.submitted,
				xst.completed, xst.refused, xst.pending);
		if (o.summary && !f) {
			fprintf(stderr, "linegate-loadgen: %s\n", why);
			goto out_mem;
		}
		if (dump) {
			pcap_dump_close(dump);
			dump = NULL;
		}
		gt_err = o.ground_truth ? write_ground_truth(o.ground_truth, &o, devs, fault_idx,
							     why, sizeof(why)) : 0;
		if (gt_err) {
			fprintf(stderr, "linegate-loadgen: --ground-truth %s\n", why);
			if (f)
				fclose(f);
			goto out_mem;
		}
		if (o.nfrom && !o.quiet && !o.pcap) {
			/* a second run to the same linegate must go on past them (trial W M3:
			 * every frame of a run sent again was dropped as replayed) */
			uint64_t last = 0, low = UINT64_MAX, skipped = 0;

			for (unsigned i = 0; i < o.devices; i++) {
				last = devs[i].seq > last ? devs[i].seq : last;
				low = devs[i].seq < low ? devs[i].seq : low;
				skipped += devs[i].skipped;
			}
			fprintf(stderr, "loadgen: the devices' sequences went up to %" PRIu64 "%s; "
				"linegate drops a sequence it has seen as replayed: to send to the "
				"same linegate again, give --first-seq %" PRIu64 " or more",
				last, skipped ? " (one left out at each gap in a recording)" : "",
				last + 1);
			/* (trial W2 N2: the devices whose runs were shorter jumped ahead, and
			 * linegate counted the jump as missing frames) */
			if (low < last)
				fprintf(stderr, " (the devices whose sequences ended lower, from %"
					PRIu64 ", then jump ahead: linegate counts the jump as missing "
					"frames, none lost), or start linegate again with a fresh state "
					"folder", low);
			fputc('\n', stderr);
		}
		if (o.alerts)
			wait_incidents(&o, devs, fault_idx, mtti);
		if (f) {
			fprintf(f, "{\"sent\":%" PRIu64 ",\"seconds\":%.3f,\"uadp\":%" PRIu64,
				n_sent, secs, sent_uadp);
			fprintf(f, ",\"tx\":\"%s\"", afxdp ? "afxdp" : dpdk ? "dpdk" :
						       o.pcap ? "pcap" : "sendmmsg");
			if (dpdk)
				fprintf(f, ",\"dpdk\":{\"submitted\":%" PRIu64 ",\"sent\":%" PRIu64
					   ",\"refused\":%" PRIu64 ",\"oerrors\":%" PRIu64 "}",
					dst_st.submitted, n_sent, dst_st.refused, d_oerrors);
			if (afxdp)
				fprintf(f, ",\"afxdp\":{\"ifname\":\"%s\",\"queue\":%u,"
					   "\"zerocopy\":%s,\"need_wakeup\":%s,\"submitted\":%"
					   PRIu64 ",\"sent\":%" PRIu64 ",\"refused\":%" PRIu64
					   ",\"pending\":%" PRIu64 "}",
					o.tx.ifname, o.tx.queue, xst.zerocopy ? "true" : "false",
					xst.need_wakeup ? "true" : "false", xst.submitted,
					xst.completed, xst.refused, xst.pending);
			for (int c = 0; c < C_N; c++)
				fprintf(f, ",\"%s\":%" PRIu64, cls_names[c], sent[c]);
			/* "fault": the first fault only, kept for the scripts written when one
			 * fault could be given (tests/e2e/incidents.sh, bench/demo.sh, the pcap
			 * fixtures' loadgen.json); "faults" has every one (man page) */
			if (o.nfaults)
				fprintf(f, ",\"fault\":{\"device\":%u,\"name\":\"%s\",\"kind\":\"%s\","
					   "\"onset_frame\":%" PRIu64 ",\"onset_seq\":%" PRIu64
					   ",\"onset_wall_ns\":%" PRIu64 "}",
					o.faults[0].id, devs[fault_idx[0]].pd->name,
					fault_kind(&o, 0), o.faults[0].frame,
					onset_seq(&o, &devs[fault_idx[0]], 0),
					devs[fault_idx[0]].onset_wall_ns);
			write_faults(f, &o, devs, fault_idx, o.alerts ? mtti : NULL);
			fprintf(f, ",\"interrupted\":%s}\n", stop ? "true" : "false");
			fclose(f);
		}
	}
	ret = stop ? 130 : 0;
	if (dpdk && (dst_st.refused || d_oerrors)) {
		fprintf(stderr, "linegate-loadgen: --tx dpdk: %" PRIu64 " of %" PRIu64 " frames "
				"were not sent (%" PRIu64 " the driver did not take, %" PRIu64
				" output errors); the summary's classes count them as sent\n",
			dst_st.refused + d_oerrors, dst_st.submitted, dst_st.refused, d_oerrors);
		ret = 1;
	}
	if (afxdp && (xst.refused || xst.pending)) {
		fprintf(stderr, "linegate-loadgen: --tx afxdp: %" PRIu64 " of %" PRIu64 " frames "
				"were not sent; the summary's classes count them as sent\n",
			xst.refused + xst.pending, xst.submitted);
		ret = 1;
	}
out_mem:
	for (unsigned t = 0; snd && t < o.threads; t++)
		sender_free(&snd[t]);
	free(snd);
	lg_dpdk_port_close(dport);
	for (unsigned i = 0; devs && i < o.devices; i++)
		lg_mac_free(devs[i].mac);
	for (unsigned i = 0; devs && i < o.devices; i++)
		lg_uadp_keys_free(devs[i].ukeys);
	if (dump)
		pcap_dump_close(dump);
	if (pcap_dead)
		pcap_close(pcap_dead);
	free(devs);
	for (unsigned i = 0; src && i < o.nfrom; i++)
		lg_lgfile_free(&src[i]);
	free(src);
	lg_labels_free(&labels);
out_policy:
	lg_policy_free(&p);
	return ret;
}
