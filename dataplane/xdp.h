/* SPDX-License-Identifier: MIT */
/* The data plane's side of XDP admission: compile a policy into the admission
 * program's device table and configuration (include/linegate/admit.h). */
#ifndef LINEGATE_DP_XDP_H
#define LINEGATE_DP_XDP_H

#include <stddef.h>
#include <stdio.h>

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

/*
 * Only the policy's VLANs a socket can receive: for a program in front of a socket (uring)
 * on interface ifname. The kernel delivers a frame tagged with VLAN id v (not 0) to a
 * socket only through a VLAN interface with that id on ifname (or on a VLAN interface of
 * it: QinQ); without one it drops the frame uncounted after XDP passed it. So cfg keeps the
 * ids of the VLAN interfaces listed in config (the format of /proc/net/vlan/config:
 * "NAME | ID | PARENT" lines; NULL = none exist) and 0 (priority-tagged frames reach
 * ifname itself); the others are dropped as vlan in XDP, counted. Writes the ids it
 * took out, comma-separated, to missing ("" = none) and returns how many.
 */
unsigned lg_xdp_socket_vlans(const struct lg_policy *p, const char *ifname, FILE *config,
			     struct lg_admit_cfg *cfg, char *missing, size_t len);

#endif
