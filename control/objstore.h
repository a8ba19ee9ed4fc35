/* SPDX-License-Identifier: MIT */
/*
 * A JetStream object store, in the layout nats-server 2.9 and the nats CLI use (libnats
 * 3.4 has no object store API): stream OBJ_<bucket> over $O.<bucket>.C.> (chunks) and
 * $O.<bucket>.M.> (one meta message per object, a rollup, subject = base64url(name)).
 * Only what the fleet needs: create the bucket, put an object, get one into memory.
 */
#ifndef LINEGATE_OBJSTORE_H
#define LINEGATE_OBJSTORE_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_OBJ_CHUNK 131072

/* Make the bucket (file storage, replicas) or find it there. */
int lg_obj_bucket(jsCtx *js, const char *bucket, int replicas, char *err, size_t errlen);
/* Put name (replacing an older object of that name: the meta is a rollup). */
int lg_obj_put(jsCtx *js, const char *bucket, const char *name, const void *buf, size_t len,
	       char *err, size_t errlen);
/*
 * Get name into *out (malloc'd; *len bytes), at most max bytes: its chunks' count, size and
 * SHA-256 must be the meta's. -ENOENT when there is no such object (or it was deleted).
 */
int lg_obj_get(jsCtx *js, const char *bucket, const char *name, size_t max, uint8_t **out,
	       size_t *len, char *err, size_t errlen);

/* A comma-separated list of server URLs (--url, --fleet-url) into o: libnats 3.4's
 * natsOptions_SetURL() with a list failed to connect ("No server available") when a server
 * of it was down, even with another one up. NATS_OK or libnats's error. */
natsStatus lg_nats_servers(natsOptions *o, const char *list);
/* A comma-separated list of server URLs as linegate takes them: each nats:// or tls://
 * (lower case; libnats connects "TLS://" in plain text), tls:// only with a CA (have_ca;
 * ca_opt names the option that gives one). 0, or -EINVAL with why. */
int lg_nats_urls_check(const char *list, bool have_ca, const char *ca_opt, char *why,
		       size_t len);

#endif
