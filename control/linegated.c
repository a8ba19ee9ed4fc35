// SPDX-License-Identifier: MIT
/*
 * linegated: the control daemon. Owns the policy file, validates it, pushes
 * each new generation to the data plane, serves the admin API on a Unix
 * socket, and writes every change to the audit log.
 */
#include <linegate/policy.h>

#include "ctlproto.h"
#include "policy_edit.h"
#include "registry.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/sha.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"Usage: linegated --policy FILE --socket PATH [options]\n"
	"\n"
	"The linegate control daemon. It validates the policy (errors name file:line:column),\n"
	"applies it to the data plane as one generation, re-applies it when the file changes\n"
	"or on SIGHUP, keeps the last good policy when a new one does not validate, and serves\n"
	"the admin API that linegatectl speaks.\n"
	"\n"
	"Options:\n"
	"  -p, --policy FILE      policy YAML (required)\n"
	"  -S, --socket PATH      admin API socket (required); only root and this daemon's\n"
	"                         user may use it (checked with SO_PEERCRED)\n"
	"  -d, --dataplane PATH   the data plane's control socket (linegate --ctl)\n"
	"  -a, --audit-log FILE   append one JSON line per change (default: stderr)\n"
	"  -i, --interval MS      how often to look for a changed policy file (default 1000)\n"
	"  -h, --help             this text\n"
	"\n"
	"Admin API: one JSON request per connection, {\"cmd\": ...}; see docs/operations.md.\n"
	"Models: the policy's models.registry folder holds signed model versions; see\n"
	"docs/models.md.\n";

struct daemon {
	const char *policy_path, *socket_path, *dp_path;
	FILE *audit;
	struct lg_policy running; /* last known good */
	bool have_running;
	struct timespec mtime;
	uint64_t applies, refused;
	time_t started;
	struct lg_registry reg;
	bool have_reg;
};

static volatile sig_atomic_t got_stop, got_hup;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = 1;
}

