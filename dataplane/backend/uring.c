// SPDX-License-Identifier: MIT
/*
 * uring backend: one SO_REUSEPORT UDP socket per worker, read by a multishot
 * recvmsg that picks its buffers from a provided buffer ring. One submission
 * serves many datagrams; the kernel ends it (no IORING_CQE_F_MORE) when the
 * ring runs dry or the CQ overflows, and we re-arm it then.
 */
#include "backends.h"
#include <linegate/policy.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BGID 7

#define NSOCK 2

struct lg_backend {
	struct io_uring ring;
	int fd[NSOCK];
	struct io_uring_buf_ring *br;
	size_t br_size;
	uint8_t *bufs;
	size_t bufs_size;
	unsigned nbufs, buf_size, mask;
	struct msghdr msg; /* the template multishot recvmsg lays out each buffer by */
	int armed[NSOCK];
	/* wake_fd(): a multishot poll on it completes the wait; -1 = none. */
	int wake_fd;
	bool wake_armed;
	/* How io_uring runs the task work that posts completions (issue 10). */
	enum uring_taskrun { TASKRUN_IPI, TASKRUN_COOP, TASKRUN_DEFER } taskrun;
	/* DEFER_TASKRUN: the ring was made disabled (IORING_SETUP_R_DISABLED) in the opening
	 * thread and the worker enables it in its first rx_burst(), which makes the worker
	 * the ring's single issuer. */
	bool disabled;
	bool taskrun_asked; /* taskrun=MODE given, not the kernel's best */
	/* unreadable: completions whose buffer holds no valid recvmsg layout; errors: other
	 * failed completions. Truncated datagrams reach the worker, which counts them. */
	uint64_t nobufs, unreadable, errors;
};

static const char *const taskrun_names[] = {
	[TASKRUN_IPI] = "ipi", [TASKRUN_COOP] = "coop", [TASKRUN_DEFER] = "defer",
};

/* One multishot recvmsg per socket; both draw from the same buffer ring, and the
 * request's user_data says which socket a completion belongs to. */
static int arm(struct lg_backend *b, int i)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, b->fd[i], &b->msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, (uint64_t)i);
	b->armed[i] = 1;
	return 0;
}

/* user_data of the wake fd's poll (the sockets' are 0 and 1). */
#define WAKE_DATA 0x100u

static int arm_wake(struct lg_backend *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_multishot(sqe, b->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, WAKE_DATA);
	b->wake_armed = true;
	return 0;
}

static int open_socket(const struct lg_backend_conf *conf, uint16_t port, bool any, bool reuse)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, zero = 0, rcvbuf = 8 << 20, fd, ret;
	bool v4 = conf->bind_addr && strchr(conf->bind_addr, ':') == NULL;

	fd = socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (reuse)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* A bigger socket buffer absorbs bursts while a worker is scoring a batch. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	/* Honest latency: the kernel's software receive timestamp (CLOCK_REALTIME, taken when
	 * the stack received the frame) comes with each datagram as SCM_TIMESTAMPNS, so that
	 * the time a datagram waited in the socket counts. */
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	/* A datagram the kernel reassembled from IP fragments comes with its largest
	 * fragment's size (IP_RECVFRAGSIZE, IPV6_RECVFRAGSIZE; Linux 4.10): XDP passed those
	 * fragments without charging a device's token bucket (fragments: reassemble), so the
	 * worker charges it for the datagram (lg_rx_pkt.reassembled). A v6 socket gets IPv4
	 * datagrams (v4-mapped) under IP_RECVFRAGSIZE. Refused: such datagrams would go
	 * uncharged, so the socket is not opened. */
	if (setsockopt(fd, IPPROTO_IP, IP_RECVFRAGSIZE, &one, sizeof(one)) ||
	    (!v4 && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVFRAGSIZE, &one, sizeof(one)))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (v4) {
		/* A socket bound to a unicast address is not handed multicast: with groups
		 * (which the data plane joins on a socket of its own, dataplane/mcast.h) the
		 * UADP socket listens on any address of the family. */
		if (any)
			a4.sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, conf->bind_addr, &a4.sin_addr) != 1) {
			close(fd);
			return -EINVAL;
		}
		ret = bind(fd, (struct sockaddr *)&a4, sizeof(a4));
	} else {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (conf->bind_addr && !any &&
		    inet_pton(AF_INET6, conf->bind_addr, &a6.sin6_addr) != 1) {
			close(fd);
			return -EINVAL;
		}
		ret = bind(fd, (struct sockaddr *)&a6, sizeof(a6));
	}
	if (ret) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * Steer LGF datagrams to the socket of the worker that owns their device: a classic BPF
 * reuseport selector that reads the little-endian device id at payload offset 4 (the kernel
 * runs it on the datagram past the UDP header) and returns lg_steer_lgf(id, n), the index of
 * the socket in the group, which is the worker index because worker i binds i-th. A datagram
 * too short for an id selects socket 0, where it is refused. Without it, the kernel would
 * pick by the 4-tuple and a device sending from several ports would reach several workers
 * (which still works, through the handoff rings, at the cost of a copy).
 */
