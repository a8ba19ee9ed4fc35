/* SPDX-License-Identifier: MIT */
/*
 * The data plane's multicast memberships (uadp_multicast). They are held on sockets of their
 * own, one per family, not on the workers' UADP sockets: those listen on every address of
 * their family and, with IP_MULTICAST_ALL (Linux's default), are handed every group a
 * socket of the host joined on the interface. So a live apply can join and leave groups
 * without touching the sockets the workers read.
 */
#ifndef LINEGATE_DP_MCAST_H
#define LINEGATE_DP_MCAST_H

#include <stddef.h>

#include <linegate/policy.h>

struct lg_mcast {
	int fd4, fd6; /* -1: not opened yet */
	unsigned n;
	struct lg_mcast_group g[LG_POLICY_MAX_MCAST];
	unsigned ifindex[LG_POLICY_MAX_MCAST]; /* 0: the kernel's choice */
};

void lg_mcast_init(struct lg_mcast *m);
/*
 * Join the groups of p's uadp_multicast that are not held yet (on its interface). On error
 * (err says which group and why) the groups this call joined are left again, and the
 * memberships are as before.
 */
int lg_mcast_join(struct lg_mcast *m, const struct lg_policy *p, char *err, size_t errlen);
/* Leave every group held that p does not list on the same interface. */
void lg_mcast_leave_others(struct lg_mcast *m, const struct lg_policy *p);
/* Leave all and close; accepts a struct that was only initialised. */
void lg_mcast_close(struct lg_mcast *m);

#endif
