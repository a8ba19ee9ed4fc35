// SPDX-License-Identifier: MIT
#include "xdp.h"

#include <errno.h>
#include <stdbool.h>
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
	for (unsigned i = 0; i < p->nvlans; i++)
		cfg->vlan_ids[p->vlans[i] >> 3] |= (lg_u8)(1u << (p->vlans[i] & 7));
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

/* One line of /proc/net/vlan/config. */
struct vlan_if {
	char name[32], parent[32];
	unsigned id;
};
#define MAX_VLAN_IFS 256

/* Is interface name ifname, or a VLAN interface on it (at most two tags deep)? */
static bool on_ifname(const struct vlan_if *v, unsigned n, const char *name, const char *ifname,
		      int depth)
{
	if (!strcmp(name, ifname))
		return true;
	if (depth >= 2)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return on_ifname(v, n, v[i].parent, ifname, depth + 1);
	return false;
}

unsigned lg_xdp_socket_vlans(const struct lg_policy *p, const char *ifname, FILE *config,
			     struct lg_admit_cfg *cfg, char *missing, size_t len)
{
	struct vlan_if *v = calloc(MAX_VLAN_IFS, sizeof(*v));
	unsigned n = 0, out = 0;
	size_t u = 0;
	char line[256];

	missing[0] = 0;
	while (v && config && n < MAX_VLAN_IFS && fgets(line, sizeof(line), config))
		if (sscanf(line, "%31[^ |] | %u | %31s", v[n].name, &v[n].id, v[n].parent) == 3)
			n++;
	for (unsigned i = 0; i < p->nvlans; i++) {
		unsigned id = p->vlans[i];
		bool ok = id == 0;

		for (unsigned j = 0; v && !ok && j < n; j++)
			ok = v[j].id == id && on_ifname(v, n, v[j].parent, ifname, 0);
		if (ok)
			continue;
		cfg->vlan_ids[id >> 3] &= (lg_u8) ~(1u << (id & 7));
		if (u < len)
			u += (size_t)snprintf(missing + u, len - u, "%s%u", out ? "," : "", id);
		out++;
	}
	free(v);
	return out;
}
