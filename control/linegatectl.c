// SPDX-License-Identifier: MIT
/* linegatectl: the admin CLI. Speaks the control protocol (ctlproto.h) to linegated. */
#include <linegate/policy.h>
#include <linegate/sign.h>

#include "ctlproto.h"
#include "policy_edit.h"
#include "registry.h"
#include "retrain.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/linegate/linegated.sock"

static const char usage[] =
	"Usage: linegatectl [--socket PATH] COMMAND [ARGS]\n"
	"\n"
	"The admin CLI of linegated. It speaks the control protocol (framed JSON, see\n"
	"docs/operations.md) on linegated's socket, where root, linegated's user and members of\n"
	"its --group are served.\n"
	"\n"
	"Commands:\n"
	"  status            the daemon's policy, its hash, whether the data plane answers and\n"
	"                    runs it (in_sync; in_sync_why says why not), its open incidents,\n"
	"                    and the devices that are not scored (not_scored; a sentence each in\n"
	"                    warnings: frames at another sample rate or channel count than the\n"
	"                    model's), and what keeps the data plane from being ready (an\n"
	"                    output down, a file that cannot be written: warnings)\n"
	"  validate FILE     check a policy file as linegate would at start: the text, its key\n"
	"                    files (0600) and its model (signature, window, a detector for every\n"
	"                    device), and the registry's active and shadow models, which run\n"
	"                    while the policy keeps detection.model (when they cannot serve it,\n"
	"                    linegated is asked whether an apply changes detection.model, and\n"
	"                    its verdict is validate's); errors name file:line:column\n"
	"                    (docs/policy.md) or the model and the device. Works without a\n"
	"                    daemon (exit 0 valid, 1 invalid)\n"
	"  diff FILE         what FILE would change against the running policy, a change a line:\n"
	"                    settings and devices added, removed and changed field by field, each\n"
	"                    live or start-only (an apply with a start-only change is refused)\n"
	"  apply [--dry-run] [FILE]\n"
	"                    validate and apply FILE (default: re-read the daemon's policy file);\n"
	"                    a policy that does not validate, or that a model running after the\n"
	"                    apply cannot serve (no detector for a device), is refused, the\n"
	"                    running one stays.\n"
	"                    --dry-run: validate and show the diff, change nothing. A new\n"
	"                    detection.model runs in place of the registry's active model and\n"
	"                    ends its shadow; the registry follows, audited\n"
	"  history           every kept policy version: number, hash, time, peer, the current\n"
	"  rollback [VERSION]\n"
	"                    re-apply a kept version (default: the one before the current one);\n"
	"                    version 1 is the first boot policy linegated kept (history shows\n"
	"                    each version's source)\n"
	"  devices [list]    the enrolled devices: id, name, source, and each key's id,\n"
	"                    fingerprint (first 8 hex digits of its SHA-256) and expiry\n"
	"  devices enroll --id N --name NAME --source ADDR [--port P] [--mac MAC]\n"
	"                 [--rate FPS] [--group GROUP] [--no-score]\n"
	"                    enroll a device with a new key: the daemon writes the key file\n"
	"                    keys/NAME.key (mode 0600) beside the policy, adds the device to the\n"
	"                    policy file (comments kept) and applies it; prints the key file's\n"
	"                    path and fingerprint: install that file on the device.\n"
	"                    --no-score: verified, admitted and recorded, not scored (the\n"
	"                    policy's score: false; the model needs no detector for it): a\n"
	"                    new machine recorded to train its detector\n"
	"                    An OPC UA PubSub (UADP) publisher, with its identity as\n"
	"                    docs/opcua.md reads it off the publisher's configuration:\n"
	"                    [--publisher-id ID [--publisher-type byte|uint16|uint32|uint64|\n"
	"                    string]] [--writer-group N] --writer N | --writer-position N\n"
	"                    [--security none|sign|sign_and_encrypt] [--security-policy\n"
	"                    PubSub-Aes128-CTR|PubSub-Aes256-CTR] [--replay sequence|nonce|\n"
	"                    timestamp|none]; left out: the policy's defaults (uint16, sign,\n"
	"                    nonce for signed, sequence for unsigned). A signing publisher gets\n"
	"                    a security group key (SigningKey | EncryptingKey | KeyNonce; Aes128\n"
	"                    unless --security-policy says Aes256); key id 1 is its\n"
	"                    SecurityTokenId\n"
	"  devices revoke ID remove the device from the policy file and apply it: from the\n"
	"                    reply on its frames count as unknown_device; its key files are\n"
	"                    deleted\n"
	"  devices rotate-key ID [--grace DURATION]\n"
	"                    a new key for the device (the next key id, keys/NAME-kID.key); the\n"
	"                    old key gets 'expires: now + DURATION' in the policy (default 10m;\n"
	"                    90s, 10m, 2h, 1d) and is refused after it, restarts included\n"
	"  devices prune [ID]\n"
	"                    drop keys whose expiry has passed from the policy (and delete their\n"
	"                    files); every device, or device ID\n"
	"  metrics [--watch SECONDS]\n"
	"                    the data plane's counters (JSON), repeated every SECONDS with --watch\n"
	"  health --dataplane SOCKET [--ready] [--json]\n"
	"                    /healthz (/readyz with --ready) through the data plane's control\n"
	"                    socket, which checks credentials: a liveness probe local users\n"
	"                    cannot crowd out (the HTTP server's slots on 127.0.0.1 they can);\n"
	"                    exit 0 healthy (ready), 1 not or no answer\n"
	"  stats --dataplane SOCKET [--json] [--watch SECONDS]\n"
	"                    the counters of one data plane read from its own control socket\n"
	"                    (linegate --ctl SOCKET), without linegated: totals, the drop\n"
	"                    reasons and XDP verdicts that are not 0, the p50/p99 of each\n"
	"                    latency stage from a frame's arrival, and a line per device\n"
	"                    (with its sequence: missing, late and reordered frames);\n"
	"                    --json: all of them as linegate's JSON (what metrics shows).\n"
	"                    SOCKET may also come from $LINEGATE_DATAPLANE\n"
	"  models            the model registry: every version, which is active and shadow,\n"
	"                    and what the data plane runs (running, running_why)\n"
	"  models candidates models linegate-train --candidate-dir wrote for approval, with\n"
	"                    their false alarms and those of the model now active\n"
	"  models show ID    one candidate's evaluation, digests included\n"
	"  models approve ID --key KEY\n"
	"                    sign the candidate with KEY (whose .pub must be in the policy's\n"
	"                    models.trusted_keys), add it to the registry as NAME@TIME and score\n"
	"                    with it in the shadow, both or neither (another feature row or\n"
	"                    window than the active model: refused, not added, still pending);\n"
	"                    'model activate' then makes it active\n"
	"  models reject ID  mark it rejected (and say so); nothing else changes\n"
	"  model add NAME VERSION FILE\n"
	"                    register FILE (and FILE.sig) as NAME@VERSION; refused unless\n"
	"                    signed by a key in the policy's models.trusted_keys, and unless\n"
	"                    the data plane could run it under the running policy (the check\n"
	"                    model activate runs)\n"
	"  model activate NAME@VERSION\n"
	"                    run it: the data plane swaps it in between two batches; when it\n"
	"                    is the shadow, the shadow ends\n"
	"  model shadow NAME@VERSION|off\n"
	"                    score with it too, publish only the active model's results, count\n"
	"                    where they disagree (metrics: shadow_disagreements, from 0 for\n"
	"                    each new shadow)\n"
	"  model rollback    back to the model that was active before; with no earlier registry\n"
	"                    model, back to the boot model (the policy's detection.model)\n"
	"  record start [--device NAME]... [--group NAME]... [--for SECONDS]\n"
	"                    record the admitted frames of the devices and groups named (none:\n"
	"                    all) to pcapng files in the running policy's recording.dir, rotated\n"
	"                    and bounded as its 'recording' section says, for SECONDS or until\n"
	"                    stopped; the policy is not changed, so a restart records only as\n"
	"                    the policy says (docs/recording.md). Audited\n"
	"  record stop       write what was taken and close the file. Audited\n"
	"  record rotate     close the file being written (every frame taken so far in it) and\n"
	"                    go on in a new one, whose name it prints: a cut in time, e.g. to\n"
	"                    copy or train on what was recorded up to now. Audited\n"
	"  record status     state (recording, stopped: REASON, off), current file, files, bytes,\n"
	"                    frames, dropped (ring full), errors (a failed write or full disk)\n"
	"  keygen PREFIX     make an Ed25519 model-signing key pair: PREFIX.key (secret, mode\n"
	"                    0600) and PREFIX.pub (put it in the policy's models.trusted_keys);\n"
	"                    refused when either exists (a key is never replaced)\n"
	"  sign KEY FILE     sign a model artifact with secret key file KEY: writes FILE.sig\n"
	"  verify PUB FILE   check FILE.sig against public key file PUB (exit 0 good, 1 bad)\n"
	"  fleet ARGS        run linegate-fleet ARGS (the plant side of a fleet over NATS:\n"
	"                    stream-create, stream-dump, publish, rollout, status, nkey-gen;\n"
	"                    docs/fleet.md): the linegate-fleet installed beside linegatectl,\n"
	"                    else the one on PATH, with the same arguments and exit status\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH   linegated's admin socket (default " DEFAULT_SOCKET ",\n"
	"                      or $LINEGATE_SOCKET)\n"
	"  -r, --raw           print the daemon's JSON reply as it is\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 success, 1 the request failed or was refused (the reason on stderr: the\n"
	"daemon's, the data plane's, or why no reply came), 2 usage error; fleet: linegate-fleet's\n"
	"own, 127 when it cannot be run.\n";

