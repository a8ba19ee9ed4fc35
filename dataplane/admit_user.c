// SPDX-License-Identifier: MIT
/*
 * The data plane's side of user-space admission (include/linegate/uadmit.h): for backends
 * whose frames never pass XDP (LG_BACKEND_F_USER_ADMIT), the policy compiled exactly as
 * for the XDP program (lg_xdp_compile()) and applied with every generation.
 */
#include "dataplane.h"
#include "xdp.h"

#include <stdlib.h>

#include <linegate/uadmit.h>

int lg_dp_uadmit_start(struct lg_dp *dp, const struct lg_policy *p)
{
	struct lg_uadmit_opts o = {
		.queues = dp->nworkers,
		.default_lgf_port = p->port,
		.default_not_ours = p->not_ours,
	};
	int ret = lg_uadmit_create(&o, &dp->uadmit);

	if (ret)
		return ret;
	ret = lg_dp_apply_uadmit(dp, p);
	if (ret) {
		lg_uadmit_destroy(dp->uadmit);
		dp->uadmit = NULL;
	}
	return ret;
}

int lg_dp_apply_uadmit(struct lg_dp *dp, const struct lg_policy *p)
{
	struct lg_admit_cfg cfg;
	struct lg_admit_entry *e;
	size_t n;
	int ret;

	if (!dp->uadmit)
		return 0;
	ret = lg_xdp_compile(p, &cfg, &e, &n);
	if (ret)
		return ret;
	ret = lg_uadmit_apply(dp->uadmit, &cfg, e, n, NULL);
	free(e);
	return ret;
}
