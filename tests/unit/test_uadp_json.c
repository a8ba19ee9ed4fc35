// SPDX-License-Identifier: MIT
/*
 * The OPC UA PubSub JSON mapping into UADP (uadp_json.h): open62541's captured JSON messages
 * (tests/fixtures/opcua/mqtt, found through $LG_SOURCE) become the UADP message the same
 * publisher sends, with its identity, sequence, timestamp and field values; hostile JSON is
 * refused with its documented error.
 */
#include <linegate/uadp.h>
#include <linegate/uadp_json.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lgt_cli.h"
#include "../lgtest.h"

static struct lg_uadp_json *conv;
static struct lg_uadp_msg m;
static uint8_t out[9216];

/* The tutorial publisher as docs/opcua.md enrolls it; with names for the fields when asked. */
static int resolve(void *arg, const char *publisher, uint16_t writer,
		   struct lg_uadp_json_ident *id)
{
	static const char names[] = "temperature\0Server localtime";
	const int *with_names = arg;

	if (strcmp(publisher, "2234") || writer != 62541)
		return -ENOENT;
	memset(id, 0, sizeof(*id));
	id->pub_type = LG_UADP_PUBID_UINT16;
	id->pub_num = 2234;
	id->writer_group = 100;
	if (with_names && *with_names) {
		id->nfields = 2;
		id->fields = names;
	}
	return 0;
}

static int convert(const char *json, int names)
{
	return lg_uadp_json_convert(conv, json, strlen(json), resolve, &names, out, sizeof(out));
}

static size_t unhex(const char *h, uint8_t *b, size_t cap)
{
	size_t n = 0;

	while (h[0] && h[1] && n < cap) {
		unsigned v;

		if (sscanf(h, "%2x", &v) != 1)
			break;
		b[n++] = (uint8_t)v;
		h += 2;
	}
	return n;
}

/* Line idx (0-based) of a .sub capture: the payload bytes, NUL-terminated. */
static size_t capture(const char *file, int idx, uint8_t *b, size_t cap)
{
	const char *src = getenv("LG_SOURCE");
	char path[1024], line[8192];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fixtures/opcua/mqtt/%s", src ? src : ".", file);
	f = fopen(path, "r");
	if (!f)
		return 0;
	for (int i = 0; fgets(line, sizeof(line), f); i++) {
		char *sp = strchr(line, ' ');

		if (i == idx && sp) {
			n = unhex(sp + 1, b, cap - 1);
			b[n] = 0;
			break;
		}
	}
	fclose(f);
	return n;
}

static void test_captures(void)
{
	static const struct {
		uint16_t seq;
		int64_t ts, value;
	} want[] = {
		{ 0, 134408912509042751ll, 134408912509042851ll },
		{ 1, 134408912514066923ll, 134408912514067029ll },
	};
	uint8_t json[8192], uadp[512];
	size_t ulen = capture("mqtt-uadp.sub", 0, uadp, sizeof(uadp));

	CHECK(ulen > 10);
	for (int i = 0; i < 2; i++) {
		size_t len = capture("mqtt-json.sub", i, json, sizeof(json));
		uint64_t raw = 0;
		int n;

		CHECK(len > 100);
		n = lg_uadp_json_convert(conv, (const char *)json, len, resolve, NULL, out,
					 sizeof(out));
		CHECK(n > 0);
		if (n <= 0)
			continue;
		/* The NetworkMessage header and payload header the same publisher sends as UADP:
		 * version/flags, UInt16 PublisherId 2234, WriterGroupId 100, one DSM, 62541. */
		CHECK(ulen > 10 && !memcmp(out, uadp, 10));
		CHECK_EQ(lg_uadp_decode(&m, out, (size_t)n, NULL), 0);
		CHECK_EQ(lg_uadp_pub_type(&m), LG_UADP_PUBID_UINT16);
		CHECK_EQ(m.pub_num, 2234);
		CHECK_EQ(m.writer_group_id, 100);
		CHECK_EQ(m.sec_flags, 0);
		CHECK_EQ(m.dsm_count, 1);
		CHECK_EQ(m.dsm[0].writer_id, 62541);
		CHECK(m.dsm[0].flags1 & LG_UADP_D1_SEQUENCE);
		CHECK_EQ(m.dsm[0].seq, want[i].seq);
		CHECK_EQ(m.dsm[0].timestamp, want[i].ts);
		CHECK_EQ(m.dsm[0].cfg_major, 1996849972u);
		CHECK_EQ(m.dsm[0].cfg_minor, 1996849484u);
		CHECK_EQ(lg_uadp_dsm_type(&m.dsm[0]), LG_UADP_DSM_KEY_FRAME);
		CHECK_EQ(m.dsm[0].field_count, 1);
		CHECK_EQ(m.fields[0].type, LG_UADP_T_DATETIME);
		CHECK_EQ(lg_uadp_field_get_raw(&m.fields[0], 0, &raw), 0);
		CHECK_EQ((int64_t)raw, want[i].value);
	}
}

