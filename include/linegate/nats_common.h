/* SPDX-License-Identifier: MIT */
/*
 * What linegate's three NATS clients (the NATS output, linegated's fleet watch,
 * linegate-fleet) share with libnats.
 *
 * lg_nkey_sign_nonce(): the nkey's answer to a NATS server's nonce
 * (natsOptions_SetNKey's signature callback),
 * one for linegate's NATS output, linegated's fleet watch and linegate-fleet. The closure
 * is the seed's raw bytes (LG_NKEY_RAW_LEN). A server that sends no nonce does not ask for
 * an nkey's signature: with an nkey configured that is a server without nkey users, or
 * something on the path that rewrote its INFO (it comes before TLS): refused, never
 * signed and never a crash (trial 13: libnats called with a NULL nonce).
 *
 * A .creds file is read and signed with here too (lg_creds_jwt, lg_creds_sign_nonce), not
 * by libnats: libnats 3.4 sends no signature at all when its first byte is 0 (one nonce in
 * 256; the server refuses the login: fixed upstream in January 2024, nats.c #705, after
 * Debian's 3.4.1). Both signers refuse such a signature with LG_NATS_SIG_ZERO instead, and
 * the connection is made again: a new connection is a new nonce.
 */
#ifndef LINEGATE_NATS_COMMON_H
#define LINEGATE_NATS_COMMON_H

#include <linegate/nkey.h>

#include <errno.h>
#include <limits.h>
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LG_NATS_SIG_ZERO "libnats 3.4 would send this nonce's signature as none (its " \
	"first byte is 0, nats.c #705): a new connection signs a new nonce"
#define LG_NKEY_NO_NONCE "the NATS server sent no nonce to sign: it does not take nkey " \
	"users (remove the nkey, or give the server its nkey users), or something between " \
	"rewrote its INFO: not connecting"

static inline natsStatus lg_nkey_sign_nonce(char **custom_err, unsigned char **sig,
					    int *sig_len, const char *nonce, void *closure)
{
	unsigned char *b;

	if (!nonce || !nonce[0]) {
		/* the client says it: the output and the fleet watch log why a connection
		 * failed, linegate-fleet exits with it */
		*custom_err = strdup(LG_NKEY_NO_NONCE);
		return NATS_ERR;
	}
	b = malloc(LG_NKEY_SIG_LEN);
	if (!b || lg_nkey_sign(closure, nonce, strlen(nonce), b)) {
		free(b);
		*custom_err = strdup("cannot sign the server's nonce");
		return NATS_ERR;
	}
	if (b[0] == 0) {
		/* libnats 3.4 encodes it as no signature: the server would refuse the login */
		free(b);
		*custom_err = strdup(LG_NATS_SIG_ZERO);
		return NATS_ERR;
	}
	*sig = b;
	*sig_len = LG_NKEY_SIG_LEN;
	return NATS_OK;
}

#define LG_CREDS_MAX 65536 /* a .creds file: a user JWT and its seed, as nsc writes it */

/*
 * The first line after "-----BEGIN <what>-----" in buf (a .creds file's text, NUL ended)
 * that is not empty, white space cut, into out. 0, or -ENOENT (no such section) or -E2BIG
 * with why in err (naming path, never a byte of buf).
 */
static inline int lg_creds_find(const char *buf, const char *path, const char *what,
				char *out, size_t outlen, char *err, size_t errlen)
{
	const char *p, *end;
	char mark[64];
	size_t len;

	snprintf(mark, sizeof(mark), "-----BEGIN %s-----", what);
	p = strstr(buf, mark);
	if (p)
		p = strchr(p, '\n');
	while (p && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
		p++;
	if (!p || !*p || *p == '-') {
		snprintf(err, errlen, "creds file %s has no '%s' section", path, mark);
		return -ENOENT;
	}
	end = p + strcspn(p, "\r\n");
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	len = (size_t)(end - p);
	if (len >= outlen) {
		snprintf(err, errlen, "creds file %s: its '%s' line is too long", path, mark);
		return -E2BIG;
	}
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* lg_creds_find() in the .creds file at path, read at every call as libnats does: a file
 * replaced (a new JWT) is used by the next connection. 0, or a negative errno. */
static inline int lg_creds_section(const char *path, const char *what, char *out,
				   size_t outlen, char *err, size_t errlen)
{
	char *buf = malloc(LG_CREDS_MAX);
	size_t got;
	FILE *f;
	int ret;

	if (!buf)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "creds file %s: %s", path, strerror(errno));
		free(buf);
		return ret;
	}
	got = fread(buf, 1, LG_CREDS_MAX - 1, f);
	fclose(f);
	buf[got] = '\0';
	ret = lg_creds_find(buf, path, what, out, outlen, err, errlen);
	explicit_bzero(buf, got);
	free(buf);
	return ret;
}

