// SPDX-License-Identifier: MIT
/*
 * The status page: plain HTML with inline CSS and one inline SVG chart per device, rendered
 * from the /status.json object (http.c), so that the page and the document always agree.
 * No script and nothing from elsewhere: it reads in any browser, in curl, and in a browser
 * with scripts off; a meta refresh reloads it. Every string is escaped, numbers are
 * printed from numbers. And the server's address parser. Nothing here needs the server
 * (fuzz_status.c).
 */
#include "dataplane.h"
#include "http.h"

#include <linegate/admit.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHART_W 240
#define CHART_H 48
#define CHART_PAD 3

size_t lg_html_escape(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		const char *rep = NULL;
		char one[2] = { *s, 0 };

		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: rep = one; break;
		}
		for (; *rep; rep++, n++)
			if (n + 1 < cap)
				out[n] = *rep;
	}
	if (cap)
		out[n < cap ? n : cap - 1] = '\0';
	return n;
}

static void esc(FILE *f, const char *s)
{
	char buf[256];

	while (s && *s) {
		/* A chunk at a time: at most 6 bytes of output per byte of input. */
		char chunk[40];
		size_t k = strnlen(s, sizeof(chunk) - 1);

		memcpy(chunk, s, k);
		chunk[k] = '\0';
		lg_html_escape(buf, sizeof(buf), chunk);
		fputs(buf, f);
		s += k;
	}
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;

	if (o)
		json_object_object_get_ex(o, k, &v);
	return v;
}

static const char *str(json_object *o, const char *k)
{
	json_object *v = get(o, k);

	return v ? json_object_get_string(v) : "";
}

static uint64_t u64(json_object *o, const char *k)
{
	return json_object_get_uint64(get(o, k));
}

static void row_u64(FILE *f, const char *id, const char *label, uint64_t v)
{
	fprintf(f, "<tr><th>%s</th><td id=\"%s\">%" PRIu64 "</td></tr>\n", label, id, v);
}

static void row_str(FILE *f, const char *id, const char *label, const char *v)
{
	fprintf(f, "<tr><th>%s</th><td id=\"%s\">", label, id);
	esc(f, v);
	fputs("</td></tr>\n", f);
}

/*
 * The MQTT and NATS outputs, when configured: connected, what went, what waits, what was
 * lost and why (trial Q, s23: the page said 0 lost while a NATS outbox had refused 1818
 * scores and evicted 302 records, two incident opens among them).
 */
static void outputs(FILE *f, json_object *st)
{
	json_object *m = get(st, "mqtt"), *n = get(st, "nats");
	json_object *mo = get(m, "outbox"), *no = get(n, "outbox");

	if (!m && !n)
		return;
	fputs("<h2>Outputs</h2>\n<table id=\"outputs\">\n", f);
	if (m) {
		fprintf(f, "<tr><th>MQTT</th><td id=\"mqtt-connected\" class=\"%s\">%s</td></tr>\n",
			json_object_get_boolean(get(m, "connected")) ? "ok" : "bad",
			json_object_get_boolean(get(m, "connected")) ? "connected" : "not connected");
		row_u64(f, "mqtt-published", "MQTT published", u64(m, "published"));
		row_u64(f, "mqtt-delivered", "MQTT delivered", u64(m, "delivered"));
		row_u64(f, "mqtt-dropped", "MQTT dropped (scores, alerts, incidents, events)",
			u64(m, "dropped_scores") + u64(m, "dropped_alerts"));
		row_u64(f, "mqtt-abandoned", "MQTT abandoned at a stop", u64(m, "abandoned"));
		if (mo) {
			row_u64(f, "mqtt-waiting", "MQTT outbox: records waiting", u64(mo, "records"));
			row_u64(f, "mqtt-evicted", "MQTT outbox: evicted unsent (lost)",
				u64(mo, "evicted"));
			row_u64(f, "mqtt-evicted-incidents", "MQTT outbox: of them incident lines",
				u64(get(mo, "evicted_by_kind"), "incidents"));
		}
		row_str(f, "mqtt-last-error", "MQTT last failure", str(get(m, "last_error"),
									 "message"));
	}
	if (n) {
		fprintf(f, "<tr><th>NATS</th><td id=\"nats-connected\" class=\"%s\">%s</td></tr>\n",
			json_object_get_boolean(get(n, "connected")) ? "ok" : "bad",
			json_object_get_boolean(get(n, "connected")) ? "connected" : "not connected");
		row_u64(f, "nats-published", "NATS published (resends included)",
			u64(n, "published"));
		row_u64(f, "nats-acked", "NATS acknowledged", u64(n, "acked"));
		row_u64(f, "nats-errors", "NATS publishes refused or not acknowledged",
			u64(n, "errors"));
		if (no) {
			row_u64(f, "nats-waiting", "NATS outbox: records waiting", u64(no, "records"));
			row_u64(f, "nats-refused-scores", "NATS outbox: scores refused (full, lost)",
				u64(no, "dropped_scores"));
			row_u64(f, "nats-evicted", "NATS outbox: evicted unsent (lost)",
				u64(no, "evicted"));
			row_u64(f, "nats-evicted-incidents", "NATS outbox: of them incident lines",
				u64(get(no, "evicted_by_kind"), "incidents"));
		}
		row_str(f, "nats-last-error", "NATS last failure", str(n, "last_error"));
	}
	fputs("</table>\n", f);
}