static void audit(struct daemon *d, const char *peer, const char *what, const char *result,
		  const uint8_t *hash, const char *detail)
{
	json_object *o = json_object_new_object();
	char ts[64], hex[65] = "";
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03ldZ", now.tv_nsec / 1000000);
	if (hash)
		lg_hex_encode(hash, 32, hex);
	json_object_object_add(o, "time", json_object_new_string(ts));
	json_object_object_add(o, "peer", json_object_new_string(peer));
	json_object_object_add(o, "what", json_object_new_string(what));
	json_object_object_add(o, "result", json_object_new_string(result));
	if (hash)
		json_object_object_add(o, "policy_sha256", json_object_new_string(hex));
	if (detail)
		json_object_object_add(o, "detail", json_object_new_string(detail));
	fprintf(d->audit, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(d->audit);
	json_object_put(o);
}

/* Push policy text to the data plane; it parses the same text with the same parser. */
static int push(struct daemon *d, const char *text, size_t len, char *msg, size_t msglen)
{
	char *req, *reply = NULL;
	int ret;

	if (!d->dp_path)
		return 0;
	req = malloc(len + 7);
	if (!req)
		return -ENOMEM;
	memcpy(req, "apply\n", 6);
	memcpy(req + 6, text, len);
	ret = lg_ctl_call(d->dp_path, req, len + 6, &reply);
	free(req);
	if (ret) {
		snprintf(msg, msglen, "data plane at %s: %s", d->dp_path, strerror(-ret));
		return ret;
	}
	if (strncmp(reply, "ok", 2)) {
		snprintf(msg, msglen, "data plane refused: %s", reply);
		ret = -EPROTO;
	}
	free(reply);
	return ret;
}

/* Validate and apply policy text; on any failure the running policy stays. */
static int apply_text(struct daemon *d, const char *text, size_t len, const char *name,
		      const char *peer, char *msg, size_t msglen)
{
	struct lg_policy p;
	int ret = lg_policy_validate(text, len, name, &p, msg, msglen);

	if (ret) {
		d->refused++;
		audit(d, peer, "apply", "refused", NULL, msg);
		return ret;
	}
	ret = push(d, text, len, msg, msglen);
	if (ret) {
		d->refused++;
		audit(d, peer, "apply", "failed", p.hash, msg);
		lg_policy_free(&p);
		return ret;
	}
	if (d->have_running)
		lg_policy_free(&d->running);
	d->running = p;
	d->have_running = true;
	d->applies++;
	snprintf(msg, msglen, "applied: %zu devices", p.ndevices);
	audit(d, peer, "apply", "ok", p.hash, name);
	return 0;
}

static int apply_file(struct daemon *d, const char *peer, char *msg, size_t msglen)
{
	char *text;
	size_t len;
	int ret = lg_read_file(d->policy_path, &text, &len);
	struct stat st;

	if (!stat(d->policy_path, &st))
		d->mtime = st.st_mtim;
	if (ret) {
		snprintf(msg, msglen, "%s: %s", d->policy_path, strerror(-ret));
		audit(d, peer, "apply", "refused", NULL, msg);
		return ret;
	}
	ret = apply_text(d, text, len, d->policy_path, peer, msg, msglen);
	free(text);
	return ret;
}

/* Tell the data plane which models to run: registry references, or "" for the policy's
 * detection.model. It verifies their signatures itself before it loads them. */
static int push_models(struct daemon *d, const char *active, const char *shadow, char *msg,
		       size_t msglen)
{
	char req[8 * LG_PATH_MAX], ap[LG_PATH_MAX * 3], sp[LG_PATH_MAX * 3], *reply = NULL;
	int n;
	const char *al = active, *base;
	int ret;

	if (!d->dp_path) {
		snprintf(msg, msglen, "no data plane to run models (start linegated with --dataplane)");
		return -ENOTCONN;
	}
	if (active[0]) {
		ret = lg_registry_path(&d->reg, active, ap, sizeof(ap), msg, msglen);
		if (ret)
			return ret;
	} else {
		snprintf(ap, sizeof(ap), "%s", d->running.model);
		base = strrchr(ap, '/');
		al = base ? base + 1 : ap;
	}
	if (shadow[0]) {
		ret = lg_registry_path(&d->reg, shadow, sp, sizeof(sp), msg, msglen);
		if (ret)
			return ret;
		n = snprintf(req, sizeof(req), "model\n%s\n%s\n%s\n%s\n", ap, al, sp, shadow);
	} else {
		n = snprintf(req, sizeof(req), "model\n%s\n%s\n", ap, al);
	}
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(msg, msglen, "model paths too long");
		return -ENAMETOOLONG;
	}
	ret = lg_ctl_call(d->dp_path, req, strlen(req), &reply);
	if (ret) {
		snprintf(msg, msglen, "data plane at %s: %s", d->dp_path, strerror(-ret));
		return ret;
	}
	if (strncmp(reply, "ok", 2)) {
		reply[strcspn(reply, "\n")] = '\0';
		snprintf(msg, msglen, "data plane refused: %.900s", reply);
		ret = -EPROTO;
	} else {
		snprintf(msg, msglen, "running %.200s%s%.200s", al, shadow[0] ? ", shadow " : "",
			 shadow);
	}
	free(reply);
	return ret;
}

static bool registry_ready(struct daemon *d, char *msg, size_t msglen)
{
	if (d->have_reg)
		return true;
	snprintf(msg, msglen, "the policy names no model registry (models.registry)");
	return false;
}

static const char *get_str_field(json_object *req, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(req, k, &v) && json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) : NULL;
}

