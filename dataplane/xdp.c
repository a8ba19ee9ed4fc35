// SPDX-License-Identifier: MIT
#include "xdp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <stddef.h>

#include <linegate/replay.h>
#include <linegate/uadp.h>

/* uadp.h and admit.h number PublisherId types alike (admit.h cannot include uadp.h). */
_Static_assert(LG_ADMIT_UADP_PUBID_STRING == LG_UADP_PUBID_STRING, "String PublisherId type");
_Static_assert(LG_POLICY_MAX_MCAST <= LG_ADMIT_MAX_GROUPS, "every uadp_multicast group fits");

int lg_xdp_compile(const struct lg_policy *p, struct lg_admit_cfg *cfg,
		   struct lg_admit_entry **entries, size_t *n)
{
	struct lg_admit_entry *e = calloc(p->ndevices ? p->ndevices : 1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	memset(cfg, 0, sizeof(*cfg));
	cfg->lgf_port = p->port;
	cfg->uadp_port = p->uadp_port;
	cfg->not_ours = (lg_u8)p->not_ours;
	cfg->fragments = (lg_u8)p->fragments;
	/* The XDP pre-check drops what the worker's window would refuse as too old. */
	cfg->replay_window = LG_REPLAY_WINDOW;
	for (size_t i = 0; i < p->ndevices; i++) {
		const struct lg_policy_device *d = &p->devices[i];
		struct lg_admit_dev *v = &e[i].dev;

		e[i].device_id = d->id;
		v->family = d->family == AF_INET ? LG_ADMIT_AF_INET : LG_ADMIT_AF_INET6;
		memcpy(v->addr, d->addr, sizeof(v->addr));
		v->src_port = d->port;
		if (d->has_mac)
			memcpy(v->mac, d->mac, sizeof(v->mac));
		else
			v->flags |= LG_ADMIT_DEV_ANY_MAC;
		if (d->group && p->groups[d->group - 1].audit)
			v->flags |= LG_ADMIT_DEV_AUDIT;
		v->group = d->group;
		v->rate = d->rate;
		v->burst = d->burst;
		/* The same key the workers' routes have (generation.c). */
		e[i].has_uadp = !lg_policy_uadp_key(d, &e[i].uadp);
	}
	*entries = e;
	*n = p->ndevices;
	return 0;
}

void lg_xdp_groups(const struct lg_policy *p, struct lg_admit_cfg *cfg)
{
	cfg->groups_only = 1;
	cfg->ngroups = (lg_u8)p->nmcast;
	for (unsigned i = 0; i < p->nmcast; i++) {
		const struct lg_mcast_group *g = &p->mcast[i];

		cfg->group_family[i] = g->family == AF_INET ? LG_ADMIT_AF_INET : LG_ADMIT_AF_INET6;
		memcpy(cfg->groups[i], g->addr, g->family == AF_INET ? 4 : 16);
	}
}
