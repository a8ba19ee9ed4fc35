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
 */
#ifndef LINEGATE_NATS_COMMON_H
#define LINEGATE_NATS_COMMON_H

#include <linegate/nkey.h>

#include <errno.h>
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	*sig = b;
	*sig_len = LG_NKEY_SIG_LEN;
	return NATS_OK;
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

/* ...and given to a connection's options. */
static inline natsStatus lg_nats_auth_set(natsOptions *o, const char *pub,
					  uint8_t raw[LG_NKEY_RAW_LEN], const char *creds)
{
	if (pub[0])
		return natsOptions_SetNKey(o, pub, lg_nkey_sign_nonce, raw);
	if (creds && creds[0])
		return natsOptions_SetUserCredentialsFromFiles(o, creds, NULL);
	return NATS_OK;
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
