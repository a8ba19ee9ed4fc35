// SPDX-License-Identifier: MIT
#include "xdp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linegate/replay.h>

int lg_xdp_compile(const struct lg_policy *p, struct lg_admit_cfg *cfg,
		   struct lg_admit_entry **entries, size_t *n)
{
	struct lg_admit_entry *e = calloc(p->ndevices ? p->ndevices : 1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	memset(cfg, 0, sizeof(*cfg));
	cfg->lgf_port = p->port;
	cfg->uadp_port = 0; /* the UADP hook in admit.h is not written yet: fail closed */
	cfg->not_ours = p->not_ours == LG_NOT_OURS_DROP ? LG_ADMIT_NOT_OURS_DROP
						       : LG_ADMIT_NOT_OURS_PASS;
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
	}
	*entries = e;
	*n = p->ndevices;
	return 0;
}
