// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the status page (status.c): the HTTP server's address parser, and
 * the page rendered from a status document whose every string (device names, UADP
 * publishers, metadata keys and values, model and policy file names, incidents, problems:
 * policy and wire text) is fuzz input. Beyond "no crash": the page's markup must not depend
 * on those strings, so it has as many '<', '>', '"' and '\'' as the same page with every
 * string "x"; and
 * lg_html_escape() says the length it needed and leaves none of them in its output.
 */
#include "dataplane.h"
#include "http.h"

#include <linegate/admit.h>

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSTR 8

static json_object *s_(const char *s)
{
	return json_object_new_string(s);
}

/* A status document as lg_http_status() makes it, its strings from str[]. */
static json_object *doc(const char *const *str, const uint8_t *num, size_t nnum)
{
	json_object *o = json_object_new_object(), *devs = json_object_new_array(),
		    *inc = json_object_new_object(), *open = json_object_new_array(),
		    *lg = json_object_new_object(), *hist = json_object_new_object(),
		    *drops = json_object_new_array(), *probs = json_object_new_array();

	json_object_object_add(lg, "version", s_(str[0]));
	json_object_object_add(lg, "policy_file", s_(str[1]));
	json_object_object_add(o, "linegate", lg);
	json_object_object_add(o, "model", s_(str[2]));
	json_object_object_add(o, "shadow", s_(str[3]));
	json_object_object_add(o, "policy_sha256", s_(str[4]));
	json_object_object_add(o, "healthy", json_object_new_boolean(nnum && num[0] & 1));
	json_object_object_add(o, "ready", json_object_new_boolean(nnum && num[0] & 2));
	json_object_array_add(probs, s_(str[5]));
	json_object_object_add(o, "health_problems", probs);
	probs = json_object_new_array();
	json_object_array_add(probs, s_(str[5]));
	json_object_array_add(probs, s_(str[6]));
	json_object_object_add(o, "ready_reasons", probs);
	json_object_object_add(hist, "step_s", json_object_new_uint64(nnum > 1 ? num[1] : 5));
	json_object_object_add(hist, "points", json_object_new_uint64(LG_HTTP_POINTS));
	json_object_object_add(o, "history", hist);
	for (int i = 0; i < 3; i++) {
		json_object *d = json_object_new_object(), *rec = json_object_new_array();

		json_object_object_add(d, "id", json_object_new_uint64(100 + i));
		json_object_object_add(d, "name", s_(str[(6 + i) % NSTR]));
		json_object_object_add(d, "uadp_publisher", s_(str[(7 + i) % NSTR]));
		/* Metadata (issue 12): values and a tag's key are policy text (one key in
		 * its own object: no key of the input can take another's place). */
		{
			json_object *m = json_object_new_object(), *t = json_object_new_object();

			json_object_object_add(m, "line", s_(str[(1 + i) % NSTR]));
			json_object_object_add(m, "asset", s_(str[(3 + i) % NSTR]));
			json_object_object_add(t, str[(4 + i) % NSTR], s_(str[(5 + i) % NSTR]));
			json_object_object_add(m, "tags", t);
			json_object_object_add(d, "meta", m);
		}
		json_object_object_add(d, "windows", json_object_new_uint64(i));
		json_object_object_add(d, "alerts", json_object_new_uint64(i & 1));
		json_object_object_add(d, "last_score", json_object_new_double(i * 1.5));
		/* Scores and gaps from the input's bytes: nulls, zeros, negatives, lone points. */
		for (size_t k = 2; k < nnum && k < 2 + LG_HTTP_POINTS; k++)
			json_object_array_add(rec, num[k] == 0xff ? NULL :
					      json_object_new_double((int8_t)num[k] * (i + 1) / 7.0));
		json_object_object_add(d, "recent", rec);
		json_object_array_add(devs, d);
	}
	json_object_object_add(o, "devices", devs);
	for (int i = 0; i < 2; i++) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "incident", s_(str[(1 + i) % NSTR]));
		json_object_object_add(r, "name", s_(str[(3 + i) % NSTR]));
		json_object_object_add(r, "onset", s_(str[(5 + i) % NSTR]));
		json_object_object_add(r, "opened", s_(str[(7 + i) % NSTR]));
		json_object_array_add(open, r);
	}
	json_object_object_add(inc, "open", open);
	json_object_object_add(o, "incidents", inc);
	for (int i = 0; i < 2; i++) {
		json_object *r = json_object_new_object();

		json_object_object_add(r, "reason", s_(str[(2 + i) % NSTR]));
		json_object_object_add(r, "count", json_object_new_uint64(1 + i));
		json_object_object_add(r, "description", s_(str[(4 + i) % NSTR]));
		json_object_array_add(drops, r);
	}
	json_object_object_add(o, "drop_reasons", drops);
	/* XDP's verdicts (trial J F10: the page shows them), or none, or not an object */
	if (nnum > 2 && num[2] % 3 == 1) {
		json_object *x = json_object_new_object();

		for (int r = 0; r < LG_R_MAX; r++)
			json_object_object_add(x, lg_admit_reason_name(r),
					       json_object_new_uint64(nnum > 3 + (size_t)r ?
								      num[3 + r] : 0));
		json_object_object_add(o, "xdp", x);
	} else if (nnum > 2 && num[2] % 3 == 2) {
		json_object_object_add(o, "xdp", s_(str[0]));
	}
	return o;
}

static void counts(const char *html, size_t c[4])
{
	memset(c, 0, 4 * sizeof(*c));
	for (; *html; html++) {
		c[0] += *html == '<';
		c[1] += *html == '>';
		c[2] += *html == '"';
		c[3] += *html == '\'';
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *p;
	const char *str[NSTR], *xs[NSTR];
	struct sockaddr_storage ss;
	char err[256], esc[64];
	json_object *a, *b;
	char *ha, *hb;
	size_t ca[4], cb[4], n = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* NUL-separated strings: the first is an address, then the document's strings. */
	for (p = buf; n < NSTR && p <= buf + size; p += strlen(p) + 1)
		str[n++] = p;
	for (size_t i = n; i < NSTR; i++)
		str[i] = "";
	for (size_t i = 0; i < NSTR; i++)
		xs[i] = "x";

	if (!lg_http_parse_addr(str[0], &ss, err, sizeof(err)) &&
	    ((ss.ss_family == AF_INET && !((struct sockaddr_in *)&ss)->sin_port) ||
	     (ss.ss_family == AF_INET6 && !((struct sockaddr_in6 *)&ss)->sin6_port) ||
	     (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)))
		abort();
	for (size_t i = 0; i < NSTR; i++) {
		size_t need = lg_html_escape(esc, sizeof(esc), str[i]), k = strlen(esc);

		if (need < strlen(str[i]) || k >= sizeof(esc) || (need < sizeof(esc) && k != need) ||
		    strpbrk(esc, "<>\"'"))
			abort();
	}

	a = doc(str, data, size);
	b = doc(xs, data, size);
	ha = lg_http_status_html(a, size & 1 ? -1 : 0);
	hb = lg_http_status_html(b, size & 1 ? -1 : 0);
	if (ha && hb) {
		counts(ha, ca);
		counts(hb, cb);
		if (memcmp(ca, cb, sizeof(ca)))
			abort();
	}
	free(ha);
	free(hb);
	json_object_put(a);
	json_object_put(b);
	free(buf);
	return 0;
}
