// SPDX-License-Identifier: MIT
/*
 * LGF sender for the admission flood benchmark (bench/admit_flood.sh): UDP
 * datagrams carrying LGF headers, in sendmmsg() batches, either as fast as
 * the socket takes them or at a fixed rate, for a bounded time.
 *
 * usage: admit_flood_send DST_IP DST_PORT SRC_PORT ID_FIRST ID_COUNT RATE SECONDS
 *   ids cycle through ID_FIRST .. ID_FIRST + ID_COUNT - 1; sequences start at 1;
 *   RATE frames per second, 0 = as fast as possible.
 * Prints "sent FRAMES errors ERRORS seconds S rate R" when done.
 *
 * The MAC tag is zeros: admission at XDP does not verify it (the worker does).
 */
#include <arpa/inet.h>
#include <errno.h>
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

int main(int argc, char **argv)
{
	static unsigned char frames[BATCH][FRAME_LEN];
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in dst = {.sin_family = AF_INET}, src = {.sin_family = AF_INET};
	unsigned long long sent = 0, errors = 0, seq = 1, t0, t_end, t, due;
	unsigned int id_first, id_count, id_next = 0;
	double rate, seconds;
	int fd, i, n, batch, r;

	if (argc != 8) {
		fprintf(stderr,
			"usage: %s DST_IP DST_PORT SRC_PORT ID_FIRST ID_COUNT RATE SECONDS\n",
			argv[0]);
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", argv[1]);
		return 2;
	}
	dst.sin_port = htons((unsigned short)atoi(argv[2]));
	src.sin_port = htons((unsigned short)atoi(argv[3]));
	id_first = (unsigned int)strtoul(argv[4], NULL, 0);
	id_count = (unsigned int)strtoul(argv[5], NULL, 0);
	rate = atof(argv[6]);
	seconds = atof(argv[7]);
	if (!id_first || !id_count || rate < 0 || seconds <= 0) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof(src)) ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst))) {
		perror("socket");
		return 1;
	}
	memset(msg, 0, sizeof(msg));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = frames[i];
		iov[i].iov_len = FRAME_LEN;
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
			lgf_fill(frames[i], id_first + id_next, seq++);
			id_next = (id_next + 1) % id_count;
		}
		n = 0;
		while (n < batch) {
			r = sendmmsg(fd, msg + n, (unsigned int)(batch - n), 0);
			if (r < 0) {
				/* A full queue or a dropped frame is the flood's problem, not ours. */
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