static int attach_selector(int fd, unsigned n)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 7),
		BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 8),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6),
		BPF_STMT(BPF_ALU | BPF_OR | BPF_X, 0),
		BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 8),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 5),
		BPF_STMT(BPF_ALU | BPF_OR | BPF_X, 0),
		BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 8),
		BPF_STMT(BPF_MISC | BPF_TAX, 0),
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 4),
		BPF_STMT(BPF_ALU | BPF_OR | BPF_X, 0),
		/* lg_steer_lgf(): Fibonacci hash, the upper half, modulo the workers */
		BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x9E3779B1u),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)))
		return -errno;
	return 0;
}

static void uring_close(struct lg_backend *b)
{
	if (!b)
		return;
	if (b->br) {
		io_uring_unregister_buf_ring(&b->ring, BGID);
		munmap(b->br, b->br_size);
	}
	if (b->bufs)
		munmap(b->bufs, b->bufs_size);
	if (b->ring.ring_fd > 0)
		io_uring_queue_exit(&b->ring);
	for (int i = 0; i < NSOCK; i++)
		if (b->fd[i] >= 0)
			close(b->fd[i]);
	free(b);
}

/* busy_poll=USEC: the socket polls the device queue this long before sleeping (SO_BUSY_POLL;
 * needs CAP_NET_ADMIN above net.core.busy_read). */
static int parse_opts(const char *opts, int *busy_poll, int *taskrun, char *err,
		      size_t errlen)
{
	char key[32], val[32];
	unsigned long v;
	int ret;

	*busy_poll = 0;
	*taskrun = -1;
	while ((ret = lg_backend_opt_next(&opts, key, sizeof(key), val, sizeof(val))) > 0) {
		if (!strcmp(key, "busy_poll") && !lg_backend_opt_uint(val, 1000000, &v)) {
			*busy_poll = (int)v;
			continue;
		}
		if (!strcmp(key, "taskrun")) {
			for (int m = 0; m <= TASKRUN_DEFER; m++)
				if (!strcmp(val, taskrun_names[m]))
					*taskrun = m;
			if (*taskrun >= 0)
				continue;
		}
		snprintf(err, errlen, "uring: unknown option or value '%s%s%s' (busy_poll=USEC, "
			 "0..1000000; taskrun=coop|defer|ipi)", key, val[0] ? "=" : "", val);
		return -EINVAL;
	}
	if (ret < 0)
		snprintf(err, errlen, "uring: an option is too long");
	return ret;
}

/* liburing 2.3's headers have these; older ones do not (the kernel decides at setup). */
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

/*
 * Issue 10: how completions reach the worker. Without flags a completion posted while the
 * worker runs (each datagram, from the sender's CPU on a veth, or the NIC's softirq) kicks
 * it with a reschedule IPI to run io_uring's task work at once: perf had half the worker
 * thread's samples under asm_sysvec_reschedule_ipi at 100k frames/s. With COOP_TASKRUN the
 * work waits for the worker's next io_uring_enter(), which it makes every burst anyway;
 * TASKRUN_FLAG tells liburing when it must enter to get CQEs. The default: COOP_TASKRUN,
 * or without flags where the kernel refuses them (before 5.19).
 *
 * DEFER_TASKRUN (6.1; needs SINGLE_ISSUER) goes further: the work is queued on the ring
 * and run only inside the worker's io_uring_enter(GETEVENTS), and a wait ends once as many
 * completions are pending as it waits for. Only on request (taskrun=defer): alternated
 * with COOP_TASKRUN in bench/rx_compare.sh it cost as much or more per frame (medians
 * 4472/3767/3867 ns against 4400/2900/3147 at 100k/200k/250k offered, 3 runs each; see
 * docs/benchmarks.md), so it is kept for trying on other hardware, not made the default.
 */
