// SPDX-License-Identifier: MIT
#include "ctlproto.h"

#include <linegate/policy.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int lg_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= n;
	}
	return 0;
}

/* send() with MSG_NOSIGNAL: a peer that went away is an error, not a SIGPIPE. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Read exactly len bytes; returns how many arrived before EOF, or a negative errno. */
static ssize_t read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int lg_read_fd(int fd, size_t max, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			char *nb = cap < max ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				free(buf);
				/* "File too large", not "Argument list too long" (E2BIG). */
				return cap < max ? -ENOMEM : -EFBIG;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int ret = -errno;

			free(buf);
			return ret;
		}
		if (!n)
			break;
		len += n;
	}
	buf[len] = '\0';
	*out = buf;
	if (outlen)
		*outlen = len;
	return 0;
}

int lg_read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = lg_read_fd(fd, 64u << 20, out, len);
	close(fd);
	return ret;
}

int lg_write_file_atomic(const char *path, const char *buf, size_t len, int mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, dfd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp) ||
	    snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	/* A fresh name (O_EXCL, 0600 until the fchmod): never a file someone laid out. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = lg_write_all(fd, buf, len);
	if (!ret && fchmod(fd, (mode_t)mode))
		ret = -errno;
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return ret;
	}
	/* The rename is durable only once the folder's entry is. */
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	ret = fsync(dfd) ? -errno : 0;
	close(dfd);
	return ret;
}

int lg_ctl_frame(const char *body, size_t len, char **out, size_t *outlen)
{
	char *b;

	if (len > UINT32_MAX)
		return -EMSGSIZE;
	b = malloc(len + LG_CTL_HDR_LEN);
	if (!b)
		return -ENOMEM;
	b[0] = (char)(len >> 24);
	b[1] = (char)(len >> 16);
	b[2] = (char)(len >> 8);
	b[3] = (char)len;
	if (len)
		memcpy(b + LG_CTL_HDR_LEN, body, len);
	*out = b;
	*outlen = len + LG_CTL_HDR_LEN;
	return 0;
}

static uint32_t hdr_len(const char *h)
{
	const unsigned char *u = (const unsigned char *)h;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

int lg_ctl_unframe(const char *buf, size_t len, size_t max, const char **body,
		   size_t *body_len)
{
	uint32_t n;

	if (len < LG_CTL_HDR_LEN)
		return -EBADMSG;
	n = hdr_len(buf);
	if (n > max)
		return -EMSGSIZE;
	if (len - LG_CTL_HDR_LEN < n)
		return -EBADMSG;
	*body = buf + LG_CTL_HDR_LEN;
	*body_len = n;
	return 0;
}

/* The keys of valid JSON text: the strings a ':' follows (white space between). */
static size_t keys_in_text(const char *t, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (t[i] != '"')
			continue;
		for (i++; i < len && t[i] != '"'; i++)
			if (t[i] == '\\')
				i++;
		for (size_t j = i + 1; j < len; j++) {
			if (t[j] == ':')
				n++;
			if (!strchr(" \t\r\n", t[j]) || !t[j])
				break;
		}
	}
	return n;
}

/* The keys of every object in a parsed tree (equal keys were folded into one). */
static size_t keys_in_tree(json_object *o)
{
	size_t n = 0;

	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			(void)k;
			n += 1 + keys_in_tree(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			n += keys_in_tree(json_object_array_get_idx(o, i));
	}
	return n;
}

/*
 * NUL characters (\u0000) in strings: C reads such a string cut there, so that
 * {"cmd":"status\u0000; apply"} ran status (trial J, s21). The escapes in valid JSON text (a
 * backslash run of odd length; outside strings JSON has no backslash), keys' and values'.
 */
static size_t nuls_in_text(const char *t, size_t len)
{
	size_t count = 0;

	for (size_t i = 0; i < len; i++) {
		size_t n = 0;

		if (t[i] != '\\')
			continue;
		while (i + n < len && t[i + n] == '\\')
			n++;
		if (n % 2 && len - (i + n) >= 5 && !memcmp(t + i + n, "u0000", 5))
			count++;
		i += n - 1;
	}
	return count;
}

/* The NULs in the tree's string values; those of the top-level "policy" (a policy's text,
 * read with its length: the policy parser refuses a NUL with its line and column) apart. */
