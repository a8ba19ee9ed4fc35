// SPDX-License-Identifier: MIT
/*
 * The control protocol (control/ctlproto.h): framing, the one-object rule, the peer rule, the
 * dispatcher, lg_ctl_serve() on a real socket (a cut-off request refused whole, its handler
 * never called), the client against a server that closes early (an error, not SIGPIPE), and
 * atomic file writes.
 */
#include "ctlproto.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_ctlproto [-h]\n"
	"\n"
	"Unit tests of the control protocol both control sockets speak.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_ctlproto: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

static int echo_calls;

static int h_echo(void *ctx, struct lg_ctl_call *c)
{
	(void)ctx;
	echo_calls++;
	json_object_object_add(c->reply, "peer", json_object_new_string(c->peer->name));
	return 0;
}

static int h_fail(void *ctx, struct lg_ctl_call *c)
{
	(void)ctx;
	snprintf(c->err, c->errlen, "refused: because");
	return -EINVAL;
}

static int h_silent(void *ctx, struct lg_ctl_call *c)
{
	(void)ctx;
	(void)c;
	return -EPERM;
}

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A reply with hashes (shown) beside a key-sized run where a name belongs (hidden). */
static int h_hashes(void *ctx, struct lg_ctl_call *c)
{
	json_object *m = json_object_new_object();

	(void)ctx;
	json_object_object_add(m, "data_digest", json_object_new_string(HEX64));
	json_object_object_add(m, "model_sha256", json_object_new_string(HEX64));
	json_object_object_add(m, "reason", json_object_new_string("trained on " HEX64));
	json_object_object_add(c->reply, "evaluation", m);
	return 0;
}

static const struct lg_ctl_cmd hash_cmds[] = {
	{ "hashes", h_hashes, "hashes and a key-sized name", false },
	{ NULL },
};

static const struct lg_ctl_cmd cmds[] = {
	{ "echo", h_echo, "echo the peer", false },
	{ "fail", h_fail, "fail with a reason", true },
	{ "silent", h_silent, "fail without one", true },
	{ NULL },
};

static const char *str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int ok(json_object *o)
{
	json_object *v;

	return json_object_object_get_ex(o, "ok", &v) && json_object_get_boolean(v);
}