static int ring_init(struct lg_backend *b, int want)
{
	static const struct {
		unsigned flags;
		enum uring_taskrun mode;
	} modes[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			  IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED,
		  TASKRUN_DEFER },
		{ IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, TASKRUN_COOP },
		{ 0, TASKRUN_IPI },
	};
	unsigned i = 0;
	int ret = -EINVAL;

	for (; i < sizeof(modes) / sizeof(modes[0]); i++) {
		/* taskrun=MODE: that mode or nothing; by default COOP, else IPIs. */
		if (want >= 0 ? modes[i].mode != (enum uring_taskrun)want
			      : modes[i].mode == TASKRUN_DEFER)
			continue;
		struct io_uring_params p = {
			.flags = IORING_SETUP_CQSIZE | modes[i].flags, .cq_entries = 4096,
		};

		ret = io_uring_queue_init_params(64, &b->ring, &p);
		if (ret == -EINVAL)
			continue;
		if (ret)
			return ret;
		b->taskrun = modes[i].mode;
		b->taskrun_asked = want >= 0;
		b->disabled = p.flags & IORING_SETUP_R_DISABLED;
		return 0;
	}
	return ret;
}

static int uring_open(struct lg_backend **out, const struct lg_backend_conf *conf, char *err,
		      size_t errlen)
{
	struct io_uring_buf_reg reg = { 0 };
	struct lg_backend *b;
	int ret, busy_poll, taskrun;

	err[0] = '\0';
	if (!conf->nbufs || conf->nbufs & (conf->nbufs - 1) || conf->nbufs > 32768 ||
	    conf->buf_size < 256) {
		snprintf(err, errlen, "%u buffers of %u bytes: a power of two up to 32768 buffers "
			 "of at least 256 bytes", conf->nbufs, conf->buf_size);
		return -EINVAL;
	}
	ret = parse_opts(conf->opts, &busy_poll, &taskrun, err, errlen);
	if (ret)
		return ret;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->fd[0] = b->fd[1] = -1;
	b->wake_fd = -1;
	b->nbufs = conf->nbufs;
	b->buf_size = conf->buf_size;
	b->mask = io_uring_buf_ring_mask(conf->nbufs);
	/* Rounded up to 8: the control data (the timestamp's cmsghdr, and a reassembled
	 * datagram's fragment size) follows the name in each buffer and must be aligned for
	 * it (UBSan found it misaligned at 28). */
	b->msg.msg_namelen = (sizeof(struct sockaddr_in6) + 7) & ~7u;
	b->msg.msg_controllen = CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(int));

	ret = ring_init(b, taskrun);
	if (ret) {
		if (ret == -EINVAL && taskrun >= 0)
			snprintf(err, errlen, "uring: taskrun=%s: the kernel refused it",
				 taskrun_names[taskrun]);
		goto err;
	}
	for (int i = 0; i < NSOCK; i++) {
		uint16_t port = i ? conf->port2 : conf->port;

		if (i && !port)
			break;
		/* Before the first worker joins: a port some other process receives on (another
		 * linegate started beside this one, with SO_REUSEPORT) would silently take the
		 * line's frames from it. A socket without SO_REUSEPORT binds only where nobody
		 * listens. */
		if (conf->queue == 0) {
			int probe = open_socket(conf, port, i && conf->nmcast, false);

			if (probe < 0) {
				ret = probe;
				snprintf(err, errlen, "UDP port %u is in use%s: %s", port,
					 ret == -EADDRINUSE ? " by another process (another linegate? "
					 "ss -ulpn shows which): it would share the line's frames" : "",
					 strerror(-ret));
				goto err;
			}
			close(probe);
		}
		b->fd[i] = open_socket(conf, port, i && conf->nmcast, true);
		if (b->fd[i] < 0) {
			ret = b->fd[i];
			snprintf(err, errlen, "UDP port %u: %s", port, strerror(-ret));
			goto err;
		}
		/*
		 * The UADP socket gets the groups the data plane's own sockets join
		 * (dataplane/mcast.h): IP_MULTICAST_ALL is on by default for IPv4 sockets but
		 * off, for IPv4 groups, on a dual-stack IPv6 one. Fails harmlessly on IPv4.
		 */
		if (i)
			setsockopt(b->fd[i], IPPROTO_IP, IP_MULTICAST_ALL, &(int){ 1 }, sizeof(int));
		if (busy_poll && setsockopt(b->fd[i], SOL_SOCKET, SO_BUSY_POLL, &busy_poll,
					    sizeof(busy_poll))) {
			ret = -errno;
			snprintf(err, errlen, "busy_poll=%d on UDP port %u: %s", busy_poll, port,
				 strerror(-ret));
			goto err;
		}
	}
	/* The first worker's socket is in the group before the others join: the selector it
	 * attaches holds for the whole group. UADP identities sit at no fixed offset; their
	 * messages reach their owner through the handoff rings. */
	if (conf->queue == 0 && conf->nqueues > 1) {
		ret = attach_selector(b->fd[0], conf->nqueues);
		if (ret) {
			snprintf(err, errlen, "reuseport selector on UDP port %u: %s", conf->port,
				 strerror(-ret));
			goto err;
		}
	}
	/* liburing 2.3 has no io_uring_setup_buf_ring(): map the ring ourselves. */
	b->br_size = (conf->nbufs * sizeof(struct io_uring_buf) + 4095) & ~4095UL;
	b->br = mmap(NULL, b->br_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (b->br == MAP_FAILED) {
		b->br = NULL;
		ret = -errno;
		goto err;
	}
	b->bufs_size = (size_t)conf->nbufs * conf->buf_size;
	b->bufs = mmap(NULL, b->bufs_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
		       -1, 0);
	if (b->bufs == MAP_FAILED) {
		b->bufs = NULL;
		ret = -errno;
		goto err;
	}
	/* Every page written once now rather than faulted in by the first datagrams, in the
	 * worker's time (a fault is dear on a paravirtualised VM; issue 10, as the afxdp UMEM). */
	for (size_t off = 0; off < b->bufs_size; off += 4096)
		((volatile uint8_t *)b->bufs)[off] = 0;
	reg.ring_addr = (unsigned long)b->br;
	reg.ring_entries = conf->nbufs;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(&b->ring, &reg, 0);
	if (ret) {
		munmap(b->br, b->br_size);
		b->br = NULL;
		goto err;
	}
	io_uring_buf_ring_init(b->br);
	for (unsigned i = 0; i < conf->nbufs; i++)
		io_uring_buf_ring_add(b->br, b->bufs + (size_t)i * conf->buf_size, conf->buf_size,
				      i, b->mask, i);
	io_uring_buf_ring_advance(b->br, conf->nbufs);
	/*
	 * Not armed here: the worker arms its sockets in its first rx_burst() (datagrams wait
	 * in the socket until then). A request's task work runs in the task that submitted
	 * it, and with the multishot recvmsg submitted here, in the thread that opens the
	 * backend (linegate's main thread), that thread did the worker's receive until the
	 * first re-arm: 0.2-0.5 s of CPU in 3 of 9 one-second steps of bench/rx_compare.sh
	 * (issue 10). A disabled ring (DEFER_TASKRUN) takes no submissions anyway.
	 */
	*out = b;
	return 0;
err:
	if (!err[0])
		snprintf(err, errlen, "io_uring: %s", strerror(-ret));
	uring_close(b);
	return ret;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC now, in ns: read once per burst, so that a step of the
 * wall clock moves the conversion of the datagrams after it, never of those before. */
static int64_t realtime_offset(void)
{
	struct timespec m, r;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000000ll + (r.tv_nsec - m.tv_nsec);
}

/* From the datagram's control data: its kernel receive timestamp on CLOCK_MONOTONIC, not
 * after pickup t (t when it has none), into pkt->arrival_ns, and whether the kernel
 * reassembled it from IP fragments (IP_RECVFRAGSIZE / IPV6_RECVFRAGSIZE, which come only
 * with a reassembled datagram) into pkt->reassembled. */
static void control(struct lg_backend *b, struct io_uring_recvmsg_out *o, int64_t off,
		    uint64_t t, struct lg_rx_pkt *pkt)
{
	pkt->arrival_ns = t;
	pkt->reassembled = 0;
	for (struct cmsghdr *c = io_uring_recvmsg_cmsg_firsthdr(o, &b->msg); c;
	     c = io_uring_recvmsg_cmsg_nexthdr(o, &b->msg, c)) {
		struct timespec ts;
		int64_t a;

		if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVFRAGSIZE) ||
		    (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVFRAGSIZE)) {
			pkt->reassembled = 1;
			continue;
		}
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS ||
		    c->cmsg_len < CMSG_LEN(sizeof(ts)))
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		a = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec - off;
		pkt->arrival_ns = a > 0 && (uint64_t)a < t ? (uint64_t)a : t;
	}
}

