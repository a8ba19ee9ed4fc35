/* SPDX-License-Identifier: MIT */
/* The shape of a NATS server URL, for every place that reads one (the policy's
 * output.nats.urls, linegated's --fleet-url, linegate-fleet's --url). */
#ifndef LINEGATE_NATS_URL_H
#define LINEGATE_NATS_URL_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * Whether a NATS server URL, its scheme checked by the caller, has the shape
 * SCHEME://[USER:PASSWORD@]HOST[:PORT]: HOST a name, an IPv4 address or an IPv6 one in
 * brackets, PORT 1..65535 (libnats' 4222 without it), nothing after. libnats takes
 * "nats://[::1:4222" and then says only "No server available" (trial K, s21).
 */
static inline bool lg_nats_url_shape_ok(const char *u)
{
	const char *h = strstr(u, "://"), *p;
	char *end;
	unsigned long port;

	if (!h)
		return false;
	h += 3;
	if (strchr(h, '@')) /* user:password@ */
		h = strrchr(h, '@') + 1;
	if (!*h)
		return false;
	if (*h == '[') {
		p = strchr(h, ']');
		if (!p || p == h + 1 || strchr(p + 1, '[') || strchr(p + 1, ']'))
			return false;
		p++;
		if (!*p)
			return true;
		if (*p != ':')
			return false;
	} else {
		if (strpbrk(h, "[]/"))
			return false;
		p = strrchr(h, ':');
		if (!p)
			return true;
		if (p == h || memchr(h, ':', (size_t)(p - h))) /* IPv6 goes in brackets */
			return false;
	}
	if (p[1] < '0' || p[1] > '9')
		return false;
	errno = 0;
	port = strtoul(p + 1, &end, 10);
	return !errno && !*end && port >= 1 && port <= 65535;
}

#endif /* LINEGATE_NATS_URL_H */