static void test_framing(void)
{
	char *f;
	size_t flen, blen;
	const char *body;
	char err[128];
	json_object *o;

	CHECK_EQ(lg_ctl_frame("{}", 2, &f, &flen), 0);
	CHECK_EQ(flen, 6);
	CHECK(!memcmp(f, "\0\0\0\2{}", 6));
	CHECK_EQ(lg_ctl_unframe(f, flen, 16, &body, &blen), 0);
	CHECK(body == f + 4);
	CHECK_EQ(blen, 2);
	CHECK_EQ(lg_ctl_unframe(f, 3, 16, &body, &blen), -EBADMSG); /* cut in the header */
	CHECK_EQ(lg_ctl_unframe(f, 5, 16, &body, &blen), -EBADMSG); /* cut in the body */
	CHECK_EQ(lg_ctl_unframe(f, flen, 1, &body, &blen), -EMSGSIZE);
	free(f);

	o = lg_ctl_parse_object("{\"a\":1} \n", 9, err, sizeof(err));
	CHECK(o != NULL);
	json_object_put(o);
	CHECK(!lg_ctl_parse_object("[1]", 3, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, "not a JSON object");
	CHECK(!lg_ctl_parse_object("{\"a\":1} {}", 10, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, "bytes after the JSON object (at byte 8)");
	CHECK(!lg_ctl_parse_object("{\"a\":", 5, err, sizeof(err)));
	CHECK_STR_CONTAINS(err, "no complete object");
	CHECK(!lg_ctl_parse_object("{\"a\":1}\0", 8, err, sizeof(err)));
	/* A NUL in a string would be read cut there: "status\u0000; apply" ran status (trial J,
	 * s21). Refused in a value and in a key; the policy text's own NUL is left to the policy
	 * parser, which names its line and column. */
	{
		static const char *const bad[] = {
			"{\"cmd\":\"status\\u0000; apply\"}",
			"{\"cmd\":\"apply\",\"name\":[\"x\\u0000y\"]}",
			"{\"cmd\\u0000x\":\"status\"}",
			"{\"cmd\":\"x\",\"o\":{\"policy\":\"a\\u0000\"}}",
		};
		static const char *const good[] = {
			"{\"cmd\":\"apply\",\"policy\":\"version: 1\\n#\\u0000\\n\"}",
			"{\"cmd\":\"a\\\\u0000\"}", /* an escaped backslash, then "u0000" */
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			err[0] = 0;
			o = lg_ctl_parse_object(bad[i], strlen(bad[i]), err, sizeof(err));
			CHECK(!o);
			CHECK_STR_CONTAINS(err, "a string holds a NUL character");
			json_object_put(o);
		}
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			o = lg_ctl_parse_object(good[i], strlen(good[i]), err, sizeof(err));
			CHECK(o != NULL);
			json_object_put(o);
		}
	}
}

static void test_peers(void)
{
	struct lg_ctl_server s = { .cmds = cmds, .own_uid = 1000, .group = 2000 };
	struct lg_ctl_peer root = { .uid = 0, .gid = 5 }, own = { .uid = 1000, .gid = 5 },
			   other = { .uid = 1234, .gid = 5 }, prim = { .uid = 1234, .gid = 2000 };
	gid_t sup[2] = { 7, 2000 };

	CHECK(lg_ctl_peer_allowed(&s, &root, NULL, 0));
	CHECK(lg_ctl_peer_allowed(&s, &own, NULL, 0));
	CHECK(!lg_ctl_peer_allowed(&s, &other, NULL, 0));
	CHECK(!lg_ctl_peer_allowed(&s, &prim, NULL, 0));   /* no --group: groups do not count */
	CHECK(!lg_ctl_peer_allowed(&s, &other, sup, 2));
	s.has_group = true;
	CHECK(lg_ctl_peer_allowed(&s, &prim, NULL, 0));
	CHECK(lg_ctl_peer_allowed(&s, &other, sup, 2));
	CHECK(!lg_ctl_peer_allowed(&s, &other, sup, 1));
}

static void test_dispatch(void)
{
	struct lg_ctl_server s = { .cmds = cmds };
	struct lg_ctl_peer p = { .name = "uid=0 pid=1" };
	json_object *r, *v;

	echo_calls = 0;
	r = lg_ctl_dispatch(&s, &p, "{\"cmd\":\"echo\"}", 14);
	CHECK(ok(r));
	CHECK(!strcmp(str(r, "peer"), "uid=0 pid=1"));
	json_object_put(r);
	r = lg_ctl_dispatch(&s, &p, "{\"cmd\":\"fail\"}", 14);
	CHECK(!ok(r));
	CHECK(!strcmp(str(r, "error"), "refused: because"));
	json_object_put(r);
	r = lg_ctl_dispatch(&s, &p, "{\"cmd\":\"silent\"}", 16);
	CHECK(!strcmp(str(r, "error"), strerror(EPERM)));
	json_object_put(r);
	r = lg_ctl_dispatch(&s, &p, "{\"cmd\":\"nope\"}", 14);
	CHECK(!strcmp(str(r, "error"), "unknown cmd 'nope' (echo, fail, silent, help)"));
	json_object_put(r);
	r = lg_ctl_dispatch(&s, &p, "{\"cmd\":null}", 12);
	CHECK(!strcmp(str(r, "error"), "request refused: no \"cmd\" string"));
	json_object_put(r);
	r = lg_ctl_dispatch(&s, &p, "{\"cmd\":\"help\"}", 14);
	CHECK(ok(r));
	CHECK(json_object_object_get_ex(r, "commands", &v) && json_object_array_length(v) == 3);
	CHECK(json_object_get_boolean(json_object_object_get(json_object_array_get_idx(v, 1),
							     "changes_state")));
	json_object_put(r);
	CHECK_EQ(echo_calls, 1);
	/* A change whose client stopped waiting (deadline_ms passed) is refused whole, its
	 * handler never run; one still awaited runs; a read runs whatever the deadline. */
	r = lg_ctl_dispatch(&s, &p, "{\"cmd\":\"fail\",\"deadline_ms\":1}", 30);
	CHECK(!ok(r));
	CHECK(!strcmp(str(r, "error"), "request refused: its client had stopped waiting for it "
		      "(the server was stopped or busy): nothing was done"));
	json_object_put(r);
	{
		struct timespec t;
		char req[96];
		int n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		n = snprintf(req, sizeof(req), "{\"cmd\":\"fail\",\"deadline_ms\":%lld}",
			     (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000 + 60000);
		r = lg_ctl_dispatch(&s, &p, req, (size_t)n);
		CHECK(!strcmp(str(r, "error"), "refused: because")); /* the handler ran */
		json_object_put(r);
	}
	r = lg_ctl_dispatch(&s, &p, "{\"cmd\":\"echo\",\"deadline_ms\":1}", 30);
	CHECK(ok(r));
	json_object_put(r);
	CHECK_EQ(echo_calls, 2);
	/* a deadline that is not a number is refused, not ignored */
	r = lg_ctl_dispatch(&s, &p, "{\"cmd\":\"fail\",\"deadline_ms\":\"soon\"}", 35);
	CHECK(!ok(r) && !strcmp(str(r, "error"), "request refused: \"deadline_ms\" must be a whole "
						 "number (ms of CLOCK_MONOTONIC)"));
	json_object_put(r);
	/* A key given twice is refused (json-c would keep the last: a status that applies). */
	{
		static const char *const twice[] = {
			"{\"cmd\":\"echo\",\"cmd\":\"fail\"}",
			"{\"cmd\":\"echo\",\"x\":[{\"a\":1,\"a\" : 2}]}",
		};
		static const char ok_text[] = "{\"cmd\":\"echo\",\"s\":\"a\\\":b\",\"t\":\"c:\",\"u\":{\"a\":1}}";

		for (size_t k = 0; k < 2; k++) {
			r = lg_ctl_dispatch(&s, &p, twice[k], strlen(twice[k]));
			CHECK(!ok(r) && !strcmp(str(r, "error"), "request refused: a key is given "
						       "twice in one object"));
			json_object_put(r);
		}
		r = lg_ctl_dispatch(&s, &p, ok_text, strlen(ok_text));
		CHECK(ok(r)); /* colons and escaped quotes inside strings are not keys */
		json_object_put(r);
		CHECK_EQ(echo_calls, 3);
	}
}

/* lg_ctl_serve() on one end of a socketpair, a client's bytes on the other. */
static json_object *serve_table(const struct lg_ctl_cmd *table, const char *data, size_t len)
{
	struct lg_ctl_server s = { .cmds = table, .own_uid = getuid() };
	char *reply;
	size_t rlen;
	const char *body;
	size_t blen;
	json_object *o = NULL;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return NULL;
	if (lg_write_all(sv[0], data, len) == 0)
		shutdown(sv[0], SHUT_WR);
	lg_ctl_serve(&s, sv[1]);
	close(sv[1]);
	/* Until EOF, or ECONNRESET: a server that left bytes unread resets after its reply. */
	reply = malloc(1 << 16);
	rlen = 0;
	for (ssize_t n; (n = read(sv[0], reply + rlen, (1 << 16) - rlen)) > 0;)
		rlen += (size_t)n;
	if (!lg_ctl_unframe(reply, rlen, 1 << 16, &body, &blen) && blen == rlen - 4)
		o = lg_ctl_parse_object(body, blen, (char[64]){ 0 }, 64);
	free(reply);
	close(sv[0]);
	return o;
}

static json_object *serve_bytes(const char *data, size_t len)
{
	return serve_table(cmds, data, len);
}

static void test_serve(void)
{
	json_object *r;
	char *f;
	size_t flen;

	echo_calls = 0;
	lg_ctl_frame("{\"cmd\":\"echo\"}", 14, &f, &flen);
	r = serve_bytes(f, flen);
	CHECK(r && ok(r));
	json_object_put(r);
	/* The length says 14, the bytes stop after 7: refused whole, the handler not called. */
	r = serve_bytes(f, 11);
	CHECK(r && !ok(r));
	CHECK(r && !strcmp(str(r, "error"), "request refused whole: message cut off after 7 of "
			   "14 bytes"));
	json_object_put(r);
	free(f);
	r = serve_bytes("\0\0", 2);
	CHECK(r && !strcmp(str(r, "error"), "request refused whole: message cut off in its "
			   "length header"));
	json_object_put(r);
	r = serve_bytes("\1\0\0\1{}", 6);
	CHECK(r && !strcmp(str(r, "error"), "request refused whole: message of 16777217 bytes is "
			   "over the limit of 16777216 bytes"));
	json_object_put(r);
	CHECK_EQ(echo_calls, 1);
	/* A digest is a hash, not a secret: models show prints it (a trial saw "<hidden>"). */
	lg_ctl_frame("{\"cmd\":\"hashes\"}", 16, &f, &flen);
	r = serve_table(hash_cmds, f, flen);
	free(f);
	{
		json_object *ev = NULL;

		CHECK(r && ok(r) && json_object_object_get_ex(r, "evaluation", &ev));
		CHECK_STR(str(ev, "data_digest"), HEX64);
		CHECK_STR(str(ev, "model_sha256"), HEX64);
		CHECK_STR(str(ev, "reason"), "trained on <hidden>");
	}
	json_object_put(r);
}

/* A server that accepts and closes without reading: the client gets an error, not SIGPIPE
 * (this test does not ignore SIGPIPE: a send without MSG_NOSIGNAL would kill it). */
static void *close_early(void *arg)
{
	int c = accept(*(int *)arg, NULL, NULL);

	if (c >= 0)
		close(c);
	return NULL;
}

static void test_client(void)
{
	char path[64], err[512], *big;
	int lfd, ret;
	pthread_t t;
	json_object *req, *reply = NULL;
	size_t n = 4u << 20;

	snprintf(path, sizeof(path), "/tmp/test_ctlproto.%d.sock", (int)getpid());
	lfd = lg_ctl_listen(path, 0600, (gid_t)-1);
	CHECK(lfd >= 0);
	if (lfd < 0)
		return;
	{
		/* the mode is the socket's from bind() on (no chmod after it, which a link
		 * swapped in could redirect) */
		struct stat sb;

		CHECK(!lstat(path, &sb) && S_ISSOCK(sb.st_mode) && (sb.st_mode & 07777) == 0600);
	}
	big = malloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("echo"));
	json_object_object_add(req, "policy", json_object_new_string(big));
	pthread_create(&t, NULL, close_early, &lfd);
	ret = lg_ctl_request(path, req, &reply, err, sizeof(err));
	pthread_join(t, NULL);
	CHECK(ret < 0);
	CHECK(!reply);
	CHECK_STR_CONTAINS(err, path);
	CHECK(strstr(err, "closed") || strstr(err, "no reply"));
	json_object_put(req);
	free(big);
	close(lfd);
	unlink(path);
}

static void test_atomic(void)
{
	char path[64], tmp[96], *text;
	size_t len;
	struct stat st;

	snprintf(path, sizeof(path), "/tmp/test_ctlproto.%d.txt", (int)getpid());
	CHECK_EQ(lg_write_file_atomic(path, "one", 3, 0600), 0);
	CHECK_EQ(lg_write_file_atomic(path, "two!", 4, 0600), 0);
	CHECK_EQ(lg_read_file(path, &text, &len), 0);
	CHECK_EQ(len, 4);
	CHECK(!strcmp(text, "two!"));
	free(text);
	CHECK(!stat(path, &st) && (st.st_mode & 07777) == 0600);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	CHECK(access(tmp, F_OK) && errno == ENOENT);
	unlink(path);
}

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	test_framing();
	test_peers();
	test_dispatch();
	test_serve();
	test_client();
	test_atomic();
	return lgt_done("test_ctlproto");
}