/* models, model_add, model_activate, model_shadow, model_rollback */
static bool handle_model(struct daemon *d, const char *cmd, json_object *req, json_object *resp,
			 const char *peer, char *msg, size_t msglen)
{
	const char *ref = get_str_field(req, "ref");
	char prev[160];
	bool ok;

	if (!registry_ready(d, msg, msglen))
		return false;
	if (!strcmp(cmd, "models")) {
		json_object_object_add(resp, "models", lg_registry_list(&d->reg));
		json_object_object_add(resp, "active", json_object_new_string(d->reg.active));
		json_object_object_add(resp, "shadow", json_object_new_string(d->reg.shadow));
		return true;
	}
	if (!strcmp(cmd, "model_add")) {
		const char *name = get_str_field(req, "name"), *ver = get_str_field(req, "version"),
			   *path = get_str_field(req, "path");

		if (!name || !ver || !path) {
			snprintf(msg, msglen, "model_add needs name, version and path");
			return false;
		}
		ok = !lg_registry_add(&d->reg, &d->running, name, ver, path, msg, msglen);
		if (ok)
			snprintf(msg, msglen, "added %s@%s (signature verified)", name, ver);
		audit(d, peer, "model_add", ok ? "ok" : "refused", NULL, msg);
		return ok;
	}
	if (!strcmp(cmd, "model_activate") || !strcmp(cmd, "model_rollback")) {
		bool rollback = !strcmp(cmd, "model_rollback");

		if (rollback) {
			if (lg_registry_previous(&d->reg, prev, sizeof(prev), msg, msglen))
				return false;
			ref = prev;
		} else if (!ref) {
			snprintf(msg, msglen, "model_activate needs ref (NAME@VERSION)");
			return false;
		}
		ok = !push_models(d, ref, d->reg.shadow, msg, msglen) &&
		     !lg_registry_set_active(&d->reg, ref, !rollback, msg, msglen);
		audit(d, peer, cmd, ok ? "ok" : "refused", NULL, ok ? ref : msg);
		return ok;
	}
	if (!strcmp(cmd, "model_shadow")) {
		const char *sh = ref && strcmp(ref, "off") ? ref : "";

		ok = !push_models(d, d->reg.active, sh, msg, msglen) &&
		     !lg_registry_set_shadow(&d->reg, sh[0] ? sh : NULL, msg, msglen);
		audit(d, peer, cmd, ok ? "ok" : "refused", NULL, ok ? (sh[0] ? sh : "off") : msg);
		return ok;
	}
	snprintf(msg, msglen, "unknown model command '%s'", cmd);
	return false;
}