static void fill_src(struct lg_rx_pkt *pkt, const void *name)
{
	const struct sockaddr_in6 *s6 = name;
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(pkt->src_addr, 0, sizeof(pkt->src_addr));
	if (s6->sin6_family == AF_INET) {
		const struct sockaddr_in *s4 = name;

		pkt->family = AF_INET;
		memcpy(pkt->src_addr, &s4->sin_addr, 4);
		pkt->src_port = ntohs(s4->sin_port);
	} else if (!memcmp(&s6->sin6_addr, v4mapped, sizeof(v4mapped))) {
		pkt->family = AF_INET;
		memcpy(pkt->src_addr, (const uint8_t *)&s6->sin6_addr + 12, 4);
		pkt->src_port = ntohs(s6->sin6_port);
	} else {
		pkt->family = AF_INET6;
		memcpy(pkt->src_addr, &s6->sin6_addr, 16);
		pkt->src_port = ntohs(s6->sin6_port);
	}
}

/* Debian's liburing 2.3 declares io_uring_enable_rings() but does not export it. */
static int enable_ring(struct io_uring *ring)
{
	if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0))
		return -errno;
	return 0;
}

static int uring_rx_burst(struct lg_backend *b, struct lg_rx_pkt *pkts, unsigned max,
			  int timeout_ms)
{
	struct __kernel_timespec ts = {
		.tv_sec = timeout_ms / 1000, .tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
	};
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0, n = 0;
	int64_t off;
	uint64_t t;
	int ret;

	if (b->disabled) {
		/* The first call, in the worker's thread: from here on only it submits. */
		ret = enable_ring(&b->ring);
		if (ret)
			return ret;
		b->disabled = false;
	}
	for (int i = 0; i < NSOCK; i++) {
		if (b->fd[i] < 0 || b->armed[i])
			continue;
		ret = arm(b, i);
		if (ret)
			return ret;
	}
	if (b->wake_fd >= 0 && !b->wake_armed) {
		ret = arm_wake(b);
		if (ret)
			return ret;
	}
	ret = io_uring_submit_and_wait_timeout(&b->ring, &cqe, 1, timeout_ms >= 0 ? &ts : NULL,
					       NULL);
	if (ret == -ETIME || ret == -EINTR)
		return 0;
	if (ret < 0)
		return ret;
	t = now_ns();
	off = realtime_offset();
	io_uring_for_each_cqe(&b->ring, head, cqe) {
		struct io_uring_recvmsg_out *o;
		struct lg_rx_pkt *pkt;
		unsigned bid, sock = (unsigned)io_uring_cqe_get_data64(cqe) & 1;
		uint8_t *buf;

		if (n == max)
			break;
		seen++;
		if (io_uring_cqe_get_data64(cqe) == WAKE_DATA) {
			/* Woken (the caller reads the fd); armed again unless it still is. */
			if (!(cqe->flags & IORING_CQE_F_MORE))
				b->wake_armed = false;
			continue;
		}
		if (!(cqe->flags & IORING_CQE_F_MORE))
			b->armed[sock] = 0;
		if (cqe->res < 0) {
			/* ENOBUFS: every buffer is in the worker's hands; the datagram waits in
			 * the socket and is read once buffers come back. */
			if (cqe->res == -ENOBUFS)
				b->nobufs++;
			else if (cqe->res != -ECANCELED)
				b->errors++;
			continue;
		}
		if (!(cqe->flags & IORING_CQE_F_BUFFER))
			continue;
		bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		buf = b->bufs + (size_t)bid * b->buf_size;
		pkt = &pkts[n];
		o = io_uring_recvmsg_validate(buf, cqe->res, &b->msg);
		pkt->buf_id = bid;
		if (!o) {
			/* Give the buffer straight back: there is nothing in it to look at. */
			io_uring_buf_ring_add(b->br, buf, b->buf_size, bid, b->mask, 0);
			io_uring_buf_ring_advance(b->br, 1);
			b->unreadable++;
			continue;
		}
		fill_src(pkt, io_uring_recvmsg_name(o));
		pkt->data = io_uring_recvmsg_payload(o, &b->msg);
		pkt->len = io_uring_recvmsg_payload_length(o, cqe->res, &b->msg);
		pkt->truncated = !!(o->flags & MSG_TRUNC);
		pkt->rx_ns = t;
		control(b, o, off, t, pkt);
		pkt->l2_off = 0; /* a datagram: its frame stayed in the kernel */
		pkt->port_idx = (uint8_t)sock;
		pkt->transport = LG_RX_UDP;
		n++;
	}
	io_uring_cq_advance(&b->ring, seen);
	return (int)n;
}