/*
 * linegatectl fleet ARGS (issue 13): linegate-fleet ARGS in this process's place, so its
 * output and exit status are linegatectl's. linegate-fleet links libnats and linegatectl
 * does not; the one beside this binary first (an install or a build tree), else PATH.
 */
static int fleet_cmd(char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	argv[0] = "linegate-fleet";
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/linegate-fleet", self);
			if (!access(path, X_OK))
				execv(path, argv);
		}
	}
	execvp("linegate-fleet", argv);
	fprintf(stderr, "linegatectl: fleet: cannot run linegate-fleet (%s): it is built with "
		"libnats (meson -Dnats=enabled) and installed beside linegatectl\n",
		strerror(errno));
	return 127;
}

static int call(const char *sock, json_object *req, json_object **resp)
{
	char err[1200];
	int ret = lg_ctl_request(sock, req, resp, err, sizeof(err));

	json_object_put(req);
	if (ret) {
		fprintf(stderr, "linegatectl: %s%s\n", err,
			ret == -ENOENT || ret == -ECONNREFUSED ? " (is linegated running?)" : "");
		return 1;
	}
	return 0;
}

static json_object *request(const char *cmd, const char *file, int *err)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	if (file) {
		char *text;
		size_t len = 0;
		struct stat st;
		int ret;

		/* Checked here, with the reason, rather than hanging on a FIFO or having the
		 * daemon refuse an oversized request without one. */
		if (!stat(file, &st) && !S_ISREG(st.st_mode)) {
			fprintf(stderr, "linegatectl: %s: not a regular file\n", file);
			json_object_put(req);
			*err = 1;
			return NULL;
		}
		if (!stat(file, &st) && st.st_size > LG_POLICY_MAX_BYTES) {
			fprintf(stderr, "linegatectl: %s: %lld bytes, more than the 16 MiB a policy "
				"may have (docs/policy.md, Limits)\n", file, (long long)st.st_size);
			json_object_put(req);
			*err = 1;
			return NULL;
		}
		ret = lg_read_file(file, &text, &len);

		if (ret) {
			fprintf(stderr, "linegatectl: %s: %s%s\n", file, strerror(-ret),
				ret == -EFBIG ? " (a policy may have at most 16 MiB: docs/policy.md, "
						"Limits)" : "");
			json_object_put(req);
			*err = 1;
			return NULL;
		}
		char abs[4096];

		/* The whole file, NUL bytes too: the daemon's parser refuses them with their
		 * position, rather than this side cutting the policy at the first one. */
		json_object_object_add(req, "policy", json_object_new_string_len(text, (int)len));
		/* The daemon resolves the policy's relative paths against this name. */
		json_object_object_add(req, "name",
				       json_object_new_string(realpath(file, abs) ? abs : file));
		free(text);
	}
	return req;
}

/* A whole number as an operator types it: digits only (no sign, no spaces, no 0x), at most
 * max. 0 or -EINVAL. */
static int whole_number(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* An argument as an error may quote it: a run of hex digits as long as a key's is hidden. */
static const char *shown_arg(const char *s)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s", s);
	lg_redact_secrets(buf);
	return buf;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

/* A diff as an operator reads it, a change a line:
 *   detection.window: 256 -> 512 (live)
 *   device 109: added (press-9 10.77.0.9 keys 1:ab12cd34)
 *   device 101 rate: 0 -> 100 (live) */
static void print_diff(json_object *df)
{
	json_object *changes, *v;
	size_t n;

	if (!json_object_object_get_ex(df, "changes", &changes) ||
	    !json_object_is_type(changes, json_type_array))
		return;
	n = json_object_array_length(changes);
	if (!n)
		puts("no changes");
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(changes, i);
		const char *kind = jstr(c, "change");

		if (json_object_object_get_ex(c, "device", &v) && strcmp(kind, "changed"))
			printf("device %s: %s (%s)\n", json_object_get_string(v), kind,
			       !strcmp(kind, "added") ? jstr(c, "new") : jstr(c, "old"));
		else if (json_object_object_get_ex(c, "device", &v))
			printf("device %s %s: %s -> %s (%s)\n", json_object_get_string(v),
			       jstr(c, "field"), jstr(c, "old")[0] ? jstr(c, "old") : "(none)",
			       jstr(c, "new")[0] ? jstr(c, "new") : "(none)", jstr(c, "class"));
		else
			printf("%s: %s -> %s (%s)\n", jstr(c, "field"),
			       jstr(c, "old")[0] ? jstr(c, "old") : "(none)",
			       jstr(c, "new")[0] ? jstr(c, "new") : "(none)", jstr(c, "class"));
	}
}

static int print_result(json_object *resp, bool raw)
{
	json_object *v;
	bool ok = json_object_object_get_ex(resp, "ok", &v) && json_object_get_boolean(v);

	/* A warning of the deep check (validate, diff, apply): on stderr, before the result */
	if (!raw && json_object_object_get_ex(resp, "warning", &v)) {
		fprintf(stderr, "linegatectl: %s\n", json_object_get_string(v));
		json_object_object_del(resp, "warning");
	}
	if (!raw && ok && json_object_object_get_ex(resp, "diff", &v)) {
		/* diff, apply and apply --dry-run: the changes, then the daemon's sentence. */
		print_diff(v);
		if (json_object_object_get_ex(resp, "message", &v))
			puts(json_object_get_string(v));
		json_object_put(resp);
		return 0;
	}
	if (raw) {
		puts(json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PRETTY));
	} else if (!ok) {
		fprintf(stderr, "linegatectl: %s\n",
			json_object_object_get_ex(resp, "error", &v) ? json_object_get_string(v) : "failed");
	} else {
		json_object_object_del(resp, "ok");
		if (json_object_object_get_ex(resp, "message", &v) && json_object_object_length(resp) == 1)
			puts(json_object_get_string(v));
		else
			puts(json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PRETTY));
	}
	json_object_put(resp);
	return ok ? 0 : 1;
}

/* Sections of linegate's stats that count frames by reason: their zeros are left out. */
static bool by_reason(const char *k)
{
	return !strcmp(k, "drops") || !strcmp(k, "xdp") || !strcmp(k, "admission");
}

