// SPDX-License-Identifier: MIT
/*
 * linegated: the control daemon. Owns the policy file, validates it, pushes each new
 * generation to the data plane, serves the admin API on a Unix socket, writes every change
 * to the audit log in two phases (intent before, result after), and keeps every applied
 * version in its state folder so that a restart resumes what ran.
 */
#include <linegate/outpath.h>
#include <linegate/priv.h>
#include <linegate/policy.h>
#include <linegate/policy_diff.h>
#include <linegate/sign.h>

#include "bundle.h"
#include "ctlproto.h"
#ifdef LG_HAVE_NATS
#include "fleet_watch.h"
#include "objstore.h"
#endif
#include "policy_edit.h"
#include "registry.h"
#include "retrain.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_STATE_DIR "/var/lib/linegated"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char usage[] =
	"Usage: linegated --policy FILE --socket PATH [options]\n"
	"\n"
	"The linegate control daemon. It validates the policy (errors name file:line:column),\n"
	"applies it to the data plane as one generation, re-applies it when the file is\n"
	"replaced or closed after writing (inotify) or on SIGHUP, keeps the last good policy\n"
	"when a new one does not validate, and serves the admin API that linegatectl speaks.\n"
	"\n"
	"Options:\n"
	"  -p, --policy FILE      the boot policy YAML (required)\n"
	"  -S, --socket PATH      admin API socket (required); root and this daemon's user may\n"
	"                         use it (checked per connection with SO_PEERCRED)\n"
	"  -g, --group NAME       members of group NAME may use the admin socket too (mode\n"
	"                         0660, group NAME; checked with SO_PEERGROUPS)\n"
	"  -d, --dataplane PATH   the data plane's control socket (linegate --ctl)\n"
	"  -a, --audit-log FILE   append one JSON line per change (default: stderr); created\n"
	"                         0600, an existing one readable by others is made 0600\n"
	"  -s, --state-dir DIR    every applied policy version, for history, rollback and\n"
	"                         restarts (default " DEFAULT_STATE_DIR ", made 0700)\n"
	"  -w, --watch inotify|poll\n"
	"                         how to notice a new policy file: inotify (default; the file\n"
	"                         is applied when its writer closes it or it is renamed into\n"
	"                         place), or poll (for folders inotify does not see change,\n"
	"                         such as network mounts; also the fallback without inotify)\n"
	"      --settle MS        inotify: a file closed after writing is applied once nothing\n"
	"                         wrote to it for MS (default 1000; 0: at once); a file renamed\n"
	"                         into place is applied at once\n"
	"  -i, --interval MS      how often to ask the data plane which policy and models it\n"
	"                         runs (a drift from linegated's policy or the registry's\n"
	"                         models is audited, not undone, and status says in_sync false;\n"
	"                         a restart of the data plane gets the registry's models pushed\n"
	"                         again; each look waits at most 2 s, and one that gets no\n"
	"                         answer makes status say in_sync false and why, audited) and,\n"
	"                         with poll, to read the policy file; a content is applied\n"
	"                         once two reads in a row found it (default 1000)\n"
	"      --trainer PATH     linegate-train, for retraining after drift (the policy's\n"
	"                         detection.drift.retrain; default: next to linegated)\n"
	"      --user NAME        become user NAME (a name or a uid) before anything else, with\n"
	"                         no capability: linegated needs none (it reads the policy and\n"
	"                         key files, writes its state folder and audit log, and talks\n"
	"                         to linegate's control socket, all as NAME)\n"
	"\n"
	"Fleet configuration over NATS JetStream (docs/fleet.md; builds with libnats only):\n"
	"      --fleet-url URL    watch the key-value bucket at nats://HOST:PORT[,...] for this\n"
	"                         server's bundle version (<plant>.<line>.canary.<server>, else\n"
	"                         <plant>.<line>.bundle), fetch it from the object store, verify\n"
	"                         its signature (models.trusted_keys) and hashes, apply it, and\n"
	"                         report under <plant>.<line>.status.<server>; needs --state-dir\n"
	"      --fleet-plant P, --fleet-line L\n"
	"                         this server's plant and line (required with --fleet-url)\n"
	"      --fleet-server S   this server's name in the bucket (default: the host name)\n"
	"      --fleet-bucket B   the key-value bucket (default linegate-config)\n"
	"      --fleet-objects O  the object store of bundle parts (default linegate-bundles)\n"
	"      --fleet-tls-ca F, --fleet-tls-cert F, --fleet-tls-key F\n"
	"                         TLS to NATS: the servers' CA, a client certificate and key\n"
	"      --fleet-creds F    a NATS credentials (.creds) file (0600)\n"
	"      --fleet-nkey F     or a NATS nkey user seed file (0600; linegate-fleet nkey-gen)\n"
	"      --fleet-domain D   the JetStream domain of the bucket and object store: through\n"
	"                         a leaf node with JetStream of its own, the plant's (hub's)\n"
	"                         domain (default: the server's own JetStream)\n"
	"      --fleet-report MS  how often the status is reported (default 5000; health rates\n"
	"                         are over this period); also at once after each bundle\n"
	"  -h, --help             this text\n"
	"\n"
	"At start: when the boot file has the hash it had at the last apply, the last applied\n"
	"version is used (applies since boot are newer); else, when the boot file's text is a\n"
	"kept version, that version; else the boot file, as the next version. No version is\n"
	"ever deleted. When the data plane already runs that policy, it is adopted, no push.\n"
	"\n"
	"Admin API: framed JSON requests (a 4-byte big-endian length, then {\"cmd\": ...}); see\n"
	"docs/operations.md. Models: the policy's models.registry folder holds signed model\n"
	"versions; see docs/models.md. At start the data plane runs the registry's active and\n"
	"shadow model, unless the policy it starts from changes detection.model: that runs, and\n"
	"the registry follows (as after an apply that changes it; docs/model-registry.md).\n"
	"\n"
	"Test only: LINEGATED_TEST_CRASH_AT=after-intent|after-push|after-persist makes the\n"
	"daemon kill itself (SIGKILL) at that phase of the next apply, for crash-recovery tests.\n";

struct daemon {
	const char *policy_path, *socket_path, *dp_path, *state_dir, *crash_at;
	FILE *audit;
	uint64_t seq;              /* last audit sequence number */
	struct lg_policy running;  /* last known good */
	bool have_running;
	unsigned version;          /* the running version in the state folder, 0 = none */
	uint64_t applies, refused;
	time_t started;
	struct lg_registry reg;
	bool have_reg;
	/* The start-up apply changed detection.model against the last applied version: the
	 * registry follows it once it is open (registry_follow_policy()). */
	bool start_model_changed, follow_at_start;
	/* file watch */
	int ino_fd, ino_wd;
	char policy_dir[PATH_MAX], policy_base[NAME_MAX + 1];
	uint8_t poll_hash[32], tried_hash[32]; /* poll fallback: last look, last attempt */
	bool poll_seen;
	/* inotify: a file closed after writing is applied once nothing wrote to it for
	 * settle_ms (a writer that writes, closes, and appends later would otherwise have its
	 * first half applied); a rename applies at once. */
	int settle_ms;
	bool settle_pending;
	struct timespec settle_from;
	/* refused peers: audited at most once a second per uid, the rest counted; 16 uids
	 * followed one by one, any more counted together (denied_other) */
	struct denial {
		uid_t uid;
		struct timespec last;  /* CLOCK_MONOTONIC of its last audit line, 0 = free */
		char since[32];        /* that line's time, for the next one's detail */
		char peer[64];         /* the last refused peer with this uid */
		uint64_t more;         /* refused since that line, not audited yet */
	} denials[16];
	uint64_t denied, denied_unaudited;
	/* Refusals of uids that found every slot in use (each audited less than a second
	 * ago): counted here and audited together, at most once a second, so that no uid is
	 * audited twice in a second however many there are. */
	uint64_t denied_other;
	struct timespec other_last;
	char other_since[32];
	/* drift: does the data plane run linegated's policy (its status, every interval) */
	bool in_sync;
	/* the data plane's "not_done" of the last push (what it does not do of the policy) */
	char dp_warning[512];
	/* Does the data plane answer its status within DP_LOOK_TIMEOUT_MS (every interval and at
	 * each linegatectl status)? While it does not, in_sync is reported false with dp_why;
	 * each change is audited once. dp_look: when the last look ended (CLOCK_MONOTONIC). */
	bool dp_down;
	char dp_why[512], dp_since[32];
	struct timespec dp_look;
	int interval_ms;
	char drift_hex[65]; /* what the data plane ran when the drift was noticed */
	/* Why the data plane does not run the registry's active and shadow model, since a
	 * restore of them failed (restore_models()); "" once a push of models succeeded. Said
	 * in status (warnings, in_sync false) and models (a trial: silent but on stderr). */
	char models_why[1200];
	/* data drift (the data plane's drift monitors, docs/models.md): each device's monitors
	 * in drift as last seen in its status, bit (1 << method); audited when they change.
	 * inst and epoch: the data plane's run and model set when the drift was first seen, so
	 * that its end is worded by its real reason (a restart, a new model, or the data);
	 * lost: the last drift ended with the data plane's restart (a warning in status until
	 * the device drifts again or the models change; Page-Hinkley restarts blind to it). */
	struct {
		uint32_t id;
		uint8_t methods;
		bool lost;
		char name[64], inst[64], lost_at[32];
		uint64_t epoch;
	} data_drift[256];
	unsigned ndata_drift;
	/* The data plane's recording at the last look (record_note): a recording that ends by
	 * itself is audited; rec_seen: there was a look in this run of the data plane */
	bool rec_seen;
	uint64_t rec_ended;
	/* What the data plane runs, from its status at the last look: its run ("instance":
	 * another one after a restart), its model set's epoch, its model and shadow. models_off:
	 * why that is not what the registry names ("" when it is, or with no registry); in_sync
	 * is false while it says something. */
	char dp_instance[64], dp_model[200], dp_shadow[200];
	uint64_t dp_model_epoch;
	char models_off[700];
	/* retraining after drift (retrain.h): the trainer, and the job that runs */
	char train_bin[PATH_MAX];
	struct lg_retrain retrain;
	/* fleet configuration (docs/fleet.md; --fleet-*): the watch thread, the last bundle's
	 * result, the version applied (kept in <state-dir>/fleet.json), health samples */
#ifdef LG_HAVE_NATS
	struct lg_fleet *fleet;
	struct lg_fleet_cfg fleet_cfg;
	int fleet_report_ms;
	char fleet_applied[72], fleet_last[72], fleet_result[16], fleet_why[512];
	/* the registry's active model when the line's version was last applied ("" the boot
	 * model; known once one was): a canary rolled back to a version without a model goes
	 * back to it (trial R, s23: the rejected canary's model kept scoring) */
	char fleet_line_model[160];
	bool fleet_have_line_model;
	/* a version whose apply failed for a reason of this server's (no verdict: a data plane
	 * away): fetched and tried again once the data plane answers, at most every 10 s, 5
	 * times (trial S, s23: a canary whose data plane was down at the rollback stayed on the
	 * rejected version for good) */
	char fleet_retry[72];
	struct timespec fleet_retry_at;
	unsigned fleet_retries;
	struct timespec fleet_last_report, fleet_prev_at;
	uint64_t fleet_prev_drop, fleet_prev_inc;
	/* Issue 13 (F1), newer only: the applied bundle's manifest serial, whether it came
	 * from the canary key (not yet the line's), the serial of the newest bundle applied
	 * as the line's (the floor: an older one is a downgrade, refused), and the versions
	 * refused or rolled back here, never judged again ({version: why}, at most 64) */
	uint64_t fleet_serial, fleet_floor;
	const char *shown_as; /* apply_text()'s errors name this instead of the boot file */
	bool fleet_canary;
	json_object *fleet_verdicts;
#endif
};

static volatile sig_atomic_t got_stop, got_hup;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = 1;
}

static void hex32(const uint8_t *h, char *out)
{
	lg_hex_encode(h, 32, out);
}

static int64_t ms_since(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static void now_iso(char *ts, size_t len)
{
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), len - strlen(ts), ".%03ldZ", now.tv_nsec / 1000000);
}

/*
 * One audit line. phase: "intent" (before a push: no result yet), "result" (after it),
 * "reconciled" (at start, for an intent a crash left without its result), "event"
 * (refusals, denials, start). Intent lines reach the disk before the push goes out.
 */
static void audit_line_dp(struct daemon *d, uint64_t seq, const char *phase, const char *peer,
			  const char *what, const char *result, const uint8_t *hash,
			  const char *dp_hex, const char *detail)
{
	json_object *o = json_object_new_object();
	char ts[64], hex[65], *det = detail ? strdup(detail) : NULL;

	/* The detail quotes requests and errors: no key-sized run of hex digits in the audit. */
	if (det)
		lg_redact_secrets(det);
	now_iso(ts, sizeof(ts));
	json_object_object_add(o, "time", json_object_new_string(ts));
	json_object_object_add(o, "seq", json_object_new_uint64(seq));
	json_object_object_add(o, "phase", json_object_new_string(phase));
	json_object_object_add(o, "peer", json_object_new_string(peer));
	json_object_object_add(o, "what", json_object_new_string(what));
	if (result)
		json_object_object_add(o, "result", json_object_new_string(result));
	if (hash) {
		hex32(hash, hex);
		json_object_object_add(o, "policy_sha256", json_object_new_string(hex));
	}
	if (dp_hex)
		json_object_object_add(o, "dataplane_policy_sha256",
				       json_object_new_string(dp_hex));
	if (det)
		json_object_object_add(o, "detail", json_object_new_string(det));
	free(det);
	fprintf(d->audit, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(d->audit);
	if (d->audit != stderr && !strcmp(phase, "intent"))
		fdatasync(fileno(d->audit));
	json_object_put(o);
}

static void audit_line(struct daemon *d, uint64_t seq, const char *phase, const char *peer,
		       const char *what, const char *result, const uint8_t *hash,
		       const char *detail)
{
	audit_line_dp(d, seq, phase, peer, what, result, hash, NULL, detail);
}

static void audit_event(struct daemon *d, const char *peer, const char *what, const char *result,
			const uint8_t *hash, const char *detail)
{
	audit_line(d, ++d->seq, "event", peer, what, result, hash, detail);
}

static void crash_point(const struct daemon *d, const char *phase)
{
	/* Test only (see --help): die as kill -9 would, between two phases of an apply. */
	if (d->crash_at && !strcmp(d->crash_at, phase)) {
		fprintf(stderr, "linegated: LINEGATED_TEST_CRASH_AT=%s: killing myself\n", phase);
		raise(SIGKILL);
	}
}

static const char *get_str_field(json_object *req, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(req, k, &v) && json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) : NULL;
}

/* A number member of o, or 0. */
static uint64_t get_u64_field(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_uint64(v) : 0;
}

/*
 * A look at the data plane's status waits this long: a hung (stopped, not dead) data plane
 * would otherwise hold linegated for the client timeout (30 s) at every interval, and its
 * admin socket with it.
 */
#define DP_LOOK_TIMEOUT_MS 2000

static int dp_call_t(struct daemon *d, json_object *req, int timeout_ms, json_object **reply,
		     char *err, size_t errlen);

/* One request to the data plane; on failure, err says what happened there. */
static int dp_call(struct daemon *d, json_object *req, json_object **reply, char *err,
		   size_t errlen)
{
	/* 5 s short of linegatectl's own wait: the client hears linegated's reason, not a bare
	 * "no reply within 30 s". */
	return dp_call_t(d, req, (LG_CTL_TIMEOUT_S - 5) * 1000, reply, err, errlen);
}

static int dp_call_t(struct daemon *d, json_object *req, int timeout_ms, json_object **reply,
		     char *err, size_t errlen)
{
	char why[1024];
	json_object *v;
	int ret;

	if (!d->dp_path) {
		json_object_put(req);
		snprintf(err, errlen, "no data plane (start linegated with --dataplane)");
		return -ENOTCONN;
	}
	ret = lg_ctl_request_timeout(d->dp_path, req, timeout_ms, reply, why, sizeof(why));
	json_object_put(req);
	if (ret) {
		snprintf(err, errlen, "data plane: %s", why);
		return ret;
	}
	if (!json_object_object_get_ex(*reply, "ok", &v) || !json_object_get_boolean(v)) {
		const char *e = get_str_field(*reply, "error");

		snprintf(err, errlen, "data plane refused: %.900s", e ? e : "(no reason given)");
		json_object_put(*reply);
		*reply = NULL;
		return -EPROTO;
	}
	return 0;
}

static json_object *cmd_req(const char *cmd)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "cmd", json_object_new_string(cmd));
	return r;
}

/*
 * A recording that ended without a command (its --for time up, the policy's recording
 * section changed, a full disk or a failed write) is audited as record_end when a look sees
 * the data plane's count of them grow (also when it started and ended between two looks);
 * a command's stop is audited by h_record.
 */
static void record_note(struct daemon *d, json_object *status)
{
	json_object *rec;
	const char *last;
	uint64_t ended;

	if (!json_object_object_get_ex(status, "recording", &rec))
		return;
	ended = get_u64_field(rec, "ended");
	last = get_str_field(rec, "last_end");
	if (d->rec_seen && ended > d->rec_ended && last) {
		bool ok = strstr(last, "stopped: its time (--for) is up") ||
			  strstr(last, "stopped: the policy changed its recording section");
		char detail[900];

		if (ended - d->rec_ended > 1)
			snprintf(detail, sizeof(detail), "%" PRIu64 " recordings ended by "
				 "themselves since the last look; the last: %.700s",
				 ended - d->rec_ended, last);
		else
			snprintf(detail, sizeof(detail), "%.800s", last);
		audit_line(d, ++d->seq, "event", "dataplane", "record_end", ok ? "ok" : "failed",
			   NULL, detail);
	}
	d->rec_seen = true;
	d->rec_ended = ended;
}

/* A retrain's requests run from the loop: a hung data plane holds it at most 5 s (a record
 * start waits up to 2 s for the recorder in the data plane). */
static int retrain_dp(void *ctx, json_object *req, json_object **reply, char *err, size_t errlen)
{
	return dp_call_t(ctx, req, 5000, reply, err, errlen);
}

static void retrain_audit(void *ctx, const char *result, const char *detail)
{
	struct daemon *d = ctx;

	audit_line(d, ++d->seq, "event", "linegated", "retrain", result, NULL, detail);
}

/* What a retrain works with: the running policy, the active model, the registry. model and
 * cands are the caller's buffers (PATH_MAX). */
static void retrain_env(struct daemon *d, struct lg_retrain_env *e, char *model, char *cands)
{
	char err[256];

	*e = (struct lg_retrain_env){ .ctx = d, .dp = retrain_dp, .audit = retrain_audit,
				      .policy = &d->running, .policy_path = d->policy_path,
				      .train_bin = d->train_bin, .log_dir = d->state_dir };
	if (d->have_reg) {
		snprintf(cands, PATH_MAX, "%s/candidates", d->reg.root);
		e->candidates = cands;
	}
	if (d->have_reg && d->reg.active[0] &&
	    !lg_registry_path(&d->reg, d->reg.active, model, PATH_MAX, err, sizeof(err))) {
		e->model = model;
		e->model_ref = d->reg.active;
	}
	else if (d->running.model[0])
		e->model = d->running.model;
}

/* Once no retrain runs, the drifts that waited for it, oldest first: each device still in
 * drift gets its own (a retrain that starts ends the turn); one whose drift ended since is
 * audited and left. */
static void retrain_waiting(struct daemon *d, const struct lg_retrain_env *e)
{
	char name[64], method[32], detail[300];
	uint32_t id;

	while (lg_retrain_next(&d->retrain, name, sizeof(name), &id, method, sizeof(method))) {
		bool drifting = false;

		for (unsigned k = 0; k < d->ndata_drift; k++)
			drifting |= d->data_drift[k].id == id && d->data_drift[k].methods;
		if (drifting) {
			lg_retrain_drift(&d->retrain, e, name, id, method);
			continue;
		}
		snprintf(detail, sizeof(detail), "device %s (id %u): %s drift: it waited for "
			 "another retrain, and its drift ended before its turn", name, id, method);
		e->audit(e->ctx, "skipped", detail);
	}
}

/* The data plane's running generation: its policy hash (hex) and model label. */
/*
 * Data drift: the devices whose drift monitors changed since the last look at the data
 * plane's status, one audit line each ("data_drift", "started" or "ended", which monitors).
 * A start and its end between two looks are not seen here; the data plane's events say all.
 */