/* The device's recent scores, oldest first, as polylines (a gap where no row was scored)
 * on a time axis of the whole history: the newest point at the right edge. */
static void chart(FILE *f, json_object *recent, unsigned points, unsigned step_s)
{
	size_t n = recent ? json_object_array_length(recent) : 0, shown = 0;
	double max = 0;
	bool open = false;

	size_t scored = 0;

	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(recent, i);

		scored += v != NULL;
		if (v && json_object_get_double(v) > max)
			max = json_object_get_double(v);
	}
	fprintf(f, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		   "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" data-points=\"%zu\" "
		   "data-scored=\"%zu\">", CHART_W, CHART_H, CHART_W, CHART_H, n, scored);
	fprintf(f, "<title>highest score per %u s over the last %u min (max %.4g)</title>",
		step_s, points * step_s / 60, max);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#f6f6f6\"/>", CHART_W, CHART_H);
	if (max <= 0)
		max = 1;
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(recent, i);
		double x = (double)(points - n + i) * (CHART_W - 1) / (points > 1 ? points - 1 : 1);
		double y;

		if (!v) {
			if (open)
				fputs("\"/>", f);
			open = false;
			continue;
		}
		y = CHART_H - CHART_PAD - json_object_get_double(v) / max * (CHART_H - 2 * CHART_PAD);
		if (!open)
			fputs("<polyline fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"1.5\" "
			      "points=\"", f);
		fprintf(f, "%s%.1f,%.1f", open ? " " : "", x, y);
		/* A lone point would draw nothing: a dot. */
		if (!open && (i + 1 == n || !json_object_array_get_idx(recent, i + 1))) {
			fprintf(f, "\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.5\" fill=\"#1f5fa8\"/>",
				x, y);
			shown++;
			continue;
		}
		open = true;
		shown++;
	}
	if (open)
		fputs("\"/>", f);
	if (!shown)
		fprintf(f, "<text x=\"4\" y=\"%d\" font-size=\"11\" fill=\"#777\">no scores yet"
			   "</text>", CHART_H / 2 + 4);
	else /* each chart has its own scale: say which */
		fprintf(f, "<text x=\"3\" y=\"10\" font-size=\"9\" fill=\"#777\">max %.3g</text>",
			max);
	fputs("</svg>", f);
}

/* One metadata value: <span class="meta-item" data-key="KEY">KEY VALUE</span>, a free tag
 * as tags.KEY in both places (re-check trial 12: a bare tag key looked like a field). */
static void meta_item(FILE *f, const char *prefix, const char *key, json_object *v)
{
	fputs("<span class=\"meta-item\" data-key=\"", f);
	esc(f, prefix);
	esc(f, key);
	fputs("\"><span class=\"k\">", f);
	esc(f, prefix);
	esc(f, key);
	fputs("</span> <span class=\"v\">", f);
	esc(f, v ? json_object_get_string(v) : "");
	fputs("</span></span> ", f);
}

/* Issue 12: a device's metadata (line, station, asset, sensor, units, then its tags as
 * tags.KEY), every key and value escaped. */
static void meta_cell(FILE *f, json_object *meta)
{
	fputs("<td class=\"meta\">", f);
	if (meta && json_object_is_type(meta, json_type_object)) {
		json_object_object_foreach(meta, k, v) {
			if (!json_object_is_type(v, json_type_object)) {
				meta_item(f, "", k, v);
				continue;
			}
			json_object_object_foreach(v, tk, tv)
				meta_item(f, "tags.", tk, tv);
		}
	}
	fputs("</td>", f);
}