static size_t nuls_in_tree(json_object *o, bool top, size_t *in_policy)
{
	size_t n = 0;

	if (json_object_is_type(o, json_type_string)) {
		const char *s = json_object_get_string(o);
		size_t len = (size_t)json_object_get_string_len(o);

		for (const char *z = memchr(s, 0, len); z; z = memchr(z + 1, 0, len - (z + 1 - s)))
			n++;
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			size_t m = nuls_in_tree(v, false, in_policy);

			if (top && !strcmp(k, "policy") && json_object_is_type(v, json_type_string))
				*in_policy += m;
			n += m;
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			n += nuls_in_tree(json_object_array_get_idx(o, i), false, in_policy);
	}
	return n;
}

json_object *lg_ctl_parse_object(const char *body, size_t len, char *err, size_t errlen)
{
	json_tokener *tok;
	json_object *o;

	if (len > INT_MAX) {
		snprintf(err, errlen, "message too long");
		return NULL;
	}
	tok = json_tokener_new();
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (!o) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		snprintf(err, errlen, "not JSON: %s at byte %zu",
			 e == json_tokener_continue ? "no complete object" : json_tokener_error_desc(e),
			 json_tokener_get_parse_end(tok));
	} else if ((size_t)json_tokener_get_parse_end(tok) != len) {
		/* One object, nothing after it but white space. */
		size_t i = json_tokener_get_parse_end(tok);

		while (i < len && strchr(" \t\r\n", body[i]) && body[i])
			i++;
		if (i != len) {
			snprintf(err, errlen, "bytes after the JSON object (at byte %zu)", i);
			json_object_put(o);
			o = NULL;
		}
	}
	if (o && !json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "not a JSON object");
		json_object_put(o);
		o = NULL;
	}
	/* json-c keeps the last of two equal keys: {"cmd":"status","cmd":"apply"} would apply.
	 * A key given twice anywhere is refused, as the policy parser refuses one. */
	if (o && keys_in_text(body, len) != keys_in_tree(o)) {
		snprintf(err, errlen, "a key is given twice in one object");
		json_object_put(o);
		o = NULL;
	}
	if (o) {
		size_t in_policy = 0, in_values = nuls_in_tree(o, true, &in_policy);

		/* more in the text than in values: a key held one (json-c cut it there) */
		if (nuls_in_text(body, len) > in_values || in_values > in_policy) {
			snprintf(err, errlen, "a string holds a NUL character (\\u0000): refused "
				 "whole, as it would be read cut short");
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}

static int unix_addr(const char *path, struct sockaddr_un *a)
{
	if (strlen(path) >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	strcpy(a->sun_path, path);
	return 0;
}

bool lg_ctl_in_use(const char *path)
{
	struct sockaddr_un a;
	int fd;
	bool used;

	if (unix_addr(path, &a))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	used = !connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return used;
}

int lg_ctl_listen(const char *path, int mode, gid_t gid)
{
	struct sockaddr_un a;
	int fd, ret = unix_addr(path, &a);

	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	/* A socket someone still listens on is that process's, not a stale file: taking it
	 * left the other one running unreachable, and its exit removed ours (trial R, s23:
	 * two linegated on one socket after a restart that overlapped the stop). */
	if (lg_ctl_in_use(path))
		return -EADDRINUSE;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	/* The mode from the start (umask), and the group set without following a link: a
	 * folder someone else may write (the service user's runtime folder, where root makes
	 * linegate's socket) must not let a link swapped in after bind() turn a chmod or chown
	 * of root's onto another file. */
	{
		mode_t old = umask(~(mode_t)mode & 0777);

		ret = bind(fd, (struct sockaddr *)&a, sizeof(a));
		umask(old);
	}
	if (ret || (gid != (gid_t)-1 &&
		    fchownat(AT_FDCWD, path, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW)) ||
	    listen(fd, 16)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Read one framed message from fd: header, then at most max body bytes. */
static int recv_frame(int fd, size_t max, char **out, size_t *outlen, char *err, size_t errlen)
{
	char h[LG_CTL_HDR_LEN], *b;
	ssize_t n = read_full(fd, h, sizeof(h));
	uint32_t len;

	if (n < 0) {
		snprintf(err, errlen, "reading: %s", strerror((int)-n));
		return (int)n;
	}
	if (n < LG_CTL_HDR_LEN) {
		snprintf(err, errlen, n ? "message cut off in its length header" :
			 "connection closed without a message");
		return n ? -EBADMSG : -ECONNRESET;
	}
	len = hdr_len(h);
	if (len > max) {
		snprintf(err, errlen, "message of %u bytes is over the limit of %zu bytes", len,
			 max);
		return -EMSGSIZE;
	}
	b = malloc((size_t)len + 1);
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = read_full(fd, b, len);
	if (n < 0 || (size_t)n < len) {
		if (n < 0)
			snprintf(err, errlen, "reading: %s", strerror((int)-n));
		else
			snprintf(err, errlen, "message cut off after %zd of %u bytes", n, len);
		free(b);
		return n < 0 ? (int)n : -EBADMSG;
	}
	b[len] = '\0';
	*out = b;
	*outlen = len;
	return 0;
}

static int send_frame(int fd, const char *body, size_t len)
{
	char *f;
	size_t flen;
	int ret = lg_ctl_frame(body, len, &f, &flen);

	if (ret)
		return ret;
	ret = send_all(fd, f, flen);
	free(f);
	return ret;
}

/* "30 s", "2 s", "500 ms": a timeout as a message says it. */
static const char *timeout_str(int ms, char *buf, size_t len)
{
	if (ms % 1000)
		snprintf(buf, len, "%d ms", ms);
	else
		snprintf(buf, len, "%d s", ms / 1000);
	return buf;
}

static int call_raw(const char *path, const char *body, size_t len, int timeout_ms,
		    char **reply, size_t *reply_len, char *err, size_t errlen)
{
	struct sockaddr_un a;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	char why[256], ts[32];
	int fd, ret = unix_addr(path, &a), sret;

	if (ret) {
		snprintf(err, errlen, "%s: socket path too long", path);
		return ret;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "socket: %s", strerror(-ret));
		return ret;
	}
	/* A server that stopped answering is an error, not a hang of the client (linegated
	 * waiting on a stuck data plane would stop serving everyone). Set before connect: a
	 * stopped server's full backlog blocks connect() for as long as SO_SNDTIMEO says. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	timeout_str(timeout_ms, ts, sizeof(ts));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		ret = -errno;
		if (ret == -EAGAIN || ret == -EINPROGRESS)
			snprintf(err, errlen, "%s: the server took no connection within %s (its "
				 "backlog is full: it does not answer)", path, ts);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	/* A server that refuses us (peer check, size) replies and closes before it has read
	 * everything: the send then fails, but its reply is still there to read. */
	sret = send_frame(fd, body, len);
	shutdown(fd, SHUT_WR);
	ret = recv_frame(fd, LG_CTL_MAX_REPLY, reply, reply_len, why, sizeof(why));
	if (ret) {
		if (sret == -EAGAIN)
			snprintf(err, errlen, "%s: the server took no more of the request for %s",
				 path, ts);
		else if (sret)
			snprintf(err, errlen, "%s: the server closed the connection while the "
				 "request was sent (%s) and did not reply", path, strerror(-sret));
		else if (ret == -EAGAIN)
			snprintf(err, errlen, "%s: no reply within %s", path, ts);
		else
			snprintf(err, errlen, "%s: no reply: %s", path, why);
	}
out:
	close(fd);
	return ret;
}

int lg_ctl_call_raw(const char *path, const char *body, size_t len, char **reply,
		    size_t *reply_len, char *err, size_t errlen)
{
	return call_raw(path, body, len, LG_CTL_TIMEOUT_S * 1000, reply, reply_len, err, errlen);
}

int lg_ctl_request(const char *path, json_object *req, json_object **reply, char *err,
		   size_t errlen)
{
	return lg_ctl_request_timeout(path, req, LG_CTL_TIMEOUT_S * 1000, reply, err, errlen);
}

/* CLOCK_MONOTONIC in ms: one clock for every process of this machine (unix sockets). */
static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int lg_ctl_request_timeout(const char *path, json_object *req, int timeout_ms,
			   json_object **reply, char *err, size_t errlen)
{
	size_t len, rlen;
	const char *text;
	char *r = NULL, why[256];
	int ret;

	/* The server starts no change later than a second before this client gives up: a
	 * change it reports as failed by timeout does not happen afterwards. */
	if (!json_object_object_get_ex(req, "deadline_ms", NULL))
		json_object_object_add(req, "deadline_ms",
				       json_object_new_int64(mono_ms() + timeout_ms -
							     (timeout_ms > 2000 ? 1000 : 0)));
	text = json_object_to_json_string_length(req, JSON_C_TO_STRING_PLAIN, &len);

	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = call_raw(path, text, len, timeout_ms, &r, &rlen, err, errlen);
	if (ret)
		return ret;
	*reply = lg_ctl_parse_object(r, rlen, why, sizeof(why));
	free(r);
	if (!*reply) {
		snprintf(err, errlen, "%s: the reply is %s", path, why);
		return -EPROTO;
	}
	return 0;
}

int lg_ctl_group(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[16384], *end;
	unsigned long n;

	if (!getgrnam_r(name, &gr, buf, sizeof(buf), &res) && res) {
		*gid = res->gr_gid;
		return 0;
	}
	errno = 0;
	n = strtoul(name, &end, 10);
	if (name[0] >= '0' && name[0] <= '9' && !*end && !errno && n < (gid_t)-1) {
		*gid = (gid_t)n;
		return 0;
	}
	return -ENOENT;
}

bool lg_ctl_peer_allowed(const struct lg_ctl_server *s, const struct lg_ctl_peer *p,
			 const gid_t *groups, size_t ngroups)
{
	if (p->uid == 0 || p->uid == s->own_uid)
		return true;
	if (!s->has_group)
		return false;
	if (p->gid == s->group)
		return true;
	for (size_t i = 0; i < ngroups; i++)
		if (groups[i] == s->group)
			return true;
	return false;
}

/* A reply's sentence with any key-sized run of hex digits hidden (lg_redact_secrets): a
 * request may carry a key where a name, a command or a path belongs, and handlers quote. */
static json_object *redacted_string(const char *s)
{
	char *t = strdup(s);
	json_object *o;

	if (!t)
		return json_object_new_string("");
	lg_redact_secrets(t);
	o = json_object_new_string(t);
	free(t);
	return o;
}

/*
 * Every string a reply carries, at any depth, with key-sized runs of hex digits hidden: a
 * request's name, path or field may hold a key and later come back in a list (history's
 * "source"). Hashes travel in fields named *sha256* or *digest* (a model's data_digest, the
 * SHA-256 of its training data) and keep their digits.
 */
static void redact_json(json_object *o)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			json_object *v = json_object_array_get_idx(o, i);

			if (json_object_is_type(v, json_type_string))
				json_object_array_put_idx(o, i,
							  redacted_string(json_object_get_string(v)));
			else
				redact_json(v);
		}
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			if (strstr(k, "sha256") || strstr(k, "digest"))
				continue;
			if (json_object_is_type(v, json_type_string)) {
				if (lg_hex_run(json_object_get_string(v)) >= LG_SECRET_HEX_RUN)
					json_object_object_add(o, k, redacted_string(
									     json_object_get_string(v)));
			} else {
				redact_json(v);
			}
		}
	}
}

