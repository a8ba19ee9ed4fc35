// SPDX-License-Identifier: MIT
/*
 * recvmmsg_baseline: the plainest receiver a data plane can be compared with. One UDP
 * socket, recvmmsg() in batches, every payload byte read once (a checksum), frames and
 * bytes counted; at the end its own CPU time and the socket's drops. What linegate costs
 * per frame beyond this is what its backends and workers add to "receive and look".
 */
#include <linux/sock_diag.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"Usage: recvmmsg_baseline [options]\n"
	"\n"
	"A plain UDP receiver, the baseline for linegate's receive path: binds ADDR:PORT, reads\n"
	"datagrams with recvmmsg() in batches (MSG_WAITFORONE), reads every payload byte once\n"
	"(a 64-bit sum, so that it receives and looks, as a data plane must), counts frames and\n"
	"bytes, and at the end reports its own CPU time (getrusage) and the socket's drops\n"
	"(SO_MEMINFO SK_MEMINFO_DROPS: frames the kernel dropped because the receive buffer was\n"
	"full).\n"
	"\n"
	"Options:\n"
	"  -B, --bind ADDR       IPv4 or IPv6 address to bind (default 0.0.0.0)\n"
	"  -P, --port N          UDP port (default 4739, linegate's LGF port)\n"
	"  -b, --batch N         datagrams per recvmmsg() call at most, 1..1024 (default 64)\n"
	"      --rcvbuf BYTES    receive buffer (SO_RCVBUFFORCE; default 8388608, as linegate's\n"
	"                        uring backend sets)\n"
	"  -n, --count N         stop after N datagrams (default: no limit)\n"
	"  -t, --seconds S       stop S seconds after start (default: no limit)\n"
	"  -i, --idle MS         stop when MS milliseconds pass without a datagram, once one\n"
	"                        has arrived (default: no limit)\n"
	"  -j, --json FILE       write the summary as JSON here ('-': stdout, the default)\n"
	"  -h, --help            this text\n"
	"\n"
	"SIGINT or SIGTERM stop it too. It writes READY to stderr once bound.\n"
	"Summary: {\"frames\", \"bytes\", \"truncated\", \"checksum\", \"seconds\" (first to last\n"
	"datagram), \"cpu_user_s\", \"cpu_sys_s\", \"cpu_ns_per_frame\", \"socket_drops\"}.\n"
	"Exit status: 0, 1 when the socket cannot be set up, 2 on a usage error.\n";

#define BUF_SIZE 2048

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

/* Every byte once: eight at a time, the tail one by one. */
static uint64_t sum_bytes(const uint8_t *p, size_t n)
{
	uint64_t s = 0, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		s += (w & 0x00ff00ff00ff00ffull) + ((w >> 8) & 0x00ff00ff00ff00ffull);
	}
	for (; i < n; i++)
		s += p[i];
	return s;
}

static int open_socket(const char *addr, unsigned port, int rcvbuf)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct timeval tv = { 0, 100000 };
	bool v6 = strchr(addr, ':') != NULL;
	int fd, ret;

	if (v6 ? inet_pton(AF_INET6, addr, &a6.sin6_addr) != 1 :
		 inet_pton(AF_INET, addr, &a4.sin_addr) != 1)
		return -EINVAL;
	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* FORCE needs CAP_NET_ADMIN; without it the plain option, capped by rmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* Wake up now and then to see a stop, a deadline or the idle limit. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ret = v6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6)) :
		   bind(fd, (struct sockaddr *)&a4, sizeof(a4));
	if (ret) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static uint64_t socket_drops(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS] = { 0 };
	socklen_t len = sizeof(mi);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) ||
	    len <= SK_MEMINFO_DROPS * sizeof(mi[0]))
		return 0;
	return mi[SK_MEMINFO_DROPS];
}