static void test_fields_and_shapes(void)
{
	uint64_t raw = 0;
	double v = 0;
	int n;

	/* Policy order: temperature first, though the JSON gives it second; plain numbers are
	 * Doubles; several Messages make one NetworkMessage. */
	n = convert("{\"MessageType\":\"ua-data\",\"PublisherId\":\"2234\",\"Messages\":["
		    "{\"DataSetWriterId\":62541,\"SequenceNumber\":65537,\"Payload\":{"
		    "\"Server localtime\":{\"UaType\":13,\"Value\":\"2026-12-04T20:54:10Z\"},"
		    "\"temperature\":{\"UaType\":10,\"Value\":21.5},\"extra\":[1,2,3]}},"
		    "{\"DataSetWriterId\":62541,\"MessageType\":\"ua-keepalive\"}]}",
		    1);
	CHECK(n > 0);
	CHECK_EQ(lg_uadp_decode(&m, out, (size_t)n, NULL), 0);
	CHECK_EQ(m.dsm_count, 2);
	CHECK_EQ(m.dsm[0].seq, 1); /* the low 16 bits */
	CHECK_EQ(m.dsm[0].field_count, 3);
	CHECK_EQ(m.fields[0].type, LG_UADP_T_FLOAT);
	CHECK_EQ(lg_uadp_field_get_f64(&m.fields[0], 0, &v), 0);
	CHECK_NEAR(v, 21.5, 1e-9);
	CHECK_EQ(m.fields[1].type, LG_UADP_T_DATETIME);
	CHECK_EQ(m.fields[2].type, LG_UADP_T_DOUBLE);
	CHECK_EQ(m.fields[2].count, 3);
	CHECK_EQ(lg_uadp_dsm_type(&m.dsm[1]), LG_UADP_DSM_KEEP_ALIVE);

	/* A named field the message lacks is an empty Variant in its place. */
	n = convert("{\"PublisherId\":2234,\"Messages\":{\"DataSetWriterId\":62541,\"Payload\":{"
		    "\"Server localtime\":{\"UaType\":13,\"Value\":\"2026-12-04T21:54:10+01:00\"}}}}",
		    1);
	CHECK(n > 0);
	CHECK_EQ(lg_uadp_decode(&m, out, (size_t)n, NULL), 0);
	CHECK_EQ(m.dsm[0].field_count, 2);
	CHECK_EQ(m.fields[0].type, LG_UADP_T_NULL);
	CHECK_EQ(m.fields[1].type, LG_UADP_T_DATETIME);
	CHECK_EQ(lg_uadp_field_get_raw(&m.fields[1], 0, &raw), 0);
	CHECK_EQ((int64_t)raw, 134408912500000000ll); /* 20:54:10Z */

	/* Integer types by UaType, 64-bit ones as strings, their limits. */
	n = convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,\"Payload\":{"
		    "\"a\":{\"UaType\":8,\"Value\":\"-9223372036854775808\"},"
		    "\"b\":{\"UaType\":9,\"Value\":\"18446744073709551615\"},"
		    "\"c\":{\"UaType\":2,\"Value\":[-128,127]},\"d\":{\"Type\":5,\"Body\":65535},"
		    "\"e\":true,\"f\":null}}]}",
		    0);
	CHECK(n > 0);
	CHECK_EQ(lg_uadp_decode(&m, out, (size_t)n, NULL), 0);
	CHECK_EQ(m.dsm[0].field_count, 6);
	CHECK_EQ(m.fields[0].type, LG_UADP_T_INT64);
	CHECK_EQ(m.fields[1].type, LG_UADP_T_UINT64);
	CHECK_EQ(m.fields[2].count, 2);
	CHECK_EQ(m.fields[3].type, LG_UADP_T_UINT16);
	CHECK_EQ(m.fields[4].type, LG_UADP_T_BOOLEAN);
	CHECK_EQ(m.fields[5].type, LG_UADP_T_NULL);

	/* A publisher the policy does not know keeps its PublisherId, as a String. */
	n = convert("{\"PublisherId\":\"plc-7\",\"Messages\":[{\"DataSetWriterId\":3,"
		    "\"Payload\":{\"x\":1}}]}",
		    0);
	CHECK(n > 0);
	CHECK_EQ(lg_uadp_decode(&m, out, (size_t)n, NULL), 0);
	CHECK_EQ(lg_uadp_pub_type(&m), LG_UADP_PUBID_STRING);
	CHECK(m.pub_str_len == 5 && !memcmp(m.pub_str, "plc-7", 5));
}

