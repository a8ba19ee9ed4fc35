/* SPDX-License-Identifier: MIT */
/*
 * The control protocol both hops speak (linegatectl -> linegated -> linegate), and the file
 * helpers the control tools share.
 *
 * A message is a 4-byte big-endian length followed by that many bytes of one JSON object.
 * A request is {"cmd": NAME, ...}; a reply is {"ok": true|false, "error": "reason", ...}.
 * One request and one reply per connection. A request whose bytes stop before its length,
 * or that is not one JSON object, is refused whole: no handler ever sees part of one.
 * Servers accept root, their own uid and, when configured, members of one group
 * (SO_PEERCRED, SO_PEERGROUPS); anyone else gets "permission denied".
 */
#ifndef LINEGATE_CTLPROTO_H
#define LINEGATE_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#define LG_CTL_HDR_LEN 4
#define LG_CTL_MAX_REQUEST (16u << 20) /* a policy with 4096 devices fits many times over */
#define LG_CTL_MAX_REPLY (64u << 20)
#define LG_CTL_TIMEOUT_S 30 /* a client waits this long for a server to take or answer */

/* Frame body into a malloc'd header + body. Returns 0 or -EMSGSIZE (over 2^32 - 1). */
int lg_ctl_frame(const char *body, size_t len, char **out, size_t *outlen);
/*
 * Decode one frame at the start of buf (len bytes received, the stream ended there).
 * On success *body points into buf and *body_len is its length. Returns -EMSGSIZE when the
 * announced length is over max, -EBADMSG when the bytes stop before the header or the body
 * ends (a cut-off request).
 */
int lg_ctl_unframe(const char *buf, size_t len, size_t max, const char **body,
		   size_t *body_len);
/* Parse a body as exactly one JSON object (no trailing bytes). NULL when it is not one; err
 * says why. */
json_object *lg_ctl_parse_object(const char *body, size_t len, char *err, size_t errlen);

/* Send one framed message and read the whole framed reply (malloc'd, NUL-terminated).
 * Never raises SIGPIPE; gives up after LG_CTL_TIMEOUT_S without progress. Returns 0 or a
 * negative errno with the reason in err. */
int lg_ctl_call_raw(const char *path, const char *body, size_t len, char **reply,
		    size_t *reply_len, char *err, size_t errlen);
/* Send a JSON request, parse the JSON reply into *reply (an object). Returns 0 when a reply
 * object came back (look at its "ok"), or a negative errno with the reason in err. */
int lg_ctl_request(const char *path, json_object *req, json_object **reply, char *err,
		   size_t errlen);
/* The same with its own timeout (milliseconds, > 0) for connecting, sending and each wait
 * for reply bytes: linegated's periodic look at the data plane must not stall it. */
int lg_ctl_request_timeout(const char *path, json_object *req, int timeout_ms,
			   json_object **reply, char *err, size_t errlen);

/* Who is on the other end of a connection. */
struct lg_ctl_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char name[64]; /* "uid=U pid=P", for logs and the audit */
};

/* What a handler gets: the request object, who sent it, the reply object it adds fields to,
 * and room for the reason of a failure. A handler returns 0 (ok: true) or a negative errno
 * (ok: false, "error": err). */
struct lg_ctl_call {
	json_object *req;
	const struct lg_ctl_peer *peer;
	json_object *reply;
	char *err;
	size_t errlen;
};

struct lg_ctl_cmd {
	const char *name;
	int (*handler)(void *ctx, struct lg_ctl_call *c);
	const char *help;   /* one line */
	bool changes_state; /* applies, swaps, writes: the server may audit these */
};

struct lg_ctl_server {
	const struct lg_ctl_cmd *cmds; /* ends with a { NULL } row */
	void *ctx;
	const char *name;      /* "linegated", "linegate": for messages */
	size_t max_request;    /* 0 = LG_CTL_MAX_REQUEST */
	uid_t own_uid;
	bool has_group;
	gid_t group;           /* --group: its members may connect too */
	/* Called for a refused peer (optional): audit it. */
	void (*denied)(void *ctx, const struct lg_ctl_peer *peer, const char *why);
};

/* Resolve a group name (or number) for --group. */
int lg_ctl_group(const char *name, gid_t *gid);
/* Is this peer allowed: root, the server's uid, or in its group (primary or supplementary:
 * groups/ngroups from SO_PEERGROUPS). */
bool lg_ctl_peer_allowed(const struct lg_ctl_server *s, const struct lg_ctl_peer *p,
			 const gid_t *groups, size_t ngroups);
/* Run one request body (already unframed) through the table: parse, find the command, call
 * it. Returns the reply object (never NULL unless out of memory). */
json_object *lg_ctl_dispatch(const struct lg_ctl_server *s, const struct lg_ctl_peer *peer,
			     const char *body, size_t len);
/* Serve one accepted connection: peer check, read one framed request (bounded; a cut-off or
 * oversized one is refused whole), dispatch, write the framed reply. Returns 0 or a negative
 * errno (the connection is the caller's to close). */
int lg_ctl_serve(const struct lg_ctl_server *s, int fd);

/* Listen on a Unix stream socket at path (replacing a stale one) with file mode and, when
 * gid is not (gid_t)-1, that group. Returns the socket or a negative errno: -EADDRINUSE when
 * another process listens on path (its socket is not taken). */
int lg_ctl_listen(const char *path, int mode, gid_t gid);
/* Whether a process listens on the Unix socket at path (a connect succeeds). */
bool lg_ctl_in_use(const char *path);
/* Remove path at exit only if it is still the file made (stat() right after
 * lg_ctl_listen()): a later process's socket of that name stays. */
struct stat;
void lg_ctl_unlink_if(const char *path, const struct stat *made);

/* Read a file whole (malloc'd, NUL-terminated). */
int lg_read_file(const char *path, char **out, size_t *len);
/* Read until EOF from fd (malloc'd, NUL-terminated), at most max bytes. */
int lg_read_fd(int fd, size_t max, char **out, size_t *len);
int lg_write_all(int fd, const char *buf, size_t len);
/* Write a file atomically: a temp file beside it, fsync, rename over path, fsync the folder.
 * Returns 0 or a negative errno. */
int lg_write_file_atomic(const char *path, const char *buf, size_t len, int mode);

#endif
