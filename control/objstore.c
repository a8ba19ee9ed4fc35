// SPDX-License-Identifier: MIT
/* A JetStream object store in the nats-server 2.9 layout (objstore.h). */
#include "objstore.h"
#include <linegate/nats_url.h>

#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* base64url with padding, as the nats CLI names meta subjects and writes digests. */
static void b64url(const uint8_t *in, size_t len, char *out /* 4 * ((len + 2) / 3) + 1 */)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

static int meta_subject(const char *bucket, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);
	char *enc;

	if (n > 1024 || !n)
		return -EINVAL;
	enc = malloc(4 * ((n + 2) / 3) + 1);
	if (!enc)
		return -ENOMEM;
	b64url((const uint8_t *)name, n, enc);
	n = (size_t)snprintf(out, outlen, "$O.%s.M.%s", bucket, enc);
	free(enc);
	return n < outlen ? 0 : -ENAMETOOLONG;
}

static void nats_err(char *err, size_t errlen, const char *what, natsStatus s, jsErrCode jerr)
{
	const char *last = nats_GetLastError(NULL);

	snprintf(err, errlen, "%s: %s%s%s", what, natsStatus_GetText(s), last && jerr ? ": " : "",
		 last && jerr ? last : "");
}

int lg_obj_bucket(jsCtx *js, const char *bucket, int replicas, char *err, size_t errlen)
{
	char name[128], chunks[160], metas[160];
	const char *subjects[2] = {chunks, metas};
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	snprintf(name, sizeof(name), "OBJ_%s", bucket);
	snprintf(chunks, sizeof(chunks), "$O.%s.C.>", bucket);
	snprintf(metas, sizeof(metas), "$O.%s.M.>", bucket);
	jsStreamConfig_Init(&sc);
	sc.Name = name;
	sc.Subjects = subjects;
	sc.SubjectsLen = 2;
	sc.Storage = js_FileStorage;
	sc.Replicas = replicas;
	sc.Discard = js_DiscardNew;
	sc.AllowRollup = true;
	sc.AllowDirect = true;
	s = js_AddStream(&si, js, &sc, NULL, &jerr);
	if (s != NATS_OK && jerr == JSStreamNameExistErr)
		s = js_GetStreamInfo(&si, js, name, NULL, &jerr);
	if (s != NATS_OK) {
		nats_err(err, errlen, name, s, jerr);
		return -EIO;
	}
	jsStreamInfo_Destroy(si);
	return 0;
}

int lg_obj_put(jsCtx *js, const char *bucket, const char *name, const void *buf, size_t len,
	       char *err, size_t errlen)
{
	uint8_t rnd[22], h[32];
	char nuid[32], subj[256], msubj[2048], digest[64], mtime[32];
	size_t chunks = 0;
	json_object *meta, *opts;
	natsMsg *msg = NULL;
	jsErrCode jerr = 0;
	natsStatus s = NATS_OK;
	time_t now = time(NULL);
	int ret = meta_subject(bucket, name, msubj, sizeof(msubj));

	if (ret) {
		snprintf(err, errlen, "object name %s: %s", name, strerror(-ret));
		return ret;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium did not start");
		return -EIO;
	}
	randombytes_buf(rnd, sizeof(rnd));
	for (size_t i = 0; i < 22; i++)
		nuid[i] =
		    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[rnd[i] % 62];
	nuid[22] = '\0';
	snprintf(subj, sizeof(subj), "$O.%s.C.%s", bucket, nuid);
	for (size_t off = 0; off < len; chunks++) {
		size_t n = len - off < LG_OBJ_CHUNK ? len - off : LG_OBJ_CHUNK;

		s = js_Publish(NULL, js, subj, (const char *)buf + off, (int)n, NULL, &jerr);
		if (s != NATS_OK) {
			nats_err(err, errlen, name, s, jerr);
			return -EIO;
		}
		off += n;
	}
	SHA256(buf, len, h);
	memcpy(digest, "SHA-256=", 8);
	b64url(h, 32, digest + 8);
	strftime(mtime, sizeof(mtime), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	meta = json_object_new_object();
	opts = json_object_new_object();
	json_object_object_add(opts, "max_chunk_size", json_object_new_int(LG_OBJ_CHUNK));
	json_object_object_add(meta, "name", json_object_new_string(name));
	json_object_object_add(meta, "options", opts);
	json_object_object_add(meta, "bucket", json_object_new_string(bucket));
	json_object_object_add(meta, "nuid", json_object_new_string(nuid));
	json_object_object_add(meta, "size", json_object_new_uint64(len));
	json_object_object_add(meta, "mtime", json_object_new_string(mtime));
	json_object_object_add(meta, "chunks", json_object_new_uint64(chunks));
	json_object_object_add(meta, "digest", json_object_new_string(digest));
	{
		const char *t = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN);

		s = natsMsg_Create(&msg, msubj, NULL, t, (int)strlen(t));
	}
	json_object_put(meta);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(msg, "Nats-Rollup", "sub");
	if (s == NATS_OK)
		s = js_PublishMsg(NULL, js, msg, NULL, &jerr);
	natsMsg_Destroy(msg);
	if (s != NATS_OK) {
		nats_err(err, errlen, name, s, jerr);
		return -EIO;
	}
	return 0;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : NULL;
}