/* Nothing waits: no datagram in either socket (a peek, which takes none; behind a
 * multishot request the kernel ended for want of buffers, a whole receive buffer can wait
 * there) and no completion unread. The sockets first: a peek can run task work that posts
 * completions. */
static bool uring_rx_empty(struct lg_backend *b)
{
	char c;

	for (int i = 0; i < NSOCK; i++)
		if (b->fd[i] >= 0 && recv(b->fd[i], &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0)
			return false;
	return !io_uring_cq_ready(&b->ring);
}

static int uring_wake_fd(struct lg_backend *b, int fd)
{
	b->wake_fd = fd;
	return 0;
}

static void uring_release(struct lg_backend *b, const struct lg_rx_pkt *pkts, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		io_uring_buf_ring_add(b->br, b->bufs + (size_t)pkts[i].buf_id * b->buf_size,
				      b->buf_size, pkts[i].buf_id, b->mask, i);
	io_uring_buf_ring_advance(b->br, n);
}

/* What the kernel dropped at the socket before we could read it: a full receive buffer
 * (or a bad checksum), sk_drops, which SO_MEMINFO reads at any time, exactly. */
static uint64_t socket_drops(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS] = { 0 };
	socklen_t len = sizeof(mi);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) ||
	    len <= SK_MEMINFO_DROPS * sizeof(mi[0]))
		return 0;
	return mi[SK_MEMINFO_DROPS];
}