/* A device's keys as the operator may see them: id and fingerprint, never a key byte. */
static json_object *keys_json(const struct lg_policy_device *dev)
{
	json_object *a = json_object_new_array();

	for (unsigned k = 0; k < dev->nkeys; k++) {
		json_object *o = json_object_new_object();
		char fp[LG_KEY_FP_LEN + 1];

		lg_key_fingerprint(dev->keys[k].bytes, fp);
		json_object_object_add(o, "id", json_object_new_int(dev->keys[k].id));
		json_object_object_add(o, "fingerprint", json_object_new_string(fp));
		if (dev->keys[k].expires) {
			char when[32];

			lg_rfc3339((time_t)dev->keys[k].expires, when, sizeof(when));
			json_object_object_add(o, "expires", json_object_new_string(when));
		}
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *device_json(const struct lg_policy_device *dev)
{
	json_object *o = json_object_new_object(), *keys = json_object_new_array();
	char addr[64];

	inet_ntop(dev->family, dev->addr, addr, sizeof(addr));
	json_object_object_add(o, "id", json_object_new_uint64(dev->id));
	json_object_object_add(o, "name", json_object_new_string(dev->name));
	json_object_object_add(o, "source", json_object_new_string(addr));
	json_object_object_add(o, "port", json_object_new_int(dev->port));
	for (unsigned k = 0; k < dev->nkeys; k++)
		json_object_array_add(keys, json_object_new_int(dev->keys[k].id));
	json_object_object_add(o, "key_ids", keys);
	json_object_object_add(o, "keys", keys_json(dev));
	return o;
}

/* Device-level difference between the running policy and a candidate. */
static json_object *diff(const struct lg_policy *a, const struct lg_policy *b)
{
	json_object *o = json_object_new_object(), *add = json_object_new_array(),
		    *rm = json_object_new_array(), *chg = json_object_new_array();

	for (size_t i = 0; i < b->ndevices; i++) {
		const struct lg_policy_device *old = lg_policy_find(a, b->devices[i].id);

		if (!old)
			json_object_array_add(add, device_json(&b->devices[i]));
		else if (memcmp(old, &b->devices[i], sizeof(*old)))
			json_object_array_add(chg, device_json(&b->devices[i]));
	}
	for (size_t i = 0; i < a->ndevices; i++)
		if (!lg_policy_find(b, a->devices[i].id))
			json_object_array_add(rm, device_json(&a->devices[i]));
	json_object_object_add(o, "added", add);
	json_object_object_add(o, "removed", rm);
	json_object_object_add(o, "changed", chg);
	json_object_object_add(o, "settings_changed",
			       json_object_new_boolean(a->port != b->port || a->window != b->window ||
						       a->batch != b->batch ||
						       a->deadline_ms != b->deadline_ms ||
						       strcmp(a->model, b->model)));
	return o;
}

/*
 * Enrollment verbs (devices_enroll, devices_revoke, devices_rotate_key, devices_prune).
 * Each edits the policy file's text (policy_edit.c: comments and layout stay), writes it
 * whole (temporary file, fsync, rename), and applies it through apply_text(), so the data
 * plane has it before the reply; a refused apply puts the old file back and the error
 * goes to the client. A new key file is removed again when the edit is refused; the key
 * files an edit took out of the policy are removed once it is applied.
 */

/* The policy file's text, only while it is the running policy: an edit of a file that
 * was changed by hand (or while another file was applied) would apply more than it says. */
static int edit_base(struct daemon *d, char **text, size_t *len, char *msg, size_t msglen)
{
	uint8_t h[SHA256_DIGEST_LENGTH];
	int ret = lg_read_file(d->policy_path, text, len);

	if (ret) {
		snprintf(msg, msglen, "%s: %s", d->policy_path, strerror(-ret));
		return ret;
	}
	SHA256((const unsigned char *)*text, *len, h);
	if (!d->have_running || memcmp(h, d->running.hash, sizeof(h))) {
		snprintf(msg, msglen, "%s is not the running policy (changed by hand, or another "
			 "file was applied): apply it first (linegatectl apply), then repeat",
			 d->policy_path);
		free(*text);
		return -ESTALE;
	}
	return 0;
}

static bool edit_commit(struct daemon *d, const char *what, struct lg_policy_edit *e,
			bool new_key, const char *old, size_t oldlen, const char *peer,
			json_object *resp, char *msg, size_t msglen)
{
	char fp[LG_KEY_FP_LEN + 1] = "", path[PATH_MAX], abs[PATH_MAX], detail[512];
	const char *slash = strrchr(d->policy_path, '/');
	unsigned files_removed = 0;
	struct stat st;
	int ret;

	if (new_key && lg_key_file_create(d->policy_path, e->key_file, fp, msg, msglen))
		goto refused;
	if (lg_policy_edit_check(e->text, e->len, d->policy_path, msg, msglen))
		goto undo_key;
	ret = lg_file_replace(d->policy_path, e->text, e->len);
	if (ret) {
		snprintf(msg, msglen, "writing %s: %s", d->policy_path, strerror(-ret));
		goto undo_key;
	}
	if (apply_text(d, e->text, e->len, d->policy_path, peer, msg, msglen)) {
		ret = lg_file_replace(d->policy_path, old, oldlen);
		if (ret)
			snprintf(msg + strlen(msg), msglen - strlen(msg),
				 "; putting the old %s back failed too: %s", d->policy_path,
				 strerror(-ret));
		goto undo_key;
	}
	/* The file watch must not take this write for an edit of its own. */
	if (!stat(d->policy_path, &st))
		d->mtime = st.st_mtim;
	for (unsigned i = 0; i < e->nremoved; i++)
		if (e->removed[i] && !strstr(e->text, e->removed[i]) &&
		    !lg_key_file_remove(d->policy_path, e->removed[i]))
			files_removed++;
	snprintf(detail, sizeof(detail), "%s%.64s%s%s%s%u", e->name[0] ? "device " : "",
		 e->name, new_key ? ", new key fingerprint " : "", fp,
		 e->name[0] ? ", key files removed: " : "expired keys removed: ",
		 e->name[0] ? files_removed : e->nremoved);
	if (new_key) {
		snprintf(path, sizeof(path), "%.*s%s%s", slash ? (int)(slash - d->policy_path) : 0,
			 d->policy_path, slash ? "/" : "", e->key_file);
		json_object_object_add(resp, "key_file",
				       json_object_new_string(realpath(path, abs) ? abs : path));
		json_object_object_add(resp, "key_id", json_object_new_int(e->key_id));
		json_object_object_add(resp, "fingerprint", json_object_new_string(fp));
	}
	json_object_object_add(resp, "keys_removed", json_object_new_int((int)e->nremoved));
	audit(d, peer, what, "ok", d->running.hash, detail);
	return true;
undo_key:
	if (new_key)
		lg_key_file_remove(d->policy_path, e->key_file);
refused:
	audit(d, peer, what, "refused", NULL, msg);
	return false;
}

static bool get_u32_field(json_object *req, const char *k, uint32_t *out)
{
	json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(req, k, &v) || !json_object_is_type(v, json_type_int))
		return false;
	x = json_object_get_int64(v);
	if (x < 0 || x > UINT32_MAX)
		return false;
	*out = (uint32_t)x;
	return true;
}

static bool devices_enroll(struct daemon *d, json_object *req, json_object *resp,
			   const char *peer, char *msg, size_t msglen)
{
	struct lg_device_spec s = { .name = get_str_field(req, "name"),
				    .source = get_str_field(req, "source"), .port = -1,
				    .mac = get_str_field(req, "mac"),
				    .group = get_str_field(req, "group") };
	struct lg_policy_edit e;
	uint32_t port;
	char *old;
	size_t len;
	bool ok;

	if (!get_u32_field(req, "id", &s.id) || !s.name || !s.source) {
		snprintf(msg, msglen, "devices_enroll needs id, name and source");
		return false;
	}
	if (get_u32_field(req, "port", &port))
		s.port = port > 65535 ? 65536 : (int)port;
	get_u32_field(req, "rate", &s.rate);
	if (edit_base(d, &old, &len, msg, msglen))
		return false;
	if (lg_policy_edit_enroll(old, len, &s, NULL, &e, msg, msglen)) {
		audit(d, peer, "devices_enroll", "refused", NULL, msg);
		free(old);
		return false;
	}
	ok = edit_commit(d, "devices_enroll", &e, true, old, len, peer, resp, msg, msglen);
	if (ok)
		snprintf(msg, msglen, "enrolled device %u (%s): key %u, fingerprint %s; install "
			 "%s on the device", s.id, s.name, e.key_id,
			 json_object_get_string(json_object_object_get(resp, "fingerprint")),
			 json_object_get_string(json_object_object_get(resp, "key_file")));
	lg_policy_edit_free(&e);
	free(old);
	return ok;
}

static bool devices_revoke(struct daemon *d, json_object *req, json_object *resp,
			   const char *peer, char *msg, size_t msglen)
{
	struct lg_policy_edit e;
	uint32_t id;
	char *old;
	size_t len;
	bool ok;

	if (!get_u32_field(req, "id", &id)) {
		snprintf(msg, msglen, "devices_revoke needs the device's id");
		return false;
	}
	if (edit_base(d, &old, &len, msg, msglen))
		return false;
	if (lg_policy_edit_revoke(old, len, id, &e, msg, msglen)) {
		audit(d, peer, "devices_revoke", "refused", NULL, msg);
		free(old);
		return false;
	}
	ok = edit_commit(d, "devices_revoke", &e, false, old, len, peer, resp, msg, msglen);
	if (ok)
		snprintf(msg, msglen, "revoked device %u (%s): its frames are refused from now on",
			 id, e.name);
	lg_policy_edit_free(&e);
	free(old);
	return ok;
}

static bool devices_rotate_key(struct daemon *d, json_object *req, json_object *resp,
			       const char *peer, char *msg, size_t msglen)
{
	struct lg_policy_edit e;
	uint32_t id, grace;
	char *old, when[32];
	time_t expires;
	size_t len;
	bool ok;

	if (!get_u32_field(req, "id", &id) || !get_u32_field(req, "grace_s", &grace) ||
	    grace > 366 * 86400) {
		snprintf(msg, msglen, "devices_rotate_key needs the device's id and grace_s "
			 "(seconds, at most 366 days)");
		return false;
	}
	if (edit_base(d, &old, &len, msg, msglen))
		return false;
	expires = time(NULL) + grace;
	if (lg_policy_edit_rotate(old, len, id, expires, &e, msg, msglen)) {
		audit(d, peer, "devices_rotate_key", "refused", NULL, msg);
		free(old);
		return false;
	}
	ok = edit_commit(d, "devices_rotate_key", &e, true, old, len, peer, resp, msg, msglen);
	if (ok) {
		lg_rfc3339(expires, when, sizeof(when));
		json_object_object_add(resp, "old_key_expires", json_object_new_string(when));
		snprintf(msg, msglen, "device %u (%s): new key %u, fingerprint %s, in %s; the old "
			 "key is accepted until %s", id, e.name, e.key_id,
			 json_object_get_string(json_object_object_get(resp, "fingerprint")),
			 json_object_get_string(json_object_object_get(resp, "key_file")), when);
	}
	lg_policy_edit_free(&e);
	free(old);
	return ok;
}

static bool devices_prune(struct daemon *d, json_object *req, json_object *resp,
			  const char *peer, char *msg, size_t msglen)
{
	struct lg_policy_edit e;
	uint32_t id = 0;
	char *old;
	size_t len;
	bool ok = true;

	get_u32_field(req, "id", &id);
	if (edit_base(d, &old, &len, msg, msglen))
		return false;
	if (lg_policy_edit_prune(old, len, id, time(NULL), &e, msg, msglen)) {
		audit(d, peer, "devices_prune", "refused", NULL, msg);
		free(old);
		return false;
	}
	e.name[0] = '\0'; /* the audit line counts keys, not one device */
	if (e.nremoved)
		ok = edit_commit(d, "devices_prune", &e, false, old, len, peer, resp, msg, msglen);
	else
		json_object_object_add(resp, "keys_removed", json_object_new_int(0));
	if (ok)
		snprintf(msg, msglen, "%u expired key%s dropped", e.nremoved,
			 e.nremoved == 1 ? "" : "s");
	lg_policy_edit_free(&e);
	free(old);
	return ok;
}

static json_object *handle(struct daemon *d, json_object *req, const char *peer)
{
	json_object *resp = json_object_new_object(), *v;
	/* Fields of the wrong JSON type ({"cmd": null}, a number for 'policy') count as
	 * missing: json-c hands back NULL for them. The policy text keeps its real length, so
	 * a NUL inside it reaches the parser (and is refused there) instead of cutting it. */
	const char *cmd = get_str_field(req, "cmd") ? get_str_field(req, "cmd") : "";
	const char *text = get_str_field(req, "policy");
	const char *name = get_str_field(req, "name");
	size_t len = text && json_object_object_get_ex(req, "policy", &v) ?
			     (size_t)json_object_get_string_len(v) : 0;
	char msg[1024] = "";
	bool ok = true;

	if (!strcmp(cmd, "status")) {
		char hex[65] = "";

		if (d->have_running)
			lg_hex_encode(d->running.hash, 32, hex);
		json_object_object_add(resp, "policy_file", json_object_new_string(d->policy_path));
		json_object_object_add(resp, "policy_sha256", json_object_new_string(hex));
		json_object_object_add(resp, "devices",
				       json_object_new_uint64(d->have_running ? d->running.ndevices : 0));
		json_object_object_add(resp, "applies", json_object_new_uint64(d->applies));
		json_object_object_add(resp, "refused", json_object_new_uint64(d->refused));
		json_object_object_add(resp, "uptime_s",
				       json_object_new_int64(time(NULL) - d->started));
		if (d->dp_path) {
			char *reply = NULL;
			int ret = lg_ctl_call(d->dp_path, "stats", 5, &reply);

			json_object_object_add(resp, "dataplane",
					       json_object_new_string(ret ? strerror(-ret) : "up"));
			free(reply);
		}
	} else if (!strcmp(cmd, "validate") || !strcmp(cmd, "diff")) {
		struct lg_policy p;

		if (!text) {
			ok = false;
			snprintf(msg, sizeof(msg), "'%s' needs 'policy' text", cmd);
		} else if (lg_policy_validate(text, len, name ? name : "<policy>", &p, msg,
					      sizeof(msg))) {
			ok = false;
		} else {
			if (!strcmp(cmd, "diff"))
				json_object_object_add(resp, "diff", diff(&d->running, &p));
			snprintf(msg, sizeof(msg), "valid: %zu devices", p.ndevices);
			lg_policy_free(&p);
		}
	} else if (!strcmp(cmd, "apply")) {
		if (text)
			ok = !apply_text(d, text, len, name ? name : "<apply>", peer, msg,
					 sizeof(msg));
		else
			ok = !apply_file(d, peer, msg, sizeof(msg));
	} else if (!strcmp(cmd, "devices")) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; d->have_running && i < d->running.ndevices; i++)
			json_object_array_add(a, device_json(&d->running.devices[i]));
		json_object_object_add(resp, "devices", a);
	} else if (!strcmp(cmd, "metrics")) {
		char *reply = NULL;
		int ret = d->dp_path ? lg_ctl_call(d->dp_path, "stats", 5, &reply) : -ENOTCONN;
		json_object *m = ret ? NULL : json_tokener_parse(reply);

		if (!m) {
			ok = false;
			snprintf(msg, sizeof(msg), "data plane: %s",
				 ret ? strerror(-ret) : "unreadable stats");
		} else {
			json_object_object_add(resp, "metrics", m);
		}
		free(reply);
	} else if (!strcmp(cmd, "devices_enroll")) {
		ok = devices_enroll(d, req, resp, peer, msg, sizeof(msg));
	} else if (!strcmp(cmd, "devices_revoke")) {
		ok = devices_revoke(d, req, resp, peer, msg, sizeof(msg));
	} else if (!strcmp(cmd, "devices_rotate_key")) {
		ok = devices_rotate_key(d, req, resp, peer, msg, sizeof(msg));
	} else if (!strcmp(cmd, "devices_prune")) {
		ok = devices_prune(d, req, resp, peer, msg, sizeof(msg));
	} else if (!strncmp(cmd, "model", 5)) {
		ok = handle_model(d, cmd, req, resp, peer, msg, sizeof(msg));
	} else {
		ok = false;
		snprintf(msg, sizeof(msg),
			 "unknown cmd '%s' (status, validate, diff, apply, devices, devices_enroll, "
			 "devices_revoke, devices_rotate_key, devices_prune, metrics, models, "
			 "model_add, model_activate, model_shadow, model_rollback)", cmd);
	}
	json_object_object_add(resp, "ok", json_object_new_boolean(ok));
	if (msg[0])
		json_object_object_add(resp, ok ? "message" : "error", json_object_new_string(msg));
	return resp;
}