/* One stats object as "name value" lines, sections indented under their name. */
static void print_stats_obj(json_object *o, int indent, bool skip_zero)
{
	json_object_object_foreach(o, k, v) {
		enum json_type t = json_object_get_type(v);

		if (t == json_type_object) {
			printf("%*s%s:\n", indent, "", k);
			print_stats_obj(v, indent + 2, by_reason(k));
		} else if (t == json_type_array) {
			size_t n = json_object_array_length(v);

			/* The open incidents and the devices are printed after the totals. */
			if (!strcmp(k, "devices"))
				continue;
			printf("%*s%-*s %zu%s\n", indent, "", 28 - indent, k, n,
			       n ? " (--json lists them)" : "");
		} else if (!skip_zero || json_object_get_int64(v)) {
			printf("%*s%-*s %s\n", indent, "", 28 - indent, k,
			       t == json_type_null ? "-" : json_object_get_string(v));
		}
	}
}

static void print_stats(json_object *st)
{
	json_object *devs, *d, *v;

	print_stats_obj(st, 0, false);
	if (!json_object_object_get_ex(st, "devices", &devs) ||
	    !json_object_is_type(devs, json_type_array))
		return;
	printf("devices: %zu\n", json_object_array_length(devs));
	if (!json_object_array_length(devs))
		return;
	/* missing, late, reordered: the device's sequence (docs/drop-reasons.md, "Per device"),
	 * apart from admitted + dropped */
	printf("  %-10s %-20s %12s %10s %10s %8s %12s %9s %7s %9s\n", "id", "name", "admitted",
	       "dropped", "windows", "alerts", "last_score", "missing", "late", "reordered");
	for (size_t i = 0; i < json_object_array_length(devs); i++) {
		d = json_object_array_get_idx(devs, i);
		printf("  %-10s %-20s", json_object_object_get_ex(d, "id", &v) ?
		       json_object_get_string(v) : "-", jstr(d, "name"));
		printf(" %12s", json_object_object_get_ex(d, "admitted", &v) ?
		       json_object_get_string(v) : "-");
		printf(" %10s", json_object_object_get_ex(d, "dropped", &v) ?
		       json_object_get_string(v) : "-");
		printf(" %10s", json_object_object_get_ex(d, "windows", &v) ?
		       json_object_get_string(v) : "-");
		printf(" %8s", json_object_object_get_ex(d, "alerts", &v) ?
		       json_object_get_string(v) : "-");
		printf(" %12.4g", json_object_object_get_ex(d, "last_score", &v) ?
		       json_object_get_double(v) : 0.0);
		{
			json_object *q = NULL;
			bool has = json_object_object_get_ex(d, "sequence", &q);

			printf(" %9s", has && json_object_object_get_ex(q, "missing", &v) ?
			       json_object_get_string(v) : "-");
			printf(" %7s", has && json_object_object_get_ex(q, "late", &v) ?
			       json_object_get_string(v) : "-");
			printf(" %9s\n", has && json_object_object_get_ex(q, "reordered", &v) ?
			       json_object_get_string(v) : "-");
		}
	}
}

/* One request to the data plane's control socket (req is taken); its error said here. */
static int dataplane_call(const char *sock, json_object *req, json_object **resp, char *err,
			  size_t errlen)
{
	int ret = lg_ctl_request(sock, req, resp, err, errlen);

	json_object_put(req);
	if (ret)
		fprintf(stderr, "linegatectl: %s%s\n", err,
			ret == -ENOENT || ret == -ECONNREFUSED ?
			" (is linegate running with --ctl on this socket?)" : "");
	return ret;
}

/* The data plane's commands (stats, health): no argument but the options, and --dataplane
 * SOCKET given. 0, or 1 with the reason on stderr. */
static int dataplane_args(const char *cmd, int argc, char **argv, const char *sock,
			  const char *more)
{
	if (optind < argc) {
		fprintf(stderr, "linegatectl: %s takes no argument '%s' (the socket goes with "
			"--dataplane)\n", cmd, shown_arg(argv[optind]));
		return 1;
	}
	if (!sock || !*sock) {
		fprintf(stderr, "linegatectl: %s needs --dataplane SOCKET: the data plane's "
			"control socket (linegate --ctl SOCKET)%s\n", cmd, more);
		return 1;
	}
	return 0;
}

/*
 * stats: linegate's own control socket (--ctl), no linegated in between; the data plane
 * checks the peer as linegated's socket does.
 */
static int stats_cmd(int argc, char **argv)
{
	static const struct option o[] = {
		{ "dataplane", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "raw", no_argument, NULL, 'j' },
		{ "watch", required_argument, NULL, 'w' },
		{ 0 },
	};
	const char *sock = getenv("LINEGATE_DATAPLANE");
	unsigned long long watch = 0;
	bool json = false;
	int opt;

	optind = 0; /* GNU getopt: start over on this argv */
	while ((opt = getopt_long(argc, argv, "+d:jrw:", o, NULL)) != -1) {
		switch (opt) {
		case 'd': sock = optarg; break;
		case 'j': json = true; break;
		case 'w':
			if (whole_number(optarg, 86400, &watch) || !watch) {
				fprintf(stderr, "linegatectl: stats --watch SECONDS: '%s' is not a "
					"number of seconds from 1 to 86400\n", shown_arg(optarg));
				return 2;
			}
			break;
		default: return 2; /* getopt_long() said why */
		}
	}
	if (dataplane_args("stats", argc, argv, sock,
			   "; linegated's counters are 'linegatectl metrics'"))
		return 2;
	do {
		json_object *req = json_object_new_object(), *resp, *v, *st;

		char err[1200];
		int ret;

		json_object_object_add(req, "cmd", json_object_new_string("stats"));
		ret = dataplane_call(sock, req, &resp, err, sizeof(err));
		if (ret)
			return 1;
		if (!json_object_object_get_ex(resp, "ok", &v) || !json_object_get_boolean(v) ||
		    !json_object_object_get_ex(resp, "stats", &st)) {
			const char *why = jstr(resp, "error");

			fprintf(stderr, "linegatectl: %s: %s\n", sock,
				*why ? why : "the reply has no stats");
			json_object_put(resp);
			return 1;
		}
		if (json)
			puts(json_object_to_json_string_ext(st, JSON_C_TO_STRING_PRETTY));
		else
			print_stats(st);
		json_object_put(resp);
		if (!watch)
			return 0;
		fflush(stdout);
		sleep((unsigned)watch);
	} while (1);
}

/*
 * health: /healthz (or /readyz with --ready) through linegate's own control socket, which
 * checks the peer's credentials: a probe that local users cannot crowd out, as they can the
 * HTTP server's slots on 127.0.0.1 (trial J F12). Exit 0 healthy (ready), 1 not or no
 * answer, 2 usage.
 */
static int health_cmd(int argc, char **argv)
{
	static const struct option o[] = {
		{ "dataplane", required_argument, NULL, 'd' },
		{ "ready", no_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	const char *sock = getenv("LINEGATE_DATAPLANE");
	json_object *req, *resp, *v, *list;
	bool ready = false, json = false, ok;
	char err[1200];
	int opt, ret;

	optind = 0; /* GNU getopt: start over on this argv */
	while ((opt = getopt_long(argc, argv, "+d:Rj", o, NULL)) != -1) {
		switch (opt) {
		case 'd': sock = optarg; break;
		case 'R': ready = true; break;
		case 'j': json = true; break;
		default: return 2; /* getopt_long() said why */
		}
	}
	if (dataplane_args("health", argc, argv, sock, ""))
		return 2;
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("health"));
	ret = dataplane_call(sock, req, &resp, err, sizeof(err));
	if (ret)
		return 1;
	if (!json_object_object_get_ex(resp, "ok", &v) || !json_object_get_boolean(v) ||
	    !json_object_object_get_ex(resp, ready ? "ready" : "healthy", &v)) {
		const char *why = jstr(resp, "error");

		fprintf(stderr, "linegatectl: %s: %s\n", sock,
			*why ? why : "the reply has no health (a linegate older than this one?)");
		json_object_put(resp);
		return 1;
	}
	ok = json_object_get_boolean(v);
	if (json) {
		json_object_object_del(resp, "ok");
		puts(json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PRETTY));
	} else {
		puts(ready ? (ok ? "ready" : "not ready") : (ok ? "ok" : "unhealthy"));
		if (json_object_object_get_ex(resp, ready ? "reasons" : "problems", &list))
			for (size_t i = 0; i < json_object_array_length(list); i++)
				puts(json_object_get_string(json_object_array_get_idx(list, i)));
	}
	json_object_put(resp);
	return ok ? 0 : 1;
}