static void uptime(FILE *f, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (s >= 86400)
		fprintf(f, "%" PRIu64 " d ", s / 86400);
	fprintf(f, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600 % 24, s / 60 % 60, s % 60);
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}"
	"h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.2em 0 .3em}"
	"table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;"
	"border-bottom:1px solid #ddd;vertical-align:middle}th{font-weight:600}"
	"td.num,td.score,td.count{text-align:right;font-variant-numeric:tabular-nums}"
	".ok{color:#176f2c;font-weight:600}.bad{color:#b00020;font-weight:600}"
	"tr.alerting td.name{color:#b00020;font-weight:600}"
	".meta-item{white-space:nowrap;margin-right:.6em}.meta-item .k{color:#777}"
	".muted{color:#777}code{font-size:.95em}";

/* Admission's verdicts that are drops: all but admitted, audit (let through),
 * fragment_passed (to the kernel) and not_ours (passed or dropped as the policy says). */
static bool verdict_is_drop(int r)
{
	return r != LG_R_ADMITTED && r != LG_R_AUDIT && r != LG_R_FRAGMENT_PASSED &&
	       r != LG_R_NOT_OURS;
}

static uint64_t verdict_drops(json_object *x)
{
	uint64_t n = 0;

	for (int r = 0; x && r < LG_R_MAX; r++)
		if (verdict_is_drop(r))
			n += u64(x, lg_admit_reason_name(r));
	return n;
}

/* The "xdp" (or user-space "admission") block of status.json: its verdicts not zero. */
static void verdict_table(FILE *f, json_object *x, const char *id, const char *title,
			  const char *note)
{
	size_t n = 0;

	if (!x || !json_object_is_type(x, json_type_object))
		return;
	fprintf(f, "<h2>%s</h2>\n<p class=\"muted\">", title);
	esc(f, note);
	fprintf(f, ".</p>\n<table id=\"%s\"><thead><tr><th>verdict</th><th>frames</th>"
		   "<th>what it means</th></tr></thead><tbody>\n", id);
	for (int r = 0; r < LG_R_MAX; r++) {
		uint64_t c = u64(x, lg_admit_reason_name(r));

		if (!c)
			continue;
		n++;
		fprintf(f, "<tr class=\"%s\" data-reason=\"%s\"><td class=\"reason\"><code>%s"
			   "</code></td><td class=\"count\">%" PRIu64 "</td><td>",
			verdict_is_drop(r) ? "verdict refused" : "verdict passed",
			lg_admit_reason_name(r), lg_admit_reason_name(r), c);
		esc(f, lg_admit_reason_desc(r));
		fputs("</td></tr>\n", f);
	}
	if (!n)
		fputs("<tr class=\"none\"><td colspan=\"3\" class=\"muted\">no frame judged"
		      "</td></tr>\n", f);
	fputs("</tbody></table>\n", f);
}

