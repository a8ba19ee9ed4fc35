/* SPDX-License-Identifier: MIT */
/* The data plane's side of XDP admission: compile a policy into the admission
 * program's device table and configuration (include/linegate/admit.h). */
#ifndef LINEGATE_DP_XDP_H
#define LINEGATE_DP_XDP_H

#include <stddef.h>

#include <linegate/admit.h>
#include <linegate/policy.h>

/* Fill cfg and a malloc'd array of entries (*n of them) from the policy. */
int lg_xdp_compile(const struct lg_policy *p, struct lg_admit_cfg *cfg,
		   struct lg_admit_entry **entries, size_t *n);

/*
 * Only the policy's multicast groups (uadp_multicast) are ours: for a program in front of a
 * socket, which receives only the groups it joined (cfg->groups_only, lg_admit_cfg).
 */
void lg_xdp_groups(const struct lg_policy *p, struct lg_admit_cfg *cfg);

#endif