static void data_drift_note(struct daemon *d, json_object *status)
{
	static const char *const names[] = { "psi", "page_hinkley" };
	const char *inst = get_str_field(status, "instance");
	uint64_t epoch = 0;
	json_object *devs, *ev;
	size_t n;

	if (!inst)
		inst = "";
	if (json_object_object_get_ex(status, "model_epoch", &ev))
		epoch = json_object_get_uint64(ev);

	/* "drift": the devices in drift now; one that is not listed is in none */
	if (!json_object_object_get_ex(status, "drift", &devs) ||
	    !json_object_is_type(devs, json_type_array))
		return;
	n = json_object_array_length(devs);
	for (size_t i = 0; i < n; i++) {
		json_object *dev = json_object_array_get_idx(devs, i), *v;
		bool known = false;
		uint32_t id;

		if (!json_object_object_get_ex(dev, "id", &v))
			continue;
		id = (uint32_t)json_object_get_int64(v);
		for (unsigned k = 0; k < d->ndata_drift; k++)
			known |= d->data_drift[k].id == id;
		if (!known && d->ndata_drift < sizeof(d->data_drift) / sizeof(d->data_drift[0])) {
			const char *name = get_str_field(dev, "name");
			unsigned k = d->ndata_drift++;

			d->data_drift[k].id = id;
			d->data_drift[k].methods = 0;
			snprintf(d->data_drift[k].name, sizeof(d->data_drift[k].name), "%s",
				 name ? name : "?");
		}
	}
	for (unsigned k = 0; k < d->ndata_drift; k++) {
		uint8_t now = 0;
		char detail[400];
		const char *why_end;

		for (size_t i = 0; i < n; i++) {
			json_object *dev = json_object_array_get_idx(devs, i), *v, *ms;

			if (!json_object_object_get_ex(dev, "id", &v) ||
			    (uint32_t)json_object_get_int64(v) != d->data_drift[k].id ||
			    !json_object_object_get_ex(dev, "methods", &ms) ||
			    !json_object_is_type(ms, json_type_array))
				continue;
			for (size_t j = 0; j < json_object_array_length(ms); j++) {
				json_object *mj = json_object_array_get_idx(ms, j);
				const char *m = json_object_get_string(mj);

				for (unsigned b = 0; b < 2; b++)
					if (m && !strcmp(m, names[b]))
						now |= (uint8_t)(1u << b);
			}
		}
		/* The end's real reason: the data plane that saw the drift is gone (its monitors
		 * start again, Page-Hinkley from the level the data has now), or its model set
		 * changed (the monitors restart with the new model), or the data itself. */
		/* (a drift seen in another run than the one it was first seen in was raised
		 * again there) */
		if (now && (!d->data_drift[k].methods || strcmp(d->data_drift[k].inst, inst))) {
			snprintf(d->data_drift[k].inst, sizeof(d->data_drift[k].inst), "%s", inst);
			d->data_drift[k].epoch = epoch;
			d->data_drift[k].lost = false;
		}
		why_end = "says its scores are back at their level before the drift";
		if (d->data_drift[k].methods && !now) {
			if (strcmp(d->data_drift[k].inst, inst)) {
				why_end = "ended: drift state lost with the data plane's restart; its "
					  "monitors start again (Page-Hinkley from the level the data "
					  "has now: a drift still present is raised again by PSI only), "
					  "not back to normal";
				d->data_drift[k].lost = true;
				now_iso(d->data_drift[k].lost_at, sizeof(d->data_drift[k].lost_at));
			} else if (d->data_drift[k].epoch != epoch) {
				why_end = "ended: the model changed; monitoring restarts with the new "
					  "model";
			}
		}
		for (unsigned b = 0; b < 2; b++) {
			bool on = now & (1u << b);

			if (on == !!(d->data_drift[k].methods & (1u << b)))
				continue;
			snprintf(detail, sizeof(detail), "device %s (id %u): %s %s",
				 d->data_drift[k].name, d->data_drift[k].id, names[b],
				 on ? "says its data drifted from the model's training data" :
				      why_end);
			audit_line_dp(d, ++d->seq, "event", "dataplane", "data_drift",
				      on ? "started" : "ended", NULL, NULL, detail);
			fprintf(stderr, "linegated: data drift %s: %s\n", on ? "started" : "ended",
				detail);
			if (on && d->have_running) {
				struct lg_retrain_env e;
				char model[PATH_MAX], cands[PATH_MAX];

				retrain_env(d, &e, model, cands);
				lg_retrain_drift(&d->retrain, &e, d->data_drift[k].name,
						 d->data_drift[k].id, names[b]);
			}
		}
		d->data_drift[k].methods = now;
	}
}

/*
 * The data plane answered a look (ok) or did not (why): one audit line and one log line when
 * that changes, never one per look. While it does not answer, status says in_sync false and
 * why; the first look that gets an answer ends it, and drift_note() compares hashes again.
 */
static void dp_reach(struct daemon *d, bool ok, const char *why)
{
	char detail[800];

	clock_gettime(CLOCK_MONOTONIC, &d->dp_look);
	if (!ok)
		snprintf(d->dp_why, sizeof(d->dp_why), "%s", why);
	if (ok != d->dp_down)
		return;
	d->dp_down = !ok;
	if (ok) {
		snprintf(detail, sizeof(detail), "the data plane answers again (it did not since "
			 "%s)", d->dp_since);
	} else {
		now_iso(d->dp_since, sizeof(d->dp_since));
		snprintf(detail, sizeof(detail), "the data plane does not answer (%.600s): in_sync "
			 "is false until it does", why);
	}
	audit_line_dp(d, ++d->seq, "event", "dataplane", "dataplane",
		      ok ? "answering" : "not_answering", d->have_running ? d->running.hash : NULL,
		      NULL, detail);
	fprintf(stderr, "linegated: %s\n", detail);
}

static void restore_models(struct daemon *d, const char *peer, bool always);

/* The models the registry says should run: its active one (or the policy's detection.model,
 * by the label the data plane gives it: its file name) and its shadow ("" = none). */
static const char *models_want(const struct daemon *d)
{
	const char *base = strrchr(d->running.model, '/');

	return d->reg.active[0] ? d->reg.active : base ? base + 1 : d->running.model;
}

/*
 * What the data plane runs (its status r) against what the registry names: models_off says
 * why they differ ("" when they do not), and in_sync is false while it does. Judged from
 * what the data plane reports, never from a push that once succeeded (a trial: a restarted
 * data plane ran the policy's model while status said in sync). Audited when it changes.
 */
static void models_note(struct daemon *d, json_object *r)
{
	const char *m = get_str_field(r, "model"), *sh = get_str_field(r, "shadow_model");
	json_object *v;
	char off[sizeof(d->models_off)] = "";

	snprintf(d->dp_model, sizeof(d->dp_model), "%s", m ? m : "");
	snprintf(d->dp_shadow, sizeof(d->dp_shadow), "%s", sh ? sh : "");
	if (json_object_object_get_ex(r, "model_epoch", &v))
		d->dp_model_epoch = json_object_get_uint64(v);
	/* a failed restore said it already (models_why, in_sync false) until a push works */
	if (d->models_why[0])
		return;
	if (d->have_reg && d->have_running &&
	    (strcmp(d->dp_model, models_want(d)) || strcmp(d->dp_shadow, d->reg.shadow)))
		snprintf(off, sizeof(off), "the data plane runs %.150s%s%.150s, not the "
			 "registry's %s%.150s%s%.100s", d->dp_model[0] ? d->dp_model : "no model",
			 d->dp_shadow[0] ? ", shadow " : "", d->dp_shadow,
			 d->reg.active[0] ? "active " : "(the policy's detection.model) ",
			 models_want(d), d->reg.shadow[0] ? ", shadow " : "", d->reg.shadow);
	if (!strcmp(off, d->models_off))
		return;
	audit_line_dp(d, ++d->seq, "event", "dataplane", "model_drift",
		      off[0] ? "drifted" : "resolved", NULL, NULL,
		      off[0] ? off : "the data plane runs the registry's models again");
	fprintf(stderr, "linegated: models: %s\n",
		off[0] ? off : "the data plane runs the registry's models again");
	snprintf(d->models_off, sizeof(d->models_off), "%s", off);
}

/* The data plane's run changed (its status "instance"): it restarted. Audited and logged. */
static void dp_restart_note(struct daemon *d, const char *inst)
{
	char detail[300];

	snprintf(detail, sizeof(detail), "the data plane restarted (run %.60s, was %.60s): its "
		 "drift monitors and the models it was told to run start again", inst,
		 d->dp_instance);
	audit_line_dp(d, ++d->seq, "event", "dataplane", "dataplane", "restarted",
		      d->have_running ? d->running.hash : NULL, NULL, detail);
	fprintf(stderr, "linegated: %s\n", detail);
}

/*
 * After a restart of the data plane: the models the registry had it run went with it (it
 * starts with the policy's detection.model). linegated pushes them again, audited, as at its
 * own start, and looks at what it runs then.
 */
static void dp_restore(struct daemon *d)
{
	char why[256];
	json_object *r;

	if (!d->have_reg || !d->have_running)
		return;
	restore_models(d, "dataplane", true);
	if (!dp_call_t(d, cmd_req("status"), DP_LOOK_TIMEOUT_MS, &r, why, sizeof(why))) {
		models_note(d, r);
		json_object_put(r);
	}
}

/* Look at the data plane's status (with the short timeout): its running generation's hash,
 * and with keep, the whole reply (the caller's to put). Records whether it answered, the
 * devices in drift and the models it runs; pushes the registry's models again when it
 * restarted. */
static int dp_status_keep(struct daemon *d, char hex[65], json_object **keep, char *err,
			  size_t errlen)
{
	json_object *r;
	const char *h, *inst;
	bool restarted;
	int ret = dp_call_t(d, cmd_req("status"), DP_LOOK_TIMEOUT_MS, &r, err, errlen);

	/* A refusal is an answer: the data plane is there. */
	dp_reach(d, ret == 0 || ret == -EPROTO, err);
	if (ret)
		return ret;
	h = get_str_field(r, "policy_sha256");
	snprintf(hex, 65, "%s", h ? h : "");
	inst = get_str_field(r, "instance");
	restarted = inst && d->dp_instance[0] && strcmp(inst, d->dp_instance);
	if (restarted)
		dp_restart_note(d, inst);
	data_drift_note(d, r);
	if (restarted)
		d->rec_seen = false; /* its counters start again */
	record_note(d, r);
	if (restarted)
		dp_restore(d);
	else
		models_note(d, r);
	if (inst)
		snprintf(d->dp_instance, sizeof(d->dp_instance), "%s", inst);
	if (keep)
		*keep = r;
	else
		json_object_put(r);
	return 0;
}

static int dp_status(struct daemon *d, char hex[65], char *err, size_t errlen)
{
	return dp_status_keep(d, hex, NULL, err, errlen);
}

/* Push policy text to the data plane; it parses the same text with the same parser, and
 * resolves relative paths against the same file name. */
static int push(struct daemon *d, const char *text, size_t len, const char *name, char *msg,
		size_t msglen, char *rec_err, size_t rec_errlen)
{
	json_object *req, *reply, *v;
	int ret;

	if (!d->dp_path)
		return 0;
	req = cmd_req("apply");
	json_object_object_add(req, "policy", json_object_new_string_len(text, (int)len));
	json_object_object_add(req, "name", json_object_new_string(name));
	ret = dp_call(d, req, &reply, msg, msglen);
	if (ret)
		return ret;
	/* Applied, but the recording its 'recording' section enables did not start. */
	if (json_object_object_get_ex(reply, "recording_error", &v))
		snprintf(rec_err, rec_errlen, "%s", json_object_get_string(v));
	/* Applied, with what the data plane does not do of it (fragments: reassemble on
	 * afxdp, trial J F3): the operator's reply says so. */
	if (json_object_object_get_ex(reply, "not_done", &v))
		snprintf(d->dp_warning, sizeof(d->dp_warning), "%s", json_object_get_string(v));
	json_object_put(reply);
	return 0;
}

/*
 * The state folder (--state-dir):
 *   versions/N.yaml, versions/N.json   every applied policy (never deleted) and its metadata
 *                                      (version, sha256, time, peer, what, source)
 *   current.json                       the running version, its hash, and the boot file's
 *                                      hash when it was applied
 *   pending.yaml, pending.json         the policy being pushed (between intent and result)
 * Every file is written atomically (temp, fsync, rename, fsync of the folder).
 */
static int spath(const struct daemon *d, char *out, size_t len, const char *tail)
{
	int n = snprintf(out, len, "%s/%s", d->state_dir, tail);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int write_json(const char *path, json_object *o)
{
	size_t len;
	const char *t = json_object_to_json_string_length(o, JSON_C_TO_STRING_PRETTY, &len);

	return lg_write_file_atomic(path, t, len, 0600);
}

static json_object *read_json(const char *path)
{
	char *text, why[128];
	size_t len;
	json_object *o;

	if (lg_read_file(path, &text, &len))
		return NULL;
	o = lg_ctl_parse_object(text, len, why, sizeof(why));
	free(text);
	return o;
}

static int state_init(struct daemon *d, char *err, size_t errlen)
{
	char p[PATH_MAX];
	struct stat st;

	if (mkdir(d->state_dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "--state-dir %s: %s", d->state_dir, strerror(errno));
		return -errno;
	}
	if (stat(d->state_dir, &st) || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "--state-dir %s: not a folder", d->state_dir);
		return -ENOTDIR;
	}
	if ((st.st_mode & 077) && chmod(d->state_dir, 0700)) {
		snprintf(err, errlen, "--state-dir %s is mode %04o and cannot be made 0700: %s",
			 d->state_dir, st.st_mode & 07777, strerror(errno));
		return -errno;
	}
	if (spath(d, p, sizeof(p), "versions") || (mkdir(p, 0700) && errno != EEXIST)) {
		snprintf(err, errlen, "%s/versions: %s", d->state_dir, strerror(errno));
		return -EIO;
	}
	/* One linegated a state folder: two wrote one history and one fleet.json and reported
	 * as one server (trial R, s23). The lock goes with the process (kept open). */
	{
		int fd = spath(d, p, sizeof(p), "linegated.lock") ? -1 :
			 open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0) {
			snprintf(err, errlen, "%s/linegated.lock: %s", d->state_dir,
				 strerror(errno));
			return -EIO;
		}
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			snprintf(err, errlen, "--state-dir %.400s is in use by another linegated "
				 "(it holds linegated.lock there): one linegated a state folder",
				 d->state_dir);
			close(fd);
			return -EBUSY;
		}
	}
	return 0;
}

/* Highest version number kept, 0 when none. */
static unsigned state_max_version(const struct daemon *d)
{
	char p[PATH_MAX];
	struct dirent *e;
	unsigned max = 0, n;
	char tail[8];
	DIR *dir;

	if (spath(d, p, sizeof(p), "versions") || !(dir = opendir(p)))
		return 0;
	while ((e = readdir(dir)))
		if (sscanf(e->d_name, "%u.%7s", &n, tail) == 2 && !strcmp(tail, "json") && n > max)
			max = n;
	closedir(dir);
	return max;
}

static json_object *meta_new(unsigned version, const uint8_t *hash, const char *peer,
			     const char *what, const char *source)
{
	json_object *m = json_object_new_object();
	char ts[64], hex[65];

	now_iso(ts, sizeof(ts));
	hex32(hash, hex);
	json_object_object_add(m, "version", json_object_new_int64(version));
	json_object_object_add(m, "sha256", json_object_new_string(hex));
	json_object_object_add(m, "time", json_object_new_string(ts));
	json_object_object_add(m, "peer", json_object_new_string(peer));
	json_object_object_add(m, "what", json_object_new_string(what));
	json_object_object_add(m, "source", json_object_new_string(source));
	return m;
}

/* Write text + meta as "<stem>.yaml" and "<stem>.json" in the state folder. */
static int state_write_pair(const struct daemon *d, const char *stem, const char *text,
			    size_t len, json_object *meta)
{
	char tail[64], p[PATH_MAX];
	int ret;

	snprintf(tail, sizeof(tail), "%s.yaml", stem);
	ret = spath(d, p, sizeof(p), tail);
	if (!ret)
		ret = lg_write_file_atomic(p, text, len, 0600);
	snprintf(tail, sizeof(tail), "%s.json", stem);
	if (!ret)
		ret = spath(d, p, sizeof(p), tail);
	/* The metadata last: a version exists once its .json does. */
	if (!ret)
		ret = write_json(p, meta);
	return ret;
}

static int state_set_current(struct daemon *d, unsigned version, const uint8_t *hash,
			     const char *boot_hex)
{
	json_object *c = json_object_new_object();
	char p[PATH_MAX], hex[65];
	int ret;

	hex32(hash, hex);
	json_object_object_add(c, "version", json_object_new_int64(version));
	json_object_object_add(c, "sha256", json_object_new_string(hex));
	char real[PATH_MAX];

	/* Its real path: a start with another --policy is told from an edit of this one. */
	json_object_object_add(c, "boot_file",
			       json_object_new_string(realpath(d->policy_path, real) ? real :
										d->policy_path));
	json_object_object_add(c, "boot_sha256", json_object_new_string(boot_hex));
	ret = spath(d, p, sizeof(p), "current.json");
	if (!ret)
		ret = write_json(p, c);
	json_object_put(c);
	return ret;
}

/* Keep an applied policy as the next version and make it the current one. */
static int state_persist(struct daemon *d, const char *text, size_t len, const uint8_t *hash,
			 const char *peer, const char *what, const char *source,
			 const char *boot_hex, unsigned *version)
{
	char stem[32];
	unsigned v = state_max_version(d) + 1;
	json_object *m = meta_new(v, hash, peer, what, source);
	int ret;

	snprintf(stem, sizeof(stem), "versions/%u", v);
	ret = state_write_pair(d, stem, text, len, m);
	json_object_put(m);
	if (!ret)
		ret = state_set_current(d, v, hash, boot_hex);
	if (!ret)
		*version = v;
	return ret;
}

/* Whether kept version v has this source (the file its relative paths resolve against). */
static bool version_source_is(const struct daemon *d, unsigned v, const char *source)
{
	char tail[64], p[PATH_MAX];
	json_object *m;
	const char *src;
	bool same;

	snprintf(tail, sizeof(tail), "versions/%u.json", v);
	if (spath(d, p, sizeof(p), tail) || !(m = read_json(p)))
		return false;
	src = get_str_field(m, "source");
	same = src && source && !strcmp(src, source);
	json_object_put(m);
	return same;
}

/* A kept version's text and the file name its relative paths resolve against. */
static int state_load(const struct daemon *d, const char *stem, char **text, size_t *len,
		      char *source, size_t slen, json_object **metap)
{
	char tail[64], p[PATH_MAX];
	json_object *m;
	const char *src;
	int ret;

	snprintf(tail, sizeof(tail), "%s.json", stem);
	if (spath(d, p, sizeof(p), tail) || !(m = read_json(p)))
		return -ENOENT;
	src = get_str_field(m, "source");
	snprintf(source, slen, "%s", src ? src : d->policy_path);
	snprintf(tail, sizeof(tail), "%s.yaml", stem);
	ret = spath(d, p, sizeof(p), tail);
	if (!ret)
		ret = lg_read_file(p, text, len);
	if (ret || !metap)
		json_object_put(m);
	else
		*metap = m;
	return ret;
}

static void state_clear_pending(const struct daemon *d)
{
	char p[PATH_MAX];

	if (!spath(d, p, sizeof(p), "pending.json"))
		unlink(p);
	if (!spath(d, p, sizeof(p), "pending.yaml"))
		unlink(p);
}

/* The boot file's hash as it is now, "" when it cannot be read. */
static void boot_hash(const struct daemon *d, char hex[65])
{
	char *text;
	size_t len;

	hex[0] = '\0';
	if (lg_read_file(d->policy_path, &text, &len))
		return;
	lg_sha256_hex(text, len, hex);
	free(text);
}
/* A device's keys as the operator may see them: id, fingerprint and expiry, never a key
 * byte. */
