// SPDX-License-Identifier: MIT
/* NATS nkeys: user seeds, public keys and nonce signatures (linegate/nkey.h). */
#include <linegate/nkey.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX_SEED (18u << 3) /* 'S' */
#define PREFIX_USER (20u << 3) /* 'U' */

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* CRC-16/XMODEM (polynomial 0x1021, initial 0), as nkeys check their bytes. */
static uint16_t crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;

	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

/* RFC 4648 base32 without padding; out holds 8 * n / 5 rounded up, plus a NUL. */
static void b32_encode(const uint8_t *in, size_t n, char *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits)
		out[o++] = b32[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

/* Exactly outlen bytes from n characters of base32 (the bits left over must be zero). */
static int b32_decode(const char *in, size_t n, uint8_t *out, size_t outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	if (n * 5 / 8 != outlen)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const char *p = in[i] ? strchr(b32, in[i]) : NULL;

		if (!p)
			return -EINVAL;
		acc = (acc << 5) | (uint32_t)(p - b32);
		bits += 5;
		if (bits >= 8) {
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
		acc &= (1u << bits) - 1;
	}
	return o == outlen && !acc ? 0 : -EINVAL;
}

static void encode_pub(const uint8_t pk[32], char pub[LG_NKEY_PUB_LEN + 1])
{
	uint8_t raw[35];
	uint16_t crc;

	raw[0] = PREFIX_USER;
	memcpy(raw + 1, pk, 32);
	crc = crc16(raw, 33);
	raw[33] = (uint8_t)crc;
	raw[34] = (uint8_t)(crc >> 8);
	b32_encode(raw, sizeof(raw), pub);
}

static int fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

int lg_nkey_parse_seed(const char *text, size_t len, uint8_t raw[LG_NKEY_RAW_LEN],
		       char pub[LG_NKEY_PUB_LEN + 1], char *err, size_t errlen)
{
	uint8_t b[36], pk[32], sk[64];
	size_t s = 0, e = len;
	uint16_t crc;
	int ret;

	while (s < e && strchr(" \t\r\n", text[s]) && text[s])
		s++;
	while (e > s && strchr(" \t\r\n", text[e - 1]) && text[e - 1])
		e--;
	if (e - s != LG_NKEY_SEED_LEN || text[s] != 'S')
		return fail(err, errlen, "not an nkey seed (58 characters starting with 'SU', "
			    "as nk -gen user or linegate-fleet nkey-gen writes)");
	if (b32_decode(text + s, e - s, b, sizeof(b)))
		return fail(err, errlen, "not an nkey seed (it is not base32)");
	crc = crc16(b, 34);
	if (b[34] != (uint8_t)crc || b[35] != (uint8_t)(crc >> 8)) {
		sodium_memzero(b, sizeof(b));
		return fail(err, errlen, "not an nkey seed (its checksum does not match: a "
			    "character changed)");
	}
	if ((b[0] & 0xf8) != PREFIX_SEED ||
	    (uint8_t)(((b[0] & 7) << 5) | ((b[1] & 0xf8) >> 3)) != PREFIX_USER) {
		sodium_memzero(b, sizeof(b));
		return fail(err, errlen, "not a user nkey seed (it starts 'SU'; an account, "
			    "operator or server seed cannot log in)");
	}
	ret = sodium_init() < 0 ? -EIO : crypto_sign_seed_keypair(pk, sk, b + 2) ? -EIO : 0;
	if (!ret) {
		memcpy(raw, b + 2, LG_NKEY_RAW_LEN);
		encode_pub(pk, pub);
	} else {
		snprintf(err, errlen, "libsodium failed");
	}
	sodium_memzero(b, sizeof(b));
	sodium_memzero(sk, sizeof(sk));
	return ret;
}

int lg_nkey_generate(char seed[LG_NKEY_SEED_LEN + 1], char pub[LG_NKEY_PUB_LEN + 1])
{
	uint8_t b[36], pk[32], sk[64];
	uint16_t crc;

	if (sodium_init() < 0)
		return -EIO;
	b[0] = (uint8_t)(PREFIX_SEED | (PREFIX_USER >> 5));
	b[1] = (uint8_t)((PREFIX_USER & 31) << 3);
	randombytes_buf(b + 2, 32);
	crc = crc16(b, 34);
	b[34] = (uint8_t)crc;
	b[35] = (uint8_t)(crc >> 8);
	if (crypto_sign_seed_keypair(pk, sk, b + 2)) {
		sodium_memzero(b, sizeof(b));
		return -EIO;
	}
	b32_encode(b, sizeof(b), seed);
	encode_pub(pk, pub);
	sodium_memzero(b, sizeof(b));
	sodium_memzero(sk, sizeof(sk));
	return 0;
}

int lg_nkey_sign(const uint8_t raw[LG_NKEY_RAW_LEN], const void *msg, size_t len,
		 uint8_t sig[LG_NKEY_SIG_LEN])
{
	uint8_t pk[32], sk[64];
	int ret;

	if (sodium_init() < 0)
		return -EIO;
	ret = crypto_sign_seed_keypair(pk, sk, raw) ||
	      crypto_sign_detached(sig, NULL, msg, len, sk) ? -EIO : 0;
	sodium_memzero(sk, sizeof(sk));
	return ret;
}

static int check_fd(int fd, const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st)) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s is not a regular file", what, path);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "%s %s has mode %04o: a %s must be readable by its owner "
			 "only (chmod 600 %s)", what, path, (unsigned)(st.st_mode & 07777), what,
			 path);
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s %s is owned by uid %u: a %s must be owned by root or "
			 "by the user that reads it (chown root %s)", what, path,
			 (unsigned)st.st_uid, what, path);
		return -EPERM;
	}
	return 0;
}