static int64_t jint(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int)
		   ? json_object_get_int64(v)
		   : -1;
}

int lg_obj_get(jsCtx *js, const char *bucket, const char *name, size_t max, uint8_t **out,
	       size_t *len, char *err, size_t errlen)
{
	char stream[128], msubj[2048], csubj[256], want[64];
	const char *nuid, *digest, *del = NULL;
	json_object *meta = NULL;
	natsSubscription *sub = NULL;
	natsMsg *msg = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	int64_t size, chunks;
	uint8_t *buf = NULL, h[32];
	size_t got = 0;
	natsStatus s;
	int ret = meta_subject(bucket, name, msubj, sizeof(msubj));

	if (ret) {
		snprintf(err, errlen, "object name %s: %s", name, strerror(-ret));
		return ret;
	}
	snprintf(stream, sizeof(stream), "OBJ_%s", bucket);
	s = js_GetLastMsg(&msg, js, stream, msubj, NULL, &jerr);
	if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr || jerr == JSStreamNotFoundErr) {
		snprintf(err, errlen, "object %s is not in the object store %s", name, bucket);
		return -ENOENT;
	}
	if (s != NATS_OK) {
		nats_err(err, errlen, name, s, jerr);
		return -EIO;
	}
	{
		/* the meta message as long as it says, whatever follows it in memory */
		json_tokener *tok = json_tokener_new();

		meta = tok && natsMsg_GetData(msg)
			   ? json_tokener_parse_ex(tok, natsMsg_GetData(msg),
						   natsMsg_GetDataLength(msg))
			   : NULL;
		json_tokener_free(tok);
	}
	if (meta && !json_object_is_type(meta, json_type_object)) {
		json_object_put(meta);
		meta = NULL;
	}
	natsMsgHeader_Get(msg, "KV-Operation", &del);
	nuid = meta ? jstr(meta, "nuid") : NULL;
	digest = meta ? jstr(meta, "digest") : NULL;
	size = meta ? jint(meta, "size") : -1;
	chunks = meta ? jint(meta, "chunks") : -1;
	if (meta && json_object_object_get_ex(meta, "deleted", NULL) &&
	    json_object_get_boolean(json_object_object_get(meta, "deleted")))
		del = "DEL";
	if (del) {
		snprintf(err, errlen, "object %s was deleted from %s", name, bucket);
		ret = -ENOENT;
		goto out;
	}
	if (!nuid || !digest || size < 0 || chunks < 0 || strlen(nuid) > 64) {
		snprintf(err, errlen, "object %s: its meta data is not readable", name);
		ret = -EBADMSG;
		goto out;
	}
	if ((uint64_t)size > max) {
		snprintf(err, errlen, "object %s: %lld bytes, more than %zu", name, (long long)size,
			 max);
		ret = -E2BIG;
		goto out;
	}
	buf = malloc(size ? (size_t)size : 1);
	if (!buf) {
		ret = -ENOMEM;
		snprintf(err, errlen, "object %s: out of memory", name);
		goto out;
	}
	snprintf(csubj, sizeof(csubj), "$O.%s.C.%s", bucket, nuid);
	jsSubOptions_Init(&so);
	so.Stream = stream;
	so.Ordered = true;
	so.Config.DeliverPolicy = js_DeliverAll;
	if (chunks) {
		s = js_SubscribeSync(&sub, js, csubj, NULL, &so, &jerr);
		if (s != NATS_OK) {
			nats_err(err, errlen, name, s, jerr);
			ret = -EIO;
			goto out;
		}
	}
	for (int64_t i = 0; i < chunks; i++) {
		natsMsg *c = NULL;
		size_t n;

		s = natsSubscription_NextMsg(&c, sub, 5000);
		if (s != NATS_OK) {
			nats_err(err, errlen, name, s, 0);
			ret = -EIO;
			goto out;
		}
		n = (size_t)natsMsg_GetDataLength(c);
		if (n > (size_t)size - got) {
			natsMsg_Destroy(c);
			snprintf(err, errlen, "object %s: its chunks hold more than its size",
				 name);
			ret = -EBADMSG;
			goto out;
		}
		memcpy(buf + got, natsMsg_GetData(c), n);
		got += n;
		natsMsg_Destroy(c);
	}
	SHA256(buf, got, h);
	memcpy(want, "SHA-256=", 8);
	b64url(h, 32, want + 8);
	if (got != (size_t)size || strcmp(want, digest)) {
		snprintf(err, errlen, "object %s: its chunks are not its size and digest", name);
		ret = -EBADMSG;
		goto out;
	}
	*out = buf;
	*len = got;
	buf = NULL;
	ret = 0;