static json_object *keys_json(const struct lg_policy_device *dev)
{
	json_object *a = json_object_new_array();

	for (unsigned k = 0; k < dev->nkeys; k++) {
		json_object *o = json_object_new_object();
		char fp[LG_KEY_FP_LEN + 1];

		lg_policy_key_fingerprint(&dev->keys[k], fp);
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

/*
 * What a candidate changes against the running policy: "changes" field by field from the one
 * table of policy fields (lg_policy_diff, the same answer the data plane's apply gives),
 * "start_only" naming the first change a running data plane refuses, and the device lists
 * (added, removed, changed) and "settings_changed" that scripts read.
 */
static json_object *diff(const struct lg_policy *a, const struct lg_policy *b)
{
	json_object *o = json_object_new_object(), *add = json_object_new_array(),
		    *rm = json_object_new_array(), *chg = json_object_new_array(), *changes = NULL;
	struct lg_policy_diff d = { 0 };
	bool settings = false;

	if (!lg_policy_diff(a, b, &d)) {
		char *js = lg_policy_diff_json(&d);
		const struct lg_policy_change *so = lg_policy_diff_start_only(&d);

		changes = js ? json_tokener_parse(js) : NULL;
		free(js);
		for (size_t i = 0; i < d.n; i++)
			settings |= d.c[i].kind == LG_CHANGE_SETTING;
		if (so) {
			char why[1200];

			snprintf(why, sizeof(why), "%s: %s -> %s is start-only: an apply is refused "
				 "whole; edit the boot policy and restart linegate", so->field,
				 so->old[0] ? so->old : "(none)", so->new[0] ? so->new : "(none)");
			json_object_object_add(o, "start_only", json_object_new_string(why));
		}
		lg_policy_diff_free(&d);
	}
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
	json_object_object_add(o, "changes", changes ? changes : json_object_new_array());
	json_object_object_add(o, "added", add);
	json_object_object_add(o, "removed", rm);
	json_object_object_add(o, "changed", chg);
	json_object_object_add(o, "settings_changed", json_object_new_boolean(settings));
	return o;
}

/* The running policy's hash as hex ("" before the first). */
static void running_hex(const struct daemon *d, char hex[65])
{
	hex[0] = '\0';
	if (d->have_running)
		hex32(d->running.hash, hex);
}

/*
 * The data plane's running policy (dp_hex, from its status) against linegated's: an audit
 * line and a log line when it drifts away (or to yet another policy) and when it is back,
 * never one per look. Nothing is pushed: the operator may have restarted linegate with
 * another boot file on purpose; linegatectl apply or rollback puts linegated's back.
 */
static void drift_note(struct daemon *d, const char *dp_hex, const char *how)
{
	char hex[65], detail[512];
	bool same;

	if (!d->have_running || !dp_hex[0])
		return;
	running_hex(d, hex);
	same = !strcmp(hex, dp_hex);
	if (same == d->in_sync && (same || !strcmp(dp_hex, d->drift_hex)))
		return;
	d->in_sync = same;
	snprintf(d->drift_hex, sizeof(d->drift_hex), "%s", same ? "" : dp_hex);
	if (same)
		snprintf(detail, sizeof(detail), "the data plane runs linegated's policy (version "
			 "%u) again: %s", d->version, how);
	else
		snprintf(detail, sizeof(detail), "the data plane runs %.8s, not linegated's "
			 "version %u (%.8s); nothing pushed: linegatectl apply or rollback N puts "
			 "a version back", dp_hex, d->version, hex);
	audit_line_dp(d, ++d->seq, "event", "dataplane", "drift", same ? "resolved" : "drifted",
		      d->running.hash, dp_hex, detail);
	fprintf(stderr, "linegated: drift %s: %s\n", same ? "resolved" : "noticed", detail);
}

/* Every interval: what does the data plane run? (No answer: nothing is known, nothing said.) */
static void drift_check(struct daemon *d)
{
	char dp_hex[65], why[512];

	if (d->dp_path && d->have_running && !dp_status(d, dp_hex, why, sizeof(why)))
		drift_note(d, dp_hex, "it came back by itself");
}

/*
 * Validate and apply policy text in two phases; on any failure the running policy stays.
 * what names the change in the audit ("apply", "rollback"), source is the file the text came
 * from (relative paths resolve against it). With reply, fills it (devices, version, diff).
 * as_version: the kept version this text already is (a restart re-pushing it), 0 = keep it
 * as a new version.
 */
/*
 * A text that is not the file it is named after (a fleet bundle's policy part, whose
 * relative paths resolve as in the boot file's folder): its errors name d->shown_as, the
 * bundle's part, in the audit line and the answer, not the boot file.
 */
static void shown_as(const struct daemon *d, const char *source, char *msg, size_t msglen)
{
	size_t n = source ? strlen(source) : 0;
	char tail[1024];

	if (!d->shown_as || !n || strncmp(msg, source, n) || msg[n] != ':')
		return;
	snprintf(tail, sizeof(tail), "%s", msg + n);
	snprintf(msg, msglen, "%.100s%s", d->shown_as, tail);
}

/* Does b run another model than a (detection.model, one file however it is spelled)? */
static bool model_changed(const struct lg_policy *a, const struct lg_policy *b)
{
	struct lg_policy_diff df = { 0 };
	bool ch = false;

	if (lg_policy_diff(a, b, &df))
		return strcmp(a->model, b->model) != 0;
	for (size_t i = 0; i < df.n; i++)
		ch |= !df.c[i].device && !strcmp(df.c[i].field, "detection.model");
	lg_policy_diff_free(&df);
	return ch;
}

static void append(char *msg, size_t msglen, const char *text)
{
	size_t ml = strlen(msg);

	if (ml < msglen)
		snprintf(msg + ml, msglen - ml, "%s", text);
}

/*
 * The models that run after an apply of p must serve it: the policy's detection.model (the
 * deep check, lg_policy_validate()) and, when p keeps detection.model, the registry's
 * active and shadow models, which then go on running (docs/model-registry.md "The policy's
 * detection.model"). A device one of them has no detector for (a kNN model is per device)
 * would be counted as no_detector and never scored: refused, naming the device and the
 * model. 0, or a negative errno with the reason in msg.
 */
static int registry_serves(const struct daemon *d, const struct lg_policy *p, bool apply,
			   char *msg, size_t msglen)
{
	char why[1200];
	int ret;

	if (!d->have_reg || (d->have_running && model_changed(&d->running, p)))
		return 0;
	ret = lg_registry_check_policy(&d->reg, p, lg_policy_check_model, why, sizeof(why));
	if (ret)
		snprintf(msg, msglen, "%.1000s; it runs after an apply of this policy (the policy "
			 "keeps detection.model %.200s), so %s. Activate a model with a detector for "
			 "every device (linegatectl model add, model activate), or leave the device "
			 "out", why, p->model, apply ? "nothing was applied" : "an apply is refused");
	return ret;
}

/* apply --dry-run and diff: what an apply of p would do to the registry's models. */
static void registry_note(const struct daemon *d, const struct lg_policy *p, char *msg,
			  size_t msglen)
{
	char note[600];

	if (!d->have_reg || !d->have_running || (!d->reg.active[0] && !d->reg.shadow[0]) ||
	    !model_changed(&d->running, p))
		return;
	snprintf(note, sizeof(note), "; an apply would run the new detection.model in place of "
		 "%s%s%s%s (docs/model-registry.md)",
		 d->reg.active[0] ? "the registry's active model " : "", d->reg.active,
		 d->reg.active[0] && d->reg.shadow[0] ? ", and end the shadow " :
		 d->reg.shadow[0] ? "the running model and end the shadow " : "", d->reg.shadow);
	append(msg, msglen, note);
}

/*
 * An applied policy that changes detection.model is the operator's choice of model: the data
 * plane runs the new detection.model, with no shadow (a shadow is compared with the model it
 * was set beside). The registry follows, so that a restart keeps that choice (restore_models()
 * runs what the registry names): its active model goes onto the history (model rollback
 * returns to it) and the shadow ends, each step an audit line of its own. What changed is
 * appended to msg (and logged). docs/model-registry.md "The policy's detection.model".
 */
static void registry_follow_policy(struct daemon *d, const char *peer, const char *what,
				   char *msg, size_t msglen)
{
	const char *base = strrchr(d->running.model, '/');
	const char *label = base ? base + 1 : d->running.model;
	char was[160], why[512], detail[900], note[900] = "";
	int ret;

	if (!d->reg.active[0] && !d->reg.shadow[0])
		return;
	if (d->reg.active[0]) {
		snprintf(was, sizeof(was), "%s", d->reg.active);
		ret = lg_registry_set_active(&d->reg, "", true, why, sizeof(why));
		snprintf(detail, sizeof(detail), "the policy's detection.model %.200s, chosen by "
			 "the policy's %s (%s was active; model rollback returns to it)%s%.300s",
			 label, what, was, ret ? ": the registry could not keep it: " : "",
			 ret ? why : "");
		audit_event(d, peer, "model_activate", ret ? "failed" : "ok", NULL, detail);
		snprintf(note, sizeof(note), "; the policy's new detection.model %.200s runs in "
			 "place of the registry's active model %s (model rollback returns to it)",
			 label, was);
	}
	if (d->reg.shadow[0]) {
		size_t nl = strlen(note);

		snprintf(was, sizeof(was), "%s", d->reg.shadow);
		ret = lg_registry_set_shadow(&d->reg, NULL, why, sizeof(why));
		snprintf(detail, sizeof(detail), "off: the policy's %s changed detection.model "
			 "(%s was the shadow of the model before)%s%.300s", what, was,
			 ret ? ": the registry could not keep it: " : "", ret ? why : "");
		audit_event(d, peer, "model_shadow", ret ? "failed" : "ok", NULL, detail);
		snprintf(note + nl, sizeof(note) - nl, "; shadow %s ended (model shadow %s scores "
			 "it beside the new model)", was, was);
	}
	if (msg)
		append(msg, msglen, note);
	fprintf(stderr, "linegated: models: %s\n", note + 2);
	/* The data plane dropped them with the apply; one that did not (it ran another policy
	 * than linegated's) is told now. */
	restore_models(d, peer, true);
}

static int apply_text(struct daemon *d, const char *text, size_t len, const char *source,
		      const char *peer, const char *what, const char *detail, bool dry_run,
		      unsigned as_version, json_object *reply, char *msg, size_t msglen)
{
	bool was_drift = false, new_model, same;
	struct lg_policy p;
	char boot_hex[65], names[512], adetail[1024] = "", rec_err[512] = "";
	uint64_t seq;
	unsigned version = 0;
	int ret = lg_policy_validate(text, len, source, &p, msg, msglen);

	if (!ret && (ret = registry_serves(d, &p, !dry_run, msg, msglen)))
		lg_policy_free(&p);
	if (ret) {
		if (dry_run)
			return ret;
		d->refused++;
		shown_as(d, source, msg, msglen);
		audit_event(d, peer, what, "refused", NULL, msg);
		return ret;
	}
	/* The deep check's warning (an ONNX model without linegate.window, the demo key, ...):
	 * to the operator; it names the policy's file, which may hold a key's digits. */
	lg_redact_secrets(msg);
	if (msg[0] && reply)
		json_object_object_add(reply, "warning", json_object_new_string(msg));
	if (msg[0])
		fprintf(stderr, "linegated: %s\n", msg);
	msg[0] = '\0';
	if (dry_run) {
		json_object *df = diff(&d->running, &p), *so;

		if (json_object_object_get_ex(df, "start_only", &so))
			snprintf(msg, msglen, "valid, %zu devices; dry run: nothing applied; an apply "
				 "would be refused: %.700s", p.ndevices, json_object_get_string(so));
		else
			snprintf(msg, msglen, "valid, %zu devices; dry run: nothing applied",
				 p.ndevices);
		if (reply)
			json_object_object_add(reply, "diff", df);
		else
			json_object_put(df);
		registry_note(d, &p, msg, msglen);
		lg_policy_free(&p);
		return 0;
	}
	seq = ++d->seq;
	/* The boot file's hash for this apply, read before the push: the enrollment verbs
	 * rewrite the boot file and then apply it, so it is the edited file's hash. Kept with
	 * the pending policy, so that a crash after the push keeps the same one. */
	boot_hash(d, boot_hex);
	/* Phase 1: the policy is kept aside and the intent is on disk before anything moves,
	 * so that a crash from here on can be told apart and reconciled at the next start. */
	if (d->state_dir) {
		json_object *m = meta_new(0, p.hash, peer, what, source);

		json_object_object_add(m, "boot_sha256", json_object_new_string(boot_hex));
		ret = state_write_pair(d, "pending", text, len, m);
		json_object_put(m);
		if (ret) {
			snprintf(msg, msglen, "%s: cannot keep the policy: %s", d->state_dir,
				 strerror(-ret));
			audit_event(d, peer, what, "failed", p.hash, msg);
			lg_policy_free(&p);
			return ret;
		}
	}
	audit_line(d, seq, "intent", peer, what, NULL, p.hash, detail ? detail : source);
	crash_point(d, "after-intent");
	/* The data plane ran another policy than linegated's (drift): a diff against
	 * linegated's version may be empty, but this apply does change the data plane. */
	was_drift = d->dp_path && !d->in_sync && !d->dp_down;
	d->dp_warning[0] = '\0';
	ret = push(d, text, len, source, msg, msglen, rec_err, sizeof(rec_err));
	if (ret) {
		d->refused++;
		shown_as(d, source, msg, msglen);
		/* refused: the data plane said no (and why); failed: no answer from it. */
		audit_line(d, seq, "result", peer, what, ret == -EPROTO ? "refused" : "failed",
			   p.hash, msg);
		if (d->state_dir)
			state_clear_pending(d);
		lg_policy_free(&p);
		return ret;
	}
	crash_point(d, "after-push");
	version = as_version;
	/* The same text from the same file as the current version (the file applied again, a
	 * reload): applied (key files and models are read anew), and it stays that version. A
	 * copy of it as the next version made "rollback" (to the version before the current
	 * one) return to this very text. From another file it is another version: its
	 * relative paths (key files, the model) resolve elsewhere. */
	same = d->state_dir && !as_version && d->version && d->have_running &&
	       !memcmp(d->running.hash, p.hash, sizeof(p.hash)) &&
	       version_source_is(d, d->version, source);
	if (same) {
		version = d->version;
		ret = state_set_current(d, version, p.hash, boot_hex);
		state_clear_pending(d);
		if (ret)
			fprintf(stderr, "linegated: applied, but %s could not note it: %s\n",
				d->state_dir, strerror(-ret));
	} else if (d->state_dir && !as_version) {
		ret = state_persist(d, text, len, p.hash, peer, detail ? detail : what, source,
				    boot_hex, &version);
		state_clear_pending(d);
		if (ret)
			fprintf(stderr, "linegated: applied, but %s could not keep it: %s\n",
				d->state_dir, strerror(-ret));
	}
	crash_point(d, "after-persist");
	if (reply) {
		json_object_object_add(reply, "diff", diff(&d->running, &p));
		json_object_object_add(reply, "version", json_object_new_int64(version));
	}
	new_model = d->have_running ? model_changed(&d->running, &p) : d->start_model_changed;
	if (d->have_running)
		lg_policy_free(&d->running);
	d->running = p;
	d->have_running = true;
	d->version = version;
	d->applies++;
	if (version && same)
		snprintf(msg, msglen, "applied: %zu devices (version %u: the same text as that "
			 "version, kept as it)", p.ndevices, version);
	else if (version)
		snprintf(msg, msglen, "applied: %zu devices (version %u)", p.ndevices, version);
	else
		snprintf(msg, msglen, "applied: %zu devices", p.ndevices);
	/* A device without replay protection is said so wherever the change is recorded. */
	if (lg_policy_unprotected(&p, names, sizeof(names))) {
		size_t ml = strlen(msg);

		snprintf(msg + ml, msglen - ml, "; without replay protection (replay: none): %s",
			 names);
		snprintf(adetail, sizeof(adetail), "%s; without replay protection: %s",
			 detail ? detail : source, names);
	}
	if (rec_err[0]) {
		size_t ml = strlen(msg);

		snprintf(msg + ml, msglen - ml, "; recording not started: %s", rec_err);
	}
	if (d->dp_warning[0]) {
		size_t ml = strlen(msg);

		snprintf(msg + ml, msglen - ml, "; linegate: %s", d->dp_warning);
		fprintf(stderr, "linegated: linegate: %s\n", d->dp_warning);
	}
	if (was_drift) {
		size_t ml = strlen(msg);

		snprintf(msg + ml, msglen - ml, "; the data plane ran another policy than "
			 "linegated's (drift): the changes above are against linegated's version, "
			 "and the data plane now runs this one");
	}
	audit_line(d, seq, "result", peer, what, "ok", p.hash,
		   adetail[0] ? adetail : detail ? detail : source);
	/* A new detection.model is the model the operator chose: the registry follows (at
	 * start-up, once it is open). */
	if (new_model && d->have_reg)
		registry_follow_policy(d, peer, what, msg, msglen);
	else if (new_model)
		d->follow_at_start = true;
	if (d->dp_path) {
		char hex[65];

		running_hex(d, hex);
		drift_note(d, hex, "linegated applied it");
	}
	return 0;
}

static int apply_file(struct daemon *d, const char *peer, char *msg, size_t msglen)
{
	char *text;
	size_t len;
	int ret = lg_read_file(d->policy_path, &text, &len);

	if (ret) {
		snprintf(msg, msglen, "%s: %s", d->policy_path, strerror(-ret));
		audit_event(d, peer, "apply", "refused", NULL, msg);
		return ret;
	}
	ret = apply_text(d, text, len, d->policy_path, peer, "apply", NULL, false, 0, NULL, msg,
			 msglen);
	free(text);
	return ret;
}

/* The file watch: apply the policy file when its content is new (an event for a file whose
 * bytes did not change applies nothing). */
static void watch_apply(struct daemon *d, const char *why)
{
	char *text, msg[1024];
	size_t len;
	uint8_t h[32];
	int ret;

	if (lg_read_file(d->policy_path, &text, &len))
		return; /* replaced right now: its IN_MOVED_TO comes next */
	SHA256((const unsigned char *)text, len, h);
	if ((d->have_running && !memcmp(h, d->running.hash, 32)) || !memcmp(h, d->tried_hash, 32)) {
		free(text);
		return;
	}
	ret = apply_text(d, text, len, d->policy_path, "file-watch", "apply", why, false, 0,
			 NULL, msg, sizeof(msg));
	free(text);
	/* A refused content is not tried again until the file changes. */
	if (ret)
		memcpy(d->tried_hash, h, 32);
	else
		memset(d->tried_hash, 0, 32);
	fprintf(stderr, "linegated: file watch (%s): %s%s\n", why,
		ret ? "kept the running policy: " : "", msg);
}

/* Tell the data plane which models to run: registry references, or "" for the policy's
 * detection.model. It verifies their signatures itself before it loads them. */
static int push_models(struct daemon *d, const char *active, const char *shadow, char *msg,
		       size_t msglen)
{
	char ap[LG_PATH_MAX * 3], sp[LG_PATH_MAX * 3];
	const char *al = active, *base;
	json_object *req, *reply;
	int ret;

	if (!d->dp_path) {
		snprintf(msg, msglen,
			 "no data plane to run models (start linegated with --dataplane)");
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
	req = cmd_req("model");
	json_object_object_add(req, "active", json_object_new_string(ap));
	json_object_object_add(req, "label", json_object_new_string(al));
	if (shadow[0]) {
		ret = lg_registry_path(&d->reg, shadow, sp, sizeof(sp), msg, msglen);
		if (ret) {
			json_object_put(req);
			return ret;
		}
		json_object_object_add(req, "shadow", json_object_new_string(sp));
		json_object_object_add(req, "shadow_label", json_object_new_string(shadow));
	}
	ret = dp_call(d, req, &reply, msg, msglen);
	if (ret)
		return ret;
	json_object_put(reply);
	d->models_why[0] = '\0';
	snprintf(msg, msglen, "running %.200s%s%.200s", al, shadow[0] ? ", shadow " : "", shadow);
	return 0;
}

static bool registry_ready(struct daemon *d, char *msg, size_t msglen)
{
	if (d->have_reg)
		return true;
	snprintf(msg, msglen, "the policy names no model registry (models.registry)");
	return false;
}

/* What the data plane runs, beside what the registry names (they differ after a failed
 * restore: models_why): "running", "running_shadow", and "running_why" when they differ. */
static void models_running(struct daemon *d, json_object *reply)
{
	json_object *r, *v;
	char why[512];

	if (!d->dp_path || d->dp_down || dp_call_t(d, cmd_req("status"), DP_LOOK_TIMEOUT_MS, &r,
						     why, sizeof(why)))
		return;
	if (json_object_object_get_ex(r, "model", &v))
		json_object_object_add(reply, "running", json_object_get(v));
	if (json_object_object_get_ex(r, "shadow_model", &v))
		json_object_object_add(reply, "running_shadow", json_object_get(v));
	models_note(d, r);
	json_object_put(r);
	if (d->models_why[0] || d->models_off[0])
		json_object_object_add(reply, "running_why", json_object_new_string(
						      d->models_why[0] ? d->models_why : d->models_off));
}

static int h_models(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;

	if (!registry_ready(d, c->err, c->errlen))
		return -ENOENT;
	json_object_object_add(c->reply, "models", lg_registry_list(&d->reg));
	json_object_object_add(c->reply, "active", json_object_new_string(d->reg.active));
	json_object_object_add(c->reply, "shadow", json_object_new_string(d->reg.shadow));
	models_running(d, c->reply);
	return 0;
}

/*
 * Candidates (docs/model-registry.md, "Candidates"): models linegate-train wrote into
 * <registry>/candidates/ID/ (model.json unsigned, evaluation.json, state) for a person to
 * approve or reject. linegated lists them and records the verdict; the approval itself
 * (signing with the operator's key, model_add, model_shadow) is linegatectl's, so the key
 * never reaches the daemon.
 */
static bool candidate_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (!n || n > 95 || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && !strchr("-_.", id[i]))
			return false;
	return true;
}

static void candidate_state(const char *dir, char *state, size_t len)
{
	char path[LG_PATH_MAX + 128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/state", dir);
	f = fopen(path, "r");
	snprintf(state, len, "unknown");
	if (f) {
		if (fgets(state, (int)len, f))
			state[strcspn(state, "\n")] = '\0';
		fclose(f);
	}
}

/*
 * A verdict is linegated's to keep, not only the candidate folder's: the folder's state file
 * is written by whoever can write candidates/ (trial X4, s27: 'pending' written over a
 * rejection, and the candidate was approved). Each verdict is kept in the state folder too
 * (candidates-judged/ID, the state file's line); that record wins. *altered: the folder says
 * something else.
 */
#define CAND_JUDGED_DIR "candidates-judged"

static void candidate_state_kept(const struct daemon *d, const char *dir, const char *id,
				 char *state, size_t len, bool *altered)
{
	char kept[128];

	candidate_state(dir, state, len);
	*altered = lg_cand_note_get(d->state_dir, CAND_JUDGED_DIR, id, kept, sizeof(kept)) &&
		   strcmp(kept, state);
	if (*altered)
		snprintf(state, len, "%s", kept);
}

/* Whether the candidate's model.json is the one its evaluation judged (model_sha256). */
static bool candidate_evaluated(const char *path, json_object *ev)
{
	const char *want = get_str_field(ev, "model_sha256");
	char *text, hex[65];
	size_t len;

	if (!want || lg_read_file(path, &text, &len))
		return false;
	lg_sha256_hex(text, len, hex);
	free(text);
	return !strcmp(hex, want);
}

static int h_candidates(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	char root[LG_PATH_MAX + 16];
	json_object *list = json_object_new_array();
	struct dirent **names = NULL;
	int n;

	if (!registry_ready(d, c->err, c->errlen)) {
		json_object_put(list);
		return -ENOENT;
	}
	snprintf(root, sizeof(root), "%s/candidates", d->reg.root);
	n = scandir(root, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		char dir[sizeof(root) + 300], path[sizeof(dir) + 32], state[128];
		json_object *e, *ev;

		if (candidate_id_ok(names[i]->d_name)) {
			snprintf(dir, sizeof(dir), "%s/%s", root, names[i]->d_name);
			snprintf(path, sizeof(path), "%s/evaluation.json", dir);
			ev = json_object_from_file(path);
			if (ev) {
				bool altered;

				candidate_state_kept(d, dir, names[i]->d_name, state, sizeof(state),
						     &altered);
				e = json_object_new_object();
				json_object_object_add(e, "id", json_object_new_string(names[i]->d_name));
				json_object_object_add(e, "state", json_object_new_string(state));
				if (altered)
					json_object_object_add(e, "state_file_altered",
							       json_object_new_boolean(1));
				snprintf(path, sizeof(path), "%s/model.json", dir);
				json_object_object_add(e, "path", json_object_new_string(path));
				/* its figures are model_sha256's: a model.json changed since (or
				 * gone) is not what they judged, and approve refuses it; said in
				 * the list too (trial s20 H L9: listed pending, old figures) */
				if (!strcmp(state, "pending") && !candidate_evaluated(path, ev))
					json_object_object_add(e, "model_altered",
							       json_object_new_boolean(1));
				/* who made it: this linegated's retrain (its record in the state
				 * folder), or not (trial X2, s26: a hand-written folder with a
				 * forged evaluation.json listed like the retrain's) */
				snprintf(path, sizeof(path), "%s/evaluation.json", dir);
				json_object_object_add(
					e, "origin",
					json_object_new_string(lg_cand_origin_name(lg_retrain_origin(
						d->state_dir, names[i]->d_name, path))));
				snprintf(path, sizeof(path), "%s/model.json", dir);
				json_object_object_add(e, "evaluation", ev);
				json_object_array_add(list, e);
			}
		}
		free(names[i]);
	}
	free(names);
	json_object_object_add(c->reply, "candidates", list);
	return 0;
}

/*
 * An approval's ref must be the registry version that holds the candidate's evaluated model
 * (the evaluation's model_sha256, of which the candidate's model.json still is): a bare
 * candidate_verdict naming any other version, or none, marked the candidate approved as it
 * and blocked the real approval for good (trial J F17). 0, or -EPERM with the reason in err.
 */
static int candidate_ref_holds(const struct daemon *d, const char *dir, const char *id,
			       const char *ref, char *err, size_t errlen)
{
	char path[LG_PATH_MAX + 256], why[300], hex[65], *text = NULL;
	const char *want;
	json_object *ev;
	size_t len;
	int ret = -EPERM;
	bool changed;

	snprintf(path, sizeof(path), "%s/evaluation.json", dir);
	ev = json_object_from_file(path);
	want = ev ? get_str_field(ev, "model_sha256") : NULL;
	changed = lg_retrain_origin(d->state_dir, id, path) == LG_CAND_RETRAIN_CHANGED;
	snprintf(path, sizeof(path), "%s/model.json", dir);
	if (!want || strlen(want) != 64) {
		snprintf(err, errlen, "candidate %s has no evaluation with a model_sha256: not "
			 "approved (it stays pending)", id);
	} else if (changed) {
		snprintf(err, errlen, "candidate %s: its evaluation.json is not the one linegated's "
			 "retrain wrote (changed since): not approved (it stays pending)", id);
	} else if (!candidate_evaluated(path, ev)) {
		snprintf(err, errlen, "candidate %s's model.json is not the model that was "
			 "evaluated: not approved (it stays pending)", id);
	} else if (lg_registry_path(&d->reg, ref, path, sizeof(path), why, sizeof(why))) {
		snprintf(err, errlen, "candidate %s not approved as %s: %s (it stays pending)", id,
			 ref, why);
	} else if (lg_read_file(path, &text, &len)) {
		snprintf(err, errlen, "candidate %s not approved as %s: %s: %s (it stays pending)",
			 id, ref, path, strerror(errno));
	} else {
		lg_sha256_hex(text, len, hex);
		if (strcmp(hex, want))
			snprintf(err, errlen, "candidate %s not approved as %s: %s holds another "
				 "model (SHA-256 %.16s..., the candidate's is %.16s...); approve "
				 "it with linegatectl models approve (it stays pending)", id, ref,
				 ref, hex, want);
		else
			ret = 0;
	}
	free(text);
	json_object_put(ev);
	return ret;
}

/*
 * {"cmd":"candidate_verdict","id":ID,"verdict":"approved"|"rejected","ref":NAME@VERSION}, or
 * with "refused":REASON (verdict approved, no ref): an approval linegatectl could not do (the
 * key, the model's hash, the registry's refusal of its signature), audited as a refused
 * candidate_approve with that reason; the candidate stays pending. Every verdict, done or
 * refused, is one audit line (a trial: refused approvals left none).
 */
static int h_candidate_verdict(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	const char *id = get_str_field(c->req, "id"), *v = get_str_field(c->req, "verdict"),
		   *ref = get_str_field(c->req, "ref"), *refused = get_str_field(c->req, "refused");
	char dir[LG_PATH_MAX + 128], state[128], path[sizeof(dir) + 16], detail[400];
	bool approve = v && !strcmp(v, "approved"), altered;
	int ret = 0;
	FILE *f;

	if (!registry_ready(d, c->err, c->errlen))
		return -ENOENT;
	if (!candidate_id_ok(id) || !v || (!approve && strcmp(v, "rejected")) ||
	    (approve && !ref && !refused) || (refused && !approve)) {
		snprintf(c->err, c->errlen, "candidate_verdict needs an id, verdict approved (with "
			 "the registry ref it became) or rejected");
		return -EINVAL;
	}
	snprintf(dir, sizeof(dir), "%s/candidates/%s", d->reg.root, id);
	candidate_state_kept(d, dir, id, state, sizeof(state), &altered);
	if (strcmp(state, "pending")) {
		snprintf(c->err, c->errlen, "candidate %s is %s, not pending%s", id,
			 !strcmp(state, "unknown") ? "not there" : state,
			 altered ? " (linegated's record of its verdict; the folder's state file "
				   "was rewritten since)" : "");
		ret = -EINVAL;
	} else if (refused) {
		snprintf(c->err, c->errlen, "candidate %s not approved: %.900s (it stays pending)",
			 id, refused);
		ret = -EPERM;
	} else if (approve && (ret = candidate_ref_holds(d, dir, id, ref, c->err, c->errlen))) {
		/* audited as refused below; the state is not touched */
	} else {
		snprintf(path, sizeof(path), "%s/state", dir);
		f = lg_outpath_fopen(path, "w", c->err, c->errlen);
		if (!f) {
			ret = -EIO;
		} else {
			char line[300];
			bool bad;

			snprintf(line, sizeof(line), "%s%s%s", v, approve ? " " : "",
				 approve ? ref : "");
			bad = fprintf(f, "%s\n", line) < 0;
			if (fclose(f) || bad) {
				snprintf(c->err, c->errlen, "%s: %s", path, strerror(errno));
				ret = -EIO;
			} else {
				ret = lg_cand_note_put(d->state_dir, CAND_JUDGED_DIR, id, line,
						       c->err, c->errlen);
			}
		}
	}
	snprintf(detail, sizeof(detail), "%s%s%s", id ? id : "", approve ? " as " : "",
		 approve && ref ? ref : "");
	audit_event(d, c->peer->name, approve ? "candidate_approve" : "candidate_reject",
		    ret ? "refused" : "ok", NULL, ret ? c->err : detail);
	if (!ret) {
		char said[600];

		/* what happened, not only the id (a trial read "ID" alone) */
		if (approve)
			snprintf(said, sizeof(said), "candidate %s approved as %s", id, ref);
		else
			snprintf(said, sizeof(said), "candidate %s rejected: it stays beside the "
				 "registry, marked rejected; the registry's models, the active and "
				 "the shadow model did not change", id);
		json_object_object_add(c->reply, "message", json_object_new_string(said));
	}
	return ret;
}

/*
 * model_add with "shadow": true (linegatectl models approve): the new version scores in the
 * shadow, or it is not added. A half-done approval (added, then refused as a shadow: another
 * feature row, another window) left a version that could neither be approved again
 * ("immutable") nor rejected (a new-user trial); the data plane's shadow check is the one
 * truth, so it runs, and on its refusal the add is undone and both are audited.
 */
static int add_as_shadow(struct daemon *d, struct lg_ctl_call *c, const char *name,
			 const char *ver)
{
	char ref[160], why[600], undo[400];
	int ret, uret;

	snprintf(ref, sizeof(ref), "%s@%s", name, ver);
	ret = push_models(d, d->reg.active, ref, why, sizeof(why));
	if (!ret) {
		ret = lg_registry_set_shadow(&d->reg, ref, c->err, c->errlen);
		audit_event(d, c->peer->name, "model_shadow", ret ? "failed" : "ok", NULL,
			    ret ? c->err : ref);
		if (!ret)
			snprintf(c->err, c->errlen, "added %s (signature verified); %s", ref, why);
		return ret;
	}
	audit_event(d, c->peer->name, "model_shadow", "refused", NULL, why);
	uret = lg_registry_undo_add(&d->reg, ref, undo, sizeof(undo));
	audit_event(d, c->peer->name, "model_add", uret ? "failed" : "undone", NULL, undo);
	snprintf(c->err, c->errlen, "%s cannot score in the shadow of the active model %s: %.400s; "
		 "%s%.200s", ref, d->reg.active[0] ? d->reg.active : "(the policy's "
		 "detection.model)", why, uret ? "and it could not be taken out of the registry "
		 "again: " : "so it was not added (the registry did not change)", uret ? undo : "");
	return ret;
}

static int h_model_add(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	const char *name = get_str_field(c->req, "name"), *ver = get_str_field(c->req, "version"),
		   *path = get_str_field(c->req, "path");
	json_object *sv;
	int ret;

	if (!registry_ready(d, c->err, c->errlen))
		return -ENOENT;
	if (!name || !ver || !path) {
		snprintf(c->err, c->errlen, "model_add needs name, version and path");
		return -EINVAL;
	}
	ret = lg_registry_add(&d->reg, &d->running, name, ver, path, lg_policy_check_model,
			      c->err, c->errlen);
	if (!ret)
		snprintf(c->err, c->errlen, "added %s@%s (signature verified)", name, ver);
	audit_event(d, c->peer->name, "model_add", ret ? "refused" : "ok", NULL, c->err);
	if (!ret && json_object_object_get_ex(c->req, "shadow", &sv) &&
	    json_object_get_boolean(sv))
		ret = add_as_shadow(d, c, name, ver);
	if (!ret)
		json_object_object_add(c->reply, "message", json_object_new_string(c->err));
	return ret;
}

/* The shadow made active is no longer a shadow: it would only be compared with itself. */
static int model_switch(struct daemon *d, struct lg_ctl_call *c, const char *what,
			const char *ref, bool remember)
{
	bool ends_shadow = ref[0] && !strcmp(ref, d->reg.shadow);
	char msg[600], why[300];
	int ret = push_models(d, ref, ends_shadow ? "" : d->reg.shadow, c->err, c->errlen);

	/* Refused for the shadow's sake (another feature row or window than the new model):
	 * say the way out, not only why. */
	if (ret && !ends_shadow && d->reg.shadow[0] &&
	    strstr(c->err, "a shadow scores the active model's rows"))
		snprintf(c->err + strlen(c->err), c->errlen - strlen(c->err),
			 ". End the shadow first (linegatectl model shadow off), then activate; "
			 "the shadow %s stays in the registry", d->reg.shadow);
	if (!ret)
		ret = lg_registry_set_active(&d->reg, ref, remember, c->err, c->errlen);
	audit_event(d, c->peer->name, what, ret ? "refused" : "ok", NULL,
		    ret ? c->err : ref[0] ? ref : "the policy's detection.model");
	if (ret)
		return ret;
	snprintf(msg, sizeof(msg), "%s", c->err);
	if (ends_shadow) {
		int sret = lg_registry_set_shadow(&d->reg, NULL, why, sizeof(why));
		char detail[500];

		snprintf(detail, sizeof(detail), "off: the shadow %s became the active model%s%s",
			 ref, sret ? ": the registry could not keep it: " : "", sret ? why : "");
		audit_event(d, c->peer->name, "model_shadow", sret ? "failed" : "ok", NULL, detail);
		append(msg, sizeof(msg), "; its shadow ended (it is the active model now)");
	}
	json_object_object_add(c->reply, "message", json_object_new_string(msg));
	return 0;
}

static int h_model_activate(void *ctx, struct lg_ctl_call *c)
{
	const char *ref = get_str_field(c->req, "ref");

	if (!registry_ready(ctx, c->err, c->errlen))
		return -ENOENT;
	if (!ref) {
		snprintf(c->err, c->errlen, "model_activate needs ref (NAME@VERSION)");
		return -EINVAL;
	}
	return model_switch(ctx, c, "model_activate", ref, true);
}

/* Back to the model active before; with no earlier registry model, back to the boot model
 * (the policy's detection.model). */
static int h_model_rollback(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	char prev[160];

	if (!registry_ready(d, c->err, c->errlen))
		return -ENOENT;
	if (lg_registry_previous(&d->reg, prev, sizeof(prev), c->err, c->errlen)) {
		if (!d->reg.active[0]) {
			snprintf(c->err, c->errlen, "there is no earlier model: the policy's "
				 "detection.model (the boot model) is running");
			return -ENOENT;
		}
		prev[0] = '\0';
	}
	return model_switch(d, c, "model_rollback", prev, false);
}

static int h_model_shadow(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	const char *ref = get_str_field(c->req, "ref");
	const char *sh = ref && strcmp(ref, "off") ? ref : "";
	int ret;

	if (!registry_ready(d, c->err, c->errlen))
		return -ENOENT;
	ret = push_models(d, d->reg.active, sh, c->err, c->errlen);
	if (!ret)
		ret = lg_registry_set_shadow(&d->reg, sh[0] ? sh : NULL, c->err, c->errlen);
	audit_event(d, c->peer->name, "model_shadow", ret ? "refused" : "ok", NULL,
		    ret ? c->err : sh[0] ? sh : "off");
	if (!ret)
		json_object_object_add(c->reply, "message", json_object_new_string(c->err));
	return ret;
}

static void set_message(struct lg_ctl_call *c, const char *msg)
{
	json_object_object_add(c->reply, "message", json_object_new_string(msg));
}

/*
 * The data plane's devices that are not scored (their frames come at another sample rate
 * than the model or the policy wants, or with another channel count than their detector
 * was trained on: every frame dropped as sample_rate, or channels): "not_scored" as
 * it lists them, and a sentence each in "warnings", so that in_sync: true is not read as all
 * well (a new-user trial: a line blind, nothing said).
 */
static void status_not_scored(json_object *reply, json_object *dp)
{
	json_object *ns, *w = json_object_new_array(), *v;

	if (json_object_object_get_ex(dp, "not_scored", &ns) &&
	    json_object_is_type(ns, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(ns); i++) {
			json_object *e = json_object_array_get_idx(ns, i);
			const char *name = get_str_field(e, "name"), *from = get_str_field(e, "want_from");
			uint64_t id = get_u64_field(e, "id"), fr = get_u64_field(e, "frame_rate_hz"),
				 want = get_u64_field(e, "want_rate_hz"),
				 n = get_u64_field(e, "frames_dropped");
			char msg[512];

			if (!strcmp(get_str_field(e, "reason") ? get_str_field(e, "reason") : "",
				    "policy")) {
				if (json_object_object_get_ex(e, "windows_unscored", &v))
					n = json_object_get_uint64(v);
				snprintf(msg, sizeof(msg), "device %.100s (id %" PRIu64
					 ") is not scored: the policy says score: false "
					 "(recorded to train its detector; %" PRIu64 " windows "
					 "not scored): train with --base and remove it "
					 "(docs/getting-started-own-line.md \"Adding a machine\")",
					 name ? name : "?", id, n);
				json_object_array_add(w, json_object_new_string(msg));
				continue;
			}
			if (!strcmp(get_str_field(e, "reason") ? get_str_field(e, "reason") : "",
				    "channels")) {
				if (json_object_object_get_ex(e, "frame_channels", &v))
					fr = json_object_get_uint64(v);
				if (json_object_object_get_ex(e, "want_channels", &v))
					want = json_object_get_uint64(v);
				snprintf(msg, sizeof(msg), "device %.100s (id %" PRIu64 ") is not "
					 "scored: its frames carry %" PRIu64 " channel%s, the model's "
					 "detector for it was trained on %" PRIu64 " (%" PRIu64
					 " frames dropped as channels): train its detector on the "
					 "device as it sends now (docs/models.md \"Channel counts\")",
					 name ? name : "?", id, fr, fr == 1 ? "" : "s", want, n);
				json_object_array_add(w, json_object_new_string(msg));
				continue;
			}
			snprintf(msg, sizeof(msg), "device %.100s (id %" PRIu64 ") is not scored: its "
				 "frames come at %" PRIu64 " Hz, %s reads %" PRIu64 " Hz (%" PRIu64
				 " frames dropped as sample_rate)", name ? name : "?", id, fr,
				 from && !strcmp(from, "policy") ? "its sample_rate in the policy" :
								   "the model", want, n);
			json_object_array_add(w, json_object_new_string(msg));
		}
		json_object_object_add(reply, "not_scored", json_object_get(ns));
	}
	/* Devices whose frames are all refused as replays (trial M, s22: a device that started
	 * a new key at sequence 1 was refused through the grace and after it, and only the
	 * counters said so). */
	if (json_object_object_get_ex(dp, "locked_out", &ns) &&
	    json_object_is_type(ns, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(ns); i++) {
			json_object *e = json_object_array_get_idx(ns, i);
			const char *name = get_str_field(e, "name");
			uint64_t id = get_u64_field(e, "id"), n = get_u64_field(e, "refused");
			double secs = 0;
			char msg[640];

			if (json_object_object_get_ex(e, "seconds", &v))
				secs = json_object_get_double(v);
			snprintf(msg, sizeof(msg), "device %.100s (id %" PRIu64 "): none of its "
				 "frames admitted for %.0f s, %" PRIu64 " refused as replays of it: "
				 "a device that started its sequence again (a reboot without its "
				 "stored sequence, a new key from 1) stays refused until its numbers "
				 "pass its mark, or its old keys are pruned once they expired "
				 "(linegatectl devices prune; docs/wire-format.md \"Sequence "
				 "numbers\")", name ? name : "?", id, secs, n);
			json_object_array_add(w, json_object_new_string(msg));
		}
		json_object_object_add(reply, "locked_out", json_object_get(ns));
	}
	/* Frames over the MTU arrive as IP fragments, which XDP drops ('fragment') unless the
	 * policy says 'fragments: reassemble' (uring): the line's frames are then lost before any
	 * worker, and the workers' counters stay at 0 (trial s19 C M2). */
	if (json_object_object_get_ex(dp, "xdp_fragments_dropped", &v) &&
	    json_object_get_uint64(v)) {
		char msg[512];

		snprintf(msg, sizeof(msg), "XDP dropped %" PRIu64 " IP fragments (verdict "
			 "'fragment'): frames larger than the interface's MTU arrive in pieces and "
			 "never reach a worker; raise the MTU on the line's path (ip link set IFACE "
			 "mtu 9000), send smaller frames, or use the uring backend with 'fragments: "
			 "reassemble' (docs/admission.md, \"Fragments\")", json_object_get_uint64(v));
		json_object_array_add(w, json_object_new_string(msg));
	}
	/* The policy says fragments: reassemble and the data plane cannot (afxdp behind XDP):
	 * an apply said "drop -> reassemble (live)" (trial J F3). */
	if (json_object_object_get_ex(dp, "fragments_ignored", &v))
		json_object_array_add(w, json_object_new_string(json_object_get_string(v)));
	json_object_object_add(reply, "warnings", w);
}

/*
 * Devices whose drift ended with the data plane's restart, not by their data: a sentence each
 * in "warnings" until the device drifts again, since the new monitors may not see a drift that
 * is still there (Page-Hinkley's reference is the data since the restart; docs/models.md).
 */
static void status_drift_lost(const struct daemon *d, json_object *reply)
{
	json_object *w;

	if (!json_object_object_get_ex(reply, "warnings", &w))
		return;
	for (unsigned k = 0; k < d->ndata_drift; k++) {
		char msg[512];

		if (!d->data_drift[k].lost)
			continue;
		snprintf(msg, sizeof(msg), "device %s (id %u): its drift was lost with the data "
			 "plane's restart (%s), not seen to end: Page-Hinkley starts again from the "
			 "level its data has now, so a drift still present is raised again by PSI "
			 "only (after detection.drift.psi_windows windows)", d->data_drift[k].name,
			 d->data_drift[k].id, d->data_drift[k].lost_at);
		json_object_array_add(w, json_object_new_string(msg));
	}
}

/* The running policy trusts the public demo signing key (trial J F19): a sentence in
 * "warnings" for as long as it does. */
static void status_demo_key(const struct daemon *d, json_object *reply)
{
	json_object *w;
	char msg[512];

	if (d->have_running && json_object_object_get_ex(reply, "warnings", &w) &&
	    lg_policy_trusts_demo_key(&d->running, msg, sizeof(msg)) == 1)
		json_object_array_add(w, json_object_new_string(msg));
}

/*
 * Devices every key of which has expired: all their frames are refused as unknown_key, which
 * nothing else says (trial J, s21: a device silently dead, in_sync true). A sentence each in
 * "warnings".
 */
static void status_keys_expired(const struct daemon *d, json_object *reply)
{
	json_object *w;
	time_t now = time(NULL);

	if (!d->have_running || !json_object_object_get_ex(reply, "warnings", &w))
		return;
	for (size_t i = 0; i < d->running.ndevices; i++) {
		const struct lg_policy_device *dv = &d->running.devices[i];
		int64_t last = 0;
		unsigned k;
		char msg[512], when[32];

		for (k = 0; k < dv->nkeys && dv->keys[k].expires && dv->keys[k].expires <= now; k++)
			if (dv->keys[k].expires > last)
				last = dv->keys[k].expires;
		if (!dv->nkeys || k < dv->nkeys)
			continue;
		lg_rfc3339((time_t)last, when, sizeof(when));
		snprintf(msg, sizeof(msg), "device %s (id %u): every key of it has expired (the "
			 "last at %s): its frames are refused as unknown_key; give it a new key "
			 "(linegatectl devices rotate-key %u) and the device that key", dv->name,
			 dv->id, when, dv->id);
		json_object_array_add(w, json_object_new_string(msg));
	}
}

/* The data plane's readiness reasons (an output that is down, a JSON lines file that cannot
 * be written, ...) as warnings: linegatectl status said nothing of them (trial Q, s23). */
static void status_not_ready(struct daemon *d, json_object *reply)
{
	json_object *r = NULL, *a, *w;
	char why[256];

	if (dp_call_t(d, cmd_req("health"), DP_LOOK_TIMEOUT_MS, &r, why, sizeof(why)))
		return;
	if (json_object_object_get_ex(r, "reasons", &a) &&
	    json_object_is_type(a, json_type_array) && json_object_array_length(a)) {
		if (!json_object_object_get_ex(reply, "warnings", &w)) {
			w = json_object_new_array();
			json_object_object_add(reply, "warnings", w);
		}
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			char t[1200];

			snprintf(t, sizeof(t), "the data plane is not ready: %.1100s",
				 json_object_get_string(json_object_array_get_idx(a, i)));
			json_object_array_add(w, json_object_new_string(t));
		}
	}
	json_object_put(r);
}

static int h_status(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	char hex[65], dphex[65], why[512];

	running_hex(d, hex);
	json_object_object_add(c->reply, "policy_file", json_object_new_string(d->policy_path));
	json_object_object_add(c->reply, "policy_sha256", json_object_new_string(hex));
	json_object_object_add(c->reply, "version", json_object_new_int64(d->version));
	json_object_object_add(c->reply, "devices",
			       json_object_new_uint64(d->have_running ? d->running.ndevices : 0));
	json_object_object_add(c->reply, "applies", json_object_new_uint64(d->applies));
	json_object_object_add(c->reply, "refused", json_object_new_uint64(d->refused));
	json_object_object_add(c->reply, "denied", json_object_new_uint64(d->denied));
	json_object_object_add(c->reply, "denied_unaudited",
			       json_object_new_uint64(d->denied_unaudited));
	json_object_object_add(c->reply, "uptime_s",
			       json_object_new_int64(time(NULL) - d->started));
	json_object_object_add(c->reply, "file_watch",
			       json_object_new_string(d->ino_wd >= 0 ? "inotify" : "poll"));
	if (d->dp_path) {
		struct timespec now;
		json_object *r = NULL, *inc;
		int ret = -ETIMEDOUT;
		char msg[800];

		/* A data plane that did not answer the last look, less than an interval ago, is
		 * not asked again: status answers at once (a hung one would hold it). */
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (d->dp_down && ms_since(&d->dp_look, &now) < d->interval_ms)
			snprintf(why, sizeof(why), "%s", d->dp_why);
		else
			ret = dp_status_keep(d, dphex, &r, why, sizeof(why));
		if (!ret) {
			json_object_object_add(c->reply, "dataplane_policy_sha256",
					       json_object_new_string(dphex));
			/* incidents: the data plane's open incidents, as it lists them */
			if (json_object_object_get_ex(r, "incidents", &inc))
				json_object_object_add(c->reply, "incidents", json_object_get(inc));
			status_not_scored(c->reply, r);
			status_drift_lost(d, c->reply);
			status_keys_expired(d, c->reply);
			status_demo_key(d, c->reply);
			json_object_put(r);
			drift_note(d, dphex, "it came back by itself");
			status_not_ready(d, c->reply);
		}
		if (ret && ret != -EPROTO)
			snprintf(msg, sizeof(msg), "not answering since %s: %.700s", d->dp_since,
				 why);
		json_object_object_add(c->reply, "dataplane",
				       json_object_new_string(!ret ? "up" :
							      ret == -EPROTO ? why : msg));
		json_object_object_add(c->reply, "in_sync",
				       json_object_new_boolean(d->in_sync && !d->dp_down &&
							       !d->models_why[0] &&
							       !d->models_off[0]));
		if (d->dp_down)
			snprintf(msg, sizeof(msg), "the data plane does not answer, so what it "
				 "runs is not known: %.700s", d->dp_why);
		else if (!d->in_sync)
			snprintf(msg, sizeof(msg), "the data plane runs %.8s, not linegated's "
				 "version %u", d->drift_hex, d->version);
		else if (d->models_why[0])
			snprintf(msg, sizeof(msg), "models: %.780s", d->models_why);
		else if (d->models_off[0])
			snprintf(msg, sizeof(msg), "models: %.600s (linegatectl model activate sets "
				 "them again)", d->models_off);
		if (d->models_why[0]) {
			char wm[sizeof(d->models_why) + 100];
			json_object *w;

			if (!json_object_object_get_ex(c->reply, "warnings", &w)) {
				w = json_object_new_array();
				json_object_object_add(c->reply, "warnings", w);
			}
			snprintf(wm, sizeof(wm), "models: %s (linegatectl model activate or model "
				 "shadow off sets them again)", d->models_why);
			json_object_array_add(w, json_object_new_string(wm));
		}
		if (d->dp_down || !d->in_sync || d->models_why[0] || d->models_off[0])
			json_object_object_add(c->reply, "in_sync_why",
					       json_object_new_string(msg));
	}
	json_object_object_add(c->reply, "retrain", lg_retrain_status(&d->retrain));
	return 0;
}

/* The policy text of a request, with its real length (a NUL inside reaches the parser and
 * is refused there, rather than cutting the text). */
static const char *req_policy(struct lg_ctl_call *c, size_t *len, const char **name)
{
	json_object *v;
	const char *text = get_str_field(c->req, "policy");

	*len = text && json_object_object_get_ex(c->req, "policy", &v) ?
		       (size_t)json_object_get_string_len(v) : 0;
	*name = get_str_field(c->req, "name");
	return text;
}

static int h_validate(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	const char *name, *cmd = get_str_field(c->req, "cmd");
	size_t len;
	const char *text = req_policy(c, &len, &name);
	struct lg_policy p;
	char msg[1024];
	int ret;

	if (!text) {
		snprintf(c->err, c->errlen, "'%s' needs 'policy' text", cmd);
		return -EINVAL;
	}
	ret = lg_policy_validate(text, len, name ? name : "<policy>", &p, c->err, c->errlen);
	if (ret)
		return ret;
	/* The deep check's warning (an ONNX model without linegate.window): to the operator */
	if (c->err[0]) {
		json_object_object_add(c->reply, "warning", json_object_new_string(c->err));
		c->err[0] = '\0';
	}
	ret = registry_serves(d, &p, false, c->err, c->errlen);
	if (ret) {
		lg_policy_free(&p);
		return ret;
	}
	snprintf(msg, sizeof(msg), "valid: %zu devices", p.ndevices);
	if (!strcmp(cmd, "diff")) {
		json_object *df = diff(&d->running, &p), *so;

		if (json_object_object_get_ex(df, "start_only", &so))
			snprintf(msg, sizeof(msg), "valid: %zu devices; an apply would be refused: "
				 "%.700s", p.ndevices, json_object_get_string(so));
		json_object_object_add(c->reply, "diff", df);
		registry_note(d, &p, msg, sizeof(msg));
	}
	set_message(c, msg);
	lg_policy_free(&p);
	return 0;
}

static int h_apply(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	const char *name;
	size_t len;
	const char *text = req_policy(c, &len, &name);
	json_object *v;
	bool dry = json_object_object_get_ex(c->req, "dry_run", &v) && json_object_get_boolean(v);
	char *ftext = NULL;
	int ret;

	if (!text && json_object_object_get_ex(c->req, "policy", &v)) {
		snprintf(c->err, c->errlen, "\"policy\" must be the policy text (a string)");
		return -EINVAL;
	}
	if (!text) {
		/* No text: the daemon's own policy file, re-read. */
		ret = lg_read_file(d->policy_path, &ftext, &len);
		if (ret) {
			snprintf(c->err, c->errlen, "%s: %s", d->policy_path, strerror(-ret));
			return ret;
		}
		text = ftext;
		name = d->policy_path;
	}
	ret = apply_text(d, text, len, name ? name : "<apply>", c->peer->name, "apply", NULL, dry,
			 0, c->reply, c->err, c->errlen);
	free(ftext);
	if (!ret) {
		set_message(c, c->err);
		if (dry)
			json_object_object_add(c->reply, "dry_run", json_object_new_boolean(1));
	}
	return ret;
}

static int h_devices(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	json_object *a = json_object_new_array();

	for (size_t i = 0; d->have_running && i < d->running.ndevices; i++)
		json_object_array_add(a, device_json(&d->running.devices[i]));
	json_object_object_add(c->reply, "devices", a);
	return 0;
}

static int h_metrics(void *ctx, struct lg_ctl_call *c)
{
	json_object *r, *m;
	/* A read: a hung data plane holds linegated (and its admin socket) only as long as a
	 * status look does, not for the client timeout. */
	int ret = dp_call_t(ctx, cmd_req("stats"), DP_LOOK_TIMEOUT_MS, &r, c->err, c->errlen);

	if (ret)
		return ret;
	if (!json_object_object_get_ex(r, "stats", &m)) {
		json_object_put(r);
		snprintf(c->err, c->errlen, "data plane: its reply has no stats");
		return -EPROTO;
	}
	json_object_object_add(c->reply, "metrics", json_object_get(m));
	json_object_put(r);
	return 0;
}

/*
 * record start|stop|rotate|status: forwarded to the data plane as it came (action, devices,
 * groups, for); start, stop and rotate are audited, with what was asked and the data plane's
 * answer.
 */
static int h_record(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	const char *action = get_str_field(c->req, "action");
	json_object *req = cmd_req("record"), *r, *v;
	bool audited = action && (!strcmp(action, "start") || !strcmp(action, "stop") ||
				  !strcmp(action, "rotate"));
	char detail[1024];
	int ret;

	json_object_object_foreach(c->req, k, val)
		if (strcmp(k, "cmd"))
			json_object_object_add(req, k, json_object_get(val));
	snprintf(detail, sizeof(detail), "%s", json_object_to_json_string_ext(req,
		 JSON_C_TO_STRING_PLAIN));
	ret = audited ? dp_call(d, req, &r, c->err, c->errlen)
		      : dp_call_t(d, req, DP_LOOK_TIMEOUT_MS, &r, c->err, c->errlen);
	if (audited)
		audit_event(d, c->peer->name, !strcmp(action, "start") ? "record_start" :
			    !strcmp(action, "stop") ? "record_stop" : "record_rotate",
			    ret ? "refused" : "ok", NULL, ret ? c->err : detail);
	if (ret)
		return ret;
	if (json_object_object_get_ex(r, "next_file", &v))
		json_object_object_add(c->reply, "next_file", json_object_get(v));
	if (json_object_object_get_ex(r, "recording", &v))
		json_object_object_add(c->reply, "recording", json_object_get(v));
	json_object_put(r);
	return 0;
}

static int h_history(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	json_object *a = json_object_new_array();
	unsigned max = d->state_dir ? state_max_version(d) : 0;

	for (unsigned v = 1; v <= max; v++) {
		char p[PATH_MAX], tail[32];
		json_object *m;

		snprintf(tail, sizeof(tail), "versions/%u.json", v);
		if (spath(d, p, sizeof(p), tail) || !(m = read_json(p)))
			continue;
		json_object_object_add(m, "current", json_object_new_boolean(v == d->version));
		json_object_array_add(a, m);
	}
	json_object_object_add(c->reply, "versions", a);
	json_object_object_add(c->reply, "current", json_object_new_int64(d->version));
	return 0;
}

/* Re-apply a kept version (default: the one before the current one) as a new version. */
static int h_rollback(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	json_object *v;
	int64_t want = (int64_t)d->version - 1;
	char stem[32], source[PATH_MAX], what[64], when[64], why[1024];
	json_object *meta = NULL;
	char *text;
	size_t len;
	int ret;

	/* Only a JSON integer names a version: "2", 1.5, true or null once fell through to
	 * the default and rolled back to the version before. */
	if (json_object_object_get_ex(c->req, "version", &v)) {
		if (!json_object_is_type(v, json_type_int)) {
			snprintf(c->err, c->errlen, "\"version\" must be a JSON integer (a version "
				 "from linegatectl history), not %.60s: nothing applied",
				 v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) :
				     "null");
			return -EINVAL;
		}
		want = json_object_get_int64(v);
	}
	if (!d->state_dir) {
		snprintf(c->err, c->errlen, "no state folder: linegated keeps no versions");
		return -ENOENT;
	}
	if (want < 1 || want > state_max_version(d)) {
		snprintf(c->err, c->errlen, "no version %lld to roll back to (versions 1 to %u; "
			 "see linegatectl history)", (long long)want, state_max_version(d));
		return -ENOENT;
	}
	snprintf(stem, sizeof(stem), "versions/%lld", (long long)want);
	ret = state_load(d, stem, &text, &len, source, sizeof(source), &meta);
	if (ret) {
		snprintf(c->err, c->errlen, "version %lld: %s", (long long)want, strerror(-ret));
		return ret;
	}
	/* A refusal names the version it tried to return to and when that one was applied,
	 * not only what is missing now (a key file a revoke deleted, say). */
	snprintf(when, sizeof(when), "%s",
		 get_str_field(meta, "time") ? get_str_field(meta, "time") : "at an unknown time");
	json_object_put(meta);
	snprintf(what, sizeof(what), "rollback to version %lld", (long long)want);
	ret = apply_text(d, text, len, source, c->peer->name, "rollback", what, false, 0,
			 c->reply, why, sizeof(why));
	free(text);
	if (ret)
		snprintf(c->err, c->errlen, "version %lld (applied %s): %s", (long long)want, when,
			 why);
	else
		snprintf(c->err, c->errlen, "%s", why);
	if (!ret) {
		char msg[1100];

		snprintf(msg, sizeof(msg), "rolled back to version %lld: %s", (long long)want,
			 c->err);
		set_message(c, msg);
	}
	return ret;
}

/* The admin API: a command is one row here and a handler above. */
/*
 * Enrollment verbs (devices_enroll, devices_revoke, devices_rotate_key, devices_prune).
 * Each edits the policy file's text (policy_edit.c: comments and layout stay), writes it
 * whole (temporary file, fsync, rename, fsync of the folder), and applies it through
 * apply_text() under the verb's name, so the data plane has it before the reply and the
 * audit has its intent and result; a refused apply puts the old file back and the error
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
		snprintf(msg, msglen, "%s is not the running policy (edited by hand and refused "
			 "or not applied yet, or another file was applied): finish or undo the "
			 "edit, or apply the file (linegatectl apply), then repeat", d->policy_path);
		free(*text);
		return -ESTALE;
	}
	return 0;
}

/* The size of a new key for a running device: a UADP device that holds security group keys
 * gets one of the same policy, anything else a plain key. */
static size_t rotate_key_bytes(const struct daemon *d, const char *name)
{
	size_t nbytes = LG_KEY_LEN;

	for (size_t i = 0; d->have_running && i < d->running.ndevices; i++) {
		const struct lg_policy_device *dv = &d->running.devices[i];
		unsigned enc = dv->uadp_enc_len ? dv->uadp_enc_len : dv->keys[0].enc_len;

		if (!strcmp(dv->name, name) && dv->uadp_pub_type && enc)
			nbytes = LG_KEY_LEN + enc + LG_UADP_KEY_NONCE_LEN;
	}
	return nbytes;
}

/*
 * Write the edited policy and apply it under the verb's name. key_bytes: the size of the
 * new key file the edit names (0: none). head: what the change is, as history and the audit
 * say it ("devices revoke 7 (pump-3)"); a new key's fingerprint is added to it.
 */
static int edit_commit(struct daemon *d, const char *what, const char *head,
		       struct lg_policy_edit *e, size_t key_bytes, const char *old, size_t oldlen,
		       struct lg_ctl_call *c)
{
	char fp[LG_KEY_FP_LEN + 1] = "", path[PATH_MAX], abs[PATH_MAX], detail[512];
	const char *slash = strrchr(d->policy_path, '/');
	bool new_key = key_bytes > 0;
	unsigned files_removed = 0;
	int ret;

	if (new_key) {
		ret = lg_key_file_create(d->policy_path, e->key_file, key_bytes, fp, c->err,
					 c->errlen);
		if (ret)
			goto refused;
	}
	ret = lg_policy_edit_check(e->text, e->len, d->policy_path, new_key, c->err, c->errlen);
	if (ret)
		goto undo_key;
	ret = lg_file_replace(d->policy_path, e->text, e->len);
	if (ret) {
		snprintf(c->err, c->errlen, "writing %s: %s", d->policy_path, strerror(-ret));
		goto undo_key;
	}
	snprintf(detail, sizeof(detail), "%.400s%s%s", head,
		 new_key ? ", new key fingerprint " : "", fp);
	ret = apply_text(d, e->text, e->len, d->policy_path, c->peer->name, what, detail, false,
			 0, c->reply, c->err, c->errlen);
	if (ret) {
		int r = lg_file_replace(d->policy_path, old, oldlen);

		if (r)
			snprintf(c->err + strlen(c->err), c->errlen - strlen(c->err),
				 "; putting the old %s back failed too: %s", d->policy_path,
				 strerror(-r));
		if (new_key)
			lg_key_file_remove(d->policy_path, e->key_file);
		return ret; /* apply_text() audited it */
	}
	for (unsigned i = 0; i < e->nremoved; i++)
		if (e->removed[i] && !strstr(e->text, e->removed[i]) &&
		    !lg_key_file_remove(d->policy_path, e->removed[i]))
			files_removed++;
	if (new_key) {
		snprintf(path, sizeof(path), "%.*s%s%s", slash ? (int)(slash - d->policy_path) : 0,
			 d->policy_path, slash ? "/" : "", e->key_file);
		json_object_object_add(c->reply, "key_file",
				       json_object_new_string(realpath(path, abs) ? abs : path));
		json_object_object_add(c->reply, "key_id", json_object_new_int(e->key_id));
		json_object_object_add(c->reply, "fingerprint", json_object_new_string(fp));
	}
	json_object_object_add(c->reply, "keys_removed", json_object_new_int((int)e->nremoved));
	json_object_object_add(c->reply, "key_files_removed",
			       json_object_new_int((int)files_removed));
	return 0;
undo_key:
	if (new_key)
		lg_key_file_remove(d->policy_path, e->key_file);
refused:
	audit_event(d, c->peer->name, what, "refused", NULL, c->err);
	return ret;
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

static const char *reply_str(struct lg_ctl_call *c, const char *k)
{
	return json_object_get_string(json_object_object_get(c->reply, k));
}

static int h_devices_enroll(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	char head[400];
	struct lg_device_spec s = { .name = get_str_field(c->req, "name"),
				    .source = get_str_field(c->req, "source"), .port = -1,
				    .mac = get_str_field(c->req, "mac"),
				    .group = get_str_field(c->req, "group") };
	struct lg_policy_edit e;
	char msg[1024];
	json_object *u;
	uint32_t port;
	char *old;
	size_t len;
	int ret;

	if (!get_u32_field(c->req, "id", &s.id) || !s.name || !s.source) {
		snprintf(c->err, c->errlen, "devices_enroll needs id, name and source");
		return -EINVAL;
	}
	if (get_u32_field(c->req, "port", &port))
		s.port = port > 65535 ? 65536 : (int)port;
	get_u32_field(c->req, "rate", &s.rate);
	{
		json_object *sc;

		/* "score": false: recorded, not scored (a new machine for its detector) */
		if (json_object_object_get_ex(c->req, "score", &sc) &&
		    json_object_is_type(sc, json_type_boolean) && !json_object_get_boolean(sc))
			s.unscored = true;
	}
	/* A UADP publisher's identity: {"uadp": {"publisher_id": S, "writer": N, ...}}. */
	if (json_object_object_get_ex(c->req, "uadp", &u)) {
		if (!json_object_is_type(u, json_type_object)) {
			snprintf(c->err, c->errlen, "devices_enroll: \"uadp\" must be an object "
				 "(publisher_id, publisher_type, writer_group, writer or "
				 "writer_position, security, security_policy, replay)");
			return -EINVAL;
		}
		s.uadp = true;
		s.publisher_id = get_str_field(u, "publisher_id");
		s.publisher_type = get_str_field(u, "publisher_type");
		s.security = get_str_field(u, "security");
		s.security_policy = get_str_field(u, "security_policy");
		s.replay = get_str_field(u, "replay");
		get_u32_field(u, "writer_group", &s.writer_group);
		get_u32_field(u, "writer", &s.writer);
		get_u32_field(u, "writer_position", &s.writer_position);
		/* Enrolled over UDP into a policy whose UADP socket is off, it would never be
		 * heard, and saying "enrolled" would be a lie. */
		if (d->have_running && !d->running.uadp_port) {
			snprintf(c->err, c->errlen, "device %u (%s) is an OPC UA publisher over UDP, "
				 "and the running policy sets no uadp_port (UADP is off): nothing it "
				 "sends would be heard. %s", s.id, s.name,
				 !d->in_sync ? "The data plane runs another policy than linegated "
					       "(restarted on an edited file?): linegatectl apply "
					       "that file, then enroll it"
					     : "Set 'uadp_port: 4840' in the policy file, restart "
					       "linegate (a start-only field), linegatectl apply the "
					       "file, then enroll it");
			audit_event(d, c->peer->name, "devices_enroll", "refused", NULL, c->err);
			return -EINVAL;
		}
	}
	ret = edit_base(d, &old, &len, c->err, c->errlen);
	if (ret)
		return ret;
	ret = lg_policy_edit_enroll(old, len, &s, NULL, &e, c->err, c->errlen);
	if (ret) {
		audit_event(d, c->peer->name, "devices_enroll", "refused", NULL, c->err);
		free(old);
		return ret;
	}
	snprintf(head, sizeof(head), "devices enroll %u (%s)", s.id, s.name);
	ret = edit_commit(d, "devices_enroll", head, &e, lg_device_spec_key_bytes(&s), old, len,
			  c);
	if (!ret && lg_device_spec_key_bytes(&s) > LG_KEY_LEN)
		snprintf(msg, sizeof(msg), "enrolled UADP device %u (%s): key %u (the publisher's "
			 "SecurityTokenId), fingerprint %s; %s holds its SigningKey, EncryptingKey "
			 "and KeyNonce in hex, one after the other: give them to the publisher "
			 "(docs/opcua.md)", s.id, s.name, e.key_id, reply_str(c, "fingerprint"),
			 reply_str(c, "key_file"));
	else if (!ret && s.uadp)
		snprintf(msg, sizeof(msg), "enrolled UADP device %u (%s): key %u, fingerprint %s, "
			 "in %s (security none: its messages are not signed, the key is not "
			 "used)", s.id, s.name, e.key_id, reply_str(c, "fingerprint"),
			 reply_str(c, "key_file"));
	else if (!ret)
		snprintf(msg, sizeof(msg), "enrolled device %u (%s): key %u, fingerprint %s; "
			 "install %s on the device", s.id, s.name, e.key_id,
			 reply_str(c, "fingerprint"), reply_str(c, "key_file"));
	if (!ret) {
		json_object_object_del(c->reply, "message");
		set_message(c, msg);
	}
	lg_policy_edit_free(&e);
	free(old);
	return ret;
}

static int h_devices_revoke(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	char head[400];
	struct lg_policy_edit e;
	char msg[256];
	uint32_t id;
	char *old;
	size_t len;
	int ret;

	if (!get_u32_field(c->req, "id", &id)) {
		snprintf(c->err, c->errlen, "devices_revoke needs the device's id");
		return -EINVAL;
	}
	ret = edit_base(d, &old, &len, c->err, c->errlen);
	if (ret)
		return ret;
	ret = lg_policy_edit_revoke(old, len, id, &e, c->err, c->errlen);
	if (ret) {
		audit_event(d, c->peer->name, "devices_revoke", "refused", NULL, c->err);
		free(old);
		return ret;
	}
	snprintf(head, sizeof(head), "devices revoke %u (%s)", id, e.name);
	ret = edit_commit(d, "devices_revoke", head, &e, 0, old, len, c);
	if (!ret) {
		snprintf(msg, sizeof(msg),
			 "revoked device %u (%s): its frames are refused from now on", id, e.name);
		json_object_object_del(c->reply, "message");
		set_message(c, msg);
	}
	lg_policy_edit_free(&e);
	free(old);
	return ret;
}

static int h_devices_rotate_key(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	char head[400];
	struct lg_policy_edit e;
	char msg[1024], when[32];
	uint32_t id, grace;
	time_t expires;
	char *old;
	size_t len;
	int ret;

	if (!get_u32_field(c->req, "id", &id) || !get_u32_field(c->req, "grace_s", &grace) ||
	    grace > 366 * 86400) {
		snprintf(c->err, c->errlen, "devices_rotate_key needs the device's id and grace_s "
			 "(seconds, at most 366 days)");
		return -EINVAL;
	}
	ret = edit_base(d, &old, &len, c->err, c->errlen);
	if (ret)
		return ret;
	expires = time(NULL) + grace;
	ret = lg_policy_edit_rotate(old, len, id, expires, &e, c->err, c->errlen);
	if (ret) {
		audit_event(d, c->peer->name, "devices_rotate_key", "refused", NULL, c->err);
		free(old);
		return ret;
	}
	snprintf(head, sizeof(head), "devices rotate-key %u (%s): key %u", id, e.name, e.key_id);
	ret = edit_commit(d, "devices_rotate_key", head, &e, rotate_key_bytes(d, e.name), old, len,
			  c);
	if (!ret) {
		const struct lg_policy_device *dv = lg_policy_find(&d->running, id);
		char uadp[96] = "";
		bool gone;

		/* The old key's expiry as the edit left it: an earlier one is kept
		 * (lg_policy_edit_rotate()), now the running policy's. */
		if (dv && dv->nkeys && dv->keys[0].expires && dv->keys[0].expires < expires)
			expires = (time_t)dv->keys[0].expires;
		gone = expires <= time(NULL);
		lg_rfc3339(expires, when, sizeof(when));
		json_object_object_add(c->reply, "old_key_expires", json_object_new_string(when));

		/* A UADP publisher names the key by its SecurityTokenId (docs/opcua.md). */
		if (dv && dv->uadp_pub_type)
			snprintf(uadp, sizeof(uadp), "; the publisher's SecurityTokenId for it is %u",
				 e.key_id);
		snprintf(msg, sizeof(msg), "device %u (%s): new key %u, fingerprint %s, in %s; the "
			 "old key %s %s%s", id, e.name, e.key_id,
			 reply_str(c, "fingerprint"), reply_str(c, "key_file"),
			 gone ? "expired at" : "is accepted until", when, uadp);
		json_object_object_del(c->reply, "message");
		set_message(c, msg);
	}
	lg_policy_edit_free(&e);
	free(old);
	return ret;
}

static int h_devices_prune(void *ctx, struct lg_ctl_call *c)
{
	struct daemon *d = ctx;
	char head[400];
	struct lg_policy_edit e;
	uint32_t id = 0;
	char msg[64];
	char *old;
	size_t len;
	int ret;

	get_u32_field(c->req, "id", &id);
	ret = edit_base(d, &old, &len, c->err, c->errlen);
	if (ret)
		return ret;
	ret = lg_policy_edit_prune(old, len, id, time(NULL), &e, c->err, c->errlen);
	if (ret) {
		audit_event(d, c->peer->name, "devices_prune", "refused", NULL, c->err);
		free(old);
		return ret;
	}
	if (e.nremoved) {
		/* Which keys went, by their files: history says what the version changed. */
		int n = id ? snprintf(head, sizeof(head), "devices prune %u: removed keys", id) :
			     snprintf(head, sizeof(head), "devices prune: removed keys");

		for (unsigned i = 0; i < e.nremoved && n > 0 && (size_t)n < sizeof(head); i++)
			n += snprintf(head + n, sizeof(head) - (size_t)n, "%s %s", i ? "," : "",
				      e.removed[i] ? e.removed[i] : "(no key file)");
		ret = edit_commit(d, "devices_prune", head, &e, 0, old, len, c);
	}
	else
		json_object_object_add(c->reply, "keys_removed", json_object_new_int(0));
	if (!ret) {
		snprintf(msg, sizeof(msg), "%u expired key%s dropped", e.nremoved,
			 e.nremoved == 1 ? "" : "s");
		json_object_object_del(c->reply, "message");
		set_message(c, msg);
	}
	lg_policy_edit_free(&e);
	free(old);
	return ret;
}

static const struct lg_ctl_cmd daemon_cmds[] = {
	{ "status", h_status, "policy, hash, version, and whether the data plane answers", false },
	{ "validate", h_validate, "check \"policy\" text (errors name file:line:column)", false },
	{ "diff", h_validate, "devices \"policy\" would add, remove or change", false },
	{ "apply", h_apply, "validate and apply \"policy\" (or the policy file); \"dry_run\"",
	  true },
	{ "devices", h_devices, "the enrolled devices, their keys' fingerprints and expiry",
	  false },
	{ "devices_enroll", h_devices_enroll,
	  "enroll \"id\", \"name\", \"source\" (\"port\", \"mac\", \"rate\", \"group\", "
	  "\"uadp\") with a new key file",
	  true },
	{ "devices_revoke", h_devices_revoke, "remove device \"id\" from the policy file, apply it",
	  true },
	{ "devices_rotate_key", h_devices_rotate_key,
	  "a new key for device \"id\"; the old one expires in \"grace_s\" seconds", true },
	{ "devices_prune", h_devices_prune, "drop expired keys (of device \"id\", or every device)",
	  true },
	{ "metrics", h_metrics, "the data plane's counters", false },
	{ "record", h_record, "recording admitted frames: \"action\" start (\"devices\", "
	  "\"groups\", \"for\"), stop, rotate (\"next_file\"), status (audited: start, stop, "
	  "rotate)", true },
	{ "history", h_history, "every kept policy version", false },
	{ "rollback", h_rollback, "re-apply kept \"version\" (default: the one before)", true },
	{ "models", h_models, "the model registry", false },
	{ "model_add", h_model_add, "register \"name\"@\"version\" from \"path\" (with "
	  "\"shadow\": true it scores in the shadow too, or is not added)", true },
	{ "candidates", h_candidates, "models trained for approval, with their evaluation", false },
	{ "candidate_verdict", h_candidate_verdict, "record \"verdict\" approved (as \"ref\") or "
	  "rejected for candidate \"id\"", true },
	{ "model_activate", h_model_activate, "run \"ref\" (NAME@VERSION)", true },
	{ "model_shadow", h_model_shadow, "score with \"ref\" too, or \"off\"", true },
	{ "model_rollback", h_model_rollback, "back to the model before (or the boot model)",
	  true },
	{ NULL },
};

/* One audit line for a uid's refusals: this one (why; NULL when there is no new one), and
 * those counted since its last line. */
static void denial_audit(struct daemon *d, struct denial *e, const char *why,
			 const struct timespec *now)
{
	char detail[160];

	if (why && e->more)
		snprintf(detail, sizeof(detail), "%s, and %llu more since %s", why,
			 (unsigned long long)e->more, e->since);
	else if (why)
		snprintf(detail, sizeof(detail), "%s", why);
	else
		snprintf(detail, sizeof(detail), "%llu more since %s",
			 (unsigned long long)e->more, e->since);
	audit_event(d, e->peer, "connect", "denied", NULL, detail);
	now_iso(e->since, sizeof(e->since));
	e->last = *now;
	e->more = 0;
}

/*
 * A refused peer: audited at once, then at most once a second per uid with the count of
 * those in between; a client looping connect/close would otherwise fill the disk with
 * audit lines (67 000 in 3 s).
 */
static void on_denied(void *ctx, const struct lg_ctl_peer *peer, const char *why)
{
	struct daemon *d = ctx;
	struct denial *e = NULL, *spare = NULL;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	d->denied++;
	for (size_t i = 0; i < ARRAY_SIZE(d->denials) && !e; i++) {
		struct denial *x = &d->denials[i];

		if (x->last.tv_sec && x->uid == peer->uid)
			e = x;
		/* A slot may change hands only when its uid could be audited again anyway: its
		 * last line a second ago or more, nothing counted since. */
		else if (!spare && (!x->last.tv_sec ||
				    (!x->more && ms_since(&x->last, &now) >= 1000)))
			spare = x;
	}
	if (!e && !spare) {
		if (!d->denied_other)
			now_iso(d->other_since, sizeof(d->other_since));
		d->denied_other++;
		d->denied_unaudited++;
		return;
	}
	if (!e) {
		e = spare;
		memset(e, 0, sizeof(*e));
		e->uid = peer->uid;
	}
	snprintf(e->peer, sizeof(e->peer), "%s", peer->name);
	if (e->last.tv_sec && ms_since(&e->last, &now) < 1000) {
		e->more++;
		d->denied_unaudited++;
		return;
	}
	denial_audit(d, e, why, &now);
}

/* The count of refusals a quiet second follows goes out without waiting for the next one. */
static void denials_flush(struct daemon *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < ARRAY_SIZE(d->denials); i++)
		if (d->denials[i].more && ms_since(&d->denials[i].last, &now) >= 1000)
			denial_audit(d, &d->denials[i], NULL, &now);
	if (d->denied_other && (!d->other_last.tv_sec || ms_since(&d->other_last, &now) >= 1000)) {
		char detail[160];

		snprintf(detail, sizeof(detail), "%llu more since %s, from uids beyond the %zu "
			 "followed one by one", (unsigned long long)d->denied_other, d->other_since,
			 ARRAY_SIZE(d->denials));
		audit_event(d, "other uids", "connect", "denied", NULL, detail);
		d->other_last = now;
		d->denied_other = 0;
	}
}

static int unhex32(const char *hex, uint8_t *out)
{
	if (strlen(hex) != 64)
		return -EINVAL;
	for (int i = 0; i < 32; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
			return -EINVAL;
	return 0;
}

/* Open the audit log 0600 (an existing one readable by others is made 0600, and said so)
 * and find its last sequence number and an intent without a result, if any. */
static int audit_open(struct daemon *d, const char *path, uint64_t *open_seq, char open_hex[65],
		      char *err, size_t errlen)
{
	int fd = lg_outpath_open(path, O_RDWR | O_APPEND | O_CREAT, 0600, err, errlen);
	struct stat st;
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	off_t from;

	*open_seq = 0;
	open_hex[0] = '\0';
	if (fd < 0)
		return fd; /* err says why, naming path */
	if (fstat(fd, &st)) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		close(fd);
		return -e;
	}
	if (st.st_mode & 077) {
		if (fchmod(fd, 0600)) {
			snprintf(err, errlen, "%s is mode %04o (readable by others) and cannot be "
				 "made 0600: %s", path, st.st_mode & 07777, strerror(errno));
			close(fd);
			return -EPERM;
		}
		fprintf(stderr, "linegated: %s was mode %04o: made it 0600 (the audit log is not "
			"for everyone)\n", path, st.st_mode & 07777);
	}
	/* The tail is enough: intents and their results are a few lines apart. */
	from = st.st_size > (1 << 20) ? st.st_size - (1 << 20) : 0;
	if (lseek(fd, from, SEEK_SET) == from && !lg_read_fd(fd, 2u << 20, &text, &len)) {
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char why[64];
			json_object *v, *o = lg_ctl_parse_object(line, strlen(line), why,
								 sizeof(why));
			const char *phase, *h;
			uint64_t seq;

			if (!o)
				continue;
			seq = json_object_object_get_ex(o, "seq", &v) ? json_object_get_uint64(v) :
									0;
			phase = get_str_field(o, "phase");
			h = get_str_field(o, "policy_sha256");
			if (seq > d->seq)
				d->seq = seq;
			if (phase && !strcmp(phase, "intent")) {
				*open_seq = seq;
				snprintf(open_hex, 65, "%s", h ? h : "");
			} else if (phase && seq == *open_seq &&
				   (!strcmp(phase, "result") || !strcmp(phase, "reconciled"))) {
				*open_seq = 0;
			}
			json_object_put(o);
		}
		free(text);
	}
	d->audit = fdopen(fd, "a");
	if (!d->audit) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

/*
 * A crash between an intent and its result: ask the data plane what it runs and record
 * what really happened. A policy it runs is kept as a version (it was pushed, not yet kept).
 */
static void reconcile(struct daemon *d, uint64_t seq, const char *hex)
{
	char dphex[65], why[512], detail[1400], source[PATH_MAX], boot_hex[65];
	uint8_t h[32], *hp = unhex32(hex, h) ? NULL : h;
	json_object *meta = NULL;
	char *text = NULL;
	size_t len;
	unsigned version = 0;

	if (dp_status(d, dphex, why, sizeof(why))) {
		snprintf(detail, sizeof(detail), "cannot tell: %s", why);
		audit_line(d, seq, "reconciled", "startup", "apply", "unknown", hp, detail);
	} else if (strcmp(dphex, hex)) {
		snprintf(detail, sizeof(detail), "the data plane runs %.8s, not this policy",
			 dphex);
		audit_line(d, seq, "reconciled", "startup", "apply", "not applied", hp, detail);
	} else {
		snprintf(detail, sizeof(detail), "the data plane runs it");
		if (d->state_dir &&
		    !state_load(d, "pending", &text, &len, source, sizeof(source), &meta)) {
			const char *ph = get_str_field(meta, "sha256");
			const char *peer = get_str_field(meta, "peer");
			const char *what = get_str_field(meta, "what");
			char cur[PATH_MAX];
			json_object *c = spath(d, cur, sizeof(cur), "current.json") ? NULL :
					 read_json(cur);
			const char *chex = c ? get_str_field(c, "sha256") : NULL;
			const char *pboot = get_str_field(meta, "boot_sha256");
			const char *cboot = c ? get_str_field(c, "boot_sha256") : NULL;

			/* The boot file's hash as it was at that apply (kept with the pending
			 * policy; an enrollment verb had rewritten the file before), not as it is
			 * now: a boot file edited since must still win at this start. */
			if (pboot)
				snprintf(boot_hex, sizeof(boot_hex), "%s", pboot);
			else if (cboot)
				snprintf(boot_hex, sizeof(boot_hex), "%s", cboot);
			else
				boot_hash(d, boot_hex);
			if (ph && !strcmp(ph, hex) && (!chex || strcmp(chex, hex)) &&
			    !state_persist(d, text, len, h, peer ? peer : "?",
					   what ? what : "apply", source, boot_hex, &version))
				snprintf(detail, sizeof(detail), "the data plane runs it; kept as "
					 "version %u", version);
			json_object_put(c);
			json_object_put(meta);
			free(text);
		}
		audit_line(d, seq, "reconciled", "startup", "apply", "applied", hp, detail);
	}
	fprintf(stderr, "linegated: the last apply (audit seq %llu) was cut short: %s\n",
		(unsigned long long)seq, detail);
	if (d->state_dir)
		state_clear_pending(d);
}

/* A kept version's hash (hex) from its metadata; "" when it has none. */
static void version_hash(const struct daemon *d, unsigned v, char hex[65])
{
	char p[PATH_MAX], tail[32];
	json_object *m;
	const char *h;

	hex[0] = '\0';
	snprintf(tail, sizeof(tail), "versions/%u.json", v);
	if (spath(d, p, sizeof(p), tail) || !(m = read_json(p)))
		return;
	h = get_str_field(m, "sha256");
	snprintf(hex, 65, "%s", h ? h : "");
	json_object_put(m);
}

/* The kept version whose policy has this hash: prefer, else the newest; 0 when none. */
static unsigned state_find_hash(const struct daemon *d, const char *hex, unsigned prefer)
{
	char h[65];

	if (prefer) {
		version_hash(d, prefer, h);
		if (!strcmp(h, hex))
			return prefer;
	}
	for (unsigned v = state_max_version(d); v >= 1; v--) {
		version_hash(d, v, h);
		if (!strcmp(h, hex))
			return v;
	}
	return 0;
}

/*
 * What linegated starts from, then adopt it when the data plane already runs it, or push it:
 * - the boot file has the hash it had when the last version was applied: that version (the
 *   applies since are newer than the file);
 * - else, when the boot file's text is a kept version (an apply cut short after its push,
 *   an earlier version put back in the file): that version, no new one;
 * - else the boot file, as the next version.
 * No kept version is ever deleted: history and rollback reach across restarts.
 */
static int start_policy(struct daemon *d, char *msg, size_t msglen)
{
	char boot_hex[65], why[600], source[PATH_MAX], cur[PATH_MAX], dphex[65], hex[65];
	char last_boot[PATH_MAX] = "";
	char stem[32];
	json_object *c = NULL, *v;
	unsigned cv = 0, kv = 0;
	char *text = NULL;
	size_t len = 0;
	struct lg_policy p;
	bool by_hash = false, pushed = false;
	int ret;

	boot_hash(d, boot_hex);
	why[0] = '\0';
	if (d->state_dir && !spath(d, cur, sizeof(cur), "current.json") && (c = read_json(cur))) {
		const char *cb = get_str_field(c, "boot_sha256");
		const char *bf = get_str_field(c, "boot_file");
		char real[PATH_MAX];

		if (bf && strcmp(bf, realpath(d->policy_path, real) ? real : d->policy_path))
			snprintf(last_boot, sizeof(last_boot), "%s", bf);

		cv = json_object_object_get_ex(c, "version", &v) ?
			     (unsigned)json_object_get_int64(v) : 0;
		if (cv && cb && boot_hex[0] && !strcmp(cb, boot_hex)) {
			kv = cv;
			snprintf(why, sizeof(why), "the last applied version %u (%s is unchanged "
				 "since it was applied, so version %u is newer)", cv,
				 d->policy_path, cv);
		}
		json_object_put(c);
	}
	if (!kv && d->state_dir && boot_hex[0] && (kv = state_find_hash(d, boot_hex, cv))) {
		by_hash = true;
		snprintf(why, sizeof(why), "version %u (the boot file %s is its text)", kv,
			 d->policy_path);
	}
	if (kv) {
		snprintf(stem, sizeof(stem), "versions/%u", kv);
		if (state_load(d, stem, &text, &len, source, sizeof(source), NULL) ||
		    lg_policy_validate(text, len, source, &p, msg, msglen)) {
			snprintf(why, sizeof(why), "the boot file %s as the next version (version "
				 "%u cannot be used: %.300s)", d->policy_path, kv,
				 text ? msg : "missing");
			free(text);
			text = NULL;
			kv = 0;
		}
	}
	if (!kv) {
		if (!why[0] && cv && last_boot[0])
			snprintf(why, sizeof(why), "the boot file %s as the next version (started "
				 "with another policy file than the one of version %u, %.200s)",
				 d->policy_path, cv, last_boot);
		else if (!why[0] && cv)
			snprintf(why, sizeof(why), "the boot file %s as the next version (it "
				 "changed since version %u was applied)", d->policy_path, cv);
		else if (!why[0])
			snprintf(why, sizeof(why), "the boot file %s (%s)", d->policy_path,
				 d->state_dir ? "no earlier state" : "no state folder");
		ret = lg_read_file(d->policy_path, &text, &len);
		if (ret) {
			snprintf(msg, msglen, "%s: %s", d->policy_path, strerror(-ret));
			return ret;
		}
		snprintf(source, sizeof(source), "%s", d->policy_path);
		ret = lg_policy_validate(text, len, source, &p, msg, msglen);
		if (ret) {
			char bad[700];

			audit_event(d, "startup", "apply", "refused", NULL, msg);
			free(text);
			text = NULL;
			/* Fail static: a boot file broken since the last apply (a refused edit
			 * left in place) does not take the line down; the last version runs. */
			snprintf(bad, sizeof(bad), "%.*s", (int)sizeof(bad) - 1, msg);
			snprintf(stem, sizeof(stem), "versions/%u", cv);
			if (!cv || state_load(d, stem, &text, &len, source, sizeof(source), NULL) ||
			    lg_policy_validate(text, len, source, &p, msg, msglen)) {
				free(text);
				snprintf(msg, msglen, "%s", bad);
				return ret;
			}
			kv = cv;
			snprintf(why, sizeof(why), "the last applied version %u, because the boot "
				 "file is not valid (%.400s): fix it; it is not used until it is", cv,
				 bad);
			audit_event(d, "startup", "start", "boot file refused: last version kept",
				    NULL, why);
		}
	}
	hex32(p.hash, hex);
	if (d->dp_path && !dp_status(d, dphex, msg, msglen) && !strcmp(dphex, hex)) {
		/* The data plane runs it already: nothing to push, nothing reset. */
		if (!kv && d->state_dir)
			state_persist(d, text, len, p.hash, "startup", "boot", source, boot_hex,
				      &kv);
		d->running = p;
		d->have_running = true;
		d->version = kv;
		snprintf(msg, msglen, "adopted the data plane's running generation (%.8s), no push",
			 hex);
		audit_event(d, "startup", "start", "adopted", p.hash, why);
	} else {
		/* Another version than the last applied one: does it change the model? */
		if (cv && kv != cv) {
			char *ot = NULL, osrc[PATH_MAX], oerr[256];
			size_t olen;
			struct lg_policy op;

			snprintf(stem, sizeof(stem), "versions/%u", cv);
			if (!state_load(d, stem, &ot, &olen, osrc, sizeof(osrc), NULL) &&
			    !lg_policy_parse(ot, olen, osrc, &op, oerr, sizeof(oerr))) {
				d->start_model_changed = model_changed(&op, &p);
				lg_policy_free(&op);
			}
			free(ot);
		}
		lg_policy_free(&p);
		ret = apply_text(d, text, len, source, "startup", "apply", kv ? why : "boot", false,
				 kv, NULL, msg, msglen);
		if (ret) {
			free(text);
			return ret;
		}
		pushed = true;
	}
	/* The boot file, as it is now, is this version's: the next start keeps it. */
	if (by_hash)
		state_set_current(d, kv, d->running.hash, boot_hex);
	free(text);
	fprintf(stderr, "linegated: starting from %s: %s\n", why,
		pushed ? (d->dp_path ? "pushed it to the data plane" : "no data plane") : msg);
	return 0;
}

/* After a restart, the data plane runs what the registry says is active and shadow, unless
 * it does already: then nothing is swapped. Without always, a registry that names neither
 * leaves the data plane as it is (the policy's detection.model, or what it ran before). */
static void restore_models(struct daemon *d, const char *peer, bool always)
{
	char why[1024], detail[sizeof(d->models_why) + 400], runs[400] = "";
	const char *base = strrchr(d->running.model, '/');
	const char *want = d->reg.active[0] ? d->reg.active : base ? base + 1 : d->running.model;
	json_object *r, *v, *sv = NULL;
	bool same = false;

	if (!d->dp_path || (!always && !d->reg.active[0] && !d->reg.shadow[0]))
		return;
	if (!dp_call(d, cmd_req("status"), &r, why, sizeof(why))) {
		same = json_object_object_get_ex(r, "model", &v) &&
		       !strcmp(json_object_get_string(v), want) &&
		       json_object_object_get_ex(r, "shadow_model", &sv) &&
		       !strcmp(json_object_get_string(sv), d->reg.shadow);
		if (json_object_object_get_ex(r, "model", &v)) {
			const char *rs = json_object_object_get_ex(r, "shadow_model", &sv) ?
						 json_object_get_string(sv) : "";

			snprintf(runs, sizeof(runs), "%.150s%s%.150s", json_object_get_string(v),
				 rs[0] ? ", shadow " : "", rs);
		}
		json_object_put(r);
	}
	snprintf(detail, sizeof(detail), "restore: %s%.160s%s%.160s", d->reg.active[0] ?
		 "the registry's active " : "the policy's detection.model ", want,
		 d->reg.shadow[0] ? ", shadow " : "", d->reg.shadow);
	if (same) {
		/* at start only: the data plane kept them across linegated's restart */
		if (!always) {
			append(detail, sizeof(detail), ": the data plane runs them already");
			audit_event(d, peer, "model_activate", "ok", NULL, detail);
		}
		return;
	}
	if (!push_models(d, d->reg.active, d->reg.shadow, why, sizeof(why))) {
		append(detail, sizeof(detail), ": pushed to the data plane");
		audit_event(d, peer, "model_activate", "ok", NULL, detail);
		return;
	}
	fprintf(stderr, "linegated: could not restore the registry's models: %s\n", why);
	snprintf(d->models_why, sizeof(d->models_why), "the data plane runs %.300s, not the "
		 "registry's %s%.160s%s%.160s: restoring them failed: %.300s", runs[0] ? runs :
		 "a model linegated could not learn", d->reg.active[0] ? "active " :
		 "(the policy's detection.model) ", want, d->reg.shadow[0] ? ", shadow " : "",
		 d->reg.shadow, why);
	append(detail, sizeof(detail), ": refused: ");
	append(detail, sizeof(detail), d->models_why);
	audit_event(d, peer, "model_activate", "failed", NULL, detail);
}

static void watch_setup(struct daemon *d, bool poll_only)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", d->policy_path);
	snprintf(d->policy_dir, sizeof(d->policy_dir), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", d->policy_path);
	snprintf(d->policy_base, sizeof(d->policy_base), "%s", basename(tmp));
	d->ino_wd = -1;
	if (poll_only)
		return;
	d->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	/* The folder, not the file: editors and mv replace the file (a new inode). Only a
	 * closed writer or a rename says the file is complete. */
	if (d->ino_fd >= 0)
		d->ino_wd = inotify_add_watch(d->ino_fd, d->policy_dir,
					      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MODIFY);
	if (d->ino_wd < 0)
		fprintf(stderr, "linegated: no inotify on %s (%s): looking at the file every "
			"interval instead\n", d->policy_dir, strerror(errno));
}

static void watch_events(struct daemon *d)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool renamed = false;
	ssize_t n;

	while ((n = read(d->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			if (e->mask & IN_IGNORED) {
				d->ino_wd = -1; /* the folder went away: poll instead */
			} else if (e->len && !strcmp(e->name, d->policy_base)) {
				if (e->mask & IN_MOVED_TO) {
					renamed = true;
					d->settle_pending = false;
				} else if (e->mask & IN_MODIFY) {
					/* A writer is at it (again): nothing is applied before
					 * it closes, and a pending apply waits for the new close. */
					d->settle_pending = false;
				} else if (!renamed) {
					/* Closed after writing: applied once nothing wrote for
					 * settle_ms (an append soon after restarts the wait). */
					d->settle_pending = true;
					clock_gettime(CLOCK_MONOTONIC, &d->settle_from);
				}
			}
			p += sizeof(*e) + e->len;
		}
	}
	if (renamed)
		watch_apply(d, "renamed into place");
}

/* A file closed after writing and unchanged since for settle_ms: apply it. */
static void watch_settle(struct daemon *d, const struct timespec *now)
{
	char why[64];

	if (!d->settle_pending || ms_since(&d->settle_from, now) < d->settle_ms)
		return;
	d->settle_pending = false;
	snprintf(why, sizeof(why), "closed after writing, unchanged for %d ms", d->settle_ms);
	watch_apply(d, why);
}

/* Without inotify: a content is applied once two looks in a row saw it. */
static void watch_poll(struct daemon *d)
{
	char *text;
	size_t len;
	uint8_t h[32];

	if (lg_read_file(d->policy_path, &text, &len))
		return;
	SHA256((const unsigned char *)text, len, h);
	free(text);
	if (d->poll_seen && !memcmp(h, d->poll_hash, 32))
		watch_apply(d, "unchanged for two looks");
	memcpy(d->poll_hash, h, 32);
	d->poll_seen = true;
}

/* linegate-train next to this program (build tree and install alike). */
static void default_trainer(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		snprintf(out, len, "linegate-train");
		return;
	}
	self[n] = '\0';
	snprintf(out, len, "%s/linegate-train", dirname(self));
}