char *lg_http_status_html(json_object *st, int refresh_s)
{
	json_object *devs = get(st, "devices"), *hist = get(st, "history"),
		    *inc = get(get(st, "incidents"), "open"), *lg = get(st, "linegate");
	unsigned points = (unsigned)u64(hist, "points"), step = (unsigned)u64(hist, "step_s");
	bool healthy = json_object_get_boolean(get(st, "healthy")),
	     ready = json_object_get_boolean(get(st, "ready"));
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	size_t ndrop = 0;
	uint64_t xdrop;

	if (!f)
		return NULL;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	      "<meta name=\"viewport\" content=\"width=device-width\">", f);
	if (refresh_s < 0)
		refresh_s = (int)(step ? step : LG_HTTP_STEP_S);
	if (refresh_s > 0)
		fprintf(f, "<meta http-equiv=\"refresh\" content=\"%d\">", refresh_s);
	fprintf(f, "<title>linegate status</title><style>%s</style></head><body>\n", style);
	fputs("<h1>linegate <span class=\"muted\">", f);
	esc(f, str(lg, "version"));
	fprintf(f, "</span></h1>\n<p><span id=\"health\" class=\"%s\">%s</span> · "
		   "<span id=\"ready\" class=\"%s\">%s</span> · up <span id=\"uptime\">",
		healthy ? "ok" : "bad", healthy ? "healthy" : "unhealthy", ready ? "ok" : "bad",
		ready ? "ready" : "not ready");
	uptime(f, u64(st, "uptime_ms"));
	fputs("</span></p>\n<ul id=\"problems\">", f);
	for (int k = 0; k < 2; k++) {
		json_object *a = get(st, k ? "ready_reasons" : "health_problems");

		/* The health problems are among the ready reasons too: once. */
		for (size_t i = k ? json_object_array_length(get(st, "health_problems")) : 0;
		     a && i < json_object_array_length(a); i++) {
			fputs("<li class=\"bad\">", f);
			esc(f, json_object_get_string(json_object_array_get_idx(a, i)));
			fputs("</li>", f);
		}
	}
	fputs("</ul>\n", f);

	fputs("<h2>Traffic</h2>\n<table id=\"summary\">\n", f);
	row_u64(f, "received", "received", u64(st, "received"));
	row_u64(f, "admitted", "admitted", u64(st, "admitted"));
	row_u64(f, "dropped", "dropped", u64(st, "dropped"));
	row_u64(f, "windows", "windows", u64(st, "windows"));
	row_u64(f, "scored", "scored", u64(st, "scored"));
	row_u64(f, "alerts", "alerts", u64(st, "alerts"));
	row_u64(f, "output_lines", "output lines written", u64(st, "output_lines"));
	row_u64(f, "output_write_dropped", "output lines not written (write failed)",
		u64(st, "output_write_dropped"));
	row_u64(f, "output_ring_full", "scores and alerts lost to full output rings",
		u64(st, "output_ring_full_scores") + u64(st, "output_ring_full_alerts"));
	fputs("</table>\n", f);
	outputs(f, st);

	fputs("<h2>Policy and models</h2>\n<table id=\"versions\">\n", f);
	row_str(f, "policy-file", "policy file", str(lg, "policy_file"));
	row_str(f, "policy-sha256", "policy sha256", str(st, "policy_sha256"));
	row_u64(f, "policy-epoch", "policy generation", u64(st, "policy_epoch"));
	row_u64(f, "policy-applies", "applies", u64(st, "policy_applies"));
	row_str(f, "model", "model", str(st, "model"));
	row_str(f, "model-gemm", "GEMM route", str(st, "model_gemm"));
	row_str(f, "shadow", "shadow model", str(st, "shadow"));
	row_u64(f, "model-epoch", "model generation", u64(st, "model_epoch"));
	fputs("</table>\n", f);

	fprintf(f, "<h2>Devices</h2>\n<p class=\"muted\">Chart: the highest score of each %u s "
		   "over the last %u minutes, newest at the right; a gap where none was "
		   "scored.</p>\n<table id=\"devices\"><thead><tr><th>id</th><th>name</th>"
		   "<th>UADP publisher</th><th>metadata</th><th>score</th><th>recent</th>"
		   "<th>admitted</th><th>windows</th><th>alerts</th><th>dropped</th>"
		   "<th>drift</th></tr></thead>"
		   "<tbody>\n", step, points * step / 60);
	for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
		json_object *d = json_object_array_get_idx(devs, i);
		uint64_t id = u64(d, "id");
		bool scored = u64(d, "windows") > 0;

		fprintf(f, "<tr class=\"device%s\" id=\"dev-%" PRIu64 "\" data-id=\"%" PRIu64 "\">"
			   "<td class=\"num\">%" PRIu64 "</td><td class=\"name\">",
			u64(d, "alerts") ? " alerting" : "", id, id, id);
		esc(f, str(d, "name"));
		fputs("</td><td class=\"publisher\">", f);
		esc(f, str(d, "uadp_publisher"));
		fputs("</td>", f);
		meta_cell(f, get(d, "meta"));
		if (scored)
			fprintf(f, "<td class=\"score\" data-score=\"%.9g\">%.4g</td>",
				json_object_get_double(get(d, "last_score")),
				json_object_get_double(get(d, "last_score")));
		else
			fputs("<td class=\"score muted\">none yet</td>", f);
		fputs("<td class=\"recent\">", f);
		chart(f, get(d, "recent"), points ? points : LG_HTTP_POINTS, step);
		fprintf(f, "</td><td class=\"num admitted\">%" PRIu64 "</td><td class=\"num windows\">"
			   "%" PRIu64 "</td><td class=\"num alerts\">%" PRIu64 "</td>"
			   "<td class=\"num dropped\">%" PRIu64 "</td><td class=\"drift\">%s</td></tr>\n",
			u64(d, "admitted"), u64(d, "windows"), u64(d, "alerts"), u64(d, "dropped"),
			json_object_get_boolean(get(d, "drift")) ? "drift" : "");
	}
	fputs("</tbody></table>\n", f);

	fputs("<h2>Open incidents</h2>\n<table id=\"incidents\"><thead><tr><th>incident</th>"
	      "<th>device</th><th>name</th><th>onset</th><th>opened</th><th>windows</th>"
	      "<th>alerts</th><th>max score</th></tr></thead><tbody>\n", f);
	for (size_t i = 0; inc && i < json_object_array_length(inc); i++) {
		json_object *r = json_object_array_get_idx(inc, i);

		fputs("<tr class=\"incident\" data-incident=\"", f);
		esc(f, str(r, "incident"));
		fprintf(f, "\" data-device=\"%" PRIu64 "\"><td class=\"id\">", u64(r, "device"));
		esc(f, str(r, "incident"));
		fprintf(f, "</td><td class=\"num\">%" PRIu64 "</td><td class=\"name\">",
			u64(r, "device"));
		esc(f, str(r, "name"));
		fputs("</td><td class=\"onset\">", f);
		esc(f, str(r, "onset"));
		fputs("</td><td class=\"opened\">", f);
		esc(f, str(r, "opened"));
		fprintf(f, "</td><td class=\"num\">%" PRIu64 "</td><td class=\"num\">%" PRIu64
			   "</td><td class=\"num\">%.4g</td></tr>\n", u64(r, "windows"),
			u64(r, "alerts"), json_object_get_double(get(r, "max_score")));
	}
	if (!inc || !json_object_array_length(inc))
		fputs("<tr class=\"none\"><td colspan=\"8\" class=\"muted\">none open</td></tr>\n", f);
	fputs("</tbody></table>\n", f);

	fputs("<h2>Drops by reason</h2>\n<table id=\"drops\"><thead><tr><th>reason</th>"
	      "<th>frames</th><th>what it means</th></tr></thead><tbody>\n", f);
	for (size_t i = 0; i < json_object_array_length(get(st, "drop_reasons")); i++) {
		json_object *r = json_object_array_get_idx(get(st, "drop_reasons"), i);

		if (!u64(r, "count"))
			continue;
		ndrop++;
		fputs("<tr class=\"drop\" data-reason=\"", f);
		esc(f, str(r, "reason"));
		fputs("\"><td class=\"reason\"><code>", f);
		esc(f, str(r, "reason"));
		fprintf(f, "</code></td><td class=\"count\">%" PRIu64 "</td><td>", u64(r, "count"));
		esc(f, str(r, "description"));
		fputs("</td></tr>\n", f);
	}
	xdrop = verdict_drops(get(st, "xdp")) + verdict_drops(get(st, "admission"));
	if (!ndrop && !xdrop)
		fputs("<tr class=\"none\"><td colspan=\"3\" class=\"muted\">no frame dropped</td>"
		      "</tr>\n", f);
	else if (!ndrop)
		fprintf(f, "<tr class=\"none\"><td colspan=\"3\" class=\"muted\">no frame dropped "
			   "by the workers; admission dropped %" PRIu64 " before them (below)</td>"
			   "</tr>\n", xdrop);
	fputs("</tbody></table>\n", f);
	/* Trial J F10: under attack XDP drops what never reaches a worker (unknown devices,
	 * spoofed sources, floods); a page that said "no frame dropped" then was wrong. */
	verdict_table(f, get(st, "xdp"), "xdp", "Admission verdicts (XDP)",
		      "counted by the XDP program since it was attached (a pinned program's counts "
		      "outlive linegate's restarts: they are not this run's); its drops never reach "
		      "a worker, so they are not among the drops above");
	verdict_table(f, get(st, "admission"), "admission", "Admission verdicts (user space)",
		      "counted by the backend's own admission since linegate started; its drops "
		      "never reach a worker, so they are not among the drops above");
	fputs("<p class=\"muted\">Also as <a href=\"status.json\">status.json"
	      "</a>, <a href=\"metrics\">metrics</a>, <a href=\"healthz\">healthz</a>, "
	      "<a href=\"readyz\">readyz</a>.</p>\n</body></html>\n", f);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* "HOST:PORT", "[V6]:PORT" or "PORT" (127.0.0.1). */
int lg_http_parse_addr(const char *addr, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[64] = "127.0.0.1";
	const char *colon = strrchr(addr, ':'), *ps = colon ? colon + 1 : addr;
	char *end;
	long port;

	if (colon) {
		const char *h0 = addr, *h1 = colon;

		if (*h0 == '[' && h1 > h0 && h1[-1] == ']') {
			h0++;
			h1--;
		}
		if ((size_t)(h1 - h0) >= sizeof(host) || h1 == h0) {
			snprintf(err, errlen, "'%s' is not HOST:PORT", addr);
			return -EINVAL;
		}
		memcpy(host, h0, h1 - h0);
		host[h1 - h0] = '\0';
	}
	errno = 0;
	port = strtol(ps, &end, 10);
	if (errno || *end || end == ps || port < 1 || port > 65535) {
		snprintf(err, errlen, "'%s': the port is not a number from 1 to 65535", addr);
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	if (strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1)
			return 0;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) == 1)
			return 0;
	}
	snprintf(err, errlen, "'%s': '%s' is not an IPv4 or IPv6 address", addr, host);
	return -EINVAL;
}
