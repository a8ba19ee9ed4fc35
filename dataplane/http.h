/* SPDX-License-Identifier: MIT */
/* The HTTP server's parts (http.c, status.c), shared with their tests and fuzz harness. */
#ifndef LINEGATE_HTTP_H
#define LINEGATE_HTTP_H

#include <json-c/json.h>
#include <stddef.h>
#include <sys/socket.h>

struct lg_dp;
struct lg_http;

/* /healthz: what keeps the process from making progress (a hung worker), one string each. */
void lg_http_health(struct lg_dp *dp, json_object *problems);
/* /readyz: the health problems and every reason it cannot take the line's traffic. */
void lg_http_ready(struct lg_dp *dp, json_object *reasons);
/* /status.json: lg_dp_stats_json()'s object plus health, readiness, drop reasons with
 * their descriptions and each device's recent scores ("recent", oldest first). */
json_object *lg_http_status(struct lg_http *h);
/* The status page for a /status.json object (malloc'd HTML, NULL when out of memory),
 * reloading itself every refresh_s seconds (0: never, < 0: every chart step). Every string
 * in it is escaped: names and labels come from the policy and the wire. */
char *lg_http_status_html(json_object *st, int refresh_s);
/* s escaped for HTML text and attribute values into out (always terminated); returns
 * the length it needed, as snprintf does. */
size_t lg_html_escape(char *out, size_t cap, const char *s);
/* The server's address: "HOST:PORT", "[IPV6]:PORT" or "PORT" (127.0.0.1); 0, or -EINVAL
 * with err saying why. */
int lg_http_parse_addr(const char *addr, struct sockaddr_storage *ss, char *err, size_t errlen);

#endif