static void serve(struct daemon *d, int fd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char peer[64], *text = NULL;
	json_object *req = NULL, *resp;
	const char *out;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen)) {
		lg_write_all(fd, "{\"ok\":false,\"error\":\"no peer credentials\"}\n", 43);
		return;
	}
	snprintf(peer, sizeof(peer), "uid=%u pid=%d", cred.uid, cred.pid);
	if (cred.uid != 0 && cred.uid != getuid()) {
		audit(d, peer, "connect", "denied", NULL, NULL);
		lg_write_all(fd, "{\"ok\":false,\"error\":\"permission denied\"}\n", 41);
		return;
	}
	if (lg_read_fd(fd, 16u << 20, &text, NULL) || !(req = json_tokener_parse(text)) ||
	    !json_object_is_type(req, json_type_object)) {
		resp = json_object_new_object();
		json_object_object_add(resp, "ok", json_object_new_boolean(false));
		json_object_object_add(resp, "error", json_object_new_string("request is not a JSON object"));
	} else {
		resp = handle(d, req, peer);
	}
	out = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
	lg_write_all(fd, out, strlen(out));
	lg_write_all(fd, "\n", 1);
	json_object_put(resp);
	json_object_put(req);
	free(text);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 'S' },
		{ "dataplane", required_argument, NULL, 'd' },
		{ "audit-log", required_argument, NULL, 'a' },
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct daemon d = { .audit = stderr, .started = time(NULL) };
	const char *audit_path = NULL;
	int opt, lfd, interval = 1000;
	char msg[1024];
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec last_check = { 0 };

	while ((opt = getopt_long(argc, argv, "p:S:d:a:i:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'p': d.policy_path = optarg; break;
		case 'S': d.socket_path = optarg; break;
		case 'd': d.dp_path = optarg; break;
		case 'a': audit_path = optarg; break;
		case 'i': interval = atoi(optarg); break;
		case 'h': fputs(usage, stdout); return 0;
		default: return 2; /* getopt_long() said why */
		}
	}
	if (!d.policy_path || !d.socket_path || interval < 10) {
		fputs(usage, stderr);
		return 2;
	}
	if (audit_path && !(d.audit = fopen(audit_path, "a"))) {
		fprintf(stderr, "linegated: %s: %s\n", audit_path, strerror(errno));
		return 1;
	}
	/* The first policy must be good: there is no last known good one to keep. */
	if (apply_file(&d, "startup", msg, sizeof(msg))) {
		fprintf(stderr, "linegated: %s\n", msg);
		return 1;
	}
	if (d.running.registry[0]) {
		if (lg_registry_open(&d.reg, d.running.registry, msg, sizeof(msg))) {
			fprintf(stderr, "linegated: model registry: %s\n", msg);
			return 1;
		}
		d.have_reg = true;
		/* After a restart, the data plane runs what the registry says is active. */
		if ((d.reg.active[0] || d.reg.shadow[0]) &&
		    push_models(&d, d.reg.active, d.reg.shadow, msg, sizeof(msg)))
			fprintf(stderr, "linegated: could not restore the registry's models: %s\n", msg);
	}
	lfd = lg_ctl_listen(d.socket_path, 0660);
	if (lfd < 0) {
		fprintf(stderr, "linegated: %s: %s\n", d.socket_path, strerror(-lfd));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "linegated: %s, %zu devices, admin API on %s\n", d.policy_path,
		d.running.ndevices, d.socket_path);

	while (!got_stop) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		struct timespec now;
		bool reload = false;

		if (poll(&pfd, 1, 100) > 0) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				struct timeval tv = { 5, 0 };

				setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
				serve(&d, c);
				close(c);
			}
		}
		if (got_hup) {
			got_hup = 0;
			reload = true;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - last_check.tv_sec) * 1000 +
			    (now.tv_nsec - last_check.tv_nsec) / 1000000 >= interval) {
			struct stat st;

			last_check = now;
			/* Polling the mtime survives editors that replace the file, which an
			 * inotify watch on the old inode would miss. */
			if (!stat(d.policy_path, &st) &&
			    (st.st_mtim.tv_sec != d.mtime.tv_sec ||
			     st.st_mtim.tv_nsec != d.mtime.tv_nsec))
				reload = true;
		}
		if (reload && apply_file(&d, "file-watch", msg, sizeof(msg)))
			fprintf(stderr, "linegated: kept the running policy: %s\n", msg);
	}
	close(lfd);
	unlink(d.socket_path);
	if (d.have_running)
		lg_policy_free(&d.running);
	if (d.audit != stderr)
		fclose(d.audit);
	return 0;
}