/*
 * Fleet configuration (docs/fleet.md, "Fleet configuration and rollout"): the fleet watch
 * thread (fleet_watch.h) fetches the bundle version this server should run; here, in
 * linegated's own loop, it is verified (the manifest's Ed25519 signature against the running
 * policy's models.trusted_keys, then each part's SHA-256), its model is added to the
 * registry, its policy goes through apply_text() like any apply, and the model is
 * activated. Every step is audited (fleet_bundle, fleet_apply, model_add, model_activate)
 * and the result is reported back to the bucket with the server's versions and health.
 */
#ifdef LG_HAVE_NATS
/* fleet.json's newer-only members (a file of an older linegated has none: serial 0) */
static void fleet_state_newer(struct daemon *d, json_object *o)
{
	json_object *v;

	json_object_put(d->fleet_verdicts);
	d->fleet_verdicts = json_object_new_object();
	if (!o)
		return;
	if (json_object_object_get_ex(o, "serial", &v) && json_object_is_type(v, json_type_int))
		d->fleet_serial = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "floor", &v) && json_object_is_type(v, json_type_int))
		d->fleet_floor = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "canary", &v))
		d->fleet_canary = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "verdicts", &v) &&
	    json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, w)
			if (lg_bundle_token_ok(k) && json_object_is_type(w, json_type_string))
				json_object_object_add(d->fleet_verdicts, k,
						       json_object_new_string(json_object_get_string(w)));
	}
}

