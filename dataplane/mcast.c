// SPDX-License-Identifier: MIT
#include "mcast.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void lg_mcast_init(struct lg_mcast *m)
{
	memset(m, 0, sizeof(*m));
	m->fd4 = m->fd6 = -1;
}

static int member(struct lg_mcast *m, const struct lg_mcast_group *g, unsigned ifindex, bool join)
{
	int *fd = g->family == AF_INET ? &m->fd4 : &m->fd6;
	int ret;

	if (*fd < 0) {
		*fd = socket(g->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (*fd < 0)
			return -errno;
	}
	if (g->family == AF_INET) {
		struct ip_mreqn r = {.imr_ifindex = (int)ifindex};

		memcpy(&r.imr_multiaddr, g->addr, 4);
		ret = setsockopt(*fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &r,
				 sizeof(r));
	} else {
		struct ipv6_mreq r = {.ipv6mr_interface = ifindex};

		memcpy(&r.ipv6mr_multiaddr, g->addr, 16);
		ret = setsockopt(*fd, IPPROTO_IPV6,
				 join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &r, sizeof(r));
	}
	return ret ? -errno : 0;
}

static int held(const struct lg_mcast *m, const struct lg_mcast_group *g, unsigned ifindex)
{
	for (unsigned i = 0; i < m->n; i++)
		if (m->g[i].family == g->family && m->ifindex[i] == ifindex &&
		    !memcmp(m->g[i].addr, g->addr, g->family == AF_INET ? 4 : 16))
			return (int)i;
	return -1;
}

static void drop_at(struct lg_mcast *m, unsigned i)
{
	member(m, &m->g[i], m->ifindex[i], false);
	m->n--;
	m->g[i] = m->g[m->n];
	m->ifindex[i] = m->ifindex[m->n];
}

int lg_mcast_join(struct lg_mcast *m, const struct lg_policy *p, char *err, size_t errlen)
{
	unsigned ifindex = 0, before = m->n;
	char a[INET6_ADDRSTRLEN];
	int ret;

	if (p->mcast_if[0]) {
		ifindex = if_nametoindex(p->mcast_if);
		if (!ifindex) {
			snprintf(err, errlen, "uadp_multicast.interface %s: %s", p->mcast_if,
				 strerror(errno));
			return -ENODEV;
		}
	}
	for (unsigned i = 0; i < p->nmcast; i++) {
		const struct lg_mcast_group *g = &p->mcast[i];

		if (held(m, g, ifindex) >= 0)
			continue;
		ret = m->n < LG_POLICY_MAX_MCAST ? member(m, g, ifindex, true) : -ENOSPC;
		if (ret) {
			inet_ntop(g->family, g->addr, a, sizeof(a));
			snprintf(err, errlen,
				 "joining multicast group %s%s%s: %s (an interface with "
				 "multicast on: uadp_multicast.interface)",
				 a, p->mcast_if[0] ? " on " : "", p->mcast_if, strerror(-ret));
			while (m->n > before)
				drop_at(m, m->n - 1);
			return ret;
		}
		m->g[m->n] = *g;
		m->ifindex[m->n++] = ifindex;
	}
	return 0;
}

void lg_mcast_leave_others(struct lg_mcast *m, const struct lg_policy *p)
{
	unsigned ifindex = p->mcast_if[0] ? if_nametoindex(p->mcast_if) : 0;

	for (unsigned i = m->n; i-- > 0;) {
		bool keep = false;

		for (unsigned j = 0; j < p->nmcast && !keep; j++)
			keep = m->g[i].family == p->mcast[j].family && m->ifindex[i] == ifindex &&
			       !memcmp(m->g[i].addr, p->mcast[j].addr,
				       p->mcast[j].family == AF_INET ? 4 : 16);
		if (!keep)
			drop_at(m, i);
	}
}

void lg_mcast_close(struct lg_mcast *m)
{
	/* Closing a socket leaves its groups. */
	if (m->fd4 >= 0)
		close(m->fd4);
	if (m->fd6 >= 0)
		close(m->fd6);
	lg_mcast_init(m);
}
