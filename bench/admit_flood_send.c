// SPDX-License-Identifier: MIT
/*
 * LGF sender for the admission flood benchmark (bench/admit_flood.sh): UDP
 * datagrams carrying LGF headers, in sendmmsg() batches, either as fast as
 * the socket takes them or at a fixed rate, for a bounded time.
 *
 * The MAC tag is zeros: admission at XDP does not verify it (the worker does).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linegate/lgf.h>

#define BATCH 64
#define SAMPLES 16
#define FRAME_LEN (LGF_MIN_LEN + 2 * SAMPLES)
#define HDR_LEN (14 + 20 + 8) /* Ethernet, IPv4, UDP in --raw mode */

static const char usage[] =
	"Usage: admit_flood_send [--raw IFNAME DST_MAC SRC_IP] DST_IP DST_PORT SRC_PORT ID_FIRST\n"
	"                        ID_COUNT RATE SECONDS\n"
	"\n"
	"Sends LGF frames (16 int16 vibration samples each, a zero MAC tag: admission at XDP does\n"
	"not verify it) as UDP datagrams in sendmmsg() batches of 64, for the admission flood\n"
	"benchmark bench/admit_flood.sh.\n"
	"\n"
	"Arguments:\n"
	"  DST_IP DST_PORT   IPv4 destination\n"
	"  SRC_PORT          UDP source port (bound)\n"
	"  ID_FIRST ID_COUNT device ids cycle through ID_FIRST .. ID_FIRST + ID_COUNT - 1\n"
	"                    (both at least 1); sequence numbers start at 1\n"
	"  RATE              frames per second, 0 = as fast as the socket takes them\n"
	"  SECONDS           how long to send (more than 0)\n"
	"\n"
	"Options:\n"
	"  --raw IFNAME DST_MAC SRC_IP\n"
	"                    whole Ethernet frames (source MAC of IFNAME, to DST_MAC, from\n"
	"                    SRC_IP) on a packet socket that bypasses the qdisc: the stack's\n"
	"                    UDP and IP output are skipped, so one core sends several times\n"
	"                    what a UDP socket does (needs CAP_NET_RAW)\n"
	"  -h, --help        this text\n"
	"\n"
	"Output: one line on stdout when done: \"sent FRAMES errors ERRORS seconds S rate R\"\n"
	"(ERRORS: datagrams the full queue refused, counted and not retried; R: frames sent per\n"
	"second). Exit status: 0, 1 on a socket error, 2 on a usage error.\n";

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static void put32le(unsigned char *p, unsigned int v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64le(unsigned char *p, unsigned long long v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void lgf_fill(unsigned char *f, unsigned int id, unsigned long long seq)
{
	memset(f, 0, FRAME_LEN);
	f[0] = LGF_MAGIC0;
	f[1] = LGF_MAGIC1;
	f[2] = LGF_VERSION;
	f[3] = LGF_TYPE_SAMPLES;
	put32le(f + 4, id);
	f[9] = LGF_SENSOR_VIBRATION;
	f[10] = LGF_FMT_I16;
	f[11] = 1;
	put32le(f + 12, 1000);
	f[16] = SAMPLES;
	put64le(f + 24, seq);
	put64le(f + 32, seq);
}

static int parse_mac(const char *s, unsigned char mac[6])
{
	unsigned int m[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (unsigned char)m[i];
	return 0;
}

static unsigned short ip_csum(const unsigned char *p)
{
	unsigned int sum = 0;

	for (int i = 0; i < 20; i += 2)
		sum += (unsigned int)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (unsigned short)~sum;
}

/* Ethernet + IPv4 + UDP in front of the LGF bytes, for --raw. */
static int raw_header(unsigned char *h, const char *ifname, const char *dst_mac, const char *src_ip,
		      const struct sockaddr_in *dst, unsigned short sport)
{
	char path[128];
	FILE *f;
	char buf[32] = "";
	struct in_addr sip;
	unsigned short ulen = 8 + FRAME_LEN, tot = 20 + 8 + FRAME_LEN;

	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f) || parse_mac(buf, h + 6) || parse_mac(dst_mac, h) ||
	    inet_pton(AF_INET, src_ip, &sip) != 1) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	h[12] = 0x08;
	h[13] = 0x00;
	memset(h + 14, 0, 20);
	h[14] = 0x45;
	h[16] = (unsigned char)(tot >> 8);
	h[17] = (unsigned char)tot;
	h[20] = 0x40; /* DF */
	h[22] = 64;
	h[23] = IPPROTO_UDP;
	memcpy(h + 26, &sip, 4);
	memcpy(h + 30, &dst->sin_addr, 4);
	{
		unsigned short c = ip_csum(h + 14);

		h[24] = (unsigned char)(c >> 8);
		h[25] = (unsigned char)c;
	}
	h[34] = (unsigned char)(sport >> 8);
	h[35] = (unsigned char)sport;
	memcpy(h + 36, &dst->sin_port, 2);
	h[38] = (unsigned char)(ulen >> 8);
	h[39] = (unsigned char)ulen;
	h[40] = h[41] = 0; /* no UDP checksum (IPv4) */
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char frames[BATCH][HDR_LEN + FRAME_LEN];
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in dst = {.sin_family = AF_INET}, src = {.sin_family = AF_INET};
	struct sockaddr_ll ll = {.sll_family = AF_PACKET};
	unsigned long long sent = 0, errors = 0, seq = 1, t0, t_end, t, due;
	unsigned int id_first, id_count, id_next = 0;
	const char *raw_if = NULL, *raw_dmac = NULL, *raw_sip = NULL;
	unsigned char hdr[HDR_LEN];
	size_t off = 0;
	double rate, seconds;
	int fd, i, n, batch, r, opt, one = 1;
	static const struct option opts[] = {
		{ "raw", required_argument, NULL, 1 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 1:
			raw_if = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return 2;
		}
	}
	/* --raw's DST_MAC and SRC_IP are its next two words, the first positional ones. */
	if (raw_if && argc - optind == 9) {
		raw_dmac = argv[optind++];
		raw_sip = argv[optind++];
	}
	if (argc - optind != 7 || (raw_if && !raw_sip)) {
		fprintf(stderr, "admit_flood_send: want %sDST_IP DST_PORT SRC_PORT ID_FIRST ID_COUNT "
			"RATE SECONDS (see --help)\n", raw_if ? "--raw IFNAME DST_MAC SRC_IP " : "");
		return 2;
	}
	/* argv[1..7]: the seven positional arguments */
	argv += optind - 1;
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
		fprintf(stderr, "admit_flood_send: bad address %s\n", argv[1]);
		return 2;
	}
	dst.sin_port = htons((unsigned short)atoi(argv[2]));
	src.sin_port = htons((unsigned short)atoi(argv[3]));
	id_first = (unsigned int)strtoul(argv[4], NULL, 0);
	id_count = (unsigned int)strtoul(argv[5], NULL, 0);
	rate = atof(argv[6]);
	seconds = atof(argv[7]);
	if (!id_first || !id_count || rate < 0 || seconds <= 0) {
		fprintf(stderr, "admit_flood_send: ID_FIRST and ID_COUNT must be at least 1, RATE 0 or "
			"more and SECONDS more than 0\n");
		return 2;
	}

	if (raw_if) {
		if (raw_header(hdr, raw_if, raw_dmac, raw_sip, &dst, ntohs(src.sin_port))) {
			fprintf(stderr, "--raw %s %s %s: bad interface, MAC or address\n", raw_if,
				raw_dmac, raw_sip);
			return 2;
		}
		off = HDR_LEN;
		ll.sll_protocol = htons(ETH_P_IP);
		ll.sll_ifindex = (int)if_nametoindex(raw_if);
		fd = socket(AF_PACKET, SOCK_RAW, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&ll, sizeof(ll)) ||
		    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one))) {
			perror("packet socket");
			return 1;
		}
		for (i = 0; i < BATCH; i++)
			memcpy(frames[i], hdr, HDR_LEN);
	} else {
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) ||
		    connect(fd, (struct sockaddr *)&dst, sizeof(dst))) {
			perror("socket");
			return 1;
		}
	}
	memset(msg, 0, sizeof(msg));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = frames[i];
		iov[i].iov_len = off + FRAME_LEN;
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
	}

	t0 = now_ns();
	t_end = t0 + (unsigned long long)(seconds * 1e9);
	while ((t = now_ns()) < t_end) {
		batch = BATCH;
		if (rate > 0) {
			/* Frames due by now, at most one batch; sleep until the next one is due. */
			due = (unsigned long long)((double)(t - t0) * rate / 1e9) + 1;
			if (due <= sent + errors) {
				struct timespec ts = {0, 200000};

				nanosleep(&ts, NULL);
				continue;
			}
			if (due - sent - errors < (unsigned long long)batch)
				batch = (int)(due - sent - errors);
		}
		for (i = 0; i < batch; i++) {
			lgf_fill(frames[i] + off, id_first + id_next, seq++);
			id_next = (id_next + 1) % id_count;
		}
		n = 0;
		while (n < batch) {
			r = sendmmsg(fd, msg + n, (unsigned int)(batch - n), 0);
			if (r < 0) {
				/* A full queue is the flood's problem; counted, not retried. */
				if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
					perror("sendmmsg");
					return 1;
				}
				errors++;
				n++;
				continue;
			}
			n += r;
			sent += (unsigned long long)r;
		}
	}
	seconds = (double)(now_ns() - t0) / 1e9;
	printf("sent %llu errors %llu seconds %.3f rate %.0f\n", sent, errors, seconds,
	       (double)sent / seconds);
	close(fd);
	return 0;
}