/* Model signing, without a daemon: keygen, sign, verify. */
static int offline_keys(const char *cmd, int argc, char **argv)
{
	uint8_t pk[LG_SIGN_PK_LEN], sk[LG_SIGN_SK_LEN], sig[LG_SIGN_SIG_LEN];
	char path[4096];
	int ret;

	if (lg_sign_init())
		return 1;
	if (!strcmp(cmd, "keygen")) {
		if (argc != 1) {
			fprintf(stderr, "linegatectl: keygen needs PREFIX\n");
			return 2;
		}
		/* A second keygen with the same PREFIX would replace the operator's signing key,
		 * and every model it signed could no longer be told from a stranger's. */
		for (int i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "%s.%s", argv[0], i ? "pub" : "key");
			if (!access(path, F_OK) || errno != ENOENT) {
				fprintf(stderr, "linegatectl: %s exists: keygen never replaces a key; "
					"remove it first, or give another PREFIX\n", path);
				return 1;
			}
		}
		lg_sign_keygen(pk, sk);
		snprintf(path, sizeof(path), "%s.key", argv[0]);
		ret = lg_hex_write_file(path, sk, sizeof(sk), 0600);
		if (!ret) {
			snprintf(path, sizeof(path), "%s.pub", argv[0]);
			ret = lg_hex_write_file(path, pk, sizeof(pk), 0644);
		}
		if (ret) {
			fprintf(stderr, "linegatectl: %s: %s\n", path, strerror(-ret));
			return 1;
		}
		printf("%s.key (secret) and %s.pub written\n", argv[0], argv[0]);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "linegatectl: %s needs %s FILE\n", cmd,
			!strcmp(cmd, "sign") ? "KEY" : "PUB");
		return 2;
	}
	snprintf(path, sizeof(path), "%s.sig", argv[1]);
	if (!strcmp(cmd, "sign")) {
		char *buf;
		size_t len;

		char why[600];

		ret = lg_sign_read_secret(argv[0], sk, why, sizeof(why));
		if (ret) {
			fprintf(stderr, "linegatectl: %s\n", why);
			return 1;
		}
		ret = lg_read_file(argv[1], &buf, &len);
		if (ret) {
			fprintf(stderr, "linegatectl: %s: %s\n", argv[1], strerror(-ret));
			return 1;
		}
		lg_sign_buf(sk, buf, len, sig);
		free(buf);
		ret = lg_hex_write_file(path, sig, sizeof(sig), 0644);
		if (ret) {
			fprintf(stderr, "linegatectl: %s: %s\n", path, strerror(-ret));
			return 1;
		}
		printf("%s written\n", path);
		return 0;
	}
	{
		uint8_t *buf;
		size_t len;

		ret = lg_hex_read_file(argv[0], pk, sizeof(pk));
		if (ret) {
			fprintf(stderr, "linegatectl: %s: not a public key file\n", argv[0]);
			return 1;
		}
		ret = lg_sign_verify_file(argv[1], path, (const uint8_t(*)[LG_SIGN_PK_LEN])pk, 1, &buf,
					  &len);
		if (ret) {
			fprintf(stderr, "%s: %s\n", argv[1],
				ret == -ENOKEY ? "not signed (no .sig file)" :
				ret == -EKEYREJECTED ? "signature does not verify" : strerror(-ret));
			return 1;
		}
		free(buf);
		printf("%s: good signature\n", argv[1]);
		return 0;
	}
}

/* devices [list] | enroll | revoke | rotate-key | prune: argv[0] is "devices". */
/* record start [--device NAME]... [--group NAME]... [--for SECONDS] | stop | status */
/* A successful reply's member, or print the error and return NULL (resp is freed then). */
static json_object *reply_ok(json_object *resp)
{
	json_object *v;

	if (json_object_object_get_ex(resp, "ok", &v) && json_object_get_boolean(v))
		return resp;
	fprintf(stderr, "linegatectl: %s\n",
		json_object_object_get_ex(resp, "error", &v) ? json_object_get_string(v) : "failed");
	json_object_put(resp);
	return NULL;
}

/* The candidate with this id from linegated's list (a new reference), or NULL. */
static json_object *find_candidate(const char *sock, const char *id)
{
	json_object *req = json_object_new_object(), *resp, *list, *found = NULL;

	json_object_object_add(req, "cmd", json_object_new_string("candidates"));
	if (call(sock, req, &resp) || !(resp = reply_ok(resp)))
		return NULL;
	if (json_object_object_get_ex(resp, "candidates", &list))
		for (size_t i = 0; i < json_object_array_length(list); i++) {
			json_object *e = json_object_array_get_idx(list, i), *v;

			if (json_object_object_get_ex(e, "id", &v) &&
			    !strcmp(json_object_get_string(v), id))
				found = json_object_get(e);
		}
	json_object_put(resp);
	if (!found)
		fprintf(stderr, "linegatectl: no candidate %s (linegatectl models candidates)\n", id);
	return found;
}

static double jnum(json_object *o, const char *a, const char *b)
{
	json_object *x, *v;

	return json_object_object_get_ex(o, a, &x) && json_object_object_get_ex(x, b, &v) ?
		       json_object_get_double(v) : -1;
}

/*
 * reply_ok() for the model_add of an approval: linegatectl signed the candidate a moment ago
 * (its SHA-256 is the evaluated one), so a signature the registry does not trust is the key's
 * fault, and linegatectl knows which key that was (the registry can only say "not signed by a
 * trusted key, or changed": the candidate names no signer).
 */
static json_object *reply_ok_untrusted(json_object *resp, const char *keyfile,
				       const uint8_t pk[LG_SIGN_PK_LEN])
{
	json_object *v;
	char hex[2 * LG_SIGN_PK_LEN + 1];

	if (json_object_object_get_ex(resp, "ok", &v) && json_object_get_boolean(v))
		return resp;
	if (!json_object_object_get_ex(resp, "error", &v) ||
	    !strstr(json_object_get_string(v), "not signed by a trusted key"))
		return reply_ok(resp);
	size_t n = strlen(keyfile);
	int stem = n > 4 && !strcmp(keyfile + n - 4, ".key") ? (int)n - 4 : (int)n;

	lg_hex_encode(pk, LG_SIGN_PK_LEN, hex);
	/* keygen PREFIX wrote PREFIX.key and PREFIX.pub */
	fprintf(stderr, "linegatectl: the registry refused the candidate signed with %s: its "
		"public key %.16s... (%.*s.pub, if keygen wrote it) is not in the policy's "
		"models.trusted_keys. Add that .pub file to models.trusted_keys and apply the "
		"policy, or approve with a key that is there\n", keyfile, hex, stem, keyfile);
	json_object_put(resp);
	return NULL;
}

/*
 * An approval refused here (or by the registry): linegated audits it as a refused
 * candidate_approve with the reason (and judges the candidate's state itself), so that every
 * verdict is an audit line. Says linegated's reason where this did not say one; returns ret.
 */
static int approve_refused(const char *sock, const char *id, const char *why, int ret)
{
	json_object *req = json_object_new_object(), *resp, *v;
	bool said = strcmp(why, "not pending"); /* the others were said here already */

	json_object_object_add(req, "cmd", json_object_new_string("candidate_verdict"));
	json_object_object_add(req, "id", json_object_new_string(id));
	json_object_object_add(req, "verdict", json_object_new_string("approved"));
	json_object_object_add(req, "refused", json_object_new_string(why));
	if (call(sock, req, &resp))
		return ret;
	if (!said && json_object_object_get_ex(resp, "error", &v))
		fprintf(stderr, "linegatectl: %s\n", json_object_get_string(v));
	json_object_put(resp);
	return ret;
}