out:
	if (sub) {
		natsSubscription_Unsubscribe(sub);
		natsSubscription_Destroy(sub);
	}
	free(buf);
	json_object_put(meta);
	natsMsg_Destroy(msg);
	return ret;
}

int lg_nats_urls_check(const char *list, bool have_ca, const char *ca_opt, char *why,
		       size_t len)
{
	char *copy = strdup(list ? list : ""), *save = NULL;
	int ret = 0, n = 0;

	if (!copy)
		return -ENOMEM;
	for (char *u = strtok_r(copy, ",", &save); u && !ret; u = strtok_r(NULL, ",", &save)) {
		n++;
		/* exactly these schemes: libnats takes "TLS://" as a plain connection */
		if (strncmp(u, "nats://", 7) && strncmp(u, "tls://", 6)) {
			snprintf(why, len, "%.200s: a NATS server URL is nats://HOST:PORT or "
				 "tls://HOST:PORT (lower case)", u);
			ret = -EINVAL;
		} else if (!lg_nats_url_shape_ok(u)) {
			snprintf(why, len, "%.200s: a NATS server URL is nats://HOST:PORT or "
				 "tls://HOST:PORT, an IPv6 HOST in brackets ([::1]), PORT 1..65535",
				 u);
			ret = -EINVAL;
		} else if (!have_ca && !strncmp(u, "tls://", 6)) {
			snprintf(why, len, "%.200s asks for TLS: give %s FILE (the CA of the "
				 "servers' certificates), or use nats://", u, ca_opt);
			ret = -EINVAL;
		}
	}
	if (!ret && !n) {
		snprintf(why, len, "no NATS server URL given");
		ret = -EINVAL;
	}
	free(copy);
	return ret;
}

natsStatus lg_nats_servers(natsOptions *o, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	const char *urls[16];
	int n = 0;
	natsStatus s;

	if (!copy)
		return NATS_NO_MEMORY;
	for (char *u = strtok_r(copy, ",", &save); u && n < 16; u = strtok_r(NULL, ",", &save))
		if (*u)
			urls[n++] = u;
	s = n ? natsOptions_SetServers(o, urls, n) : NATS_INVALID_ARG;
	free(copy);
	return s;
}