/* Field i's String value equals want (NULL: the null String). */
static void check_string(unsigned i, const char *want)
{
	const uint8_t *p = NULL;
	uint32_t len = 0;

	CHECK_EQ(m.fields[i].type, LG_UADP_T_STRING);
	CHECK_EQ(lg_uadp_field_get_bytes(&m.fields[i], 0, &p, &len), 0);
	if (!want) {
		CHECK(!p && !len);
		return;
	}
	CHECK_EQ(len, strlen(want));
	CHECK(p && len == strlen(want) && !memcmp(p, want, len));
}

static void test_strings(void)
{
	double v = 0;
	int n;

	/* Every form of a String: plain (RawData, non-reversible), reversible 1.05 and 1.04,
	 * non-reversible 1.04 {"Body"}, DataValue 1.05 and 1.04, the null String, UTF-8. */
	n = convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,\"Payload\":{"
		    "\"a\":\"run\",\"b\":{\"UaType\":12,\"Value\":\"stop\"},"
		    "\"c\":{\"Type\":12,\"Body\":\"idle\"},\"d\":{\"Body\":\"setup\"},"
		    "\"e\":{\"UaType\":12,\"Value\":\"warm\",\"StatusCode\":{\"Code\":2150891520},"
		    "\"SourceTimestamp\":\"2026-12-04T20:54:10Z\"},"
		    "\"f\":{\"Value\":{\"Type\":12,\"Body\":\"cold\"},\"Status\":0},"
		    "\"g\":{\"UaType\":12},\"h\":\"Dr\\u00fcck \\\"x\\\"\",\"i\":\"\","
		    "\"j\":{\"Value\":{\"Body\":7.25}},\"k\":{\"Body\":[1,2]}}}]}",
		    0);
	CHECK(n > 0);
	CHECK_EQ(lg_uadp_decode(&m, out, (size_t)n, NULL), 0);
	CHECK_EQ(m.dsm[0].field_count, 11);
	check_string(0, "run");
	check_string(1, "stop");
	check_string(2, "idle");
	check_string(3, "setup");
	check_string(4, "warm");
	check_string(5, "cold");
	check_string(6, NULL);
	check_string(7, "Dr\xc3\xbc" "ck \"x\"");
	check_string(8, "");
	CHECK_EQ(m.fields[9].type, LG_UADP_T_DOUBLE);
	CHECK_EQ(lg_uadp_field_get_f64(&m.fields[9], 0, &v), 0);
	CHECK_NEAR(v, 7.25, 0);
	CHECK_EQ(m.fields[10].type, LG_UADP_T_DOUBLE);
	CHECK_EQ(m.fields[10].count, 2);

	/* The null DateTime (no Value) and a DataValue without a value: empty fields */
	n = convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,\"Payload\":{"
		    "\"t\":{\"UaType\":13},\"u\":{\"StatusCode\":{\"Code\":2147483648}}}}]}",
		    0);
	CHECK(n > 0);
	CHECK_EQ(lg_uadp_decode(&m, out, (size_t)n, NULL), 0);
	CHECK_EQ(m.dsm[0].field_count, 2);
	CHECK_EQ(m.fields[0].type, LG_UADP_T_NULL);
	CHECK_EQ(m.fields[1].type, LG_UADP_T_NULL);
}