/* Sign the candidate's model, add it to the registry, shadow it, record the verdict. */
static int candidate_approve(const char *sock, json_object *cand, const char *id,
			     const char *keyfile)
{
	uint8_t sk[LG_SIGN_SK_LEN], sig[LG_SIGN_SIG_LEN], pk[LG_SIGN_PK_LEN];
	const char *path = jstr(cand, "path"), *dash = strrchr(id, '-');
	char sigpath[4200], name[96], ref[200], *buf;
	json_object *req, *resp;
	size_t len;

	char why[600];

	/* linegated says (and audits) why: "candidate ID is rejected, not pending" */
	if (strcmp(jstr(cand, "state"), "pending"))
		return approve_refused(sock, id, "not pending", 1);
	/* made by the retrain, its evaluation rewritten since: figures not the trainer's */
	if (!strcmp(jstr(cand, "origin"), lg_cand_origin_name(LG_CAND_RETRAIN_CHANGED))) {
		fprintf(stderr, "linegatectl: candidate %s: its evaluation.json is not the one "
			"linegated's retrain wrote (changed since): not approved (it stays "
			"pending); reject it\n", id);
		return approve_refused(sock, id, "its evaluation.json is not the one linegated's "
				       "retrain wrote (changed since)", 1);
	}
	if (strcmp(jstr(cand, "origin"), lg_cand_origin_name(LG_CAND_RETRAIN)))
		fprintf(stderr, "linegatectl: note: candidate %s was not made by linegated's "
			"retrain (linegate-train by hand, or a folder written into candidates/): "
			"its figures are what its evaluation.json says\n", id);
	if (!dash || dash == id) {
		fprintf(stderr, "linegatectl: a candidate id is NAME-TIME\n");
		return 1;
	}
	if (lg_sign_init() || lg_sign_read_secret(keyfile, sk, why, sizeof(why))) {
		char said[700];

		fprintf(stderr, "linegatectl: --key %s\n", why);
		snprintf(said, sizeof(said), "--key %.600s", why);
		return approve_refused(sock, id, said, 2);
	}
	if (lg_read_file(path, &buf, &len)) {
		fprintf(stderr, "linegatectl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	{
		/* Sign only the model that was evaluated. */
		char hex[65];
		json_object *ev = NULL;

		lg_sha256_hex(buf, len, hex);
		json_object_object_get_ex(cand, "evaluation", &ev);
		if (strcmp(jstr(ev, "model_sha256"), hex)) {
			fprintf(stderr, "linegatectl: %s: not the model that was evaluated (its "
				"SHA-256 is not the evaluation's model_sha256): train the candidate "
				"again\n", path);
			memset(sk, 0, sizeof(sk));
			free(buf);
			return approve_refused(sock, id, "its model.json is not the model that "
					       "was evaluated (its SHA-256 is not the evaluation's "
					       "model_sha256)", 1);
		}
	}
	lg_sign_buf(sk, buf, len, sig);
	memcpy(pk, sk + LG_SIGN_SK_LEN - LG_SIGN_PK_LEN, sizeof(pk)); /* libsodium: seed, pk */
	memset(sk, 0, sizeof(sk));
	free(buf);
	snprintf(sigpath, sizeof(sigpath), "%s.sig", path);
	if (lg_hex_write_file(sigpath, sig, sizeof(sig), 0644)) {
		fprintf(stderr, "linegatectl: %s: cannot write the signature\n", sigpath);
		return 1;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(dash - id), id);
	snprintf(ref, sizeof(ref), "%s@%s", name, dash + 1);
	/* The registry verifies the signature against the policy's trusted keys. */
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("model_add"));
	json_object_object_add(req, "name", json_object_new_string(name));
	json_object_object_add(req, "version", json_object_new_string(dash + 1));
	json_object_object_add(req, "path", json_object_new_string(path));
	/* Added and shadowed in one step, or neither (linegated undoes the add). */
	json_object_object_add(req, "shadow", json_object_new_boolean(1));
	if (call(sock, req, &resp)) {
		unlink(sigpath);
		return 1;
	}
	{
		json_object *e;
		char hex[2 * LG_SIGN_PK_LEN + 1];

		lg_hex_encode(pk, LG_SIGN_PK_LEN, hex);
		snprintf(why, sizeof(why), "the registry refused it: %.300s",
			 json_object_object_get_ex(resp, "error", &e) ? json_object_get_string(e) :
									"?");
		if (strstr(why, "not signed by a trusted key"))
			snprintf(why, sizeof(why), "signed with %.300s, whose public key %.16s... "
				 "is not in the policy's models.trusted_keys", keyfile, hex);
	}
	if (!reply_ok_untrusted(resp, keyfile, pk)) {
		unlink(sigpath); /* an untrusted or unused signature stays nowhere */
		return approve_refused(sock, id, why, 1);
	}
	json_object_put(resp);
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("candidate_verdict"));
	json_object_object_add(req, "id", json_object_new_string(id));
	json_object_object_add(req, "verdict", json_object_new_string("approved"));
	json_object_object_add(req, "ref", json_object_new_string(ref));
	if (call(sock, req, &resp) || !(resp = reply_ok(resp)))
		return 1;
	json_object_put(resp);
	printf("candidate %s approved: signed, in the registry as %s and scoring in the shadow "
	       "of the active model.\nWatch 'linegatectl metrics' (shadow_disagreements), then "
	       "'linegatectl model activate %s'.\n", id, ref, ref);
	return 0;
}