/* Remember a version refused or rolled back here: it is refused again, unjudged. */
static void fleet_verdict(struct daemon *d, const char *version, const char *why)
{
	if (!d->fleet_verdicts)
		d->fleet_verdicts = json_object_new_object();
	if (json_object_object_length(d->fleet_verdicts) >= 64) {
		struct json_object_iterator i = json_object_iter_begin(d->fleet_verdicts);
		char oldest[72];

		/* the oldest goes (json-c keeps the order of insertion) */
		snprintf(oldest, sizeof(oldest), "%s", json_object_iter_peek_name(&i));
		json_object_object_del(d->fleet_verdicts, oldest);
	}
	json_object_object_add(d->fleet_verdicts, version, json_object_new_string(why));
}

static void fleet_state(struct daemon *d, bool write)
{
	char p[PATH_MAX];
	json_object *o;

	if (!d->state_dir || spath(d, p, sizeof(p), "fleet.json"))
		return;
	if (write) {
		o = json_object_new_object();
		json_object_object_add(o, "applied", json_object_new_string(d->fleet_applied));
		json_object_object_add(o, "last", json_object_new_string(d->fleet_last));
		json_object_object_add(o, "result", json_object_new_string(d->fleet_result));
		json_object_object_add(o, "reason", json_object_new_string(d->fleet_why));
		json_object_object_add(o, "serial", json_object_new_uint64(d->fleet_serial));
		json_object_object_add(o, "floor", json_object_new_uint64(d->fleet_floor));
		json_object_object_add(o, "canary", json_object_new_boolean(d->fleet_canary));
		json_object_object_add(o, "verdicts", json_object_get(d->fleet_verdicts));
		if (d->fleet_have_line_model)
			json_object_object_add(o, "line_model",
					       json_object_new_string(d->fleet_line_model));
		if (write_json(p, o))
			fprintf(stderr, "linegated: %s: cannot keep the applied bundle version\n", p);
		json_object_put(o);
		return;
	}
	o = read_json(p);
	if (o && get_str_field(o, "applied") && lg_bundle_token_ok(get_str_field(o, "applied")))
		snprintf(d->fleet_applied, sizeof(d->fleet_applied), "%s",
			 get_str_field(o, "applied"));
	/* the last bundle's verdict, for the reports after a restart */
	if (o && get_str_field(o, "last") && lg_bundle_token_ok(get_str_field(o, "last")) &&
	    get_str_field(o, "result") && get_str_field(o, "reason")) {
		snprintf(d->fleet_last, sizeof(d->fleet_last), "%s", get_str_field(o, "last"));
		snprintf(d->fleet_result, sizeof(d->fleet_result), "%.15s",
			 get_str_field(o, "result"));
		snprintf(d->fleet_why, sizeof(d->fleet_why), "%.500s", get_str_field(o, "reason"));
	}
	fleet_state_newer(d, o);
	if (o && get_str_field(o, "line_model")) {
		snprintf(d->fleet_line_model, sizeof(d->fleet_line_model), "%s",
			 get_str_field(o, "line_model"));
		d->fleet_have_line_model = true;
	}
	json_object_put(o);
}

