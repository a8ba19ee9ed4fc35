// SPDX-License-Identifier: MIT
/* The HTTP server's small parts: the score keys the status charts' peaks are kept in (the
 * same order as the floats), the address parser, the HTML and Prometheus label escapes. */
#include "../../dataplane/dataplane.h"
#include "../../dataplane/http.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_http\n"
	"\n"
	"Checks the status charts' score keys, the --metrics address parser and the HTML and\n"
	"Prometheus label escapes.\n"
	"\n" LGT_EXIT_STATUS;

static void addr(const char *a, int family, const char *host, unsigned port)
{
	struct sockaddr_storage ss;
	char err[256], got[64] = "";
	int ret = lg_http_parse_addr(a, &ss, err, sizeof(err));

	CHECK_EQ(ret, family ? 0 : -22);
	if (!family) {
		CHECK(strstr(err, a) != NULL);
		return;
	}
	CHECK_EQ(ss.ss_family, family);
	if (family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, got, sizeof(got));
		CHECK_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), port);
	} else {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, got, sizeof(got));
		CHECK_EQ(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), port);
	}
	CHECK(!strcmp(got, host));
}

int main(int argc, char **argv)
{
	static const float v[] = { -INFINITY, -3e38f, -2.5f, -1e-30f, -0.0f, 0.0f, 1e-30f, 0.5f,
				   1.0f, 49.98f, 3e38f, INFINITY };
	char out[64];

	lgt_cli(argc, argv, usage, 0, 0);
	/* keys: ordered as the scores, never 0 (0 is "none"), and back to the same float */
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK(lg_score_key(v[i]) != 0);
		CHECK(!memcmp(&(float){ lg_score_from_key(lg_score_key(v[i])) }, &v[i], 4));
		if (i)
			CHECK(lg_score_key(v[i - 1]) < lg_score_key(v[i]) ||
			      (v[i - 1] == 0 && v[i] == 0));
	}

	addr("9477", AF_INET, "127.0.0.1", 9477);
	addr("0.0.0.0:80", AF_INET, "0.0.0.0", 80);
	addr("10.77.0.1:9477", AF_INET, "10.77.0.1", 9477);
	addr("[::1]:9477", AF_INET6, "::1", 9477);
	addr("[fd00::5]:1", AF_INET6, "fd00::5", 1);
	addr("localhost:9477", 0, NULL, 0);   /* a name, not an address */
	addr("127.0.0.1:0", 0, NULL, 0);
	addr("127.0.0.1:65536", 0, NULL, 0);
	addr("127.0.0.1:", 0, NULL, 0);
	addr(":9477", 0, NULL, 0);
	addr("127.0.0.1:94x", 0, NULL, 0);
	addr("[::1:9477", 0, NULL, 0);

	{
		static const char want[] = "&lt;b id=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;";

		CHECK_EQ(lg_html_escape(out, sizeof(out), "<b id=\"x\">'&'</b>"), strlen(want));
		CHECK(!strcmp(out, want));
	}
	CHECK_EQ(lg_html_escape(out, 5, "<<"), 8); /* cut short, terminated, says what it needed */
	CHECK_EQ(strlen(out), 4);

	CHECK_EQ(lg_prom_label_escape(out, sizeof(out), "m\"><x\\y\nz.json"), 17);
	CHECK(!strcmp(out, "m\\\"><x\\\\y\\nz.json"));
	CHECK_EQ(lg_prom_label_escape(out, 3, "a\"b"), 1); /* never half an escape */
	CHECK(!strcmp(out, "a"));
	return lgt_done("test_http");
}