/* natsUserJWTHandler: the user JWT of the .creds file at closure (a path). */
static inline natsStatus lg_creds_jwt(char **jwt, char **custom_err, void *closure)
{
	char *b = malloc(LG_CREDS_MAX), why[PATH_MAX + 100];

	if (!b) {
		*custom_err = strdup("out of memory");
		return NATS_ERR;
	}
	if (lg_creds_section(closure, "NATS USER JWT", b, LG_CREDS_MAX, why, sizeof(why))) {
		free(b);
		*custom_err = strdup(why);
		return NATS_ERR;
	}
	*jwt = b;
	return NATS_OK;
}

/* natsSignatureHandler: the nonce signed by the seed of the .creds file at closure. */
static inline natsStatus lg_creds_sign_nonce(char **custom_err, unsigned char **sig,
					     int *sig_len, const char *nonce, void *closure)
{
	char seed[128], pub[LG_NKEY_PUB_LEN + 1], why[PATH_MAX + 100];
	uint8_t raw[LG_NKEY_RAW_LEN];
	natsStatus s = NATS_ERR;
	int ret = lg_creds_section(closure, "USER NKEY SEED", seed, sizeof(seed), why,
				   sizeof(why));

	if (!ret)
		ret = lg_nkey_parse_seed(seed, strlen(seed), raw, pub, why, sizeof(why));
	if (ret)
		*custom_err = strdup(why);
	else
		s = lg_nkey_sign_nonce(custom_err, sig, sig_len, nonce, raw);
	explicit_bzero(seed, sizeof(seed));
	explicit_bzero(raw, sizeof(raw));
	return s;
}

/* The credentials of a NATS client, read once: an nkey file's seed (raw) and public key
 * (pub, "" without one), or a creds file checked (0600; libnats reads it at every
 * connect). 0, or a negative errno with why in err. */
static inline int lg_nats_auth_load(const char *nkey, const char *creds,
				    uint8_t raw[LG_NKEY_RAW_LEN], char pub[LG_NKEY_PUB_LEN + 1],
				    char *err, size_t errlen)
{
	pub[0] = '\0';
	if (nkey && nkey[0])
		return lg_nkey_read_file(nkey, raw, pub, err, errlen);
	if (creds && creds[0])
		return lg_secret_file_check(creds, "creds file", err, errlen);
	return 0;
}

/* ...and given to a connection's options (creds: a path that outlives the options). */
static inline natsStatus lg_nats_auth_set(natsOptions *o, const char *pub,
					  uint8_t raw[LG_NKEY_RAW_LEN], const char *creds)
{
	if (pub[0])
		return natsOptions_SetNKey(o, pub, lg_nkey_sign_nonce, raw);
	if (creds && creds[0])
		return natsOptions_SetUserCredentialsCallbacks(o, lg_creds_jwt, (void *)creds,
							       lg_creds_sign_nonce, (void *)creds);
	return NATS_OK;
}

/* natsConnection_Connect, made again at once (at most 4 tries) when it failed only because
 * libnats 3.4 could not send the signature of that connection's nonce (LG_NATS_SIG_ZERO). */
static inline natsStatus lg_nats_connect(natsConnection **nc, natsOptions *o)
{
	natsStatus s = NATS_ERR, ls;

	for (int i = 0; i < 4; i++) {
		const char *t;

		s = natsConnection_Connect(nc, o);
		ls = NATS_OK;
		t = nats_GetLastError(&ls);
		/* NATS_NOT_YET_CONNECTED: *nc is made, libnats retries by itself */
		if (s != NATS_ERR || !t || !strstr(t, LG_NATS_SIG_ZERO))
			break;
	}
	return s;
}

/* Why a libnats call failed: the thread's last error text (a refusal's own words, a
 * callback's custom error) where there is one, else the status's name ("Error"). */
static inline const char *lg_nats_why(natsStatus s)
{
	natsStatus ls = NATS_OK;
	const char *t = nats_GetLastError(&ls);
	const char *e;

	if (!t || !t[0])
		return natsStatus_GetText(s);
	/* libnats puts where in its source it noticed first: "(conn.c:1905): ..." */
	if (t[0] == '(' && (e = strstr(t, "): ")) && e - t < 40)
		t = e + 3;
	return t;
}

#endif