static void test_delta_frames(void)
{
	double v = 0;
	int n;

	/* A delta frame with both fields, in the other order than the policy names them: each
	 * carries its index in the DataSet the policy names (temperature 0, Server localtime 1). */
	n = convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
		    "\"SequenceNumber\":7,\"MessageType\":\"ua-deltaframe\",\"Payload\":{"
		    "\"Server localtime\":{\"UaType\":13,\"Value\":\"2026-12-04T20:54:10Z\"},"
		    "\"temperature\":{\"UaType\":10,\"Value\":40.5}}}]}",
		    1);
	CHECK(n > 0);
	CHECK_EQ(lg_uadp_decode(&m, out, (size_t)n, NULL), 0);
	CHECK_EQ(lg_uadp_dsm_type(&m.dsm[0]), LG_UADP_DSM_DELTA_FRAME);
	CHECK_EQ(m.dsm[0].seq, 7);
	CHECK_EQ(m.dsm[0].field_count, 2);
	CHECK_EQ(m.fields[0].index, 1); /* "Server localtime" is the policy's second name */
	CHECK_EQ(m.fields[0].type, LG_UADP_T_DATETIME);
	CHECK_EQ(m.fields[1].index, 0);
	CHECK_EQ(m.fields[1].type, LG_UADP_T_FLOAT);
	CHECK_EQ(lg_uadp_field_get_f64(&m.fields[1], 0, &v), 0);
	CHECK_NEAR(v, 40.5, 0);

	/* An empty delta frame (nothing changed) is a delta frame without fields. */
	n = convert("{\"PublisherId\":\"2234\",\"Messages\":{\"DataSetWriterId\":62541,"
		    "\"MessageType\":\"ua-deltaframe\",\"Payload\":{}}}",
		    1);
	CHECK(n > 0);
	CHECK_EQ(lg_uadp_decode(&m, out, (size_t)n, NULL), 0);
	CHECK_EQ(lg_uadp_dsm_type(&m.dsm[0]), LG_UADP_DSM_DELTA_FRAME);
	CHECK_EQ(m.dsm[0].field_count, 0);

	/* lg_uadp_sample_fields() (the worker's channel choice) on a converted delta frame finds
	 * the channel its key frames chose (field 0) by its DataSet index. */
	n = convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
		    "\"MessageType\":\"ua-deltaframe\",\"Payload\":{"
		    "\"temperature\":[1.5,2.5,3.5]}}]}",
		    1);
	CHECK(n > 0);
	CHECK_EQ(lg_uadp_decode(&m, out, (size_t)n, NULL), 0);
	{
		const struct lg_uadp_field *f[4];
		uint8_t idx[4];
		uint32_t count = 0;

		CHECK_EQ(lg_uadp_sample_fields(&m, 0, 1u << 0, 4, f, idx, &count), 1);
		CHECK_EQ(idx[0], 0);
		CHECK_EQ(count, 3);
		CHECK_EQ(lg_uadp_field_get_f64(f[0], 2, &v), 0);
		CHECK_NEAR(v, 3.5, 0);
	}
}

