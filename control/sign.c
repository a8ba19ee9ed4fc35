// SPDX-License-Identifier: MIT
#include <linegate/sign.h>
#include <linegate/outpath.h>
#include <linegate/policy.h>

#include "ctlproto.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lg_sign_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

int lg_sign_keygen(uint8_t pk[LG_SIGN_PK_LEN], uint8_t sk[LG_SIGN_SK_LEN])
{
	return crypto_sign_keypair(pk, sk) ? -EIO : 0;
}

int lg_sign_buf(const uint8_t sk[LG_SIGN_SK_LEN], const void *buf, size_t len,
		uint8_t sig[LG_SIGN_SIG_LEN])
{
	return crypto_sign_detached(sig, NULL, buf, len, sk) ? -EIO : 0;
}

int lg_sign_verify_buf(const void *buf, size_t len, const uint8_t sig[LG_SIGN_SIG_LEN],
		       const uint8_t (*trusted)[LG_SIGN_PK_LEN], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!crypto_sign_verify_detached(sig, buf, len, trusted[i]))
			return 0;
	return -EKEYREJECTED;
}

int lg_hex_decode(const char *s, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return isxdigit((unsigned char)s[2 * len]) ? -EINVAL : 0;
}

int lg_hex_read_file(const char *path, uint8_t *out, size_t len)
{
	char *text, *p;
	size_t n;
	int ret = lg_read_file(path, &text, &n);

	if (ret)
		return ret;
	for (p = text; isspace((unsigned char)*p); p++)
		;
	ret = strlen(p) >= 2 * len ? lg_hex_decode(p, out, len) : -EINVAL;
	if (!ret)
		for (p += 2 * len; *p; p++)
			if (!isspace((unsigned char)*p))
				ret = -EINVAL;
	sodium_memzero(text, n);
	free(text);
	return ret;
}

int lg_sign_read_secret(const char *path, uint8_t sk[LG_SIGN_SK_LEN], char *err,
			size_t errlen)
{
	struct stat st;
	int ret;

	/* The key stays secret only if nobody else can read it: a world-readable signing key
	 * was accepted silently (a trial), while device key files are refused so. */
	if (stat(path, &st)) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		return -EINVAL;
	}
	/* What it is first: a public key (PREFIX.pub, world-readable by nature) given for the
	 * secret one got chmod advice (trial X2, s26) */
	ret = lg_hex_read_file(path, sk, LG_SIGN_SK_LEN);
	if (ret) {
		uint8_t pk[LG_SIGN_PK_LEN];

		if (!lg_hex_read_file(path, pk, LG_SIGN_PK_LEN))
			snprintf(err, errlen, "%s is a public key (PREFIX.pub), not the secret key: "
				 "give PREFIX.key, which linegatectl keygen PREFIX wrote beside it",
				 path);
		else
			snprintf(err, errlen, "%s: not a secret key file (linegatectl keygen PREFIX "
				 "writes PREFIX.key)", path);
		return ret;
	}
	if (st.st_mode & 077) {
		sodium_memzero(sk, LG_SIGN_SK_LEN);
		snprintf(err, errlen, "%s has mode %04o: a signing key must be readable by its "
			 "owner only (chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	return 0;
}

int lg_hex_write_file(const char *path, const uint8_t *buf, size_t len, int mode)
{
	char *hex = malloc(2 * len + 2), why[256];
	int fd, ret;

	if (!hex)
		return -ENOMEM;
	lg_hex_encode(buf, len, hex);
	strcat(hex, "\n");
	/* a key or signature next to a model in /tmp: never through another user's link */
	fd = lg_outpath_open(path, O_WRONLY | O_CREAT | O_TRUNC, (mode_t)mode, why, sizeof(why));
	if (fd < 0) {
		ret = fd;
	} else {
		ret = lg_write_all(fd, hex, 2 * len + 1);
		if (close(fd) && !ret)
			ret = -errno;
	}
	sodium_memzero(hex, 2 * len + 2);
	free(hex);
	return ret;
}

int lg_sign_verify_file(const char *path, const char *sig_path,
			const uint8_t (*trusted)[LG_SIGN_PK_LEN], size_t n, uint8_t **out,
			size_t *outlen)
{
	uint8_t sig[LG_SIGN_SIG_LEN];
	char *buf;
	size_t len;
	int ret = lg_hex_read_file(sig_path, sig, sizeof(sig));

	if (ret)
		return ret == -ENOENT ? -ENOKEY : ret; /* no signature file: unsigned */
	ret = lg_read_file(path, &buf, &len);
	if (ret)
		return ret;
	ret = lg_sign_verify_buf(buf, len, sig, trusted, n);
	if (ret) {
		free(buf);
		return ret;
	}
	*out = (uint8_t *)buf;
	*outlen = len;
	return 0;
}

/* Why a signature did not verify, from the signer the artifact names ("signer": 64 hex, as
 * linegate-train records it; not itself verified, so only a hint): a key the policy does not
 * trust, or a trusted key whose signature no longer fits the bytes (changed since). */
static void rejected_why(const char *path, const uint8_t (*trusted)[LG_SIGN_PK_LEN], size_t n,
			 char *err, size_t errlen)
{
	uint8_t pk[LG_SIGN_PK_LEN];
	const char *s = NULL;
	char *buf = NULL;
	size_t len;

	if (!lg_read_file(path, &buf, &len))
		s = strstr(buf, "\"signer\"");
	if (s) {
		s += 8;
		while (isspace((unsigned char)*s) || *s == ':')
			s++;
		if (*s != '"' || strlen(s + 1) < 2 * LG_SIGN_PK_LEN ||
		    s[1 + 2 * LG_SIGN_PK_LEN] != '"' || lg_hex_decode(s + 1, pk, sizeof(pk)))
			s = NULL;
	}
	if (!s) {
		snprintf(err, errlen, "%s: not signed by a trusted key (models.trusted_keys), or "
			 "changed since it was signed: refused (it names no signer, so which of "
			 "the two cannot be told)", path);
	} else {
		size_t i;

		for (i = 0; i < n && memcmp(trusted[i], pk, sizeof(pk)); i++)
			;
		if (i < n)
			snprintf(err, errlen, "%s: its signature does not verify with the trusted "
				 "key %.12s... it names as its signer: changed since that key signed "
				 "it, or signed by another key: refused (restore it, or sign it "
				 "again)", path, s + 1);
		else
			snprintf(err, errlen, "%s: it names %.12s... as its signer, a key not in "
				 "models.trusted_keys: refused (add that public key to the policy's "
				 "trusted_keys if you trust it)", path, s + 1);
	}
	free(buf);
}

int lg_sign_verify_artifact(const char *path, const uint8_t (*trusted)[LG_SIGN_PK_LEN],
			    size_t n, uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
	char sig[4096];
	int ret;

	if ((size_t)snprintf(sig, sizeof(sig), "%s.sig", path) >= sizeof(sig)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	/* A missing model is not an unsigned one: say which it is. */
	if (access(path, R_OK)) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = lg_sign_init() ? -EIO : lg_sign_verify_file(path, sig, trusted, n, out, outlen);
	if (ret == -EKEYREJECTED)
		rejected_why(path, trusted, n, err, errlen);
	else if (ret)
		snprintf(err, errlen, "%s: %s", path,
			 ret == -ENOKEY ? "not signed (no .sig beside it): refused" :
			 strerror(-ret));
	return ret;
}