int lg_secret_file_check(const char *path, const char *what, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), ret;

	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return ret;
	}
	ret = check_fd(fd, path, what, err, errlen);
	close(fd);
	return ret;
}

int lg_nkey_read_file(const char *path, uint8_t raw[LG_NKEY_RAW_LEN],
		      char pub[LG_NKEY_PUB_LEN + 1], char *err, size_t errlen)
{
	char buf[256], why[200];
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), ret;

	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "nkey file %s: %s", path, strerror(errno));
		return ret;
	}
	ret = check_fd(fd, path, "nkey file", err, errlen);
	if (ret) {
		close(fd);
		return ret;
	}
	got = read(fd, buf, sizeof(buf));
	ret = got < 0 ? -errno : 0;
	close(fd);
	if (ret) {
		snprintf(err, errlen, "nkey file %s: %s", path, strerror(-ret));
		return ret;
	}
	if ((size_t)got == sizeof(buf)) {
		sodium_memzero(buf, sizeof(buf));
		snprintf(err, errlen, "nkey file %s: not an nkey seed (longer than one)", path);
		return -EINVAL;
	}
	ret = lg_nkey_parse_seed(buf, (size_t)got, raw, pub, why, sizeof(why));
	sodium_memzero(buf, sizeof(buf));
	if (ret)
		snprintf(err, errlen, "nkey file %s: %s", path, why);
	return ret;
}

int lg_nkey_write_new(const char *path, char pub[LG_NKEY_PUB_LEN + 1], char *err,
		      size_t errlen)
{
	char seed[LG_NKEY_SEED_LEN + 2];
	int fd, ret = lg_nkey_generate(seed, pub);

	if (ret) {
		snprintf(err, errlen, "cannot make a key: libsodium failed");
		return ret;
	}
	strcat(seed, "\n");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
			 errno == EEXIST ? " (a key file is never overwritten)" : "");
	} else {
		if (write(fd, seed, LG_NKEY_SEED_LEN + 1) != LG_NKEY_SEED_LEN + 1 || fsync(fd))
			ret = -EIO;
		if (close(fd) && !ret)
			ret = -EIO;
		if (ret) {
			unlink(path);
			snprintf(err, errlen, "%s: cannot write it", path);
		}
	}
	sodium_memzero(seed, sizeof(seed));
	return ret;
}
