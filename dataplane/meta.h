/* SPDX-License-Identifier: MIT */
/*
 * Metadata of the devices (issue 12, docs/policy.md "Metadata") as the output thread uses
 * it: per device, rendered once per applied policy, its JSON member (",\"meta\":{...}",
 * appended to every record: JSON lines, and through them MQTT and NATS) and its InfluxDB
 * tags. A table is made by the thread that applies a policy and handed to the output
 * thread through lg_dp.meta_next (lg_dp_meta_publish()); the output thread alone reads,
 * counts in and frees the table it took.
 */
#ifndef LINEGATE_DP_META_H
#define LINEGATE_DP_META_H

#include <stddef.h>
#include <stdint.h>

#include <linegate/lgf.h>
#include <linegate/policy.h>

struct lg_meta_ent {
	uint32_t id;
	char *json;    /* ,"meta":{...}, or "" when the device has no metadata */
	char *lp_tags; /* ,device=ID,name=NAME[,line=...][,KEY=VALUE...]: escaped */
	/* Output thread only, carried over from the table before: InfluxDB decimation
	 * counters per channel, and the last point time per channel (and [LGF_MAX_CHANNELS]:
	 * incidents), so that two windows scored in one batch stay two points. */
	uint64_t rows[LGF_MAX_CHANNELS];
	uint64_t last_ts[LGF_MAX_CHANNELS + 1];
};

struct lg_meta_tab {
	size_t n;
	struct lg_meta_ent *e; /* sorted by id */
};

/* The table of p's devices; NULL when out of memory. */
struct lg_meta_tab *lg_meta_build(const struct lg_policy *p);
/* Device id's entry, NULL when the table has none. */
struct lg_meta_ent *lg_meta_find(struct lg_meta_tab *t, uint32_t id);
/* Take the counters of the devices old and t share (output thread). */
void lg_meta_carry(struct lg_meta_tab *t, struct lg_meta_tab *old);
void lg_meta_free(struct lg_meta_tab *t);

/* The metadata of one device as a JSON object text ({"line":"L1",...,"tags":{...}});
 * "" for none. malloc'd, NULL when out of memory. */
char *lg_meta_json(const struct lg_policy_meta *m);

/* The same as a json-c object (status.json); NULL for none (or out of memory). */
struct json_object;
struct json_object *lg_meta_object(const struct lg_policy_meta *m);

#endif