static void test_hostile(void)
{
	static char big[LG_UADP_JSON_MAX_LEN + 2];
	char buf[40000];
	size_t u;

	/* Not JSON */
	CHECK_EQ(convert("", 0), -EBADMSG);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\"", 0), -EBADMSG);   /* truncated */
	CHECK_EQ(convert("{\"PublisherId\":\"2234\"}x", 0), -EBADMSG); /* trailing bytes */
	CHECK_EQ(convert("{\"PublisherId\":1,}", 0), -EBADMSG);
	CHECK_EQ(convert("{\"PublisherId\":\"\xff\xfe\",\"Messages\":[]}", 0), -EBADMSG);
	CHECK_EQ(convert("{\"PublisherId\":\"\xc0\xaf\"}", 0), -EBADMSG); /* overlong UTF-8 */
	CHECK_EQ(convert("{\"PublisherId\":\"\xed\xa0\x80\"}", 0), -EBADMSG); /* a surrogate */
	CHECK_EQ(lg_uadp_json_convert(conv, "{\"a\":\0}", 7, resolve, NULL, out, sizeof(out)),
		 -EBADMSG);
	/* deep nesting */
	u = 0;
	for (int i = 0; i < 2000; i++)
		buf[u++] = '[';
	buf[u] = 0;
	CHECK_EQ(convert(buf, 0), -EBADMSG);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"Payload\":{\"a\":{\"UaType\":11,\"Value\":[[[[[[[1]]]]]]]}}}]}",
			 0),
		 -EBADMSG);
	/* too long */
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	CHECK_EQ(convert(big, 0), -E2BIG);

	/* JSON, but not a data NetworkMessage */
	CHECK_EQ(convert("[]", 0), -EPROTO);
	CHECK_EQ(convert("{}", 0), -EPROTO);
	CHECK_EQ(convert("{\"Messages\":[{\"DataSetWriterId\":1,\"Payload\":{}}]}", 0), -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[]}", 0), -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"Payload\":{}}]}", 0), -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":\"62541\","
			 "\"Payload\":{}}]}",
			 0),
		 -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":70000,"
			 "\"Payload\":{}}]}",
			 0),
		 -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":true,\"Messages\":[{\"DataSetWriterId\":1}]}", 0),
		 -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"Timestamp\":\"2026-02-30T00:00:00Z\",\"Payload\":{}}]}",
			 0),
		 -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"Payload\":{\"a\":{\"UaType\":3,\"Value\":256}}}]}",
			 0),
		 -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"Payload\":{\"a\":{\"UaType\":6,\"Value\":1.5}}}]}",
			 0),
		 -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"Payload\":{\"a\":{\"UaType\":11,\"Value\":[1,\"x\"]}}}]}",
			 0),
		 -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"Payload\":[1]}]}",
			 0),
		 -EPROTO);

	/* PubSub, outside the subset */
	CHECK_EQ(convert("{\"MessageType\":\"ua-metadata\",\"PublisherId\":\"2234\"}", 0), -ENOTSUP);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"Payload\":{\"s\":{\"UaType\":12,\"Value\":[\"a\",\"b\"]}}}]}",
			 0),
		 -ENOTSUP); /* a String array */
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"Payload\":{\"g\":{\"UaType\":14,\"Value\":\"72962B91-FA75-4AE6-8D28-"
			 "B404DC7DAF63\"}}}]}",
			 0),
		 -ENOTSUP); /* a Guid */
	/* A delta frame's field the policy does not name cannot be placed. */
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"MessageType\":\"ua-deltaframe\",\"Payload\":{\"mode\":\"run\"}}]}",
			 1),
		 -ENOTSUP);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"MessageType\":\"ua-deltaframe\",\"Payload\":{\"temperature\":1}}]}",
			 0),
		 -ENOTSUP); /* the device names no fields */
	/* Events: their own error, counted as UADP events are */
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"MessageType\":\"ua-event\",\"Payload\":{\"EventId\":1}}]}",
			 0),
		 -ENOMSG);
	/* A non-zero Variant type without a value (only String and DateTime have a null) */
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"Payload\":{\"a\":{\"UaType\":11}}}]}",
			 0),
		 -EPROTO);
	CHECK_EQ(convert("{\"PublisherId\":\"2234\",\"Messages\":[{\"DataSetWriterId\":62541,"
			 "\"Payload\":{\"a\":{\"Code\":1}}}]}",
			 0),
		 -EPROTO); /* an object of no known form */

	/* Huge: an array past what a message holds, too many DataSetMessages and fields */
	u = (size_t)snprintf(buf, sizeof(buf), "{\"PublisherId\":\"2234\",\"Messages\":[{"
				 "\"DataSetWriterId\":62541,\"Payload\":{\"a\":[");
	for (int i = 0; i < 5000; i++)
		u += (size_t)snprintf(buf + u, sizeof(buf) - u, "%s1", i ? "," : "");
	snprintf(buf + u, sizeof(buf) - u, "]}}]}");
	CHECK_EQ(convert(buf, 0), -E2BIG);
	u = (size_t)snprintf(buf, sizeof(buf), "{\"PublisherId\":\"2234\",\"Messages\":[");
	for (int i = 0; i < 33; i++)
		u += (size_t)snprintf(buf + u, sizeof(buf) - u, "%s{\"DataSetWriterId\":1}",
				      i ? "," : "");
	snprintf(buf + u, sizeof(buf) - u, "]}");
	CHECK_EQ(convert(buf, 0), -E2BIG);
	u = (size_t)snprintf(buf, sizeof(buf), "{\"PublisherId\":\"2234\",\"Messages\":[{"
				 "\"DataSetWriterId\":62541,\"Payload\":{");
	for (int i = 0; i < 300; i++)
		u += (size_t)snprintf(buf + u, sizeof(buf) - u, "%s\"f%d\":1", i ? "," : "", i);
	snprintf(buf + u, sizeof(buf) - u, "}}]}");
	CHECK_EQ(convert(buf, 0), -E2BIG);
}

