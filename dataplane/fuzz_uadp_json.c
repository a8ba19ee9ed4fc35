// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the OPC UA PubSub JSON mapping into UADP (uadp_json.h). Beyond "no
 * crash": every message the converter accepts must decode as UADP with the identity the
 * resolver gave (or the JSON's PublisherId as a String when it gave none), and a refusal
 * must be one of the documented errors.
 */
#include <linegate/uadp.h>
#include <linegate/uadp_json.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* open62541's tutorial publisher, as a policy would enroll it. */
static int resolve(void *arg, const char *publisher, uint16_t writer,
		   struct lg_uadp_json_ident *out)
{
	static const char fields[] = "Server localtime\0value";

	(void)arg;
	if (strcmp(publisher, "2234") || writer != 62541)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->pub_type = LG_UADP_PUBID_UINT16;
	out->pub_num = 2234;
	out->writer_group = 100;
	out->nfields = 2;
	out->fields = fields;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lg_uadp_json *c;
	static struct lg_uadp_msg m;
	static uint8_t out[9216];
	int n;

	if (!c && lg_uadp_json_new(&c))
		abort();
	n = lg_uadp_json_convert(c, (const char *)data, size, resolve, NULL, out, sizeof(out));
	if (n < 0) {
		if (n != -EBADMSG && n != -EPROTO && n != -ENOTSUP && n != -ENOMSG && n != -E2BIG)
			abort();
		return 0;
	}
	if ((size_t)n > sizeof(out) || lg_uadp_decode(&m, out, (size_t)n, NULL) || !m.dsm_count)
		abort();
	if (lg_uadp_pub_type(&m) == LG_UADP_PUBID_UINT16 &&
	    (m.pub_num != 2234 || m.writer_group_id != 100 || m.dsm[0].writer_id != 62541))
		abort();
	if (lg_uadp_pub_type(&m) != LG_UADP_PUBID_UINT16 &&
	    lg_uadp_pub_type(&m) != LG_UADP_PUBID_STRING)
		abort();
	return 0;
}
