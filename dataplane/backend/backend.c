// SPDX-License-Identifier: MIT
/* The backend registry, option strings, and whole-frame parsing for every backend. */
#include <linegate/admit.h>
#include <linegate/backend.h>

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends.h"

static const struct lg_backend_ops *const backends[] = {
#ifdef LG_HAVE_URING
    &lg_backend_uring,
#endif
#ifdef LG_HAVE_AFXDP
    &lg_backend_afxdp,
#endif
#ifdef LG_HAVE_PCAP
    &lg_backend_pcap,
#endif
#ifdef LG_HAVE_DPDK
    &lg_backend_dpdk,
#endif
    NULL,
};

const struct lg_backend_ops *const *lg_backend_list(void)
{
	return backends;
}

const struct lg_backend_ops *lg_backend_find(const char *name)
{
	for (const struct lg_backend_ops *const *b = backends; *b; b++)
		if (!strcmp((*b)->name, name))
			return *b;
	return NULL;
}

int lg_backend_setup(const struct lg_backend_ops *ops, const struct lg_backend_conf *conf,
		     char *err, size_t errlen)
{
	int ret = lg_backend_opt_once(conf->opts, ops->repeatable, err, errlen);

	if (ret)
		return ret;
	return ops->setup ? ops->setup(conf, err, errlen) : 0;
}

int lg_backend_channels(const char *ifname, unsigned *combined, unsigned *rx)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	ret = ioctl(fd, SIOCETHTOOL, &ifr) ? -errno : 0;
	close(fd);
	if (!ret) {
		*combined = ch.combined_count;
		*rx = ch.rx_count;
	}
	return ret;
}

int lg_backend_rx_queues(const char *ifname)
{
	/*
	 * Asked of the kernel in this process's network namespace, not of /sys: /sys is the
	 * namespace's of whoever mounted it, and under `nsenter --net` it is the host's,
	 * where the interface is absent or another one of the same name. First the channels
	 * in use (`ethtool -L` changes them: a veth made with numrxqueues 2 and set to rx 1
	 * has one), else what the device was made with (rtnetlink's IFLA_NUM_RX_QUEUES).
	 */
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 },
		.ifi = { .ifi_family = AF_UNSPEC },
	};
	const size_t cap = 65536;
	unsigned int idx = if_nametoindex(ifname);
	int fd, ret = -ENODATA;
	char *buf;
	ssize_t n;

	if (!idx)
		return -ENODEV;
	{
		unsigned comb, rx;

		/* the channels in use (combined + rx-only), when the driver reports them */
		if (!lg_backend_channels(ifname, &comb, &rx) && comb + rx)
			return (int)(comb + rx);
	}
	req.ifi.ifi_index = (int)idx;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		ret = -errno;
		goto out;
	}
	n = recv(fd, buf, cap, 0);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
	     nh = NLMSG_NEXT(nh, n)) {
		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			ret = e->error ? e->error : -ENODATA;
			break;
		}
		if (nh->nlmsg_type != RTM_NEWLINK)
			continue;
		int len = (int)IFLA_PAYLOAD(nh);

		for (struct rtattr *a = IFLA_RTA((struct ifinfomsg *)NLMSG_DATA(nh)); RTA_OK(a, len);
		     a = RTA_NEXT(a, len)) {
			if (a->rta_type == IFLA_NUM_RX_QUEUES && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
				uint32_t q;

				memcpy(&q, RTA_DATA(a), sizeof(q));
				ret = q > INT32_MAX ? -ERANGE : (int)q;
			}
		}
		break;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