static double tv_s(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "bind", required_argument, NULL, 'B' },
		{ "port", required_argument, NULL, 'P' },
		{ "batch", required_argument, NULL, 'b' },
		{ "rcvbuf", required_argument, NULL, 1 },
		{ "count", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 't' },
		{ "idle", required_argument, NULL, 'i' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *addr = "0.0.0.0", *json = "-";
	unsigned port = 4739, batch = 64;
	int rcvbuf = 8 << 20, opt, fd, ret = 1;
	uint64_t count = UINT64_MAX, frames = 0, bytes = 0, truncated = 0, sum = 0;
	uint64_t first = 0, last = 0, start, deadline = UINT64_MAX, idle_ns = UINT64_MAX;
	struct mmsghdr *mm = NULL;
	struct iovec *iov = NULL;
	uint8_t *bufs = NULL;
	struct rusage ru;
	FILE *f;

	while ((opt = getopt_long(argc, argv, "B:P:b:n:t:i:j:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'B': addr = optarg; break;
		case 'P': port = (unsigned)atoi(optarg); break;
		case 'b': batch = (unsigned)atoi(optarg); break;
		case 1: rcvbuf = atoi(optarg); break;
		case 'n': count = strtoull(optarg, NULL, 0); break;
		case 't': deadline = (uint64_t)(atof(optarg) * 1e9); break;
		case 'i': idle_ns = strtoull(optarg, NULL, 0) * 1000000ull; break;
		case 'j': json = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: return 2; /* getopt_long() said why */
		}
	}
	if (optind < argc || !port || port > 65535 || !batch || batch > 1024 || rcvbuf <= 0) {
		fprintf(stderr, "recvmmsg_baseline: bad arguments (see --help)\n");
		return 2;
	}
	fd = open_socket(addr, port, rcvbuf);
	if (fd < 0) {
		fprintf(stderr, "recvmmsg_baseline: %s:%u: %s\n", addr, port, strerror(-fd));
		return 1;
	}
	mm = calloc(batch, sizeof(*mm));
	iov = calloc(batch, sizeof(*iov));
	bufs = malloc((size_t)batch * BUF_SIZE);
	if (!mm || !iov || !bufs)
		goto out;
	for (unsigned i = 0; i < batch; i++) {
		iov[i].iov_base = bufs + (size_t)i * BUF_SIZE;
		iov[i].iov_len = BUF_SIZE;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	start = now_ns();
	if (deadline != UINT64_MAX)
		deadline += start;
	fputs("READY\n", stderr);
	while (!stop && frames < count) {
		unsigned want = count - frames < batch ? (unsigned)(count - frames) : batch;
		int n = recvmmsg(fd, mm, want, MSG_WAITFORONE, NULL);
		uint64_t t;

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "recvmmsg_baseline: recvmmsg: %s\n", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			sum += sum_bytes(iov[i].iov_base, mm[i].msg_len);
			bytes += mm[i].msg_len;
			truncated += !!(mm[i].msg_hdr.msg_flags & MSG_TRUNC);
		}
		t = now_ns();
		if (n > 0) {
			if (!frames)
				first = t;
			frames += (unsigned)n;
			last = t;
		}
		if (t >= deadline || (frames && t - last >= idle_ns))
			break;
	}
	getrusage(RUSAGE_SELF, &ru);
	f = strcmp(json, "-") ? fopen(json, "w") : stdout;
	if (!f) {
		fprintf(stderr, "recvmmsg_baseline: %s: %s\n", json, strerror(errno));
		goto out;
	}
	fprintf(f, "{\"frames\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"truncated\":%" PRIu64
		   ",\"checksum\":%" PRIu64 ",\"seconds\":%.6f,\"cpu_user_s\":%.6f,\"cpu_sys_s\":%.6f"
		   ",\"cpu_ns_per_frame\":%.1f,\"socket_drops\":%" PRIu64 "}\n",
		frames, bytes, truncated, sum, (last - first) / 1e9, tv_s(ru.ru_utime),
		tv_s(ru.ru_stime),
		frames ? (tv_s(ru.ru_utime) + tv_s(ru.ru_stime)) * 1e9 / frames : 0.0,
		socket_drops(fd));
	if (f != stdout)
		fclose(f);
	ret = 0;
out:
	free(mm);
	free(iov);
	free(bufs);
	close(fd);
	return ret;
}
