// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the control protocol: the frame decoder, the peer check and the
 * dispatcher both servers use (ctlproto.c). The first input byte picks the peer (root, the
 * server's uid, a stranger, a member of --group) and whether the server has a group; the
 * rest is what arrived on the socket. It aborts when
 * - an accepted frame's body is not where and how long its header says, or a refused one
 *   is not cut off or over the limit as its error says, or re-framing the body does not
 *   give back the input's bytes;
 * - a handler runs for a peer the check refuses, for a request that is not one JSON object,
 *   or for another command than its own;
 * - a reply is not an object with a boolean "ok", a failed one has no "error" reason, or
 *   the reply does not parse back as one JSON object.
 */
#include "ctlproto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned calls;

static void check_cmd(struct lg_ctl_call *c, const char *name)
{
	json_object *v;

	if (!json_object_is_type(c->req, json_type_object) ||
	    !json_object_object_get_ex(c->req, "cmd", &v) ||
	    !json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), name))
		abort();
	calls++;
}

static int h_echo(void *ctx, struct lg_ctl_call *c)
{
	json_object *v;

	(void)ctx;
	check_cmd(c, "echo");
	if (json_object_object_get_ex(c->req, "policy", &v))
		json_object_object_add(c->reply, "policy", json_object_get(v));
	return 0;
}

static int h_fail(void *ctx, struct lg_ctl_call *c)
{
	(void)ctx;
	check_cmd(c, "fail");
	snprintf(c->err, c->errlen, "refused on purpose");
	return -EINVAL;
}

static int h_silent(void *ctx, struct lg_ctl_call *c)
{
	(void)ctx;
	check_cmd(c, "silent");
	return -EPERM; /* no reason: the dispatcher must give one */
}

static const struct lg_ctl_cmd cmds[] = {
	{ "echo", h_echo, "copy policy back", false },
	{ "fail", h_fail, "fail with a reason", true },
	{ "silent", h_silent, "fail without a reason", true },
	{ NULL },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t max = 1 << 16;
	struct lg_ctl_server s = { .cmds = cmds, .name = "fuzz", .max_request = max,
				   .own_uid = 1000, .group = 2000 };
	struct lg_ctl_peer peer = { .gid = 3000 };
	const char *in, *body;
	size_t len, blen, flen;
	gid_t groups[1] = { 2000 };
	size_t ngroups = 0;
	json_object *reply, *v;
	char *f, err[128];
	int ret;

	if (!size)
		return 0;
	switch (data[0] & 3) {
	case 0: peer.uid = 0; break;
	case 1: peer.uid = 1000; break;
	case 2: peer.uid = 1234; break;
	case 3: peer.uid = 1234; ngroups = 1; break;
	}
	s.has_group = data[0] & 4;
	if (data[0] & 8)
		peer.gid = 2000;
	in = (const char *)data + 1;
	len = size - 1;

	ret = lg_ctl_unframe(in, len, max, &body, &blen);
	if (ret == 0) {
		uint32_t n = (uint32_t)(uint8_t)in[0] << 24 | (uint32_t)(uint8_t)in[1] << 16 |
			     (uint32_t)(uint8_t)in[2] << 8 | (uint8_t)in[3];

		if (body != in + LG_CTL_HDR_LEN || blen != n || blen > max || blen > len - 4)
			abort();
		if (lg_ctl_frame(body, blen, &f, &flen))
			abort();
		if (flen != blen + 4 || memcmp(f, in, flen))
			abort();
		free(f);
	} else if (ret == -EBADMSG) {
		if (len >= 4 && ((uint32_t)(uint8_t)in[0] << 24 | (uint32_t)(uint8_t)in[1] << 16 |
				 (uint32_t)(uint8_t)in[2] << 8 | (uint8_t)in[3]) <= len - 4)
			abort();
		return 0;
	} else if (ret == -EMSGSIZE) {
		if (len < 4)
			abort();
		return 0;
	} else {
		abort();
	}

	{
		bool allowed = lg_ctl_peer_allowed(&s, &peer, groups, ngroups);
		bool want = peer.uid == 0 || peer.uid == 1000 ||
			    (s.has_group && (peer.gid == 2000 || ngroups));

		if (allowed != want)
			abort();
		if (!allowed)
			return 0; /* lg_ctl_serve() says "permission denied", dispatches nothing */
	}
	calls = 0;
	{
		json_object *o = lg_ctl_parse_object(body, blen, err, sizeof(err));
		bool is_obj = o != NULL;

		json_object_put(o);
		reply = lg_ctl_dispatch(&s, &peer, body, blen);
		if (!reply || !json_object_is_type(reply, json_type_object))
			abort();
		if (!is_obj && calls)
			abort();
	}
	if (calls > 1 || !json_object_object_get_ex(reply, "ok", &v) ||
	    !json_object_is_type(v, json_type_boolean))
		abort();
	if (!json_object_get_boolean(v)) {
		json_object *e;

		if (!json_object_object_get_ex(reply, "error", &e) ||
		    !json_object_is_type(e, json_type_string) || !json_object_get_string_len(e))
			abort();
	}
	{
		size_t rlen;
		const char *t = json_object_to_json_string_length(reply, JSON_C_TO_STRING_PLAIN,
								  &rlen);
		json_object *back = lg_ctl_parse_object(t, rlen, err, sizeof(err));

		if (!back)
			abort();
		json_object_put(back);
	}
	json_object_put(reply);
	return 0;
}