static uint64_t stat_u64(json_object *o, const char *a, const char *b)
{
	json_object *v;

	if (!json_object_object_get_ex(o, a, &v))
		return 0;
	if (b && !json_object_object_get_ex(v, b, &v))
		return 0;
	return (uint64_t)json_object_get_int64(v);
}

/* The status report: versions, the last bundle's result, and health over the last period. */
static void fleet_report(struct daemon *d)
{
	json_object *o = json_object_new_object(), *pol = json_object_new_object();
	json_object *b = json_object_new_object(), *h = json_object_new_object(), *r = NULL, *st;
	struct timespec now, wall;
	char hex[65], wanted[72], why[256];
	bool connected;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &now);
	clock_gettime(CLOCK_REALTIME, &wall);
	d->fleet_last_report = now;
	running_hex(d, hex);
	lg_fleet_wanted(d->fleet, wanted, sizeof(wanted), &connected, NULL);
	json_object_object_add(o, "server", json_object_new_string(d->fleet_cfg.server));
	json_object_object_add(o, "plant", json_object_new_string(d->fleet_cfg.plant));
	json_object_object_add(o, "line", json_object_new_string(d->fleet_cfg.line));
	json_object_object_add(o, "at_ms", json_object_new_int64((int64_t)wall.tv_sec * 1000 +
								  wall.tv_nsec / 1000000));
	json_object_object_add(pol, "version", json_object_new_int64(d->version));
	json_object_object_add(pol, "sha256", json_object_new_string(hex));
	json_object_object_add(o, "policy", pol);
	json_object_object_add(o, "model", json_object_new_string(d->have_reg ? d->reg.active :
								    ""));
	json_object_object_add(b, "wanted", json_object_new_string(wanted));
	json_object_object_add(b, "applied", json_object_new_string(d->fleet_applied));
	json_object_object_add(b, "last", json_object_new_string(d->fleet_last));
	json_object_object_add(b, "result", json_object_new_string(d->fleet_result));
	json_object_object_add(b, "reason", json_object_new_string(d->fleet_why));
	json_object_object_add(b, "serial", json_object_new_uint64(d->fleet_serial));
	/* on a canary's key still, and the serial below which nothing is applied: rollout waits
	 * for canary false (re-check trial 13 N1: "done" while the old floor still held) */
	json_object_object_add(b, "canary", json_object_new_boolean(d->fleet_canary));
	json_object_object_add(b, "floor", json_object_new_uint64(d->fleet_floor));
	json_object_object_add(b, "judged", json_object_get(d->fleet_verdicts));
	json_object_object_add(o, "bundle", b);
	/* Health: the data plane's counters, and their rates since the last report. */
	ret = dp_call_t(d, cmd_req("stats"), DP_LOOK_TIMEOUT_MS, &r, why, sizeof(why));
	json_object_object_add(h, "dataplane", json_object_new_boolean(!ret));
	if (!ret && json_object_object_get_ex(r, "stats", &st)) {
		uint64_t drop = stat_u64(st, "dropped", NULL), inc = stat_u64(st, "incidents",
									       "opened");
		json_object *dps;

		/* the policy the data plane runs: a rollout compares it with the bundle's */
		if (json_object_object_get_ex(st, "policy_sha256", &dps))
			json_object_object_add(pol, "dataplane_sha256", json_object_get(dps));
		double s = (double)ms_since(&d->fleet_prev_at, &now) / 1000.0;

		json_object_object_add(h, "dropped", json_object_new_uint64(drop));
		json_object_object_add(h, "incidents", json_object_new_uint64(inc));
		json_object_object_add(h, "alerts", json_object_new_uint64(stat_u64(st, "alerts",
										     NULL)));
		if (d->fleet_prev_at.tv_sec && s > 0 && drop >= d->fleet_prev_drop &&
		    inc >= d->fleet_prev_inc) {
			json_object_object_add(h, "period_s", json_object_new_double(s));
			json_object_object_add(h, "drop_rate", json_object_new_double(
				(double)(drop - d->fleet_prev_drop) / s));
			json_object_object_add(h, "incident_rate", json_object_new_double(
				(double)(inc - d->fleet_prev_inc) / s));
		}
		d->fleet_prev_drop = drop;
		d->fleet_prev_inc = inc;
		d->fleet_prev_at = now;
	}
	json_object_put(r);
	json_object_object_add(o, "health", h);
	lg_fleet_report(d->fleet, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* Verify the fetched bundle's manifest and parts; m is filled on success. */
static int fleet_verify(struct daemon *d, const struct lg_fleet_fetch *ft,
			struct lg_bundle_manifest *m, uint8_t signer[32], char *why, size_t whylen)
{
	char p[PATH_MAX + 128], *text, *part;
	uint8_t sig[64];
	size_t len, plen;
	int ret;

	snprintf(p, sizeof(p), "%s/manifest.sig", ft->dir);
	ret = lg_hex_read_file(p, sig, sizeof(sig));
	if (ret) {
		snprintf(why, whylen, "manifest.sig is not 128 hex digits: refused");
		return -EKEYREJECTED;
	}
	snprintf(p, sizeof(p), "%s/manifest.json", ft->dir);
	ret = lg_read_file(p, &text, &len);
	if (ret) {
		snprintf(why, whylen, "%.900s: %s", p, strerror(-ret));
		return ret;
	}
	ret = lg_bundle_verify(text, len, sig, (const uint8_t (*)[32])d->running.model_keys,
			       d->running.nmodel_keys, m, why, whylen);
	/* which key signed it, for the audit (trial R, s23: a demo-key bundle read like the
	 * operator's) */
	for (size_t k = 0; !ret && k < d->running.nmodel_keys; k++) {
		struct lg_bundle_manifest mk;
		char kwhy[64];

		if (!lg_bundle_verify(text, len, sig,
				      (const uint8_t (*)[32])d->running.model_keys[k], 1, &mk,
				      kwhy, sizeof(kwhy))) {
			memcpy(signer, d->running.model_keys[k], 32);
			break;
		}
	}
	free(text);
	if (ret)
		return ret;
	/* A signed bundle of another line or version is not this one (a replay). */
	if (strcmp(m->plant, d->fleet_cfg.plant) || strcmp(m->line, d->fleet_cfg.line) ||
	    strcmp(m->version, ft->version)) {
		snprintf(why, whylen, "the manifest is for %s/%s@%s, not %s/%s@%s: refused",
			 m->plant, m->line, m->version, d->fleet_cfg.plant, d->fleet_cfg.line,
			 ft->version);
		return -EKEYREJECTED;
	}
	for (size_t i = 0; i < m->nparts; i++) {
		snprintf(p, sizeof(p), "%s/%s", ft->dir, m->parts[i].name);
		ret = lg_read_file(p, &part, &plen);
		if (ret) {
			snprintf(why, whylen, "part %s: %s", m->parts[i].name, strerror(-ret));
			return ret;
		}
		ret = lg_bundle_check_part(&m->parts[i], part, plen, why, whylen);
		free(part);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Newer only (docs/fleet.md): a verified bundle whose serial is below the floor (the newest
 * bundle applied as the line's) or below the running canary's is a downgrade, refused;
 * the one exception is the line's version replacing a canary's (the rollout's rollback),
 * which may go back to the floor. A manifest without a serial counts as serial 0.
 */
static int fleet_newer(struct daemon *d, const struct lg_fleet_fetch *ft,
		       const struct lg_bundle_manifest *m, char *why, size_t whylen)
{
	uint64_t least = d->fleet_floor;

	if (ft->canary || !d->fleet_canary)
		least = d->fleet_serial > least ? d->fleet_serial : least;
	if (m->serial >= least)
		return 0;
	snprintf(why, whylen, "downgrade refused: %s (serial %llu%s) is older than %s (serial "
		 "%llu), the newest applied here; to go back, publish the old bundle's folder "
		 "as a new version", ft->version, (unsigned long long)m->serial,
		 m->serial ? "" : ", none in its manifest", d->fleet_applied,
		 (unsigned long long)least);
	return -EKEYREJECTED;
}

/*
 * The bundle judged against its own policy before anything of it is applied (trial R, s23:
 * a model refused after its policy was applied left the policy running, and a policy that
 * dropped the bundle's signing key locked the fleet out of the server). Its policy must
 * still trust the key that signed the bundle, and its model must run under its policy.
 * 0; or -EKEYREJECTED with why (a verdict on the bundle). A policy that does not parse is
 * left to the apply, which names its line and column.
 */
static int fleet_precheck(struct daemon *d, const struct lg_fleet_fetch *ft,
			  const struct lg_bundle_manifest *m, const uint8_t signer[32],
			  const char *text, size_t len, char *why, size_t whylen)
{
	char p[PATH_MAX + 128], msg[1024];
	struct lg_policy np;
	bool trusted = false;
	int ret = 0;

	if (lg_policy_parse(text, len, d->policy_path, &np, msg, sizeof(msg)))
		return 0;
	for (size_t k = 0; k < np.nmodel_keys && !trusted; k++)
		trusted = !memcmp(np.model_keys[k], signer, 32);
	if (!trusted) {
		snprintf(why, whylen, "its policy's models.trusted_keys does not hold the key that "
			 "signed it: applied, this server would refuse every later bundle signed "
			 "so, and the fleet could not reach it again; nothing applied (keep the "
			 "fleet's key in the policy's models.trusted_keys)");
		ret = -EKEYREJECTED;
	} else if (m->model_file[0]) {
		snprintf(p, sizeof(p), "%s/%s", ft->dir, m->model_file);
		if (lg_policy_check_model(&np, p, msg, sizeof(msg))) {
			snprintf(why, whylen, "its model %s@%s cannot run under its own policy: "
				 "%.700s; nothing applied", m->model_name, m->version, msg);
			ret = -EKEYREJECTED;
		}
	}
	lg_policy_free(&np);
	return ret;
}

/*
 * A bundle whose policy was applied and whose model was then refused (by the data plane,
 * after the checks): its policy goes back to the version before, so that a bad bundle
 * never replaces a running policy. Appends what happened to why.
 */
static void fleet_undo_policy(struct daemon *d, unsigned before, char *why, size_t whylen)
{
	char stem[32], source[PATH_MAX], uwhy[700], note[900], *text = NULL;
	size_t len;
	int ret = -ENOENT;

	if (d->state_dir && before) {
		snprintf(stem, sizeof(stem), "versions/%u", before);
		ret = state_load(d, stem, &text, &len, source, sizeof(source), NULL);
	}
	if (!ret) {
		ret = apply_text(d, text, len, source, "fleet", "fleet_undo",
				 "the policy before a bundle whose model was refused", false, 0,
				 NULL, uwhy, sizeof(uwhy));
		free(text);
	} else {
		snprintf(uwhy, sizeof(uwhy), "%s", d->state_dir ? "no such version kept" :
			 "no state folder keeps it");
	}
	if (ret)
		snprintf(note, sizeof(note), "; going back to policy version %u failed: %.700s: "
			 "the bundle's policy runs", before, uwhy);
	else
		snprintf(note, sizeof(note), "; the policy went back to version %u's (applied "
			 "again as version %u)", before, d->version);
	append(why, whylen, note);
}

static void fleet_apply(struct daemon *d, const struct lg_fleet_fetch *ft)
{
	char why[1024] = "", detail[256], ref[160] = "", p[PATH_MAX + 128], *text = NULL;
	char have[LG_PATH_MAX * 3];
	const char *result = "refused";
	struct lg_bundle_manifest m;
	bool remember = false; /* a verdict on the bundle itself: never judged again */
	bool rollback = false, added = false;
	unsigned undo_to = 0; /* the policy version before the bundle's, once it applied */
	uint8_t signer[32] = { 0 };
	json_object *before;
	uint8_t h[32];
	size_t len;
	int ret = ft->err;

	snprintf(detail, sizeof(detail), "bundle %s/%s@%s", d->fleet_cfg.plant,
		 d->fleet_cfg.line, ft->version);
	if (ret) {
		/* A fetch is tried again every 10 s. One that could not reach the objects (a
		 * timeout: a node of the cluster down, its stream's leader elected anew) is no
		 * verdict on the bundle: "retrying", which a rollout waits out (trial R, s23 and
		 * tests/e2e/nats_cluster.sh: a node killed mid-rollout made two servers report
		 * "failed" and the rollout roll back); objects that are missing or damaged are
		 * "failed". One audit line while it fails alike. */
		result = ret == -EIO ? "retrying" : "failed";
		if (ret == -EIO)
			snprintf(why, sizeof(why), "its files could not be fetched, tried again "
				 "every 10 s: %.900s", ft->why);
		else
			snprintf(why, sizeof(why), "%s", ft->why);
		if (!strcmp(d->fleet_last, ft->version) && !strcmp(d->fleet_result, result) &&
		    !strncmp(d->fleet_why, why, sizeof(d->fleet_why) - 1))
			return;
		goto out;
	}
	/* a version refused or rolled back here once is refused again, not applied */
	if (json_object_object_get_ex(d->fleet_verdicts, ft->version, &before)) {
		snprintf(why, sizeof(why), "%s was judged here before (%.400s): refused again; "
			 "to run its content, publish it as a new version", ft->version,
			 json_object_get_string(before));
		ret = -EKEYREJECTED;
		goto out;
	}
	remember = true;
	ret = fleet_verify(d, ft, &m, signer, why, sizeof(why));
	if (!ret)
		ret = fleet_newer(d, ft, &m, why, sizeof(why));
	if (ret)
		goto out;
	{
		char vdetail[400];

		char fp[9];
		bool demo;

		for (int b = 0; b < 4; b++)
			snprintf(fp + 2 * b, 3, "%02x", signer[b]);
		demo = !strncmp(fp, LG_DEMO_SIGNING_PUB, 8);
		snprintf(vdetail, sizeof(vdetail), "%s: signed by the key of fingerprint %s%s",
			 detail, fp, demo ? " (the public demo key: anyone can sign with it)" : "");
		audit_event(d, "fleet", "fleet_bundle", "verified", NULL, vdetail);
	}
	snprintf(p, sizeof(p), "%s/%s", ft->dir, m.policy);
	ret = lg_read_file(p, &text, &len);
	if (ret) {
		remember = false;
		snprintf(why, sizeof(why), "%.900s: %s", p, strerror(-ret));
		goto out;
	}
	ret = fleet_precheck(d, ft, &m, signer, text, len, why, sizeof(why));
	if (ret)
		goto out;
	/* a canary's rollback: the line's version replaces the canary's */
	rollback = !ft->canary && d->fleet_canary && m.serial < d->fleet_serial &&
		   strcmp(d->fleet_applied, ft->version);
	if (m.model_file[0]) {
		snprintf(ref, sizeof(ref), "%s@%s", m.model_name, m.version);
		if (!registry_ready(d, why, sizeof(why))) {
			ret = -ENOENT;
			goto out;
		}
		remember = false;
		snprintf(p, sizeof(p), "%s/%s", ft->dir, m.model_file);
		/* A version already in the registry (a rollback to it) is not added twice. */
		if (lg_registry_path(&d->reg, ref, have, sizeof(have), why, sizeof(why))) {
			/* Not checked against the running policy: the bundle's own policy,
			 * applied next, is the one it runs under (its activation checks it). */
			ret = lg_registry_add(&d->reg, &d->running, m.model_name, m.version, p,
					      NULL, why, sizeof(why));
			audit_event(d, "fleet", "model_add", ret ? "refused" : "ok", NULL,
				    ret ? why : ref);
			if (ret)
				goto out;
			added = true;
		}
	}
	remember = false;
	SHA256((const unsigned char *)text, len, h);
	/* linegated's running policy and the data plane's (in_sync): a data plane that came
	 * back on another policy (its state folder lost) is given the bundle's (trial K, s21:
	 * "nothing to apply" while it ran its boot file) */
	if (d->have_running && !memcmp(h, d->running.hash, 32) && (!d->dp_path || d->in_sync)) {
		snprintf(why, sizeof(why), "the policy is the running one: nothing to apply");
	} else {
		/* Relative paths in the bundle's policy resolve as in the boot file's; the
		 * errors name the bundle's part, not the boot file (audit line included). */
		unsigned was = d->version;

		d->shown_as = m.policy;
		ret = apply_text(d, text, len, d->policy_path, "fleet", "fleet_apply", detail,
				 false, 0, NULL, why, sizeof(why));
		d->shown_as = NULL;
		/* the policy itself refused (by the validator or the data plane) */
		remember = ret == -EINVAL || ret == -EPROTO;
		if (ret) {
			/* not the bundle's fault (a data plane away): failed, not refused
			 * (trial R, s23) */
			if (!remember)
				result = "failed";
			goto out;
		}
		undo_to = was;
		/* the result is "applied" already: its reason is what was applied */
		if (!strncmp(why, "applied: ", 9))
			memmove(why, why + 9, strlen(why + 9) + 1);
	}
	if (ref[0] && strcmp(ref, d->reg.active)) {
		char mwhy[512];

		ret = push_models(d, ref, d->reg.shadow, mwhy, sizeof(mwhy));
		if (!ret)
			ret = lg_registry_set_active(&d->reg, ref, true, mwhy, sizeof(mwhy));
		audit_event(d, "fleet", "model_activate", ret ? "refused" : "ok", NULL,
			    ret ? mwhy : ref);
		if (ret) {
			snprintf(why, sizeof(why), "policy applied, model %s refused: %s", ref,
				 mwhy);
			if (undo_to)
				fleet_undo_policy(d, undo_to, why, sizeof(why));
			result = "failed";
			goto out;
		}
	} else if (!ref[0] && rollback && d->fleet_have_line_model &&
		   strcmp(d->fleet_line_model, d->reg.active)) {
		/* the line's version carries no model: the model the line ran with it comes
		 * back, not the rolled-back canary's */
		char mwhy[400], mdetail[1100], was[160];

		snprintf(was, sizeof(was), "%s", d->reg.active);
		ret = push_models(d, d->fleet_line_model, d->reg.shadow, mwhy, sizeof(mwhy));
		if (!ret)
			ret = lg_registry_set_active(&d->reg, d->fleet_line_model, true, mwhy,
						     sizeof(mwhy));
		snprintf(mdetail, sizeof(mdetail), "%s, the line's model with %s (the canary's %s "
			 "goes)%s%.400s", d->fleet_line_model[0] ? d->fleet_line_model :
			 "the policy's detection.model", ft->version, was, ret ? ": " : "",
			 ret ? mwhy : "");
		audit_event(d, "fleet", "model_activate", ret ? "refused" : "ok", NULL, mdetail);
		if (ret) {
			snprintf(why, sizeof(why), "policy applied, the line's model %s not "
				 "restored: %s", d->fleet_line_model[0] ? d->fleet_line_model :
				 "(the policy's detection.model)", mwhy);
			result = "failed";
			goto out;
		}
	}
	result = "applied";
	remember = false;
	/* the policy was the running one, its model new: said (trial R, s23: "nothing to
	 * apply" for a bundle whose model was activated) */
	if (ref[0] && !undo_to && !strncmp(why, "the policy is the running one", 29))
		snprintf(why, sizeof(why), "the policy is the running one; model %s runs", ref);
	if (!ft->canary) {
		snprintf(d->fleet_line_model, sizeof(d->fleet_line_model), "%s", d->reg.active);
		d->fleet_have_line_model = true;
	}
	/* a canary's rollback: the line's version replaces the canary's, never run again */
	if (rollback) {
		char rb[160];

		snprintf(rb, sizeof(rb), "rolled back: the line went back to %s", ft->version);
		fleet_verdict(d, d->fleet_applied, rb);
		{
			/* the canary's version's own verdict, audited (trial K, s21: only
			 * fleet.json said it) */
			char rdetail[400];

			snprintf(rdetail, sizeof(rdetail), "bundle %s/%s@%s: %s",
				 d->fleet_cfg.plant, d->fleet_cfg.line, d->fleet_applied, rb);
			audit_event(d, "fleet", "fleet_bundle", "rolled_back", NULL, rdetail);
		}
	}
	snprintf(d->fleet_applied, sizeof(d->fleet_applied), "%s", ft->version);
	d->fleet_serial = m.serial;
	d->fleet_canary = ft->canary;
	if (!ft->canary && m.serial > d->fleet_floor)
		d->fleet_floor = m.serial;
out:
	if (remember && !strcmp(result, "refused"))
		fleet_verdict(d, ft->version, why);
	if (!strcmp(result, "applied") || ft->err ||
	    json_object_object_get_ex(d->fleet_verdicts, ft->version, NULL)) {
		d->fleet_retry[0] = '\0';
	} else {
		if (strcmp(d->fleet_retry, ft->version)) {
			snprintf(d->fleet_retry, sizeof(d->fleet_retry), "%s", ft->version);
			d->fleet_retries = 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &d->fleet_retry_at);
	}
	if (added && strcmp(result, "applied") && strcmp(d->reg.active, ref) &&
	    strcmp(d->reg.shadow, ref)) {
		/* a bundle refused or failed leaves no model of its own in the registry (trial
		 * S, s23: a refused policy left fleet@a2 listed) */
		char undo[400];
		int uret = lg_registry_undo_add(&d->reg, ref, undo, sizeof(undo));

		audit_event(d, "fleet", "model_add", uret ? "failed" : "undone", NULL,
			    uret ? undo : ref);
	}
	free(text);
	snprintf(d->fleet_last, sizeof(d->fleet_last), "%s", ft->version);
	snprintf(d->fleet_result, sizeof(d->fleet_result), "%s", result);
	snprintf(d->fleet_why, sizeof(d->fleet_why), "%.500s", why);
	fleet_state(d, true);
	{
		char adetail[1400];

		snprintf(adetail, sizeof(adetail), "%s: %s", detail, why);
		audit_event(d, "fleet", "fleet_bundle", result, d->have_running &&
			    !strcmp(result, "applied") ? d->running.hash : NULL, adetail);
	}
	{
		/* a version name is whatever a bucket writer put in the key: control
		 * characters as \xHH in the log (the audit's JSON escapes them itself) */
		char dtxt[1200], wtxt[2100];

		fprintf(stderr, "linegated: fleet %s: %s%s%s\n",
			lg_bundle_shown(detail, dtxt, sizeof(dtxt)), result, why[0] ? ": " : "",
			lg_bundle_shown(why, wtxt, sizeof(wtxt)));
	}
	fleet_report(d);
}

/* A fetched bundle's folder, once judged: the registry holds its own copy of the model. */
static void fleet_clean(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;

	if (!dh)
		return;
	while ((e = readdir(dh)))
		if (e->d_type == DT_REG)
			unlinkat(dirfd(dh), e->d_name, 0);
	closedir(dh);
	rmdir(dir);
}

static void fleet_tick(struct daemon *d, bool readable)
{
	struct lg_fleet_fetch ft;
	struct timespec now;

	if (!d->fleet)
		return;
	if (readable && lg_fleet_take(d->fleet, &ft)) {
		fleet_apply(d, &ft);
		if (ft.dir[0])
			fleet_clean(ft.dir);
	}
	/* the canary's version became the line's (the rollout went on): it is the floor now */
	if (d->fleet_canary) {
		char wanted[72];
		bool connected, canary;

		lg_fleet_wanted(d->fleet, wanted, sizeof(wanted), &connected, &canary);
		if (connected && !canary && !strcmp(wanted, d->fleet_applied)) {
			d->fleet_canary = false;
			if (d->fleet_serial > d->fleet_floor)
				d->fleet_floor = d->fleet_serial;
			fleet_state(d, true);
			fleet_report(d); /* at once: rollout waits for it */
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (d->fleet_retry[0] && !d->dp_down && ms_since(&d->fleet_retry_at, &now) >= 10000) {
		char wanted[72];
		bool connected;

		lg_fleet_wanted(d->fleet, wanted, sizeof(wanted), &connected, NULL);
		if (strcmp(wanted, d->fleet_retry) || d->fleet_retries >= 5) {
			d->fleet_retry[0] = '\0';
		} else if (connected) {
			d->fleet_retries++;
			d->fleet_retry_at = now;
			fprintf(stderr, "linegated: fleet: trying %s again (%u of 5): its last try "
				"failed for a reason of this server's (%.300s)\n", d->fleet_retry,
				d->fleet_retries, d->fleet_why);
			lg_fleet_again(d->fleet, d->fleet_retry);
		}
	}
	if (ms_since(&d->fleet_last_report, &now) >= d->fleet_report_ms)
		fleet_report(d);
}
#endif

/* The --fleet-* options: names usable as key tokens, a TLS certificate with its key. */
static int fleet_args_check(const char *url, const char *plant, const char *line,
			    const char *server, const char *bucket, const char *objects,
			    const char *cert, const char *key, const char *ca)
{
	const char *const names[][2] = { { "--fleet-plant", plant }, { "--fleet-line", line },
					 { "--fleet-server", server },
					 { "--fleet-bucket", bucket },
					 { "--fleet-objects", objects } };

	if (!url)
		return 0;
#ifndef LG_HAVE_NATS
	fprintf(stderr, "linegated: --fleet-url: this linegated was built without NATS "
		"(meson -Dnats=enabled, libnats-dev)\n");
	return -ENOTSUP;
#endif
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!names[i][1] || !lg_bundle_token_ok(names[i][1])) {
			fprintf(stderr, "linegated: %s %s: needed with --fleet-url, letters, "
				"digits, _ and - (at most 64)\n", names[i][0],
				names[i][1] ? names[i][1] : "(missing)");
			return -EINVAL;
		}
	if (!cert != !key || (cert && !ca)) {
		fprintf(stderr, "linegated: --fleet-tls-cert and --fleet-tls-key go together, "
			"with --fleet-tls-ca\n");
		return -EINVAL;
	}
#ifdef LG_HAVE_NATS
	{
		/* before the boot policy is applied (re-check trial 13c) */
		char why[300];

		if (lg_nats_urls_check(url, ca != NULL, "--fleet-tls-ca", why, sizeof(why))) {
			fprintf(stderr, "linegated: fleet: --fleet-url %s\n", why);
			return -EINVAL;
		}
	}
#endif
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 'S' },
		{ "group", required_argument, NULL, 'g' },
		{ "dataplane", required_argument, NULL, 'd' },
		{ "audit-log", required_argument, NULL, 'a' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "watch", required_argument, NULL, 'w' },
		{ "settle", required_argument, NULL, 'T' },
		{ "trainer", required_argument, NULL, 1 },
		{ "user", required_argument, NULL, 2 },
		{ "fleet-url", required_argument, NULL, 20 },
		{ "fleet-plant", required_argument, NULL, 21 },
		{ "fleet-line", required_argument, NULL, 22 },
		{ "fleet-server", required_argument, NULL, 23 },
		{ "fleet-bucket", required_argument, NULL, 24 },
		{ "fleet-objects", required_argument, NULL, 25 },
		{ "fleet-tls-ca", required_argument, NULL, 26 },
		{ "fleet-tls-cert", required_argument, NULL, 27 },
		{ "fleet-tls-key", required_argument, NULL, 28 },
		{ "fleet-creds", required_argument, NULL, 29 },
		{ "fleet-report", required_argument, NULL, 30 },
		{ "fleet-nkey", required_argument, NULL, 31 },
		{ "fleet-domain", required_argument, NULL, 32 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct daemon d = { .audit = NULL, .state_dir = DEFAULT_STATE_DIR, .ino_fd = -1,
				   .ino_wd = -1, .in_sync = true, .settle_ms = 1000 };
	struct lg_ctl_server srv = { .cmds = daemon_cmds, .ctx = &d, .name = "linegated",
				     .own_uid = getuid(), .denied = on_denied };
	const char *audit_path = NULL, *user = NULL;
	struct lg_priv_user run_as;
	bool poll_only = false;
	int opt, lfd, interval = 1000;
	struct stat sock_made = { 0 };
	char msg[1024], open_hex[65];
	uint64_t open_seq = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec last_check = { 0 };
	struct fleet_args {
		const char *url, *plant, *line, *server, *bucket, *objects, *ca, *cert, *key;
		const char *creds, *nkey;
		const char *domain; /* issue 13: the bucket's JetStream domain through a leaf */
		long report_ms;
	} fa = { .bucket = "linegate-config", .objects = "linegate-bundles", .report_ms = 5000 };
	char host[72] = "";

	d.started = time(NULL);
	d.audit = stderr;
	default_trainer(d.train_bin, sizeof(d.train_bin));
	while ((opt = getopt_long(argc, argv, "p:S:g:d:a:s:i:w:T:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'p': d.policy_path = optarg; break;
		case 'S': d.socket_path = optarg; break;
		case 'g':
			if (lg_ctl_group(optarg, &srv.group)) {
				fprintf(stderr, "linegated: --group %s: no such group\n", optarg);
				return 2;
			}
			srv.has_group = true;
			break;
		case 'd': d.dp_path = optarg; break;
		case 1: snprintf(d.train_bin, sizeof(d.train_bin), "%s", optarg); break;
		case 2:
			if (lg_priv_lookup(optarg, &run_as, msg, sizeof(msg))) {
				fprintf(stderr, "linegated: --user: %s\n", msg);
				return 2;
			}
			user = optarg;
			break;
		case 20: fa.url = optarg; break;
		case 21: fa.plant = optarg; break;
		case 22: fa.line = optarg; break;
		case 23: fa.server = optarg; break;
		case 24: fa.bucket = optarg; break;
		case 25: fa.objects = optarg; break;
		case 26: fa.ca = optarg; break;
		case 27: fa.cert = optarg; break;
		case 28: fa.key = optarg; break;
		case 29: fa.creds = optarg; break;
		case 31: fa.nkey = optarg; break;
		case 32:
			if (!lg_bundle_token_ok(optarg)) {
				fprintf(stderr, "linegated: --fleet-domain %s: a JetStream "
					"domain is letters, digits, _ and - (at most 64)\n",
					optarg);
				return 2;
			}
			fa.domain = optarg;
			break;
		case 30: {
			char *end;

			fa.report_ms = strtol(optarg, &end, 10);
			if (!optarg[0] || *end || fa.report_ms < 100 || fa.report_ms > 3600000) {
				fprintf(stderr, "linegated: --fleet-report %s: milliseconds, 100 to "
					"3600000\n", optarg);
				return 2;
			}
			break;
		}
		case 'a': audit_path = optarg; break;
		case 's': d.state_dir = optarg; break;
		case 'i': interval = atoi(optarg); break;
		case 'T': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (!optarg[0] || *end || v < 0 || v > 60000) {
				fprintf(stderr, "linegated: --settle %s: milliseconds, 0 to 60000\n",
					optarg);
				return 2;
			}
			d.settle_ms = (int)v;
			break;
		}
		case 'w':
			if (strcmp(optarg, "inotify") && strcmp(optarg, "poll")) {
				fprintf(stderr, "linegated: --watch %s: use inotify or poll\n",
					optarg);
				return 2;
			}
			poll_only = !strcmp(optarg, "poll");
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: return 2; /* getopt_long() said why */
		}
	}
	d.interval_ms = interval;
	if (!d.policy_path || !d.socket_path || interval < 10) {
		fputs(usage, stderr);
		return 2;
	}
	if (!fa.server && !gethostname(host, sizeof(host) - 1))
		fa.server = host;
	if (fleet_args_check(fa.url, fa.plant, fa.line, fa.server, fa.bucket, fa.objects,
			     fa.cert, fa.key, fa.ca))
		return 2;
	/* Nothing is opened or made before: every file linegated makes belongs to the user. */
	if (user) {
		if (lg_priv_drop(&run_as, NULL, 0, msg, sizeof(msg))) {
			fprintf(stderr, "linegated: --user %s: %s\n", user, msg);
			return 1;
		}
		srv.own_uid = run_as.uid;
		fprintf(stderr, "linegated: running as %s (uid %u, gid %u), no capabilities\n",
			user, (unsigned)run_as.uid, (unsigned)run_as.gid);
	}
	d.crash_at = getenv("LINEGATED_TEST_CRASH_AT");
	/* A data plane that went away is an error of one request, not the daemon's death. */
	signal(SIGPIPE, SIG_IGN);
	/* Before anything is written or pushed: a linegated that runs on this socket keeps
	 * it (the listen below checks again) */
	if (lg_ctl_in_use(d.socket_path)) {
		fprintf(stderr, "linegated: %s: another process listens on it (a linegated that "
			"still runs or stops?): two linegated on one socket or state folder are "
			"refused\n", d.socket_path);
		return 1;
	}
	/* the state folder (and its lock) first: a refused second linegated makes no audit
	 * file (trial S, s23) */
	if (state_init(&d, msg, sizeof(msg))) {
		fprintf(stderr, "linegated: %s\n", msg);
		return 1;
	}
	if (audit_path && audit_open(&d, audit_path, &open_seq, open_hex, msg, sizeof(msg))) {
		fprintf(stderr, "linegated: audit log: %s\n", msg);
		return 1;
	}
	if (open_seq)
		reconcile(&d, open_seq, open_hex);
	/* The first policy must be good: there is no last known good one to keep. */
	if (start_policy(&d, msg, sizeof(msg))) {
		fprintf(stderr, "linegated: %s\n", msg);
		return 1;
	}
	if (d.running.registry[0]) {
		if (lg_registry_open(&d.reg, d.running.registry, msg, sizeof(msg))) {
			fprintf(stderr, "linegated: model registry: %s\n", msg);
			return 1;
		}
		d.have_reg = true;
		/* The start-up apply changed detection.model: that is the model to run now,
		 * and the registry follows it; else the registry's models are what runs. */
		if (d.follow_at_start)
			registry_follow_policy(&d, "startup", "apply", NULL, 0);
		else
			restore_models(&d, "startup", false);
	}
#ifdef LG_HAVE_NATS
	if (fa.url) {
		char fdir[PATH_MAX];

		if (!d.state_dir || snprintf(fdir, sizeof(fdir), "%s/fleet", d.state_dir) >=
		    (int)sizeof(fdir)) {
			fprintf(stderr, "linegated: --fleet-url needs a --state-dir\n");
			return 1;
		}
		fleet_state(&d, false);
		d.fleet_cfg = (struct lg_fleet_cfg){ .url = fa.url, .plant = fa.plant,
			.line = fa.line, .server = fa.server, .bucket = fa.bucket,
			.objects = fa.objects, .tls_ca = fa.ca, .tls_cert = fa.cert,
			.tls_key = fa.key, .creds = fa.creds, .nkey = fa.nkey, .dir = fdir,
			.domain = fa.domain,
			.applied = d.fleet_applied };
		d.fleet_report_ms = (int)fa.report_ms;
		if (lg_fleet_start(&d.fleet, &d.fleet_cfg, msg, sizeof(msg))) {
			fprintf(stderr, "linegated: fleet: %s\n", msg);
			return 1;
		}
		/* cfg's strings point into argv and host, which live as long as main */
		d.fleet_cfg.dir = NULL;
		fprintf(stderr, "linegated: fleet: %s, key %s.%s.bundle in bucket %s%s%s, server "
			"%s, applied bundle %s\n", fa.url, fa.plant, fa.line, fa.bucket,
			fa.domain ? " of JetStream domain " : "", fa.domain ? fa.domain : "",
			fa.server, d.fleet_applied[0] ? d.fleet_applied : "(none)");
	}
#endif
	lfd = lg_ctl_listen(d.socket_path, 0660, srv.has_group ? srv.group : (gid_t)-1);
	if (lfd < 0) {
		fprintf(stderr, "linegated: %s: %s%s\n", d.socket_path, strerror(-lfd),
			lfd == -EADDRINUSE ? ": another process listens on it (a linegated that "
			"still runs or stops?); two linegated on one socket or state folder are "
			"refused" : "");
		return 1;
	}
	if (stat(d.socket_path, &sock_made))
		memset(&sock_made, 0, sizeof(sock_made));
	watch_setup(&d, poll_only);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	fprintf(stderr, "linegated: %s, %zu devices, version %u, admin API on %s, file watch: %s\n",
		d.policy_path, d.running.ndevices, d.version, d.socket_path,
		d.ino_wd >= 0 ? "inotify" : "poll");

	while (!got_stop) {
		struct pollfd pfd[3] = { { .fd = lfd, .events = POLLIN },
					 { .fd = d.ino_fd, .events = POLLIN },
					 { .fd = -1, .events = POLLIN } };
		struct timespec now;

#ifdef LG_HAVE_NATS
		pfd[2].fd = d.fleet ? lg_fleet_fd(d.fleet) : -1;
#endif
		if (poll(pfd, 3, 100) > 0) {
			if (pfd[0].revents & POLLIN) {
				int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

				if (c >= 0) {
					struct timeval tv = { 5, 0 };

					setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
					setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
					lg_ctl_serve(&srv, c);
					close(c);
				}
			}
			if (pfd[1].revents & POLLIN)
				watch_events(&d);
		}
		denials_flush(&d);
		if (got_hup) {
			got_hup = 0;
			if (apply_file(&d, "sighup", msg, sizeof(msg)))
				fprintf(stderr, "linegated: kept the running policy: %s\n", msg);
		}
#ifdef LG_HAVE_NATS
		fleet_tick(&d, pfd[2].revents & POLLIN);
#endif
		clock_gettime(CLOCK_MONOTONIC, &now);
		watch_settle(&d, &now);
		if (ms_since(&last_check, &now) >= interval) {
			last_check = now;
			drift_check(&d);
			if (d.have_running) {
				struct lg_retrain_env e;
				char model[PATH_MAX], cands[PATH_MAX];

				retrain_env(&d, &e, model, cands);
				lg_retrain_tick(&d.retrain, &e);
				retrain_waiting(&d, &e);
			}
			if (d.ino_wd < 0)
				watch_poll(&d);
		}
	}
	if (d.have_running) {
		struct lg_retrain_env e;
		char model[PATH_MAX], cands[PATH_MAX];

		retrain_env(&d, &e, model, cands);
		lg_retrain_stop(&d.retrain, &e);
	}
#ifdef LG_HAVE_NATS
	lg_fleet_stop(d.fleet);
	json_object_put(d.fleet_verdicts);
#endif
	close(lfd);
	lg_ctl_unlink_if(d.socket_path, &sock_made);
	if (d.ino_fd >= 0)
		close(d.ino_fd);
	if (d.have_running)
		lg_policy_free(&d.running);
	if (d.audit != stderr)
		fclose(d.audit);
	return 0;
}