static int copy_part(char *dst, size_t dstlen, const char *src, size_t n)
{
	if (n >= dstlen)
		return -EINVAL;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int lg_backend_opt_next(const char **pos, char *key, size_t keylen, char *val, size_t vallen)
{
	const char *p = *pos, *end, *eq;

	while (p && *p == ',')
		p++;
	if (!p || !*p)
		return 0;
	end = strchr(p, ',');
	if (!end)
		end = p + strlen(p);
	eq = memchr(p, '=', (size_t)(end - p));
	*pos = end;
	if (copy_part(key, keylen, p, (size_t)((eq ? eq : end) - p)))
		return -EINVAL;
	return copy_part(val, vallen, eq ? eq + 1 : end, eq ? (size_t)(end - eq - 1) : 0) ? -EINVAL
											  : 1;
}

/* The length of the key of the option at p (up to its '=' or its end). */
static size_t key_len(const char *p)
{
	return strcspn(p, ",=");
}

int lg_backend_opt_once(const char *opts, const char *const *repeatable, char *err,
			size_t errlen)
{
	for (const char *p = opts; p && *p; p += strcspn(p, ",")) {
		size_t n;
		bool again = false, may = false;

		while (*p == ',')
			p++;
		n = key_len(p);
		if (!*p || !n)
			continue;
		for (const char *const *r = repeatable; r && *r && !may; r++)
			may = strlen(*r) == n && !memcmp(*r, p, n);
		/* the same key in a later option */
		for (const char *q = p + strcspn(p, ","); !may && !again && *q;
		     q += strcspn(q, ",")) {
			while (*q == ',')
				q++;
			again = key_len(q) == n && !memcmp(q, p, n);
		}
		if (again) {
			snprintf(err, errlen, "option '%.*s' is given more than once: each option "
				 "once (the last one does not win)", n > 64 ? 64 : (int)n, p);
			return -EINVAL;
		}
	}
	return 0;
}

int lg_backend_opt_uint(const char *val, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*val < '0' || *val > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(val, &end, 10);
	if (*end || errno || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Ones' complement sum of len bytes, folded to 16 bits at the end (RFC 1071). */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	while (len >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		sum += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;

		memcpy(&w, p, 2);
		sum += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint16_t w = 0;

		memcpy(&w, p, 1);
		sum += w;
	}
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * The UDP checksum as the kernel checks it before a socket gets the datagram: over the
 * pseudo header and the whole datagram; 0 in the field means none over IPv4, and is
 * refused over IPv6 (RFC 8200 8.1).
 */
static int udp_csum_ok(const uint8_t *frame, const struct lg_admit_pkt *ap)
{
	const uint8_t *l3 = frame + LG_ETH_HLEN + 4u * ap->vlans;
	const uint8_t *udp = frame + ap->payload_off - LG_UDP_HLEN;
	uint32_t ulen = ap->payload_len + LG_UDP_HLEN;
	uint8_t pseudo[4] = {0, 17, (uint8_t)(ulen >> 8), (uint8_t)ulen};
	uint64_t sum;

	if (!udp[6] && !udp[7])
		return ap->family == LG_ADMIT_AF_INET;
	if (ap->family == LG_ADMIT_AF_INET)
		sum = csum_add(0, l3 + 12, 8); /* source and destination */
	else
		sum = csum_add(0, l3 + 8, 32);
	sum = csum_add(sum, pseudo, 4);
	sum = csum_add(sum, udp, ulen);
	return csum_fold(sum) == 0xffff;
}

enum lg_reason lg_backend_parse_frame(const uint8_t *frame, uint32_t len, uint16_t port,
				      uint16_t port2, unsigned flags, struct lg_rx_pkt *pkt)
{
	struct lg_admit_cfg cfg = {.lgf_port = port, .uadp_port = port2};
	struct lg_admit_pkt ap;
	int rc = lg_admit_parse_frame(frame, frame + len, &cfg, &ap);

	if (rc == LG_R_NOT_OURS)
		return LG_DROP_NOT_OURS;
	/* Whole frames only: nothing here reassembles, the kernel does for the uring backend. */
	if (rc == LG_R_FRAGMENT)
		return LG_DROP_FRAGMENT;
	/* The IPv4 header's checksum: the parser's, always (as XDP judges it) */
	if (rc == LG_R_BAD_CHECKSUM)
		return LG_DROP_BAD_CHECKSUM;
	if (rc != LG_R_ADMITTED && rc != LG_ADMIT_RC_UADP)
		return LG_DROP_MALFORMED;
	if (flags & LG_PARSE_CSUM && !udp_csum_ok(frame, &ap))
		return LG_DROP_BAD_CHECKSUM;
	pkt->data = frame + ap.payload_off;
	pkt->l2_off = ap.payload_off;
	pkt->reassembled = 0;
	pkt->len = ap.payload_len;
	pkt->truncated = 0;
	pkt->port_idx = rc == LG_ADMIT_RC_UADP;
	pkt->transport = LG_RX_UDP;
	pkt->src_port = ap.src_port;
	memset(pkt->src_addr, 0, sizeof(pkt->src_addr));
	if (ap.family == LG_ADMIT_AF_INET) {
		pkt->family = AF_INET;
		memcpy(pkt->src_addr, ap.src_addr, 4);
	} else {
		pkt->family = AF_INET6;
		memcpy(pkt->src_addr, ap.src_addr, 16);
	}
	return LG_OK;
}