/* models candidates | show ID | approve ID --key KEY | reject ID */
static int models_cmd(const char *sock, bool raw, int argc, char **argv)
{
	const char *sub = argv[0];
	json_object *cand, *req, *resp;

	if (!strcmp(sub, "candidates") && argc == 1) {
		json_object *list;

		req = json_object_new_object();
		json_object_object_add(req, "cmd", json_object_new_string("candidates"));
		if (call(sock, req, &resp))
			return 1;
		if (raw)
			return print_result(resp, raw);
		if (!(resp = reply_ok(resp)))
			return 1;
		bool altered = false, other = false, changed = false, state_altered = false;

		json_object_object_get_ex(resp, "candidates", &list);
		printf("%-36s %-38s %-8s %-21s %16s %16s  %s\n", "candidate", "state", "made by",
		       "created", "alarms*", "active's*", "reason");
		for (size_t i = 0; list && i < json_object_array_length(list); i++) {
			json_object *e = json_object_array_get_idx(list, i), *ev;
			double c, a;

			json_object_object_get_ex(e, "evaluation", &ev);
			c = jnum(ev, "candidate", "rate");
			a = jnum(ev, "active", "rate");
			json_object *alt;
			char st[160];

			/* a model.json changed since its evaluation: the figures are not its */
			snprintf(st, sizeof(st), "%s%s%s", jstr(e, "state"),
				 json_object_object_get_ex(e, "model_altered", &alt) &&
					 json_object_get_boolean(alt) ? " (model.json ALTERED)" : "",
				 json_object_object_get_ex(e, "state_file_altered", &alt) &&
					 json_object_get_boolean(alt) ? " (state file ALTERED)" : "");
			altered |= strstr(st, "model.json ALTERED") != NULL;
			state_altered |= strstr(st, "state file ALTERED") != NULL;
			/* made by this linegated's retrain, its evaluation changed since, or not
			 * made by it (trial X2, s26) */
			const char *by = "retrain", *origin = jstr(e, "origin");

			if (!strcmp(origin, lg_cand_origin_name(LG_CAND_RETRAIN_CHANGED))) {
				changed = true;
				by = "CHANGED";
			} else if (strcmp(origin, lg_cand_origin_name(LG_CAND_RETRAIN))) {
				other = true;
				by = "other";
			}
			printf("%-36s %-38s %-8s %-21s %15.3f%% ", jstr(e, "id"), st, by,
			       jstr(ev, "created"), 100 * c);
			if (a >= 0)
				printf("%15.3f%%", 100 * a);
			else
				printf("%16s", "-");
			printf("  %s\n", jstr(ev, "reason"));
		}
		/* a drift retrain's recording has no labels: its alarms are not false ones */
		puts("* alarms per held-back window of the candidate's recording, on the windows "
		     "taken as healthy (linegatectl models show ID: judged_on); after a drift, "
		     "all of them: a fault learnt as normal scores low too. Approve only a change "
		     "known to be benign (a sensor swap, a new set point), never when a machine "
		     "may be failing.");
		if (altered)
			puts("ALTERED: the candidate's model.json is not the model its evaluation "
			     "judged (its SHA-256 is not the evaluation's model_sha256): the figures "
			     "are not its own, and approve refuses it; train the candidate again or "
			     "reject it.");
		if (state_altered)
			puts("state file ALTERED: the candidate folder's state file says another "
			     "state than the verdict linegated recorded (rewritten since): the "
			     "recorded verdict stands, and approve refuses a candidate judged once.");
		if (changed)
			puts("made by CHANGED: the candidate was made by this linegated's retrain, but its "
			     "evaluation.json is not the one the trainer wrote: its figures are "
			     "someone else's, and approve refuses it; reject it.");
		if (other)
			puts("made by other: linegated's retrain did not make these (linegate-train "
			     "--candidate-dir by hand, or a folder written into candidates/): their "
			     "figures are what their evaluation.json says, written by whoever can "
			     "write the registry's candidates/ folder; approve one only if you know "
			     "who made it and from what data.");
		json_object_put(resp);
		return 0;
	}
	if (!strcmp(sub, "approve") && argc == 2) {
		fprintf(stderr, "linegatectl: models approve %s needs --key KEY: the secret signing "
			"key of the person who approves it (linegatectl keygen PREFIX writes "
			"PREFIX.key; its PREFIX.pub must be in the policy's models.trusted_keys)\n",
			argv[1]);
		return 2;
	}
	if (argc < 2 || (strcmp(sub, "show") && strcmp(sub, "approve") && strcmp(sub, "reject")) ||
	    (!strcmp(sub, "approve") ? argc != 4 || strcmp(argv[2], "--key") : argc != 2)) {
		fprintf(stderr, "linegatectl: models candidates | show ID | approve ID --key KEY | "
			"reject ID\n");
		return 2;
	}
	cand = find_candidate(sock, argv[1]);
	if (!cand)
		return 1;
	if (!strcmp(sub, "show")) {
		puts(json_object_to_json_string_ext(cand, JSON_C_TO_STRING_PRETTY));
		json_object_put(cand);
		return 0;
	}
	if (!strcmp(sub, "approve")) {
		int ret = candidate_approve(sock, cand, argv[1], argv[3]);

		json_object_put(cand);
		return ret;
	}
	json_object_put(cand);
	req = json_object_new_object();
	json_object_object_add(req, "cmd", json_object_new_string("candidate_verdict"));
	json_object_object_add(req, "id", json_object_new_string(argv[1]));
	json_object_object_add(req, "verdict", json_object_new_string("rejected"));
	if (call(sock, req, &resp))
		return 1;
	return print_result(resp, raw);
}

static int record_cmd(const char *sock, bool raw, int argc, char **argv)
{
	static const struct option ropts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "raw", no_argument, NULL, 'r' },
		{ "device", required_argument, NULL, 'd' },
		{ "group", required_argument, NULL, 'g' },
		{ "for", required_argument, NULL, 'f' },
		{ 0 },
	};
	const char *sub = argc > 1 ? argv[1] : "";
	json_object *req, *devs, *grps, *resp;
	unsigned long long secs = 0;
	int opt;

	if (strcmp(sub, "start") && strcmp(sub, "stop") && strcmp(sub, "status") &&
	    strcmp(sub, "rotate")) {
		fprintf(stderr, "linegatectl: record start [--device NAME]... [--group NAME]... "
			"[--for SECONDS] | stop | rotate | status\n");
		return 2;
	}
	req = json_object_new_object();
	devs = json_object_new_array();
	grps = json_object_new_array();
	optind = 0;
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "s:r", ropts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'r': raw = true; break;
		case 'd': json_object_array_add(devs, json_object_new_string(optarg)); break;
		case 'g': json_object_array_add(grps, json_object_new_string(optarg)); break;
		case 'f':
			if (whole_number(optarg, 604800, &secs) || !secs) {
				fprintf(stderr, "linegatectl: --for takes whole seconds from 1 to "
					"604800, not '%s'\n", shown_arg(optarg));
				goto usage;
			}
			break;
		default:
			goto usage; /* getopt_long() said why */
		}
	}
	if (optind < argc || (strcmp(sub, "start") && (secs || json_object_array_length(devs) ||
						       json_object_array_length(grps)))) {
		fprintf(stderr, "linegatectl: only record start takes --device, --group and "
			"--for, and no other argument\n");
		goto usage;
	}
	json_object_object_add(req, "cmd", json_object_new_string("record"));
	json_object_object_add(req, "action", json_object_new_string(sub));
	if (json_object_array_length(devs))
		json_object_object_add(req, "devices", json_object_get(devs));
	if (json_object_array_length(grps))
		json_object_object_add(req, "groups", json_object_get(grps));
	if (secs)
		json_object_object_add(req, "for", json_object_new_int64((int64_t)secs));
	json_object_put(devs);
	json_object_put(grps);
	if (call(sock, req, &resp))
		return 1;
	return print_result(resp, raw);
usage:
	json_object_put(req);
	json_object_put(devs);
	json_object_put(grps);
	return 2;
}

