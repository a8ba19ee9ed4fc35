// SPDX-License-Identifier: MIT
/*
 * Fleet bundle manifests (control/bundle.h): a known-answer Ed25519 vector (RFC 8032 test 1,
 * and a manifest signed with its key by an independent implementation, Python's
 * cryptography), the verification of a manifest and its parts, and the parser's refusals.
 */
#include "bundle.h"

#include <linegate/policy.h>
#include <linegate/sign.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_bundle\n"
	"\n"
	"Fleet bundle manifests (control/bundle.c): RFC 8032's Ed25519 test 1 and a manifest\n"
	"signature computed by another implementation verify; a flipped byte, another key or no\n"
	"trusted key are refused; a part's size and SHA-256 are checked; the parser refuses\n"
	"unknown or repeated keys, bad names, missing parts and more parts than allowed.\n"
	"\n" LGT_EXIT_STATUS;

/* RFC 8032, 7.1, TEST 1 */
static const char rfc_sk[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char rfc_pk[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char rfc_sig[] = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
			      "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

static const char policy[] = "version: 1\nport: 4739\n";
static const char manifest[] =
	"{\"format\":\"linegate-bundle/1\",\"plant\":\"north\",\"line\":\"line-7\","
	"\"version\":\"v3\",\"policy\":\"policy.yaml\",\"parts\":[{\"name\":\"policy.yaml\","
	"\"sha256\":\"62ba8a494c9ea70ad4b83773935eaaff8b8c82de1cf073cd66caf12f79e6d8af\","
	"\"size\":22}]}";
/* Ed25519 over manifest with RFC 8032 test 1's key (Python cryptography 38). */
static const char manifest_sig[] =
	"3f5504ef2e78ff410a39dfffc94ea28593eac1d89214921f9fbfa5793b9b5e1b"
	"2c22a2cc2e6fdda00c4b7d9811b922c333f2d583e827f172b8b92ff7780f9404";

static int parse(const char *text, char *err, size_t errlen)
{
	struct lg_bundle_manifest m;

	return lg_bundle_manifest_parse(text, strlen(text), &m, err, errlen);
}

int main(int argc, char **argv)
{
	uint8_t seed[32], pk[32], sk[64], sig[64], want[64], other[1][32];
	uint8_t trusted[2][32];
	struct lg_bundle_manifest m;
	char err[512], *text;
	size_t len;

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK_EQ(lg_sign_init(), 0);
	/* the libsodium signer and verifier against RFC 8032 */
	CHECK_EQ(lg_hex_decode(rfc_sk, seed, 32), 0);
	CHECK_EQ(lg_hex_decode(rfc_pk, pk, 32), 0);
	CHECK_EQ(lg_hex_decode(rfc_sig, want, 64), 0);
	{
		/* libsodium's secret key is the seed followed by the public key */
		memcpy(sk, seed, 32);
		memcpy(sk + 32, pk, 32);
		CHECK_EQ(lg_sign_buf(sk, "", 0, sig), 0);
		CHECK(!memcmp(sig, want, 64));
		CHECK_EQ(lg_sign_verify_buf("", 0, want, (const uint8_t (*)[32])&pk, 1), 0);
	}
	/* the manifest: a signature from another implementation verifies, and parses */
	CHECK_EQ(lg_hex_decode(manifest_sig, want, 64), 0);
	CHECK_EQ(lg_sign_buf(sk, manifest, strlen(manifest), sig), 0);
	CHECK(!memcmp(sig, want, 64));
	memset(trusted[0], 0x55, 32);
	memcpy(trusted[1], pk, 32);
	CHECK_EQ(lg_bundle_verify(manifest, strlen(manifest), want, (const uint8_t (*)[32])trusted,
				  2, &m, err, sizeof(err)), 0);
	CHECK_STR(m.plant, "north");
	CHECK_STR(m.line, "line-7");
	CHECK_STR(m.version, "v3");
	CHECK_STR(m.policy, "policy.yaml");
	CHECK_EQ(m.nparts, 1);
	CHECK_EQ(m.parts[0].size, 22);
	CHECK_EQ(lg_bundle_check_part(&m.parts[0], policy, strlen(policy), err, sizeof(err)), 0);
	CHECK_EQ(lg_bundle_check_part(&m.parts[0], "version: 1\nport: 4730\n", 22, err,
				      sizeof(err)), -EBADMSG);
	CHECK_STR_CONTAINS(err, "SHA-256 is not the manifest's");
	CHECK_EQ(lg_bundle_check_part(&m.parts[0], policy, 21, err, sizeof(err)), -EBADMSG);
	CHECK_STR_CONTAINS(err, "21 bytes, the manifest says 22");
	/* a flipped byte of the manifest, of the signature; another key; no key */
	text = strdup(manifest);
	text[strlen(text) - 4] = '3'; /* "size":23 */
	CHECK_EQ(lg_bundle_verify(text, strlen(text), want, (const uint8_t (*)[32])trusted, 2, &m,
				  err, sizeof(err)), -EKEYREJECTED);
	CHECK_STR_CONTAINS(err, "not signed by a trusted key");
	CHECK_EQ(m.nparts, 1); /* nothing parsed: m is as the last good parse left it */
	free(text);
	want[10] ^= 1;
	CHECK_EQ(lg_bundle_verify(manifest, strlen(manifest), want, (const uint8_t (*)[32])trusted,
				  2, &m, err, sizeof(err)), -EKEYREJECTED);
	want[10] ^= 1;
	memset(other[0], 0x55, 32);
	CHECK_EQ(lg_bundle_verify(manifest, strlen(manifest), want, other, 1, &m, err, sizeof(err)),
		 -EKEYREJECTED);
	CHECK_EQ(lg_bundle_verify(manifest, strlen(manifest), want, other, 0, &m, err, sizeof(err)),
		 -EKEYREJECTED);
	CHECK_STR_CONTAINS(err, "trusts no key");
	/* the text publish writes parses back to the same manifest */
	CHECK_EQ(lg_bundle_manifest_parse(manifest, strlen(manifest), &m, err, sizeof(err)), 0);
	snprintf(m.model_name, sizeof(m.model_name), "vib");
	snprintf(m.model_file, sizeof(m.model_file), "model.json");
	snprintf(m.parts[1].name, sizeof(m.parts[1].name), "model.json");
	snprintf(m.parts[2].name, sizeof(m.parts[2].name), "model.json.sig");
	m.parts[1].size = 5;
	m.nparts = 3;
	CHECK_EQ(m.serial, 0); /* a manifest without "serial" (an older linegate-fleet) */
	m.serial = 1796469682598ULL;
	{
		struct lg_bundle_manifest back;

		CHECK_EQ(lg_bundle_manifest_text(&m, &text, &len), 0);
		CHECK_EQ(lg_bundle_manifest_parse(text, len, &back, err, sizeof(err)), 0);
		CHECK(!memcmp(&back, &m, sizeof(m)));
		CHECK_STR_CONTAINS(text, "\"serial\": 1796469682598");
		CHECK_EQ(back.serial, 1796469682598ULL);
		free(text);
	}
	/* refusals */
#define HEAD "{\"format\":\"linegate-bundle/1\",\"plant\":\"north\",\"line\":\"line-7\","
#define PART(n) "{\"name\":\"" n "\",\"sha256\":\"" \
	"62ba8a494c9ea70ad4b83773935eaaff8b8c82de1cf073cd66caf12f79e6d8af\",\"size\":22}"
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"policy\":\"policy.yaml\",\"parts\":["
		       PART("policy.yaml") "],\"extra\":1}", err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "unknown key \"extra\"");
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"version\":\"v4\",\"policy\":\"policy.yaml\","
		       "\"parts\":[" PART("policy.yaml") "]}", err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "twice");
	CHECK_EQ(parse(HEAD "\"version\":\"v3.1\",\"policy\":\"policy.yaml\",\"parts\":["
		       PART("policy.yaml") "]}", err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "\"version\" is not a valid name");
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"policy\":\"../policy.yaml\",\"parts\":["
		       PART("policy.yaml") "]}", err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "\"policy\" is not a valid file name");
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"policy\":\"policy.yaml\",\"parts\":["
		       PART(".hidden") "]}", err, sizeof(err)), -EINVAL);
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"policy\":\"policy.yaml\",\"parts\":["
		       PART("policy.yaml") "," PART("manifest.sig") "]}", err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "may not be named manifest.sig");
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"policy\":\"p.yaml\",\"parts\":["
		       PART("policy.yaml") "]}", err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "the policy p.yaml is not a part");
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"policy\":\"policy.yaml\",\"parts\":["
		       PART("policy.yaml") "," PART("policy.yaml") "]}", err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "listed twice");
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"policy\":\"policy.yaml\",\"model\":{\"name\":"
		       "\"vib\",\"file\":\"m.json\"},\"parts\":[" PART("policy.yaml") ","
		       PART("m.json") "]}", err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "m.json.sig is not a part");
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"policy\":\"policy.yaml\",\"parts\":["
		       PART("a") "," PART("b") "," PART("c") "," PART("d") "," PART("e") ","
		       PART("f") "," PART("g") "," PART("policy.yaml") "," PART("h") "]}", err,
		       sizeof(err)), -E2BIG);
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"policy\":\"policy.yaml\",\"parts\":["
		       "{\"name\":\"policy.yaml\",\"sha256\":\"62ba\",\"size\":22}]}", err,
		       sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "64 hex digits");
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"policy\":\"policy.yaml\",\"parts\":["
		       "{\"name\":\"policy.yaml\",\"sha256\":\"62ba8a494c9ea70ad4b83773935eaaff8b"
		       "8c82de1cf073cd66caf12f79e6d8af\",\"size\":-1}]}", err, sizeof(err)),
		 -EINVAL);
	/* the serial: a whole number above 0 */
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"serial\":0,\"policy\":\"policy.yaml\","
		       "\"parts\":[" PART("policy.yaml") "]}", err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "\"serial\" is not a whole number above 0");
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"serial\":\"12\",\"policy\":\"policy.yaml\","
		       "\"parts\":[" PART("policy.yaml") "]}", err, sizeof(err)), -EINVAL);
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"serial\":1.5,\"policy\":\"policy.yaml\","
		       "\"parts\":[" PART("policy.yaml") "]}", err, sizeof(err)), -EINVAL);
	CHECK_EQ(parse(HEAD "\"version\":\"v3\",\"serial\":12,\"policy\":\"policy.yaml\","
		       "\"parts\":[" PART("policy.yaml") "]}", err, sizeof(err)), 0);
	CHECK_EQ(parse("{\"format\":\"linegate-bundle/2\"}", err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "format is not linegate-bundle/1");
	CHECK_EQ(parse("[1]", err, sizeof(err)), -EINVAL);
	CHECK_EQ(lg_bundle_manifest_parse("{\"a\0\":1}", 8, &m, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "NUL");
	return lgt_done("bundle");
}