static json_object *reply_error(const char *why)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(0));
	json_object_object_add(r, "error", redacted_string(why));
	return r;
}

static int help_list(const struct lg_ctl_server *s, json_object *reply)
{
	json_object *a = json_object_new_array();

	for (const struct lg_ctl_cmd *c = s->cmds; c->name; c++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "cmd", json_object_new_string(c->name));
		json_object_object_add(o, "help", json_object_new_string(c->help));
		json_object_object_add(o, "changes_state",
				       json_object_new_boolean(c->changes_state));
		json_object_array_add(a, o);
	}
	json_object_object_add(reply, "commands", a);
	return 0;
}

json_object *lg_ctl_dispatch(const struct lg_ctl_server *s, const struct lg_ctl_peer *peer,
			     const char *body, size_t len)
{
	char err[1024] = "", names[512] = "";
	json_object *req = lg_ctl_parse_object(body, len, err, sizeof(err)), *reply, *v;
	const struct lg_ctl_cmd *c;
	const char *cmd;
	int ret;

	if (!req) {
		char why[1100];

		snprintf(why, sizeof(why), "request refused: %s", err);
		return reply_error(why);
	}
	/* A cmd of the wrong JSON type counts as missing. */
	cmd = json_object_object_get_ex(req, "cmd", &v) &&
			      json_object_is_type(v, json_type_string) ?
		      json_object_get_string(v) :
		      NULL;
	if (!cmd) {
		json_object_put(req);
		return reply_error("request refused: no \"cmd\" string");
	}
	reply = json_object_new_object();
	if (!strcmp(cmd, "help")) {
		help_list(s, reply);
		json_object_object_add(reply, "ok", json_object_new_boolean(1));
		json_object_put(req);
		return reply;
	}
	for (c = s->cmds; c->name && strcmp(c->name, cmd); c++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			 names[0] ? ", " : "", c->name);
	if (!c->name) {
		/* The loop went through the whole table: names lists every command. */
		json_object_put(reply);
		snprintf(err, sizeof(err), "unknown cmd '%.100s' (%s, help)", cmd, names);
		json_object_put(req);
		return reply_error(err);
	}
	/*
	 * A client that has given up (its "deadline_ms", CLOCK_MONOTONIC) must not see its change
	 * happen afterwards: a server that was stopped or busy refuses a stale change whole.
	 */
	if (json_object_object_get_ex(req, "deadline_ms", &v) &&
	    !json_object_is_type(v, json_type_int)) {
		json_object_put(reply);
		json_object_put(req);
		return reply_error("request refused: \"deadline_ms\" must be a whole number (ms "
				   "of CLOCK_MONOTONIC)");
	}
	if (c->changes_state && json_object_object_get_ex(req, "deadline_ms", &v) &&
	    mono_ms() > json_object_get_int64(v)) {
		json_object_put(reply);
		json_object_put(req);
		return reply_error("request refused: its client had stopped waiting for it (the "
				   "server was stopped or busy): nothing was done");
	}
	ret = c->handler(s->ctx, &(struct lg_ctl_call){
					 .req = req, .peer = peer, .reply = reply,
					 .err = err, .errlen = sizeof(err) });
	json_object_object_add(reply, "ok", json_object_new_boolean(!ret));
	if (ret)
		json_object_object_add(reply, "error", redacted_string(err[0] ? err : strerror(-ret)));
	redact_json(reply);
	json_object_put(req);
	return reply;
}