static int devices_cmd(const char *sock, bool raw, int argc, char **argv)
{
	static const struct option dopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "raw", no_argument, NULL, 'r' },
		{ "id", required_argument, NULL, 'i' },
		{ "name", required_argument, NULL, 'n' },
		{ "source", required_argument, NULL, 'S' },
		{ "port", required_argument, NULL, 'P' },
		{ "mac", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'R' },
		{ "group", required_argument, NULL, 'g' },
		{ "grace", required_argument, NULL, 'G' },
		/* A UADP publisher's identity (docs/opcua.md). */
		{ "publisher-id", required_argument, NULL, 1000 },
		{ "publisher-type", required_argument, NULL, 1001 },
		{ "security", required_argument, NULL, 1002 },
		{ "security-policy", required_argument, NULL, 1003 },
		{ "replay", required_argument, NULL, 1004 },
		{ "writer-group", required_argument, NULL, 1005 },
		{ "writer", required_argument, NULL, 1006 },
		{ "writer-position", required_argument, NULL, 1007 },
		/* after the UADP options: their names are found at dopts[opt - 1000 + 10] */
		{ "no-score", no_argument, NULL, 'N' },
		{ 0 },
	};
	static const char *const ukeys[] = { "publisher_id", "publisher_type", "security",
					     "security_policy", "replay", "writer_group", "writer",
					     "writer_position" };
	const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : "list";
	json_object *req = json_object_new_object(), *resp, *v, *uadp = json_object_new_object();
	const char *grace = "10m";
	bool have_id = false;
	unsigned long long id = 0;
	int opt;

	if (argc > 1 && argv[1][0] != '-') { /* argv[0] becomes the subcommand */
		argc--;
		argv++;
	}
	optind = 0; /* GNU getopt: start over on this argv (options and ID in any order) */
	while ((opt = getopt_long(argc, argv, "s:r", dopts, NULL)) != -1) {
		const char *key = NULL;
		unsigned long long n;

		switch (opt) {
		case 's': sock = optarg; continue;
		case 'r': raw = true; continue;
		case 'G': grace = optarg; continue;
		case 'N':
			/* recorded, not scored (score: false): a new machine for its detector */
			json_object_object_add(req, "score", json_object_new_boolean(0));
			continue;
		case 1000: case 1001: case 1002: case 1003: case 1004:
			json_object_object_add(uadp, ukeys[opt - 1000],
					       json_object_new_string(optarg));
			continue;
		case 1005: case 1006: case 1007:
			if (whole_number(optarg, 65535, &n) || !n) {
				fprintf(stderr, "linegatectl: --%s takes a whole number from 1 to "
					"65535, not '%s'\n", dopts[opt - 1000 + 10].name,
					shown_arg(optarg));
				json_object_put(req);
				json_object_put(uadp);
				return 2;
			}
			json_object_object_add(uadp, ukeys[opt - 1000],
					       json_object_new_int64((int64_t)n));
			continue;
		case 'n': key = "name"; break;
		case 'S': key = "source"; break;
		case 'm': key = "mac"; break;
		case 'g': key = "group"; break;
		case 'i': case 'P': case 'R':
			if (whole_number(optarg, opt == 'P' ? 65535 : UINT32_MAX, &n)) {
				fprintf(stderr,
					"linegatectl: --%s takes a whole number from 0 to %u, not "
					"'%s'\n", opt == 'i' ? "id" : opt == 'P' ? "port" : "rate",
					opt == 'P' ? 65535u : UINT32_MAX, shown_arg(optarg));
				json_object_put(req);
				json_object_put(uadp);
				return 2;
			}
			if (opt == 'i') {
				id = n;
				have_id = true;
			}
			json_object_object_add(req,
					       opt == 'i' ? "id" : opt == 'P' ? "port" : "rate",
					       json_object_new_int64((int64_t)n));
			continue;
		default:
			json_object_put(req);
			json_object_put(uadp);
			return 2; /* getopt_long() said why */
		}
		json_object_object_add(req, key, json_object_new_string(optarg));
	}
	if (json_object_object_length(uadp) && strcmp(sub, "enroll")) {
		fprintf(stderr, "linegatectl: only devices enroll takes the UADP options\n");
		json_object_put(req);
		json_object_put(uadp);
		return 2;
	}
	if (json_object_object_length(uadp))
		json_object_object_add(req, "uadp", json_object_get(uadp));
	json_object_put(uadp);
	/* The ID of revoke, rotate-key and prune. */
	if (optind < argc && !have_id && strcmp(sub, "list") && strcmp(sub, "enroll")) {
		if (whole_number(argv[optind], UINT32_MAX, &id)) {
			fprintf(stderr, "linegatectl: a device id is a whole number, not '%s'\n",
				shown_arg(argv[optind]));
			json_object_put(req);
			return 2;
		}
		json_object_object_add(req, "id", json_object_new_int64((int64_t)id));
		have_id = true;
		optind++;
	}
	if (optind < argc) {
		fprintf(stderr, "linegatectl: devices %s: unexpected '%s' (see --help)\n", sub,
			argv[optind]);
		json_object_put(req);
		return 2;
	}
	if (!strcmp(sub, "list")) {
		json_object_object_add(req, "cmd", json_object_new_string("devices"));
	} else if (!strcmp(sub, "enroll")) {
		if (!have_id || !json_object_object_get_ex(req, "name", NULL) ||
		    !json_object_object_get_ex(req, "source", NULL)) {
			fprintf(stderr, "linegatectl: devices enroll needs --id N --name NAME "
				"--source ADDR\n");
			json_object_put(req);
			return 2;
		}
		json_object_object_add(req, "cmd", json_object_new_string("devices_enroll"));
	} else if (!strcmp(sub, "revoke") || !strcmp(sub, "rotate-key")) {
		if (!have_id) {
			fprintf(stderr, "linegatectl: devices %s needs the device's ID\n", sub);
			json_object_put(req);
			return 2;
		}
		if (!strcmp(sub, "rotate-key")) {
			time_t g;

			if (lg_duration_parse(grace, &g)) {
				fprintf(stderr,
					"linegatectl: --grace takes a duration such as 90s, "
					"10m, 2h or 1d (at most 366d), not '%s'\n", grace);
				json_object_put(req);
				return 2;
			}
			json_object_object_add(req, "grace_s", json_object_new_int64(g));
		}
		json_object_object_add(req, "cmd",
				       json_object_new_string(!strcmp(sub, "revoke") ?
								      "devices_revoke" :
								      "devices_rotate_key"));
	} else if (!strcmp(sub, "prune")) {
		json_object_object_add(req, "cmd", json_object_new_string("devices_prune"));
	} else {
		fprintf(stderr, "linegatectl: devices list | enroll | revoke ID | rotate-key ID "
			"[--grace DURATION] | prune [ID], not '%s'\n", sub);
		json_object_put(req);
		return 2;
	}
	if (call(sock, req, &resp))
		return 1;
	if (!raw && strcmp(sub, "list") && json_object_object_get_ex(resp, "ok", &v) &&
	    json_object_get_boolean(v) && json_object_object_get_ex(resp, "message", &v)) {
		/* The sentence says it all (the fields are there with --raw). */
		puts(json_object_get_string(v));
		json_object_put(resp);
		return 0;
	}
	if (raw || strcmp(sub, "list") || !json_object_object_get_ex(resp, "devices", &v))
		return print_result(resp, raw);
	/* The table: id, name, source, and each key's id, fingerprint and expiry. */
	printf("%-10s %-20s %-24s %s\n", "ID", "NAME", "SOURCE", "KEYS (id:fingerprint)");
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *dev = json_object_array_get_idx(v, i), *keys, *f;
		char src[80];

		snprintf(src, sizeof(src), "%s",
			 json_object_get_string(json_object_object_get(dev, "source")));
		f = json_object_object_get(dev, "port");
		if (f && json_object_get_int(f))
			snprintf(src + strlen(src), sizeof(src) - strlen(src), " port %d",
				 json_object_get_int(f));
		printf("%-10s %-20s %-24s",
		       json_object_get_string(json_object_object_get(dev, "id")),
		       json_object_get_string(json_object_object_get(dev, "name")), src);
		keys = json_object_object_get(dev, "keys");
		for (size_t k = 0; keys && k < json_object_array_length(keys); k++) {
			json_object *key = json_object_array_get_idx(keys, k);

			printf(" %s:%s", json_object_get_string(json_object_object_get(key, "id")),
			       json_object_get_string(json_object_object_get(key, "fingerprint")));
			if (json_object_object_get_ex(key, "expires", &f))
				printf(" (expires %s)", json_object_get_string(f));
		}
		putchar('\n');
	}
	json_object_put(resp);
	return 0;
}

/*
 * validate: linegated's own verdict on an apply of file (apply --dry-run), when it answers:
 * 0 it would apply, 1 it would refuse (said), -1 no answer (not running, not reachable).
 */
static int daemon_dry_run(const char *sock, const char *file)
{
	json_object *req, *resp = NULL, *v;
	char err[1200];
	int e = 0, ok;

	req = request("apply", file, &e);
	if (!req)
		return -1;
	json_object_object_add(req, "dry_run", json_object_new_boolean(1));
	if (lg_ctl_request(sock, req, &resp, err, sizeof(err))) {
		json_object_put(req);
		return -1;
	}
	json_object_put(req);
	ok = json_object_object_get_ex(resp, "ok", &v) && json_object_get_boolean(v);
	if (ok)
		fprintf(stderr, "%s: note: the registry's models cannot serve it, but an apply "
			"changes detection.model: linegated at %s would apply it: %s\n", file, sock,
			json_object_object_get_ex(resp, "message", &v) ? json_object_get_string(v)
									 : "ok");
	else
		fprintf(stderr, "%s: models.registry: %s (linegated at %s, asked as apply "
			"--dry-run)\n", file,
			json_object_object_get_ex(resp, "error", &v) ? json_object_get_string(v)
								       : "refused",
			sock);
	json_object_put(resp);
	return ok ? 0 : 1;
}

/*
 * validate: the models that run are the registry's active and shadow ones while the policy
 * keeps its detection.model (docs/model-registry.md): a device they have no detector for
 * would never be scored. Offline, linegatectl cannot know whether an apply changes
 * detection.model; linegated knows (apply --dry-run), so when those models cannot serve the
 * policy, linegated is asked, and its verdict is validate's: an apply that changes
 * detection.model runs the new one, and validate must not refuse what apply then accepts
 * (trial s20 H M4: "validate && apply" of "Adding a machine" never reached apply). Without
 * an answer the offline refusal stands. 0 when they serve it or the registry has no state
 * yet.
 */