static void test_time(void)
{
	int64_t t = 0;

	CHECK_EQ(lg_uadp_json_time("1601-01-01T00:00:00.0000001Z", &t), 0);
	CHECK_EQ(t, 1);
	CHECK_EQ(lg_uadp_json_time("1970-01-01T00:00:00Z", &t), 0);
	CHECK_EQ(t, 116444736000000000ll);
	CHECK_EQ(lg_uadp_json_time("2024-02-29T00:00:00Z", &t), 0);
	CHECK_EQ(lg_uadp_json_time("2023-02-29T00:00:00Z", &t), -EINVAL);
	CHECK_EQ(lg_uadp_json_time("2026-12-04T20:54:10", &t), -EINVAL);
	CHECK_EQ(lg_uadp_json_time("2026-12-04T20:54:10.Z", &t), -EINVAL);
	CHECK_EQ(lg_uadp_json_time("1600-12-31T23:59:59Z", &t), -EINVAL);
}

static const char usage[] =
	"Usage: test_uadp_json [options]\n"
	"\n"
	"The OPC UA PubSub JSON mapping into UADP, on open62541's captures\n"
	"($LG_SOURCE/tests/fixtures/opcua/mqtt) and on hostile JSON.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	if (lg_uadp_json_new(&conv))
		return 1;
	test_captures();
	test_fields_and_shapes();
	test_strings();
	test_delta_frames();
	test_hostile();
	test_time();
	lg_uadp_json_free(conv);
	return lgt_done("uadp_json");
}
