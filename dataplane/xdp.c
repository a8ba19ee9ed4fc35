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

/* The policy's UADP identity of d as the XDP key (the same bytes a worker's key has). */
static void uadp_key(const struct lg_policy_device *d, struct lg_admit_uadp_key *k)
{
	memset(k, 0, sizeof(*k));
	k->pub_type = (lg_u8)(d->uadp_pub_type - 1);
	k->writer_group_id = d->uadp_writer_group;
	k->writer_id = d->uadp_writer;
	if (k->pub_type == LG_UADP_PUBID_STRING) {
		k->pub_str_len = (lg_u8)strnlen(d->uadp_pub_str, LG_ADMIT_UADP_STR_MAX);
		memcpy(k->pub_str, d->uadp_pub_str, k->pub_str_len);
	} else {
		k->pub_num = d->uadp_pub_num;
	}
}

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
		/* uadp_pub_type is enum lg_uadp_pubid_type + 1; 0: the device has no UADP. */
		if (d->uadp_pub_type) {
			e[i].has_uadp = 1;
			uadp_key(d, &e[i].uadp);
		}
	}
	*entries = e;
	*n = p->ndevices;
	return 0;
}