static int registry_serves(const char *file, const struct lg_policy *p, const char *sock)
{
	struct lg_registry reg;
	char why[1400];
	int ret;

	if (!p->registry[0])
		return 0;
	ret = lg_registry_read(&reg, p->registry, why, sizeof(why));
	if (ret == -ENOENT)
		return 0; /* no model chosen from it yet: the policy's detection.model runs */
	if (ret == -EACCES) {
		fprintf(stderr, "%s: WARNING: models.registry: %s: the registry's active model, "
			"which runs while the policy keeps detection.model, was not checked against "
			"it (run validate as the user linegated runs as, or linegatectl apply "
			"--dry-run %s)\n", file, why, file);
		return 0;
	}
	if (!ret)
		ret = lg_registry_check_policy(&reg, p, lg_policy_check_model, why, sizeof(why));
	if (!ret)
		return 0;
	ret = daemon_dry_run(sock, file);
	if (ret >= 0)
		return ret;
	fprintf(stderr, "%s: models.registry: %.1100s. That model runs while the policy keeps "
		"detection.model %s; an apply that changes detection.model runs the new one instead "
		"(linegated, which knows, did not answer at %s). Activate a model with a detector "
		"for every device (linegatectl model add, model activate), or leave the device "
		"out\n", file, why, p->model, sock);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "raw", no_argument, NULL, 'r' },
		{ "watch", required_argument, NULL, 'w' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock = getenv("LINEGATE_SOCKET") ? getenv("LINEGATE_SOCKET") : DEFAULT_SOCKET;
	const char *cmd;
	bool raw = false, dry_run = false;
	int opt, watch = 0, err = 0;
	json_object *req, *resp;

	/* A daemon that closes the connection (a request too big, a peer refused) must give
	 * an error message and exit status, not a silent death by SIGPIPE (exit 141). */
	signal(SIGPIPE, SIG_IGN);

	while ((opt = getopt_long(argc, argv, "+s:rw:nh", lopts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'r': raw = true; break;
		case 'w': watch = atoi(optarg); break;
		case 'n': dry_run = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: return 2; /* getopt_long() said why */
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (!strcmp(cmd, "fleet"))
		return fleet_cmd(argv + optind - 1);
	if (!strcmp(cmd, "devices"))
		return devices_cmd(sock, raw, argc - optind + 1, argv + optind - 1);
	if (!strcmp(cmd, "record"))
		return record_cmd(sock, raw, argc - optind + 1, argv + optind - 1);
	if (!strcmp(cmd, "stats"))
		return stats_cmd(argc - optind + 1, argv + optind - 1);
	if (!strcmp(cmd, "health"))
		return health_cmd(argc - optind + 1, argv + optind - 1);
	if (!strcmp(cmd, "models") && optind < argc && argv[optind][0] != '-')
		return models_cmd(sock, raw, argc - optind, argv + optind);
	/* Options may follow the command too (linegatectl metrics --watch 1). */
	while ((opt = getopt_long(argc, argv, "s:rw:nh", lopts, NULL)) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'r': raw = true; break;
		case 'w': watch = atoi(optarg); break;
		case 'n': dry_run = true; break;
		default: return 2; /* getopt_long() said why */
		}
	}
	if (!strcmp(cmd, "validate")) {
		struct lg_policy p;
		char msg[1024];

		if (optind >= argc) {
			fprintf(stderr, "linegatectl: validate needs a FILE\n");
			return 2;
		}
		/* Offline: the same parser and deep check the daemon and the data plane use. */
		if (lg_policy_load_valid(argv[optind], &p, msg, sizeof(msg))) {
			fprintf(stderr, "%s\n", msg);
			return 1;
		}
		if (msg[0])
			fprintf(stderr, "%s\n", msg); /* a warning */
		if (registry_serves(argv[optind], &p, sock)) {
			lg_policy_free(&p);
			return 1;
		}
		printf("%s: valid, %zu devices\n", argv[optind], p.ndevices);
		{
			char note[1024];

			if (lg_policy_levels(&p, note, sizeof(note)))
				printf("%s: note: an open incident resolves below threshold "
				       "x the model's normal level where it is above "
				       "detection.incidents' hysteresis %.2f: %s\n", argv[optind],
				       (double)p.incidents.hysteresis, note);
		}
		lg_policy_free(&p);
		return 0;
	}
	if (!strcmp(cmd, "keygen") || !strcmp(cmd, "sign") || !strcmp(cmd, "verify"))
		return offline_keys(cmd, argc - optind, argv + optind);
	if (!strcmp(cmd, "diff") || !strcmp(cmd, "apply")) {
		if (!strcmp(cmd, "diff") && optind >= argc) {
			fprintf(stderr, "linegatectl: diff needs a FILE\n");
			return 2;
		}
		req = request(cmd, optind < argc ? argv[optind] : NULL, &err);
		if (!req)
			return err;
		if (dry_run)
			json_object_object_add(req, "dry_run", json_object_new_boolean(1));
		if (call(sock, req, &resp))
			return 1;
		return print_result(resp, raw);
	}
	if (!strcmp(cmd, "model")) {
		const char *sub = optind < argc ? argv[optind] : "";
		json_object *r = json_object_new_object();
		char abs[4096];
		int need = !strcmp(sub, "add") ? 3 : !strcmp(sub, "activate") || !strcmp(sub, "shadow") ?
			   1 : !strcmp(sub, "rollback") ? 0 : -1;

		if (need < 0 || argc - optind - 1 != need) {
			json_object_put(r);
			fprintf(stderr, "linegatectl: model add NAME VERSION FILE | activate NAME@VERSION "
				"| shadow NAME@VERSION|off | rollback\n");
			return 2;
		}
		if (!strcmp(sub, "add")) {
			/* The daemon has its own working folder: send an absolute path. */
			if (!realpath(argv[optind + 3], abs)) {
				fprintf(stderr, "linegatectl: %s: %s\n", argv[optind + 3], strerror(errno));
				json_object_put(r);
				return 1;
			}
			json_object_object_add(r, "cmd", json_object_new_string("model_add"));
			json_object_object_add(r, "name", json_object_new_string(argv[optind + 1]));
			json_object_object_add(r, "version", json_object_new_string(argv[optind + 2]));
			json_object_object_add(r, "path", json_object_new_string(abs));
		} else {
			snprintf(abs, sizeof(abs), "model_%s", sub);
			json_object_object_add(r, "cmd", json_object_new_string(abs));
			if (need)
				json_object_object_add(r, "ref", json_object_new_string(argv[optind + 1]));
		}
		if (call(sock, r, &resp))
			return 1;
		return print_result(resp, raw);
	}
	if (!strcmp(cmd, "rollback")) {
		req = request(cmd, NULL, &err);
		if (optind < argc) {
			unsigned long long v;

			if (whole_number(argv[optind], INT32_MAX, &v) || v < 1) {
				json_object_put(req);
				fprintf(stderr, "linegatectl: rollback VERSION: '%s' is not a "
					"version number (see linegatectl history)\n",
					shown_arg(argv[optind]));
				return 2;
			}
			json_object_object_add(req, "version", json_object_new_int64((int64_t)v));
		}
		if (call(sock, req, &resp))
			return 1;
		return print_result(resp, raw);
	}
	if (!strcmp(cmd, "status") || !strcmp(cmd, "history") ||
	    !strcmp(cmd, "metrics") ||
	    !strcmp(cmd, "models")) {
		do {
			int ret;

			if (call(sock, request(cmd, NULL, &err), &resp))
				return 1;
			ret = print_result(resp, raw);
			if (ret || !watch)
				return ret;
			fflush(stdout);
			sleep((unsigned)watch);
		} while (1);
	}
	fprintf(stderr, "linegatectl: unknown command '%s' (see --help)\n", cmd);
	return 2;
}