static void uring_stats(struct lg_backend *b, struct lg_backend_stats *st)
{
	for (int i = 0; i < NSOCK; i++)
		st->drops[LG_DROP_SOCKET] += socket_drops(b->fd[i]);
	st->drops[LG_DROP_RX_ERROR] += b->unreadable + b->errors;
}

static void uring_describe(struct lg_backend *b, char *buf, size_t len)
{
	int bp = 0;
	socklen_t l = sizeof(bp);

	static const char *const taskrun[] = {
		[TASKRUN_IPI] = "task work by IPI (the kernel refused COOP_TASKRUN: before 5.19)",
		[TASKRUN_COOP] = "task work cooperative (COOP_TASKRUN)",
		[TASKRUN_DEFER] = "task work deferred to the worker (DEFER_TASKRUN, SINGLE_ISSUER)",
	};
	static const char *const asked[] = {
		[TASKRUN_IPI] = "task work by IPI (taskrun=ipi)",
		[TASKRUN_COOP] = "task work cooperative (COOP_TASKRUN; taskrun=coop)",
		[TASKRUN_DEFER] = ("task work deferred to the worker (DEFER_TASKRUN, SINGLE_ISSUER; "
				   "taskrun=defer)"),
	};

	getsockopt(b->fd[0], SOL_SOCKET, SO_BUSY_POLL, &bp, &l);
	snprintf(buf, len, "%u buffers of %u bytes, busy poll %s%d us%s, %s", b->nbufs,
		 b->buf_size, bp ? "" : "off (", bp, bp ? "" : ")",
		 (b->taskrun_asked ? asked : taskrun)[b->taskrun]);
}

const struct lg_backend_ops lg_backend_uring = {
	.name = "uring",
	.flags = LG_BACKEND_F_SOCKET | LG_BACKEND_F_STEERS_LGF,
	.open = uring_open,
	.rx_burst = uring_rx_burst,
	.release = uring_release,
	.close = uring_close,
	.stats = uring_stats,
	.describe = uring_describe,
	.wake_fd = uring_wake_fd,
	.rx_empty = uring_rx_empty,
	.help = "uring: a UDP socket per worker (SO_REUSEPORT) on the policy's ports, read by an\n"
		"io_uring multishot recvmsg into a provided buffer ring. Options: busy_poll=USEC\n"
		"(SO_BUSY_POLL on the sockets), taskrun=coop|defer|ipi (how completions reach the\n"
		"worker: default COOP_TASKRUN, IPIs where the kernel has no COOP_TASKRUN; given,\n"
		"that one or refuse to start).",
};