static int send_reply(int fd, json_object *reply)
{
	size_t len;
	const char *text = json_object_to_json_string_length(reply, JSON_C_TO_STRING_PLAIN, &len);

	return text ? send_frame(fd, text, len) : -ENOMEM;
}

int lg_ctl_serve(const struct lg_ctl_server *s, int fd)
{
	struct lg_ctl_peer peer = { 0 };
	struct ucred cred;
	socklen_t clen = sizeof(cred), glen;
	gid_t groups[256];
	char *body = NULL, err[256], why[300];
	size_t len, max = s->max_request ? s->max_request : LG_CTL_MAX_REQUEST;
	json_object *reply;
	int ret;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen)) {
		reply = reply_error("no peer credentials");
		goto send;
	}
	peer.uid = cred.uid;
	peer.gid = cred.gid;
	peer.pid = cred.pid;
	snprintf(peer.name, sizeof(peer.name), "uid=%u pid=%d", (unsigned)cred.uid, (int)cred.pid);
	glen = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen))
		glen = 0; /* more than 256 groups, or an old kernel: the primary one counts */
	if (!lg_ctl_peer_allowed(s, &peer, groups, glen / sizeof(gid_t))) {
		if (s->denied)
			s->denied(s->ctx, &peer, "permission denied");
		reply = reply_error("permission denied");
		goto send;
	}
	ret = recv_frame(fd, max, &body, &len, err, sizeof(err));
	if (ret) {
		snprintf(why, sizeof(why), "request refused whole: %s", err);
		reply = reply_error(why);
		goto send;
	}
	reply = lg_ctl_dispatch(s, &peer, body, len);
	free(body);
send:
	if (!reply)
		return -ENOMEM;
	ret = send_reply(fd, reply);
	json_object_put(reply);
	return ret;
}

void lg_ctl_unlink_if(const char *path, const struct stat *made)
{
	struct stat now;

	/* still the file this process bound, not one a later process made (its own socket) */
	if (made && made->st_ino && !stat(path, &now) && now.st_ino == made->st_ino &&
	    now.st_dev == made->st_dev)
		unlink(path);
}
