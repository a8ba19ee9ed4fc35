// SPDX-License-Identifier: MIT
/* linegate: the data plane. Workers, an output thread and a control socket. */
#include "dataplane.h"
#include "ctlproto.h"
#include "http.h"
#include "mqtt.h"
#include "nats.h"
#include "influx.h"
#include "opcua_mqtt.h"
#include "record.h"
#include "scorer.h"
#include "statefile.h"

#include <lgadmit.h>
#include <linegate/outpath.h>
#include <linegate/priv.h>
#include <linegate/uadmit.h>
#include <net/if.h>

#include <bpf/bpf.h>
#include <cblas.h>
#include <openssl/sha.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void openblas_set_num_threads(int n);

static const char usage[] =
	"Usage: linegate --policy FILE [options]\n"
	"\n"
	"The linegate data plane: receives LGF frames (and OPC UA PubSub UADP messages when the\n"
	"policy sets uadp_port) on UDP, and OPC UA PubSub messages, UADP or JSON, from an MQTT\n"
	"broker when the policy has an 'opcua_mqtt' section (docs/opcua.md); admits only enrolled\n"
	"devices with a valid tag and a fresh sequence, turns their samples into window features,\n"
	"scores them with the policy's model and writes scores and alerts as JSON lines, and\n"
	"per device the incidents its alerts make (open, update, resolve: docs/operations.md).\n"
	"With output.mqtt, the same records go to an MQTT broker (TLS, user name and password,\n"
	"MQTT 5 or 3.1.1), with a retained <topic>/status online/offline (the last will) and\n"
	"one per device; with output.mqtt.outbox they wait on disk until the broker has them,\n"
	"across outages and restarts (docs/operations.md, \"MQTT\").\n"
	"Records carry each device's metadata (line, station, asset, ...: the policy's 'meta');\n"
	"with output.influx, scores, features and incidents also go to InfluxDB (or any server\n"
	"of its line protocol) over HTTP (docs/policy.md).\n"
	"\n"
	"Options:\n"
	"  -p, --policy FILE     policy YAML (see docs/policy.md); required\n"
	"  -w, --workers N       receive workers (= RX queues), one socket or queue each\n"
	"                        (default: the policy's backend.workers, else 1)\n"
	"  -b, --backend NAME[:OPTIONS]\n"
	"                        packet backend and its options (key=value,...; each key\n"
	"                        once, but dpdk's vdev= and pci=): see below\n"
	"                        (default: the policy's backend section, else uring)\n"
	"  -B, --bind ADDR       address to receive on (default: all, IPv4 and IPv6)\n"
	"  -c, --ctl PATH        control socket for linegated/linegatectl (default: none)\n"
	"      --group NAME      members of group NAME may use the control socket too (mode\n"
	"                        0660, group NAME; root and linegate's own user always may)\n"
	"  -s, --stats-out FILE  write the final counters as JSON here on exit, with the\n"
	"                        latency of each stage from a frame's arrival (p50, p99,\n"
	"                        buckets: docs/operations.md, Latency); the summary on stderr\n"
	"                        has their p50/p99\n"
	"  -o, --output FILE     JSON lines output, appended to FILE (- : stdout); overrides\n"
	"                        the policy's output.jsonl\n"
	"  -m, --metrics [HOST:]PORT\n"
	"                        serve HTTP on HOST:PORT (HOST: IPv4 or [IPv6];\n"
	"                        PORT alone: 127.0.0.1): Prometheus metrics on\n"
	"                        /metrics, the status page on / and /status.json,\n"
	"                        /healthz (503 when a worker is hung) and /readyz\n"
	"                        (503 with the reasons); no authentication: keep it\n"
	"                        on loopback or a management network (operations.md,\n"
	"                        \"Status page and health endpoints\")\n"
	"      --reorder-hold MS\n"
	"                        a device's frame that overtook another (on the way to its\n"
	"                        owner worker, with several workers or an MQTT input) waits\n"
	"                        at most MS for it (default 4, 0..100; 0: never wait), so that\n"
	"                        windows fill in sequence order; a gap still open then counts\n"
	"                        as the device's missing frames (docs/architecture.md, \"In\n"
	"                        sequence order\"). On one path (one worker; LGF on uring and\n"
	"                        pcap, which steer) only the network swaps frames: a frame\n"
	"                        ahead waits for its device's next frame, at most MS. A pcap\n"
	"                        replay holds on the recording's clock: MS of recorded time,\n"
	"                        so the verdicts are the same at every pace\n"
	"      --status-step SECONDS\n"
	"                        the status page charts each device's highest score\n"
	"                        per SECONDS, 120 points (default 5 s: 10 minutes)\n"
	"      --xdp-pin DIR     pin the XDP program and maps under DIR (bpffs); the default is\n"
	"                        /sys/fs/bpf/linegate/IFNAME (netns-INODE/IFNAME outside the\n"
	"                        host's network namespace): when linegate stops or is killed,\n"
	"                        admission goes on with the last policy (unknown devices stay\n"
	"                        dropped), and the next linegate takes it over with its\n"
	"                        buckets, replay sequences and counters\n"
	"      --no-xdp-pin      do not pin: the program is detached when linegate stops (a\n"
	"                        linegate killed without pins leaves it attached; the next one\n"
	"                        replaces it, and refuses a program that is not linegate's)\n"
	"      --xdp-unpin       on exit, detach and remove the pinned instance (a real stop),\n"
	"                        and its netns-INODE folder when that is left empty\n"
	"      --state-dir DIR   state kept across restarts (default $STATE_DIRECTORY, else\n"
	"                        /var/lib/linegate; made 0700): each device's replay high-water\n"
	"                        mark, so no frame accepted before a restart is accepted after\n"
	"                        it; each device's open incident, which a restart continues;\n"
	"                        and the last applied policy, which a restart uses unless\n"
	"                        the boot policy file changed since (the start line says which)\n"
	"  -x, --xdp IFACE[:generic]\n"
	"                        attach the XDP admission program to IFACE (native mode, or\n"
	"                        generic/skb mode with ':generic'): frames from unknown or\n"
	"                        spoofed senders, over their rate, or long replayed are dropped\n"
	"                        before the kernel allocates anything (docs/admission.md)\n"
	"      --shutdown-timeout SECONDS\n"
	"                        on SIGTERM/SIGINT (or a stream's end), the outputs get this\n"
	"                        long to write what is left (default 5, 0.1..3600); a reader\n"
	"                        that does not read, a broker or InfluxDB that does not\n"
	"                        answer (its requests, retries and backoff included) or a\n"
	"                        full disk is then abandoned, and the last lines say how\n"
	"                        many records of each kind were (docs/operations.md,\n"
	"                        Shutdown)\n"
	"      --user NAME       after setup (XDP attached, sockets bound, control socket made),\n"
	"                        become user NAME (a name or a uid) with only the capabilities\n"
	"                        still used, none without --xdp; with it, cap_bpf where this\n"
	"                        kernel wants it for the XDP maps (tried: before Linux 6.5)\n"
	"                        and cap_net_admin with --no-xdp-pin (the stop detaches); the\n"
	"                        state folder, the JSON lines file and the control socket are\n"
	"                        handed to NAME first\n"
	"  -h, --help            this text\n"
	"  -V, --version         print the version\n"
	"      --drop-reasons    print every reason a frame is counted under, and its cause:\n"
	"                        the workers' and backends' table, then the admission verdicts\n"
	"\n"
	"Backends in this build (a finite one, such as pcap, ends linegate at its end of\n"
	"stream, after the last window is scored and written):\n"
	"%s"
	"\n"
	"Control socket: one request per connection, a 4-byte big-endian length and a JSON\n"
	"object {\"cmd\": ...}; the reply is framed the same way, {\"ok\": ..., \"error\": ...}.\n"
	"Commands: stats, status, reload, apply, model, record, help (docs/operations.md;\n"
	"record: docs/recording.md); an apply that changes a start-only field (port,\n"
	"uadp_port, backend, output.mqtt.*, output.nats.*, opcua_mqtt.*, models.registry)\n"
	"is refused whole, and its reply lists every change it made (\"changes\"). A request cut off\n"
	"before its length is refused whole. SIGHUP reopens the JSON lines file (for logrotate)\n"
	"and reloads the policy; SIGUSR1 only reopens the file. A policy that does not\n"
	"validate is refused and the running one stays. Models load only when signed by a key\n"
	"in the policy's models.trusted_keys (docs/models.md).\n";

static volatile sig_atomic_t got_stop, got_hup, got_usr1;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_stop = 1;
}

/*
 * Bounded shutdown: once stopping, the outputs get --shutdown-timeout to write what is left,
 * then it is abandoned (counted, output.c). Should anything else hang past the bound (a
 * library call that does not return), this watchdog says where and ends the process a second
 * later, with the counts it has.
 */
struct shutdown_watch {
	struct lg_dp *dp;
	uint64_t deadline_ns;
	_Atomic(const char *) stage;
	_Atomic bool done;
};

static void *shutdown_watchdog(void *arg)
{
	struct shutdown_watch *sw = arg;
	uint64_t until = sw->deadline_ns + 1000000000ull;

	while (!atomic_load(&sw->done) && lg_now_ns() < until) {
		struct timespec ts = { 0, 20000000 };

		nanosleep(&ts, NULL);
	}
	if (atomic_load(&sw->done))
		return NULL;
	fprintf(stderr, "linegate: shutdown: still %s 1 s past the shutdown timeout: exiting "
		"without waiting more\n", atomic_load(&sw->stage));
	lg_output_abandon_summary(sw->dp, stderr);
	_exit(1);
}

static int ms_left(uint64_t deadline_ns)
{
	uint64_t now = lg_now_ns();

	return now >= deadline_ns ? 0 : (int)((deadline_ns - now) / 1000000u);
}

/* After an apply (or at start): the policy's recording section, live (record.h). A recording
 * that cannot start leaves the applied policy as it is: logged, and said in err. */
static int apply_recording(struct lg_dp *dp, const struct lg_policy_recording *old, char *err,
			   size_t errlen)
{
	int ret;

	/* A replay (a finite backend) is not the line: the policy's recording would fill the
	 * line's recording folder with old frames, and its retention delete real ones. A
	 * command may still record a replay. */
	if (dp->handoff_wait)
		return 0;
	ret = lg_record_apply_policy(dp->rec, old, &atomic_load(&dp->gen)->policy, err, errlen);
	if (ret)
		fprintf(stderr, "linegate: recording: not started: %s\n", err);
	return ret;
}

/* Apply policy text parsed as name; msg gets "ok: ..." with the changes, or the reason. */
static int apply_text(struct lg_dp *dp, const char *text, size_t len, const char *name,
		      char *msg, size_t msglen)
{
	struct lg_apply_req r = { .text = text, .len = len, .name = name };
	struct lg_policy_recording old;
	struct lg_policy p;
	char rerr[1024];
	/* The one validation (lg_policy_check: model, signature, window) before anything. */
	int ret = lg_policy_validate(text, len, name, &p, msg, msglen);

	if (ret) {
		atomic_fetch_add(&dp->apply_failures, 1);
		return ret;
	}
	r.policy = &p;
	old = atomic_load(&dp->gen)->policy.recording;
	ret = lg_dp_apply(dp, &r);
	if (ret) {
		snprintf(msg, msglen, "%s", r.err);
		lg_policy_free(&p);
		return ret;
	}
	apply_recording(dp, &old, rerr, sizeof(rerr));
	snprintf(msg, msglen, "ok: %zu devices, changes %s%s%s", p.ndevices, r.changes,
		 r.warn[0] ? "; warning: " : "", r.warn);
	free(r.changes);
	return 0;
}

static int reload_file(struct lg_dp *dp, char *msg, size_t len)
{
	char *text = NULL;
	size_t n = 0;
	int fd = open(dp->policy_path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0 || (ret = lg_read_fd(fd, 64u << 20, &text, &n))) {
		ret = -errno;
		snprintf(msg, len, "%s: %s", dp->policy_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		atomic_fetch_add(&dp->apply_failures, 1);
		return ret ? ret : -EIO;
	}
	close(fd);
	/* The apply keeps it for the next start with the boot file's hash as it is now. */
	ret = apply_text(dp, text, n, dp->policy_path, msg, len);
	free(text);
	return ret;
}

/*
 * The control socket: the table of commands linegated and linegatectl send, on the one
 * protocol both hops speak (control/ctlproto.h). Adding a command is a row and a handler.
 */
static const char *req_str(json_object *req, const char *k, size_t *len)
{
	json_object *v;

	if (!json_object_object_get_ex(req, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	if (len)
		*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

static int ctl_stats(void *ctx, struct lg_ctl_call *c)
{
	char *s = lg_dp_stats_json(ctx);
	json_object *o = s ? json_tokener_parse(s) : NULL;

	free(s);
	if (!o) {
		snprintf(c->err, c->errlen, "could not read the counters");
		return -ENOMEM;
	}
	json_object_object_add(c->reply, "stats", o);
	return 0;
}

/*
 * /healthz and /readyz on the control socket (trial J F12): the HTTP server's slots on
 * 127.0.0.1 are shared with every local user, who can hold them all; this socket checks
 * the peer's credentials, so a probe through it (linegatectl health) cannot be crowded out
 * by them. Reads atomics only, as /healthz does.
 */
static int ctl_health(void *ctx, struct lg_ctl_call *c)
{
	json_object *problems = json_object_new_array(), *reasons = json_object_new_array();

	lg_http_health(ctx, problems);
	lg_http_ready(ctx, reasons);
	json_object_object_add(c->reply, "healthy",
			       json_object_new_boolean(!json_object_array_length(problems)));
	json_object_object_add(c->reply, "problems", problems);
	json_object_object_add(c->reply, "ready",
			       json_object_new_boolean(!json_object_array_length(reasons)));
	json_object_object_add(c->reply, "reasons", reasons);
	return 0;
}

static int ctl_status(void *ctx, struct lg_ctl_call *c)
{
	struct lg_dp *dp = ctx;
	struct lg_gen *g;
	struct lg_modelset *ms;
	char hex[65];

	/* Generations are published and freed by this thread (apply runs here): it can read
	 * the running one without a lock. */
	g = atomic_load(&dp->gen);
	ms = atomic_load(&dp->models);
	lg_hex_encode(g->policy.hash, sizeof(g->policy.hash), hex);
	json_object_object_add(c->reply, "policy_sha256", json_object_new_string(hex));
	json_object_object_add(c->reply, "epoch", json_object_new_uint64(g->epoch));
	{
		char inst[64];

		/* This process's run: another one after a restart, so that linegated can push
		 * the registry's models again (they are not kept across a restart). */
		snprintf(inst, sizeof(inst), "%ld-%" PRIu64, (long)getpid(), dp->started_ns);
		json_object_object_add(c->reply, "instance", json_object_new_string(inst));
	}
	json_object_object_add(c->reply, "devices", json_object_new_uint64(g->policy.ndevices));
	json_object_object_add(c->reply, "model", json_object_new_string(ms ? ms->active : ""));
	/* an ONNX model's GEMM route (detection.gemm, and whether libxsmm could run) */
	json_object_object_add(c->reply, "model_gemm",
			       json_object_new_string(ms ? lg_scorer_gemm(ms->sc[0]) : ""));
	json_object_object_add(c->reply, "shadow_model",
			       json_object_new_string(ms ? ms->shadow : ""));
	json_object_object_add(c->reply, "model_epoch", json_object_new_uint64(ms ? ms->epoch : 0));
	json_object_object_add(c->reply, "policy_file", json_object_new_string(dp->policy_path));
	/* incidents open now */
	json_object_object_add(c->reply, "incidents", lg_dp_inc_json(dp));
	/* devices in drift (drift.c): linegated audits the changes it sees */
	json_object_object_add(c->reply, "drift", lg_drift_status_json(g));
	/* devices whose frames the model cannot score (their sample rate): rate_watch.c */
	json_object_object_add(c->reply, "not_scored", lg_dp_rate_json(g, ms));
	/* devices whose frames are all refused as replays (flood_watch.c) */
	json_object_object_add(c->reply, "locked_out", lg_dp_lockout_json(g));
	/* the recording's state and counters: linegated audits one that ends by itself */
	if (dp->rec)
		lg_record_stats_json(dp->rec, c->reply);
	if (dp->admit) {
		/* IP fragments XDP dropped: frames over the interface's MTU never reach a worker,
		 * and no worker counter says so (trial s19 C M2); linegated warns. */
		struct lg_admit_reason_ctr r[LG_R_MAX];

		if (!lg_admit_read_reasons(dp->admit, r))
			json_object_object_add(c->reply, "xdp_fragments_dropped",
					       json_object_new_uint64(r[LG_R_FRAGMENT].frames));
	}
	{
		/* the policy's fragments: reassemble, not done here (trial J F3): linegated
		 * warns */
		char why[512];

		if (lg_dp_fragments_ignored(dp, &g->policy, why, sizeof(why)))
			json_object_object_add(c->reply, "fragments_ignored",
					       json_object_new_string(why));
	}
	{
		char names[1024];

		lg_policy_unprotected(&g->policy, names, sizeof(names));
		/* Devices admitted without replay protection, by name ('replay: none'). */
		json_object_object_add(c->reply, "unprotected_devices",
				       json_object_new_string(names));
	}
	{
		/* Bad samples (issue 8): the policy's choice and what it did so far. */
		json_object *b = json_object_new_object();
		uint64_t dropped = 0, masked = 0, nonfinite = 0;

		for (unsigned w = 0; w < dp->nworkers; w++) {
			struct lg_worker_stats *st = &dp->workers[w].st;

			dropped += atomic_load(&st->reason[LG_DROP_BAD_SAMPLE]);
			masked += atomic_load(&st->samples_masked);
			nonfinite += atomic_load(&st->rows_nonfinite);
		}
		json_object_object_add(b, "policy", json_object_new_string(
			g->policy.bad_samples == LG_BAD_SAMPLES_MASK ? "mask" : "drop"));
		json_object_object_add(b, "frames_dropped", json_object_new_uint64(dropped));
		json_object_object_add(b, "samples_masked", json_object_new_uint64(masked));
		json_object_object_add(b, "rows_nonfinite", json_object_new_uint64(nonfinite));
		json_object_object_add(c->reply, "bad_samples", b);
	}
	return 0;
}

static int ctl_reload(void *ctx, struct lg_ctl_call *c)
{
	int ret = reload_file(ctx, c->err, c->errlen);

	if (!ret)
		json_object_object_add(c->reply, "message", json_object_new_string(c->err));
	return ret;
}

/* Policy text (and the file name its relative paths resolve against) to the running
 * generation: the same validation as every other tool, then lg_dp_apply, whose list of
 * changes is the reply's "changes". */
static int ctl_apply(void *ctx, struct lg_ctl_call *c)
{
	struct lg_dp *dp = ctx;
	struct lg_policy p;
	size_t len = 0;
	const char *text = req_str(c->req, "policy", &len), *name = req_str(c->req, "name", NULL);
	struct lg_apply_req r = { .policy = &p, .text = text, .len = len };
	struct lg_policy_recording old;
	char rerr[1024];
	json_object *changes;
	char hex[65];
	int ret;

	if (!text) {
		snprintf(c->err, c->errlen, "apply needs \"policy\" (the policy text)");
		return -EINVAL;
	}
	/* Relative paths (key files, the model) resolve from the file the policy came from,
	 * or from the boot policy's folder when the request does not name it. */
	r.name = name ? name : dp->policy_path;
	ret = lg_policy_validate(text, len, r.name, &p, c->err, c->errlen);
	if (ret) {
		atomic_fetch_add(&dp->apply_failures, 1);
		return ret;
	}
	/* The deep check's warning (an ONNX model without linegate.window): to the caller */
	if (c->err[0]) {
		json_object_object_add(c->reply, "warning", json_object_new_string(c->err));
		c->err[0] = '\0';
	}
	lg_hex_encode(p.hash, sizeof(p.hash), hex);
	json_object_object_add(c->reply, "devices", json_object_new_uint64(p.ndevices));
	old = atomic_load(&dp->gen)->policy.recording;
	ret = lg_dp_apply(dp, &r);
	if (ret) {
		snprintf(c->err, c->errlen, "%s", r.err);
		lg_policy_free(&p);
		return ret;
	}
	if (apply_recording(dp, &old, rerr, sizeof(rerr)))
		json_object_object_add(c->reply, "recording_error", json_object_new_string(rerr));
	/* what the policy asks and this linegate does not do (fragments: reassemble, afxdp) */
	if (r.warn[0]) {
		json_object *w;

		/* alone too, for linegated (its "warning" is the deep check's, which it made
		 * itself) */
		json_object_object_add(c->reply, "not_done", json_object_new_string(r.warn));

		if (json_object_object_get_ex(c->reply, "warning", &w)) {
			char both[1800];

			snprintf(both, sizeof(both), "%.1000s; %s", json_object_get_string(w), r.warn);
			json_object_object_add(c->reply, "warning", json_object_new_string(both));
		} else {
			json_object_object_add(c->reply, "warning", json_object_new_string(r.warn));
		}
	}
	changes = json_tokener_parse(r.changes);
	free(r.changes);
	json_object_object_add(c->reply, "changes", changes ? changes : json_object_new_array());
	json_object_object_add(c->reply, "policy_sha256", json_object_new_string(hex));
	json_object_object_add(c->reply, "epoch",
			       json_object_new_uint64(atomic_load(&dp->gen)->epoch));
	return 0;
}

/* {"cmd":"model","active":PATH,"label":L[,"shadow":PATH,"shadow_label":L]} */
static int ctl_model(void *ctx, struct lg_ctl_call *c)
{
	const char *a = req_str(c->req, "active", NULL), *al = req_str(c->req, "label", NULL);
	const char *sh = req_str(c->req, "shadow", NULL);
	const char *sl = req_str(c->req, "shadow_label", NULL);
	int ret;

	if (!a || !al || !sh != !sl) {
		snprintf(c->err, c->errlen, "model needs \"active\" and \"label\" (and \"shadow\" "
			 "with \"shadow_label\")");
		return -EINVAL;
	}
	ret = lg_dp_set_models(ctx, a, al, sh, sl, c->err, c->errlen);
	if (!ret)
		json_object_object_add(c->reply, "model", json_object_new_string(al));
	return ret;
}

/* The recording's state and counters into the reply. */
static void record_reply(struct lg_dp *dp, json_object *reply)
{
	char *s = lg_dp_stats_json(dp);
	json_object *o = s ? json_tokener_parse(s) : NULL, *rec;

	free(s);
	if (o && json_object_object_get_ex(o, "recording", &rec))
		json_object_object_add(reply, "recording", json_object_get(rec));
	json_object_put(o);
}

/* A list of strings from the request into names[] (at most max); -EINVAL when malformed. */
static int req_names(json_object *req, const char *k, const char **names, size_t max,
		     size_t *n, struct lg_ctl_call *c)
{
	json_object *a;

	*n = 0;
	if (!json_object_object_get_ex(req, k, &a))
		return 0;
	if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > max) {
		snprintf(c->err, c->errlen, "record: \"%s\" must be a list of at most %zu names",
			 k, max);
		return -EINVAL;
	}
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *v = json_object_array_get_idx(a, i);

		if (!json_object_is_type(v, json_type_string)) {
			snprintf(c->err, c->errlen, "record: \"%s\" must hold names", k);
			return -EINVAL;
		}
		names[(*n)++] = json_object_get_string(v);
	}
	return 0;
}

/*
 * A recording's own file prefix ("prefix": a file name start, as the policy's) and origin
 * ("origin": "command", or "drift" for linegated's retraining), else the policy's and
 * "command".
 */
static int record_naming(struct lg_ctl_call *c, struct lg_rec_conf *rc)
{
	const char *prefix = req_str(c->req, "prefix", NULL);
	const char *origin = req_str(c->req, "origin", NULL);

	if (prefix) {
		size_t n = strlen(prefix);

		if (!n || n >= sizeof(rc->prefix) || prefix[0] == '.' || strchr(prefix, '/')) {
			snprintf(c->err, c->errlen, "record: \"prefix\" must be a file name start "
				 "of 1 to %zu characters, without '/' and not starting with '.'",
				 sizeof(rc->prefix) - 1);
			return -EINVAL;
		}
		memcpy(rc->prefix, prefix, n + 1);
	}
	if (origin) {
		if (strcmp(origin, "command") && strcmp(origin, "drift")) {
			snprintf(c->err, c->errlen, "record: \"origin\" is command or drift");
			return -EINVAL;
		}
		rc->origin = !strcmp(origin, "drift") ? "drift" : "command";
	}
	return 0;
}

/*
 * {"cmd":"record","action":"start"|"stop"|"rotate"|"status"[,"devices":[NAME...]][,"groups":[NAME...]]
 * [,"for":SECONDS][,"prefix":P][,"origin":O]}: a recording with the running policy's recording folder and bounds
 * (docs/recording.md), of the devices and groups named (none: all). It does not change the
 * policy: a restart records as the policy says.
 */
static int ctl_record(void *ctx, struct lg_ctl_call *c)
{
	struct lg_dp *dp = ctx;
	const char *action = req_str(c->req, "action", NULL);
	const struct lg_policy *p = &atomic_load(&dp->gen)->policy;
	const char *devs[LG_REC_MAX_NAMES], *grps[LG_REC_MAX_NAMES];
	struct lg_rec_conf rc = { 0 };
	size_t ndev, ngrp;
	json_object *v;
	uint32_t *ids;
	int ret;

	if (!action || (strcmp(action, "start") && strcmp(action, "stop") &&
			strcmp(action, "status") && strcmp(action, "rotate"))) {
		snprintf(c->err, c->errlen, "record needs \"action\": start, stop, rotate or "
			 "status");
		return -EINVAL;
	}
	if (!strcmp(action, "rotate")) {
		char next[LG_PATH_MAX + 8];

		ret = lg_record_rotate(dp->rec, next, sizeof(next));
		if (ret) {
			snprintf(c->err, c->errlen, "%s", ret == -ENOENT ?
				 "no recording runs (linegatectl record status)" : ret == -EBUSY ?
				 "the recorder has been writing for more than 2 s (a slow or hung "
				 "disk?): nothing changed, try again" :
				 "the recording stopped: the file could not be written or created "
				 "(linegatectl record status says why)");
			return ret;
		}
		json_object_object_add(c->reply, "next_file", json_object_new_string(next));
	} else if (!strcmp(action, "stop")) {
		ret = lg_record_stop(dp->rec, "stopped by a command");
		if (ret) {
			snprintf(c->err, c->errlen, "%s", ret == -ENOENT ?
				 "no recording runs (linegatectl record status)" :
				 "the recorder has been writing for more than 2 s (a slow or hung "
				 "disk?): nothing changed, try again");
			return ret;
		}
	} else if (!strcmp(action, "start")) {
		if ((ret = req_names(c->req, "devices", devs, LG_REC_MAX_NAMES, &ndev, c)) ||
		    (ret = req_names(c->req, "groups", grps, LG_REC_MAX_NAMES, &ngrp, c)))
			return ret;
		if (json_object_object_get_ex(c->req, "for", &v)) {
			int64_t s = json_object_get_int64(v);

			if (!json_object_is_type(v, json_type_int) || s < 1 || s > 7 * 86400) {
				snprintf(c->err, c->errlen, "record: \"for\" must be whole seconds, "
					 "1 to 604800");
				return -EINVAL;
			}
			rc.for_seconds = (uint64_t)s;
		}
		if (!p->recording.dir[0]) {
			snprintf(c->err, c->errlen, "the running policy names no recording folder: "
				 "add 'recording: {dir: FOLDER}' (docs/recording.md) and apply it");
			return -ENOENT;
		}
		ret = lg_record_select(p, devs, ndev, grps, ngrp, &ids, &rc.nids, c->err,
				       c->errlen);
		if (ret)
			return ret;
		snprintf(rc.dir, sizeof(rc.dir), "%s", p->recording.dir);
		snprintf(rc.prefix, sizeof(rc.prefix), "%s", p->recording.prefix);
		rc.origin = "command";
		if ((ret = record_naming(c, &rc))) {
			free(ids);
			return ret;
		}
		rc.ids = ids;
		rc.max_file_bytes = p->recording.max_file_bytes;
		rc.max_file_seconds = p->recording.max_file_seconds;
		rc.max_total_bytes = p->recording.max_total_bytes;
		rc.min_free_bytes = p->recording.min_free_bytes;
		ret = lg_record_start(dp->rec, &rc, c->err, c->errlen);
		free(ids);
		if (ret)
			return ret;
	}
	record_reply(dp, c->reply);
	return 0;
}

/* A peer the control socket refused: counted (ctl_denied), and logged at most once a second
 * with how many came since (a client looping connect cannot fill the log). */
static void ctl_denied(void *ctx, const struct lg_ctl_peer *peer, const char *why)
{
	struct lg_dp *dp = ctx;
	struct timespec t;
	uint64_t n = atomic_fetch_add(&dp->ctl_denied, 1) + 1;
	static uint64_t logged_n;

	clock_gettime(CLOCK_MONOTONIC, &t);
	if (t.tv_sec == dp->ctl_denied_logged && logged_n)
		return;
	fprintf(stderr, "linegate: control socket: refused %s: %s (%llu refused since start)\n",
		peer->name, why, (unsigned long long)n);
	dp->ctl_denied_logged = t.tv_sec;
	logged_n = n;
}

static const struct lg_ctl_cmd dp_cmds[] = {
	{ "stats", ctl_stats, "the counters, as JSON (\"stats\")", false },
	{ "health", ctl_health, "/healthz and /readyz: healthy, problems, ready, reasons",
	  false },
	{ "status", ctl_status,
	  "the running generation: policy_sha256, epoch, devices, models, bad samples",
	  false },
	{ "reload", ctl_reload, "re-read the --policy file and apply it", true },
	{ "apply", ctl_apply, "apply \"policy\" (text; \"name\": the file it came from)", true },
	{ "model", ctl_model, "run \"active\" (PATH, \"label\"), optionally a \"shadow\"", true },
	{ "record", ctl_record, "\"action\": start (\"devices\", \"groups\", \"for\", \"prefix\", "
	  "\"origin\"), stop, status of the recording", true },
	{ NULL },
};

/* The default pin folder: per interface, and per network namespace outside the host's (two
 * namespaces may each have an eth0). */
static void default_pin_dir(const char *ifname, char *out, size_t len)
{
	struct stat self, init;

	/* When the host's namespace cannot be read (a container), assume another one. */
	if (!stat("/proc/self/ns/net", &self) &&
	    (stat("/proc/1/ns/net", &init) || self.st_ino != init.st_ino))
		snprintf(out, len, "/sys/fs/bpf/linegate/netns-%lu/%s", (unsigned long)self.st_ino,
			 ifname);
	else
		snprintf(out, len, "/sys/fs/bpf/linegate/%s", ifname);
}

static void xdp_pinned(struct lg_dp *dp, const char *pin, bool is_default)
{
	snprintf(dp->admit_pin, sizeof(dp->admit_pin), "%s", pin);
	dp->admit_pin_default = is_default;
}

/*
 * Can pins in pin outlive this process? Pins live in a bpffs instance, and it lives while
 * some mount namespace has it mounted. `ip netns exec` gives linegate a mount namespace of
 * its own with a fresh /sys, where lgadmit mounts a bpffs instance that no other namespace
 * has: it goes, pins, link and all, with linegate. So: does another process's mountinfo
 * hold a mount of the instance holding pin (its st_dev)? 0 when none of those we can read
 * does, 1 when one does or when we could read none (no way to tell).
 */
static int pin_outlives(const char *pin)
{
	char want[32], path[300], line[1024];
	struct dirent *de;
	struct stat st;
	int seen = 0, found = 0;
	DIR *d;

	if (stat(pin, &st))
		return 1;
	snprintf(want, sizeof(want), " %u:%u ", major(st.st_dev), minor(st.st_dev));
	d = opendir("/proc");
	if (!d)
		return 1;
	while (!found && (de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || atoi(de->d_name) == (int)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%s/mountinfo", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ...": the third field. */
		while (fgets(line, sizeof(line), f)) {
			char *sp = strchr(line, ' ');

			sp = sp ? strchr(sp + 1, ' ') : NULL;
			seen = 1;
			if (sp && !strncmp(sp, want, strlen(want))) {
				found = 1;
				break;
			}
		}
		fclose(f);
	}
	closedir(d);
	return found || !seen;
}

/* Backends that read only what XDP hands them, by AF_XDP socket (afxdp) or UDP socket
 * (uring): while they do not read, XDP counts those frames no_reader (issue 10). */
static bool xdp_readers_only(const struct lg_backend_ops *ops)
{
	return !strcmp(ops->name, "afxdp") || (ops->flags & LG_BACKEND_F_SOCKET);
}

/*
 * A stopping linegate with XDP in front (afxdp, uring): XDP stops handing frames over first
 * (the AF_XDP sockets leave the XSKMAP; with uring, what it lets through no longer goes to
 * the stack), so that what comes now is counted no_reader, and the workers, still running,
 * empty their rings and sockets: a frame XDP handed over is received, not lost with the
 * socket when it closes (issue 10, trial s19 C M1). A worker is empty once a burst that
 * began after that (an RCU grace period later: no program can still hand one over) left
 * fewer than LG_BURST frames (caught_up_ns). At most 500 ms.
 */
static void xsk_drain(struct lg_dp *dp, unsigned nworkers)
{
	uint64_t t0, end;

	lg_admit_set_xsk_readers(dp->admit, 1);
	atomic_store(&dp->draining, true);
	/* Refused (no CAP_BPF left after --user): the flag alone still stops uring's frames,
	 * and a program that read it before is done within microseconds. */
	if (lg_admit_xsk_unbind(dp->admit, nworkers))
		nanosleep(&(struct timespec){0, 2000000}, NULL);
	t0 = lg_now_ns();
	end = t0 + 500000000ull;
	for (;;) {
		unsigned behind = 0;

		for (unsigned w = 0; w < nworkers; w++)
			if (atomic_load_explicit(&dp->workers[w].caught_up_ns,
						 memory_order_acquire) < t0)
				behind++;
		if (!behind || lg_now_ns() >= end)
			return;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
}

/* What becomes of a pinned instance when linegate exits, for the start line. */
static const char *pin_fate(bool unpin, const char *pin)
{
	if (unpin)
		return "detached and removed on exit: --xdp-unpin";
	if (!pin_outlives(pin))
		return "not kept on exit: linegate runs in a mount namespace of its own (ip netns "
		       "exec?) whose bpffs no other namespace has: the program and its pins go "
		       "with it; start it with nsenter --net=/run/netns/NAME to keep them";
	return "kept on exit; --xdp-unpin removes it";
}

/* Take over the instance pinned in pin: 1 done, 0 none there, negative errno with err. */
static int xdp_takeover(struct lg_dp *dp, const char *pin, bool is_default, bool unpin,
			enum lg_admit_mode mode, const struct lg_policy *p, char *err,
			size_t errlen)
{
	struct lg_admit_iface cur;
	bool generic;
	int ret = lg_admit_open_pinned(pin, &dp->admit);

	if (ret == -ENOENT)
		return 0;
	if (ret) {
		snprintf(err, errlen, "taking over the instance pinned in %s: %s (remove it with "
			 "rm -r %s, or pick another --xdp-pin)", pin,
			 ret == -EPROTO ? "it was pinned by another build of linegate, whose maps "
					  "differ from this one's (an upgrade)" : strerror(-ret), pin);
		return ret;
	}
	if (lg_admit_ifindex(dp->admit) != dp->admit_ifindex) {
		if (is_default) {
			/* Our own folder for this interface, left by an instance whose interface
			 * is gone (ifindex 0) or was made anew: start afresh. */
			fprintf(stderr, "linegate: the instance pinned in %s is not attached to %s "
				"(its interface was removed or made anew): replacing it\n", pin,
				dp->admit_ifname);
			lg_admit_unpin(dp->admit);
			lg_admit_close(dp->admit);
			dp->admit = NULL;
			return 0;
		}
		snprintf(err, errlen, "the instance pinned in %s is attached to another interface",
			 pin);
		return -EEXIST;
	}
	ret = lg_dp_apply_xdp(dp, p);
	if (ret) {
		snprintf(err, errlen, "loading the policy into its tables: %s", strerror(-ret));
		return ret;
	}
	/* The mode it runs in is the one it was attached in: a takeover keeps it (trial M,
	 * s22: native asked, generic kept, and nothing said so). Switching would detach it,
	 * leaving the interface without admission for a moment: said, not done. */
	generic = !lg_admit_probe(dp->admit_ifindex, &cur) && cur.generic;
	fprintf(stderr, "linegate: XDP: took over the instance pinned in %s, with its replay "
		"sequences, buckets and counters, attached in %s mode (%s)\n", pin,
		generic ? "generic" : "native", pin_fate(unpin, pin));
	if (generic != (mode == LG_ADMIT_MODE_GENERIC))
		fprintf(stderr, "linegate: XDP: WARNING: --xdp asks for %s mode, but the pinned "
			"instance runs in %s mode and keeps it (a switch would leave %s without "
			"admission for a moment). To switch: stop linegate, run it once with "
			"--xdp-unpin, and start it again (docs/operations.md, restarts of the "
			"data plane)\n", generic ? "native" : "generic", generic ? "generic" : "native",
			dp->admit_ifname);
	{
		/* The frames lost while no linegate read (issue 10), said where a restart's
		 * operator looks: its counters span every instance since the pins were made. */
		struct lg_admit_reason_ctr rc[LG_R_MAX];

		if (!lg_admit_read_reasons(dp->admit, rc) && rc[LG_R_NO_READER].frames)
			fprintf(stderr, "linegate: XDP: %" PRIu64 " frames of enrolled devices came "
				"while no linegate read them since the instance was pinned (dropped, "
				"xdp.no_reader; docs/operations.md, restarts of the data plane)\n",
				rc[LG_R_NO_READER].frames);
	}
	return 1;
}

/*
 * One linegate per interface: an abstract UNIX socket named after it, bound for the life of
 * the process (the kernel lets go of it at any death, SIGKILL too), in this network
 * namespace (abstract names are per namespace, as interfaces are). A second linegate with
 * --xdp on the same interface took over the pinned instance and wrote its own policy into
 * the running one's tables before it failed elsewhere (a new user's re-check trial).
 */
static int xdp_lock(const char *ifname, char *err, size_t errlen)
{
	static int fd = -1;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int n;

	if (fd >= 0)
		return 0;
	n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "linegate-xdp-%s", ifname);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		fd = -1;
		snprintf(err, errlen, e == EADDRINUSE ? "another linegate runs XDP admission on "
			 "%s in this network namespace: stop it first (two would overwrite each "
			 "other's tables)" : "%s: the one-linegate-per-interface lock: %s", ifname,
			 strerror(e));
		return -EBUSY;
	}
	return 0;
}

static int xdp_setup(struct lg_dp *dp, const char *spec, const char *pin_arg, bool no_pin,
		     bool unpin, const struct lg_policy *p, char *err, size_t errlen)
{
	struct lg_admit_opts opts = {
		.default_lgf_port = p->port,
		.default_not_ours = LG_ADMIT_NOT_OURS_DROP,
	};
	enum lg_admit_mode mode = LG_ADMIT_MODE_NATIVE;
	char ifname[IF_NAMESIZE + 16], pin_buf[256];
	const char *pin = pin_arg;
	struct lg_admit_iface cur;
	char *colon;
	int ret;

	snprintf(ifname, sizeof(ifname), "%s", spec);
	colon = strchr(ifname, ':');
	if (colon) {
		*colon = '\0';
		if (strcmp(colon + 1, "generic")) {
			snprintf(err, errlen, "unknown XDP mode '%s' (native, or ':generic')", colon + 1);
			return -EINVAL;
		}
		mode = LG_ADMIT_MODE_GENERIC;
	}
	snprintf(dp->admit_ifname, sizeof(dp->admit_ifname), "%s", ifname);
	dp->admit_ifindex = (int)if_nametoindex(ifname);
	if (!dp->admit_ifindex) {
		snprintf(err, errlen, "no interface '%s'", ifname);
		return -ENODEV;
	}
	ret = xdp_lock(ifname, err, errlen);
	if (ret)
		return ret;
	if (!pin && !no_pin) {
		default_pin_dir(ifname, pin_buf, sizeof(pin_buf));
		pin = pin_buf;
	}
	if (pin) {
		/* An instance an earlier linegate left pinned kept admitting while no process
		 * ran (fail static): take it over, with its tables, buckets and counters. */
		ret = xdp_takeover(dp, pin, !pin_arg, unpin, mode, p, err, errlen);
		if (ret > 0)
			xdp_pinned(dp, pin, !pin_arg);
		if (ret)
			return ret < 0 ? ret : 0;
	}
	/* What runs on the interface now: nothing, a stale instance of ours (a linegate
	 * killed without pins), or someone else's program, which we never replace. */
	ret = lg_admit_probe(dp->admit_ifindex, &cur);
	if (ret) {
		snprintf(err, errlen, "querying the XDP program on %s: %s", ifname, strerror(-ret));
		return ret;
	}
	if (cur.prog_id && !cur.ours) {
		snprintf(err, errlen, "%s already runs another XDP program (id %u, name '%s'), "
			 "which linegate does not replace: remove it with 'ip link set dev %s %s "
			 "off' (or 'xdp-loader unload %s --all') and start linegate again", ifname,
			 cur.prog_id, cur.name, ifname, cur.generic ? "xdpgeneric" : "xdp", ifname);
		return -EBUSY;
	}
	opts.pin_dir = pin;
	ret = lg_admit_open(&opts, &dp->admit);
	if (ret && pin && !pin_arg) {
		/* No bpffs for the default folder: admission still runs, only unpinned. */
		fprintf(stderr, "linegate: XDP: cannot pin in %s (%s): running unpinned; mount "
			"a bpffs (mount -t bpf bpf /sys/fs/bpf) or give --xdp-pin DIR\n", pin,
			strerror(-ret));
		opts.pin_dir = pin = NULL;
		ret = lg_admit_open(&opts, &dp->admit);
	}
	if (ret) {
		snprintf(err, errlen, "loading the program%s%s: %s", pin ? " pinned in " : "",
			 pin ? pin : "", strerror(-ret));
		return ret;
	}
	/* Tables before the attach: the program must never run without a generation. */
	ret = lg_dp_apply_xdp(dp, p);
	if (ret) {
		snprintf(err, errlen, "loading the policy into its tables: %s", strerror(-ret));
		return ret;
	}
	if (cur.prog_id) {
		ret = lg_admit_attach_replace(dp->admit, dp->admit_ifindex, mode, cur.prog_id);
		if (!ret)
			fprintf(stderr, "linegate: XDP: replaced the stale linegate program "
				"(id %u) that a linegate stopped without pins left on %s\n",
				cur.prog_id, ifname);
	} else {
		ret = lg_admit_attach(dp->admit, dp->admit_ifindex, mode);
	}
	if (ret) {
		snprintf(err, errlen, "attaching in %s mode: %s",
			 mode == LG_ADMIT_MODE_NATIVE ? "native" : "generic", strerror(-ret));
		return ret;
	}
	/* The mode is said at every start, as a takeover says it (trial P, s22) */
	if (pin) {
		xdp_pinned(dp, pin, !pin_arg);
		dp->admit_fresh = true;
		fprintf(stderr, "linegate: XDP: pinned in %s (%s); attached to %s in %s mode\n",
			pin, pin_fate(unpin, pin), ifname,
			mode == LG_ADMIT_MODE_NATIVE ? "native" : "generic");
	} else {
		fprintf(stderr, "linegate: XDP: attached to %s in %s mode, not pinned\n", ifname,
			mode == LG_ADMIT_MODE_NATIVE ? "native" : "generic");
	}
	return 0;
}

/*
 * --xdp-unpin: detach, remove the pins and their folder and, for linegate's default folder
 * in another network namespace (/sys/fs/bpf/linegate/netns-INODE/IFNAME), the namespace's
 * folder when that is left empty; never a folder the operator named (--xdp-pin DIR).
 */
static void xdp_remove_pins(struct lg_dp *dp)
{
	char dir[sizeof(dp->admit_pin)], *slash;
	int ret;

	if (!dp->admit || !dp->admit_pin[0])
		return;
	ret = lg_admit_unpin(dp->admit);
	if (ret) {
		fprintf(stderr, "linegate: XDP: --xdp-unpin: %s: %s (the instance stays pinned)\n",
			dp->admit_pin, strerror(-ret));
		return;
	}
	snprintf(dir, sizeof(dir), "%s", dp->admit_pin);
	slash = strrchr(dir, '/');
	if (dp->admit_pin_default && slash) {
		*slash = '\0';
		/* /sys/fs/bpf/linegate/netns-INODE: rmdir() leaves it while another interface
		 * of the namespace is pinned there. /sys/fs/bpf/linegate stays: another
		 * namespace's linegate may be making its folder in it right now. */
		if (strstr(dir, "/linegate/netns-"))
			rmdir(dir);
	}
	fprintf(stderr, "linegate: XDP: detached from %s and removed %s\n", dp->admit_ifname,
		dp->admit_pin);
}

/*
 * linegate without --xdp, on sockets: an admission program an earlier linegate left
 * attached (pinned, it outlives its process) still judges this namespace's frames by that
 * run's policy, and one left by an afxdp run drops what no AF_XDP socket reads (no_reader):
 * the sockets here would get nothing, and this process counts nothing (trial s19 G).
 */
static void xdp_stale_warn(void)
{
	struct if_nameindex *ifs = if_nameindex();

	if (!ifs)
		return;
	for (struct if_nameindex *i = ifs; i->if_index; i++) {
		struct lg_admit_iface cur;

		if (lg_admit_probe((int)i->if_index, &cur) || !cur.prog_id || !cur.ours)
			continue;
		fprintf(stderr, "linegate: WARNING: %s runs linegate's XDP admission program (id "
			"%u), left attached by an earlier run: it still judges every frame on %s by "
			"that run's policy, and one an afxdp run left drops what no AF_XDP socket "
			"reads (counted in its own counters as no_reader, not in this process's). "
			"Start with --xdp %s%s to take it over, or remove it: start once with --xdp "
			"%s%s --xdp-unpin and stop\n",
			i->if_name, cur.prog_id, i->if_name, i->if_name,
			cur.generic ? ":generic" : "", i->if_name, cur.generic ? ":generic" : "");
	}
	if_freenameindex(ifs);
}

static void dp_teardown(struct lg_dp *dp, bool unpin)
{
	/* A pinned instance stays attached and keeps admitting: fail static. */
	if (unpin)
		xdp_remove_pins(dp);
	lg_admit_close(dp->admit);
	for (unsigned w = 0; w < dp->nworkers; w++) {
		struct lg_worker *wk = &dp->workers[w];

		if (wk->be)
			wk->ops->close(wk->be);
		lg_worker_buffers_free(wk);
		lg_handoff_free(&wk->in);
		lg_wake_close(&wk->in_wake);
	}
	lg_gen_free(atomic_load(&dp->gen), NULL);
	lg_modelset_free(atomic_load(&dp->models), dp->nworkers);
	lg_output_close(dp);
}

_Static_assert(LG_HTTP_POINTS == 120 && LG_HTTP_STEP_S == 5, "--help says 120 points of 5 s");

static void print_usage(void)
{
	char list[4096] = "";
	size_t used = 0;

	for (const struct lg_backend_ops *const *b = lg_backend_list(); *b; b++) {
		const char *h = (*b)->help;

		/* Each line of a backend's help, indented under the list. */
		while (*h && used < sizeof(list) - 1) {
			const char *nl = strchr(h, '\n');
			int n = nl ? (int)(nl - h) : (int)strlen(h);

			used += (size_t)snprintf(list + used, sizeof(list) - used, "  %.*s\n", n, h);
			h += n + (nl != NULL);
		}
	}
	printf(usage, list);
}

/* A bpf() call on a map linegate holds: what every live apply and sequence export makes. */
static int bpf_map_probe(void *arg)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(*(int *)arg, &info, &len);
}

/*
 * --user: why the JSON lines file path was refused (EACCES), as the user sees it (looked
 * at as the user: root's view would tell about files the user may not see). The file
 * itself (another user's, or a link to a file the user may not write) or its folder.
 */
static void jsonl_refused_hint(const struct lg_priv_user *u, const char *path, char *out,
			       size_t len)
{
	char who[80], own[64];
	struct stat st;
	int ret;

	/* a user given by number may have no name */
	snprintf(own, sizeof(own), "%s", u->name);
	if (!own[0])
		snprintf(own, sizeof(own), "%u", (unsigned)u->uid);
	snprintf(who, sizeof(who), "%s%s", u->name[0] ? "" : "uid ", own);
	lg_priv_fs_as(u);
	ret = lstat(path, &st);
	lg_priv_fs_root();
	if (!ret && S_ISLNK(st.st_mode))
		snprintf(out, len, " (with --user, the JSON lines file is opened as %s: %s is a "
			 "link, to a file %s may not write, or one the kernel does not follow "
			 "(another user's link in a sticky folder): name the file itself, one "
			 "%s may write)", who, path, who, who);
	else if (!ret && st.st_uid != u->uid)
		snprintf(out, len, " (with --user, the JSON lines file is opened as %s: the "
			 "file is uid %u's, mode %04o, not %s's: give it to %s (chown %s %s) or "
			 "name another file)", who, (unsigned)st.st_uid,
			 (unsigned)(st.st_mode & 07777), who, who, own, path);
	else if (!ret)
		snprintf(out, len, " (with --user, the JSON lines file is opened as %s: the "
			 "file is %s's but mode %04o does not let it write (chmod u+w %s))",
			 who, who, (unsigned)(st.st_mode & 07777), path);
	else
		snprintf(out, len, " (with --user, the JSON lines file is opened as %s: its "
			 "folder must let %s reach it and make files in it)", who, who);
}

/*
 * --user: make a folder linegate writes (the state folder, the unit's LogsDirectory) and
 * hand it and what is in it to the user, never through a link (a link is not a folder, and
 * entries that are links stay as they are). systemd gives these folders back to root at
 * every start of the unit. The files are then opened as the user (lg_priv_fs_as()).
 */
static int hand_dir(const struct lg_priv_user *u, const char *dir)
{
	struct stat st;
	DIR *d;

	if (mkdir(dir, 0700) && errno != EEXIST)
		goto fail;
	if (lstat(dir, &st))
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "linegate: --user %s: %s is not a folder (a link?): refused\n",
			u->name, dir);
		return -1;
	}
	if (fchownat(AT_FDCWD, dir, u->uid, u->gid, AT_SYMLINK_NOFOLLOW))
		goto fail;
	d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		/* a link, a device, or a second name of a file elsewhere: left alone (opening
		 * it as the user then fails if it is not the user's) */
		if (!S_ISDIR(st.st_mode) && !(S_ISREG(st.st_mode) && st.st_nlink == 1))
			continue;
		if (fchownat(dirfd(d), e->d_name, u->uid, u->gid, AT_SYMLINK_NOFOLLOW)) {
			fprintf(stderr, "linegate: --user %s: handing %s/%s over: %s\n", u->name,
				dir, e->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
	}
	if (d)
		closedir(d);
	return 0;
fail:
	fprintf(stderr, "linegate: --user %s: handing %s over: %s\n", u->name, dir,
		strerror(errno));
	return -1;
}

/*
 * --user: hand what linegate writes after setup to the user (the state folder and what is
 * in it, the JSON lines file, the control socket, so that linegated running as that user
 * can connect), then become it with the capabilities still used, found by trying: with
 * XDP, cap_bpf where the kernel wants it for bpf() on the maps linegate holds (before 6.5,
 * with unprivileged BPF off), and cap_net_admin where the stop detaches the program
 * (--no-xdp-pin); nothing else. Any failure stops linegate: it never runs on with more
 * than it said.
 */
/* "uring, afxdp, ..." : the backends this build has. */
static void backend_names(char *list, size_t len)
{
	list[0] = '\0';
	for (const struct lg_backend_ops *const *b = lg_backend_list(); *b; b++)
		snprintf(list + strlen(list), len - strlen(list), "%s%s", list[0] ? ", " : "",
			 (*b)->name);
}

/* A stream that ends (a file): by kind, or by these options (a DPDK net_pcap file). */
static bool backend_finite(const struct lg_backend_ops *ops, const char *opts)
{
	return (ops->flags & LG_BACKEND_F_FINITE) || (ops->finite && ops->finite(opts));
}

static int drop_privileges(const struct lg_priv_user *u, int map_fd, bool detach,
			   const char *ctl, uid_t *own_uid)
{
	cap_value_t keep[2];
	int nkeep = 0, r;
	char err[512], have[256];

	if (map_fd >= 0)
		keep[nkeep++] = CAP_BPF;
	if (map_fd >= 0 && detach)
		keep[nkeep++] = CAP_NET_ADMIN;

	/* The state folder and the JSON lines file were made and opened as the user
	 * (hand_dir(), lg_priv_fs_as()): only the control socket is handed over here. */
	/* never through a link (a folder the user may write could hold one by now) */
	if (ctl && fchownat(AT_FDCWD, ctl, u->uid, (gid_t)-1, AT_SYMLINK_NOFOLLOW)) {
		fprintf(stderr, "linegate: --user %s: handing the control socket %s over: %s\n",
			u->name, ctl, strerror(errno));
		return -1;
	}
	if (lg_priv_drop(u, keep, nkeep, err, sizeof(err))) {
		fprintf(stderr, "linegate: --user %s: %s\n", u->name, err);
		return -1;
	}
	if (map_fd >= 0 && (r = lg_priv_try_without(CAP_BPF, bpf_map_probe, &map_fd)) < 0) {
		fprintf(stderr, "linegate: --user %s: %s\n", u->name, strerror(-r));
		return -1;
	}
	*own_uid = u->uid;
	lg_priv_describe(have, sizeof(have));
	fprintf(stderr, "linegate: running as %s (uid %u, gid %u), capabilities: %s\n",
		u->name[0] ? u->name : "a uid without an account", (unsigned)u->uid,
		(unsigned)u->gid, have);
	return 0;
}

static int worker_setup(struct lg_dp *dp, struct lg_worker *w, const struct lg_backend_conf *bc,
			const struct lg_backend_ops *ops, char *err, size_t errlen)
{
	struct lg_backend_conf conf = *bc;
	size_t maxb = dp->max_batch;
	char mode[512] = "";
	int ret;

	conf.queue = w->id;
	w->dp = dp;
	w->ops = ops;
	if ((dp->nworkers > 1 || dp->ext_input) && lg_handoff_init(&w->in)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (lg_worker_buffers(w, maxb, 4096, 16384) ||
	    ((dp->hold_lgf_ns || dp->hold_uadp_ns) &&
	     lg_reorder_init(&w->ro, dp->merge_queues ? lg_merge_pool_slots(dp->nworkers) : 0))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = ops->open(&w->be, &conf, err, errlen);
	if (ret)
		return ret;
	/* A frame handed over wakes its owner (no eventfd or no support: it looks every 2 ms). */
	if (w->in.slots && ops->wake_fd && !lg_wake_init(&w->in_wake)) {
		if (ops->wake_fd(w->be, w->in_wake.efd))
			lg_wake_close(&w->in_wake);
		else
			w->in.wake = &w->in_wake;
	}
	w->unpaced = ops->queue_flags && ops->queue_flags(w->be) & LG_BACKEND_Q_UNPACED;
	if (ops->describe) {
		ops->describe(w->be, mode, sizeof(mode));
		fprintf(stderr, "linegate: worker %u: %s backend, %s\n", w->id, ops->name, mode);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "backend", required_argument, NULL, 'b' },
		{ "bind", required_argument, NULL, 'B' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "stats-out", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "xdp", required_argument, NULL, 'x' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "xdp-pin", required_argument, NULL, 1 },
		{ "xdp-unpin", no_argument, NULL, 2 },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "drop-reasons", no_argument, NULL, 3 },
		{ "group", required_argument, NULL, 4 },
		{ "no-xdp-pin", no_argument, NULL, 5 },
		{ "state-dir", required_argument, NULL, 6 },
		{ "shutdown-timeout", required_argument, NULL, 7 },
		{ "status-step", required_argument, NULL, 40 },
		{ "user", required_argument, NULL, 41 },
		{ "reorder-hold", required_argument, NULL, 42 },
		{ 0 },
	};
	static struct lg_dp dp;
	static struct lg_mcast_group mcast[LG_POLICY_MAX_MCAST];
	static char mcast_if[sizeof(((struct lg_policy *)0)->mcast_if)];
	const char *backend = "uring", *bind_addr = NULL, *ctl = NULL, *stats_out = NULL,
		   *output = NULL, *xdp = NULL, *metrics = NULL, *xdp_pin = NULL, *state_dir = NULL,
		   *state_from = "--state-dir";
	char origin[1024] = "", state_env[512], boot_err[700] = "";
	bool no_pin = false, backend_given = false, workers_given = false, finite;
	static char policy_opts[sizeof(((struct lg_policy *)0)->backend.opts)];
	const char *backend_from = "";
	const struct lg_backend_ops *ops;
	struct lg_backend_conf bconf = { .nbufs = 1024, .buf_size = 9216, .xsks_map_fd = -1 };
	bool be_setup = false;
	struct lg_policy p;
	char err[1024];
	unsigned started = 0;
	int opt, ret, ctl_fd = -1, status = 1;
	struct stat ctl_made = { 0 };
	bool out_started = false, xdp_unpin = false;
	uint64_t shutdown_ns = 5000000000ull;
	struct shutdown_watch sw = { .dp = &dp, .stage = "starting" };
	pthread_t sw_thread;
	bool sw_started = false;
	unsigned status_step = LG_HTTP_STEP_S;
	uint64_t hold_ns = LG_REORDER_HOLD_US * 1000ull;
	struct lg_priv_user run_as;
	const char *user = NULL;
	struct lg_ctl_server ctl_srv = { .cmds = dp_cmds, .ctx = &dp, .name = "linegate",
					 .own_uid = getuid(), .denied = ctl_denied };

	dp.nworkers = 1;
	lg_mcast_init(&dp.mcast);
	while ((opt = getopt_long(argc, argv, "p:w:b:B:c:s:o:x:m:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			dp.policy_path = optarg;
			break;
		case 'w': {
			char *end;
			unsigned long n;

			errno = 0;
			n = strtoul(optarg, &end, 10);
			dp.nworkers = optarg[0] >= '0' && optarg[0] <= '9' && !*end && !errno &&
					      n <= LG_MAX_WORKERS ? (unsigned)n : 0;
			if (!dp.nworkers) {
				fprintf(stderr, "linegate: --workers must be 1..%d\n",
					LG_MAX_WORKERS);
				return 2;
			}
			workers_given = true;
			break;
		}
		case 'b':
			backend = optarg;
			backend_given = true;
			break;
		case 'B':
			bind_addr = optarg;
			break;
		case 'c':
			ctl = optarg;
			break;
		case 's':
			stats_out = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'x':
			xdp = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 42: {
			char *end;
			double ms;

			errno = 0;
			ms = strtod(optarg, &end);
			if (end == optarg || *end || errno || !(ms >= 0 && ms <= 100)) {
				fprintf(stderr, "linegate: --reorder-hold must be 0..100 ms\n");
				return 2;
			}
			hold_ns = (uint64_t)(ms * 1e6);
			break;
		}
		case 40: {
			char *end;
			unsigned long n;

			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || n < 1 || n > 3600) {
				fprintf(stderr, "linegate: --status-step must be 1..3600 seconds\n");
				return 2;
			}
			status_step = (unsigned)n;
			break;
		}
		case 1:
			xdp_pin = optarg;
			break;
		case 2:
			xdp_unpin = true;
			break;
		case 5:
			no_pin = true;
			break;
		case 6:
			state_dir = optarg;
			break;
		case 7: {
			char *end;
			double t;

			errno = 0;
			t = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(t >= 0.1 && t <= 3600)) {
				fprintf(stderr, "linegate: --shutdown-timeout must be 0.1..3600 "
					"seconds, not '%s'\n", optarg);
				return 2;
			}
			shutdown_ns = (uint64_t)(t * 1e9);
			break;
		}
		case 41:
			if (lg_priv_lookup(optarg, &run_as, err, sizeof(err))) {
				fprintf(stderr, "linegate: --user: %s\n", err);
				return 2;
			}
			user = optarg;
			lg_policy_secret_owner(run_as.uid);
			break;
		case 4:
			if (lg_ctl_group(optarg, &ctl_srv.group)) {
				fprintf(stderr, "linegate: --group %s: no such group\n", optarg);
				return 2;
			}
			ctl_srv.has_group = true;
			break;
		case 'h':
			print_usage();
			return 0;
		case 'V':
			puts("linegate " LG_VERSION);
			return 0;
		case 3:
			/* The table of docs/drop-reasons.md, which a test compares with this. */
			for (int r = 0; r < LG_REASON_MAX; r++)
				printf("| `%s` | %s |\n", lg_reason_name(r), lg_reason_desc(r));
			printf("\n");
			for (int r = 0; r < LG_R_MAX; r++)
				printf("| `%s` | %s |\n", lg_admit_reason_name(r),
				       lg_admit_reason_desc(r));
			return 0;
		default:
			/* getopt_long() said what was wrong, in one line */
			return 2;
		}
	}
	if (!dp.policy_path) {
		fprintf(stderr, "linegate: --policy is required (see --help)\n");
		return 2;
	}
	if (user && xdp_unpin) {
		fprintf(stderr, "linegate: --xdp-unpin removes the pins as root at the stop, and "
			"--user has dropped root by then: stop with --user, then remove the "
			"instance as root (linegate --xdp-unpin, or rm -r the pin folder)\n");
		return 2;
	}
	if (xdp_pin && no_pin) {
		fprintf(stderr, "linegate: --xdp-pin and --no-xdp-pin exclude each other\n");
		return 2;
	}
	if (!state_dir) {
		/* systemd's StateDirectory= hands the folder over in $STATE_DIRECTORY (a list
		 * separated by ':' when it names several: the first is ours). */
		const char *e = getenv("STATE_DIRECTORY");

		snprintf(state_env, sizeof(state_env), "%s", e && *e ? e : "/var/lib/linegate");
		state_env[strcspn(state_env, ":")] = '\0';
		state_dir = state_env;
		state_from = e && *e ? "$STATE_DIRECTORY" : "the default, no --state-dir given";
	}
	{
		const char *colon = strchr(backend, ':');
		char name[32];

		snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - backend) : 31, backend);
		bconf.opts = colon ? colon + 1 : NULL;
		ops = lg_backend_find(name);
		if (!ops) {
			char list[256];

			backend_names(list, sizeof(list));
			fprintf(stderr, "linegate: unknown backend '%s' (this build has: %s)\n", name,
				list);
			return 2;
		}
		finite = backend_finite(ops, bconf.opts);
	}
	/* --user: the policy, its key files and the state folder's files are read and made
	 * as the user (a policy or a state folder the user may write must not make root open
	 * another file); the state folder itself is made and handed over first. */
	if (user) {
		const char *logs = getenv("LOGS_DIRECTORY");

		if (!finite && strcmp(state_dir, "none") && hand_dir(&run_as, state_dir))
			return 1;
		if (logs && *logs) {
			char first[LG_PATH_MAX];

			snprintf(first, sizeof(first), "%.*s", (int)strcspn(logs, ":"), logs);
			if (hand_dir(&run_as, first))
				return 1;
		}
		lg_priv_fs_as(&run_as);
	}
	if (lg_policy_load_valid(dp.policy_path, &p, err, sizeof(err))) {
		/* Fail static: a boot file broken since the last apply does not take the line
		 * down when the state folder holds the last applied policy (below). */
		if (finite) {
			fprintf(stderr, "linegate: %s\n", err);
			return 1;
		}
		snprintf(boot_err, sizeof(boot_err), "%.*s", (int)sizeof(boot_err) - 1, err);
	} else if (err[0]) {
		/* the deep check's warning (two devices holding one key, an ONNX model that
		 * does not say its window): validate and apply say it, so does the start; it
		 * names the policy's file, which may hold a key's digits */
		lg_redact_secrets(err);
		fprintf(stderr, "linegate: %s\n", err);
	}
	/* A recording replayed (pcap) is not the line: its old sequences must neither be
	 * refused by the line's marks nor become them. */
	if (finite) {
		snprintf(origin, sizeof(origin), "the boot file %s (a finite stream: no state "
			 "folder is read or written)", dp.policy_path);
		state_dir = "none";
	} else if (lg_state_open(state_dir, &dp.state, err, sizeof(err))) {
		fprintf(stderr, "linegate: %s%s%s (the folder came from %s)\n",
			boot_err[0] ? boot_err : "",
			boot_err[0] ? "; and the state folder cannot be read: " : "", err,
			state_from);
		if (!boot_err[0])
			lg_policy_free(&p);
		return 1;
	}
	if (boot_err[0]) {
		char *text = NULL, *name = NULL;
		size_t tlen = 0;
		uint8_t h[32];
		int r = lg_state_last_applied(dp.state, &text, &tlen, &name, err, sizeof(err));

		if (r != 1 || lg_policy_validate(text, tlen, name, &p, err, sizeof(err))) {
			/* The boot file's own refusal, word for word as validate gives it. */
			fprintf(stderr, "linegate: %s\n", boot_err);
			if (r < 0)
				fprintf(stderr, "linegate: and the last applied policy cannot be "
					"read: %s\n", err);
			if (r == 1)
				fprintf(stderr, "linegate: the last applied policy (%s/applied.json) "
					"cannot be used either: %s\n", state_dir, err);
			free(text);
			free(name);
			lg_state_close(dp.state);
			return 1;
		}
		free(text);
		free(name);
		/* The broken file's own hash: a restart with it unchanged starts the same way,
		 * and once it is fixed (another hash) it is taken. */
		{
			char *bt = NULL;
			size_t bl = 0;

			memset(h, 0, sizeof(h));
			if (!lg_read_file(dp.policy_path, &bt, &bl))
				SHA256((const unsigned char *)bt, bl, h);
			free(bt);
		}
		lg_state_set_boot(dp.state, h, dp.policy_path);
		snprintf(origin, sizeof(origin), "the last applied policy (kept in %.200s/applied.json), "
			 "because the boot file is not valid: %.400s: fix it; it is not used until "
			 "it is", state_dir, boot_err);
		fprintf(stderr, "linegate: WARNING: the boot file is not valid (%s): starting "
			"from the last applied policy\n", boot_err);
	} else if (dp.state) {
		/* Decision of docs/operations.md, "Restarts": the last applied policy is newer
		 * than the boot file, unless it was edited since (how start-only fields change). */
		char *text = NULL, *name = NULL, why[1024] = "";
		size_t tlen = 0;
		int r;

		lg_state_set_boot(dp.state, p.hash, dp.policy_path);
		r = lg_state_load_policy(dp.state, &text, &tlen, &name, why, sizeof(why));

		if (r == 1) {
			struct lg_policy q;

			if (!lg_policy_validate(text, tlen, name, &q, err, sizeof(err))) {
				lg_policy_free(&p);
				p = q;
				snprintf(origin, sizeof(origin), "%s", why);
			} else {
				snprintf(origin, sizeof(origin), "the boot file %s: the last "
					 "applied policy no longer loads (%.600s)", dp.policy_path,
					 err);
			}
		} else if (r < 0) {
			/* Not the boot file's fault, and not to be passed over: a link planted
			 * where the last applied policy is kept, or a file linegate may not
			 * read (as replay.hwm and incidents.state, lg_state_open()). */
			fprintf(stderr, "linegate: the state folder: %s\n", why);
			lg_policy_free(&p);
			lg_state_close(dp.state);
			return 1;
		} else {
			snprintf(origin, sizeof(origin), "%s", why);
		}
		free(text);
		free(name);
	}
	/* The policy's backend and workers, where the command line gave none (a policy names
	 * only line backends, never a finite one: the state handling above holds for it). */
	if (!backend_given && p.backend.name[0]) {
		ops = lg_backend_find(p.backend.name);
		if (!ops) {
			char list[256];

			backend_names(list, sizeof(list));
			fprintf(stderr, "linegate: the policy's backend (line %u) names '%s', which "
				"this build does not have (it has: %s)\n", p.backend.line_no,
				p.backend.name, list);
			lg_policy_free(&p);
			lg_state_close(dp.state);
			return 1;
		}
		snprintf(policy_opts, sizeof(policy_opts), "%s", p.backend.opts);
		bconf.opts = policy_opts[0] ? policy_opts : NULL;
		/* The policy is the line's: a file replayed (the parser refuses net_pcap's
		 * rx_pcap and eof) would read and write the line's state. */
		if (backend_finite(ops, bconf.opts)) {
			fprintf(stderr, "linegate: the policy's backend (line %u) is a finite stream: "
				"replay files with --backend on the command line\n",
				p.backend.line_no);
			lg_policy_free(&p);
			lg_state_close(dp.state);
			return 1;
		}
		backend_from = " (from the policy)";
	}
	if (!workers_given && p.backend.workers) {
		if (p.backend.workers > LG_MAX_WORKERS) {
			fprintf(stderr, "linegate: the policy's backend.workers is %u, at most %d\n",
				p.backend.workers, LG_MAX_WORKERS);
			lg_policy_free(&p);
			lg_state_close(dp.state);
			return 1;
		}
		dp.nworkers = p.backend.workers;
	}
	if (user)
		lg_priv_fs_root();
	/* Workers are the parallelism; BLAS threads would fight them for the cores. */
	openblas_set_num_threads(1);
	pthread_mutex_init(&dp.apply_lock, NULL);
	pthread_mutex_init(&dp.model_lock, NULL);
	pthread_mutex_init(&dp.inc_lock, NULL);
	/* Batches may grow with a policy change up to the parser's bound: size for it once. */
	dp.max_batch = 4096;
	dp.started_ns = lg_now_ns();
	if (output)
		snprintf(p.jsonl, sizeof(p.jsonl), "%s", output);
	dp.output_override = output;
	dp.out_is_stdout = !strcmp(p.jsonl, "-");
	/* --user: opened (made) as the user: the path comes from the policy */
	if (user)
		lg_priv_fs_as(&run_as);
	dp.out = dp.out_is_stdout ? stdout : lg_outpath_fopen(p.jsonl, "a", err, sizeof(err));
	if (user)
		lg_priv_fs_root();
	if (!dp.out) {
		int e = errno;
		char hint[LG_PATH_MAX + 512] = "";

		if (user && e == EACCES)
			jsonl_refused_hint(&run_as, p.jsonl, hint, sizeof(hint));
		fprintf(stderr, "linegate: %s%s\n", err, hint);
		lg_policy_free(&p);
		return 1;
	}
	snprintf(dp.out_path, sizeof(dp.out_path), "%s", dp.out_is_stdout ? "" : p.jsonl);
	lg_output_prepare(&dp);
	atomic_store(&dp.out_max_bytes, p.jsonl_max_bytes);
	atomic_store(&dp.out_keep, p.jsonl_keep);
	dp.stack_reassembles = ops->flags & LG_BACKEND_F_SOCKET;
	if (xdp && p.fragments == LG_ADMIT_FRAGMENTS_REASSEMBLE && !dp.stack_reassembles)
		fprintf(stderr, "linegate: fragments: reassemble needs the uring backend (the kernel "
			"reassembles for its sockets); XDP drops fragments for %s as 'fragment'\n",
			ops->name);
	if (!xdp && (ops->flags & LG_BACKEND_F_SOCKET))
		xdp_stale_warn();
	/* XDP first: an afxdp worker puts its socket into the program's XSKMAP. */
	if (xdp) {
		ret = xdp_setup(&dp, xdp, xdp_pin, no_pin, xdp_unpin, &p, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "linegate: XDP admission on %s: %s\n", xdp, err);
			lg_policy_free(&p);
			goto out;
		}
		/* afxdp, and uring until its sockets are bound: what XDP lets through while
		 * its queue has no AF_XDP socket (this linegate not reading yet, or gone: a
		 * pinned instance outlives it) is counted no_reader and dropped. */
		lg_admit_set_xsk_readers(dp.admit, xdp_readers_only(ops));
	}
	/* Frames that never pass XDP are judged by the same decision in user space. */
	if (ops->flags & LG_BACKEND_F_USER_ADMIT) {
		ret = lg_dp_uadmit_start(&dp, &p);
		if (ret) {
			fprintf(stderr, "linegate: user-space admission: %s\n", strerror(-ret));
			lg_policy_free(&p);
			goto out;
		}
	}
	bconf.uadmit = dp.uadmit;
	dp.uadmit_marks = !(ops->flags & LG_BACKEND_F_REPLAY);
	dp.replay_clock = ops->flags & LG_BACKEND_F_REPLAY;
	bconf.port = p.port;
	bconf.port2 = p.uadp_port;
	bconf.bind_addr = bind_addr;
	/* Copies that outlive p: the workers open their sockets later. */
	memcpy(mcast, p.mcast, sizeof(mcast));
	memcpy(mcast_if, p.mcast_if, sizeof(mcast_if));
	bconf.nmcast = p.nmcast;
	bconf.mcast = mcast;
	bconf.mcast_if = mcast_if;
	if (p.nmcast && !(ops->flags & LG_BACKEND_F_SOCKET))
		fprintf(stderr, "linegate: uadp_multicast: the %s backend reads frames, not a "
			"socket, and joins no group: the interface must accept the groups' "
			"frames (ip link set IFACE allmulticast on)\n", ops->name);
	if (ops->flags & LG_BACKEND_F_SOCKET) {
		/* The UADP socket listens on every address with groups or without --bind:
		 * only then can groups a live apply adds reach it. */
		dp.mcast_live = p.uadp_port && (p.nmcast || !bind_addr);
		err[0] = '\0';
		if (lg_mcast_join(&dp.mcast, &p, err, sizeof(err))) {
			fprintf(stderr, "linegate: uadp_multicast: %s\n", err);
			lg_policy_free(&p);
			goto out;
		}
	}
	bconf.nqueues = dp.nworkers;
	bconf.ifname = xdp ? dp.admit_ifname : NULL;
	bconf.xsks_map_fd = dp.admit ? lg_admit_xsks_fd(dp.admit) : -1;
	err[0] = '\0';
	if ((ret = lg_backend_setup(ops, &bconf, err, sizeof(err)))) {
		fprintf(stderr, "linegate: %s backend: %s\n", ops->name,
			err[0] ? err : strerror(-ret));
		lg_policy_free(&p);
		goto out;
	}
	be_setup = true;
	dp.handoff_wait = finite;
	dp.finite = finite;
	/* Before the workers start: they look at their handoff rings for its messages. */
	dp.ext_input = p.opcua_mqtt.host[0];
	/* Frames overtake each other on the way to their owner by two paths (its own queue and
	 * the handoff ring: several workers, or MQTT's messages beside UDP's), and on one path
	 * where the network itself swaps them (a real publisher's capture: opcua_captures.sh
	 * "plain-swap"). The reorder stage holds a frame ahead of its device's sequence in both
	 * cases; on one path (a backend that steers LGF frames to their owner's queue, or one
	 * worker) only until the device's next frame (lg_order_hold()), so that a lost frame
	 * (a socket overflow) costs one held frame, not the hold time. */
	dp.hold_uadp_ns = hold_ns;
	dp.hold_lgf_ns = hold_ns;
	/* A pcap replay with UADP datagrams is read by worker 0 alone, which hands each device's
	 * frames to its owner in file order (pcap.c): one path too (trial X5 F1, s28: held as
	 * two paths, a UADP device's far jump or first frame got other verdicts with -w 2). */
	dp.one_path_uadp = (dp.nworkers == 1 || (ops->flags & LG_BACKEND_F_REPLAY)) &&
			   !dp.ext_input;
	dp.hold_on_record = dp.replay_clock && !dp.ext_input;
	dp.one_path_lgf = dp.nworkers == 1 || (ops->flags & LG_BACKEND_F_STEERS_LGF);
	/* A replay read by several queues that do not steer (dpdk's net_pcap with one file a
	 * queue): one queue may run any number of frames ahead of another, so a gap's frame
	 * is late by frames, not by time. */
	dp.merge_queues = finite && dp.nworkers > 1 && !(ops->flags & LG_BACKEND_F_STEERS_LGF);
	for (unsigned w = 0; w < dp.nworkers; w++) {
		dp.workers[w].id = w;
		err[0] = '\0';
		ret = worker_setup(&dp, &dp.workers[w], &bconf, ops, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "linegate: worker %u: %s backend: %s\n", w, ops->name,
				err[0] ? err : strerror(-ret));
			lg_policy_free(&p);
			goto out;
		}
	}
	{
		struct lg_gen *g;

		if (lg_gen_build(&dp, &p, &g)) {
			lg_policy_free(&p);
			goto out;
		}
		g->epoch = ++dp.epoch;
		atomic_store(&dp.gen, g);
		if (lg_dp_meta_publish(&dp, &g->policy)) /* issue 12 */
			goto out;
	}
	{
		const char *base = strrchr(p.model, '/');

		if (lg_dp_set_models(&dp, p.model, base ? base + 1 : p.model, NULL, NULL, err,
				     sizeof(err))) {
			fprintf(stderr, "linegate: model: %s\n", err);
			goto out;
		}
	}
	/* The start lines before the control socket: what waits for the socket (a test, a
	 * unit's ExecStartPost) finds them written. Backends that see whole frames take them
	 * from a file or a port, not a socket: the policy's ports only say which datagrams
	 * are LGF and UADP. */
	{
		char uadp[80] = "";

		if (p.uadp_port)
			snprintf(uadp, sizeof(uadp), ", UADP on UDP port %u%s", p.uadp_port,
				 p.nmcast ? " (and its multicast groups)" : "");
		const char *gemm = lg_scorer_gemm(atomic_load(&dp.models)->sc[0]);

		fprintf(stderr, "linegate: %u worker(s), %s backend%s, LGF on UDP port %u%s, %zu "
			"devices enrolled, model %s%s%s\n", dp.nworkers, ops->name, backend_from, p.port,
			uadp, p.ndevices, atomic_load(&dp.models)->active, *gemm ? ", GEMM route " : "",
			gemm);
	}
	if (!strcmp(ops->name, "afxdp") && !lg_admit_arrival_stamps())
		fprintf(stderr, "linegate: warning: this kernel refuses bpf_xdp_adjust_meta() to XDP "
			"programs: AF_XDP frames carry no arrival stamp, and their latency starts "
			"when the worker picks them up (docs/operations.md, latency)\n");
	/* A finite stream has no state folder: origin says so ("state in none" said nothing). */
	if (finite)
		fprintf(stderr, "linegate: policy: %s\n", origin);
	else
		fprintf(stderr, "linegate: policy: %s; state in %s\n", origin, state_dir);
	{
		char names[512];

		if (lg_policy_unprotected(&atomic_load(&dp.gen)->policy, names, sizeof(names)))
			fprintf(stderr, "linegate: warning: UADP devices without replay protection "
				"(replay: none): %s\n", names);
	}
	/* Before the control socket exists: whoever sees it may stop linegate at once, and a
	 * SIGINT before the handler (a shell's background job starts with SIGINT ignored) was
	 * lost, leaving linegate running (e2e xdp_restart hung on it). */
	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction sa = { .sa_handler = on_signal };

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		sigaction(SIGUSR1, &sa, NULL);
	}
	if (ctl) {
		ctl_fd = lg_ctl_listen(ctl, ctl_srv.has_group ? 0660 : 0600,
				       ctl_srv.has_group ? ctl_srv.group : (gid_t)-1);
		if (ctl_fd < 0) {
			fprintf(stderr, "linegate: control socket %s: %s%s\n", ctl,
				strerror(-ctl_fd), ctl_fd == -EADDRINUSE ? ": another process "
				"listens on it (a linegate that still runs or stops?)" : "");
			goto out;
		}
		if (stat(ctl, &ctl_made))
			memset(&ctl_made, 0, sizeof(ctl_made));
	}
	/* Setup is over: no thread of ours runs yet (the recorder's, the output's and the
	 * workers' are started below and inherit this; OpenBLAS's idle pool, started when
	 * the library loaded, gets the user's ids and no capability). */
	if (user && drop_privileges(&run_as, dp.admit ? lg_admit_xsks_fd(dp.admit) : -1,
				    no_pin, ctl, &ctl_srv.own_uid))
		goto out;
	if (lg_record_init(&dp, bind_addr, &dp.rec)) {
		fprintf(stderr, "linegate: recorder: out of memory\n");
		goto out;
	}
	/* A recording the policy enables starts with linegate; one a command started does not
	 * (it never changed the policy). */
	apply_recording(&dp, NULL, err, sizeof(err));
	{
		const struct lg_policy_recording *pr = &atomic_load(&dp.gen)->policy.recording;

		if (dp.handoff_wait && pr->enabled)
			fprintf(stderr, "linegate: recording: the policy's is off in a replay (%s "
				"backend): it would record old frames into %s\n", ops->name, pr->dir);
	}
	if (p.mqtt.host[0]) {
		/* Connecting happens in the background: a broker that is down now is retried,
		 * and the line keeps being scored meanwhile. */
		ret = lg_mqtt_open(&p.mqtt, p.devices, p.ndevices, &dp.mqtt, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "linegate: %s\n", err);
			goto out;
		}
	}
	if (p.nats.nurls) {
		/* As MQTT: a server that is down now is retried in the background, and what
		 * is to be published waits in the outbox on disk. */
		ret = lg_nats_open(&p.nats, &dp.nats, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "linegate: %s\n", err);
			goto out;
		}
	}
	if (p.influx.url[0]) {
		/* Issue 12: nothing connects before the first batch; a server that is down
		 * is retried with backoff while lines wait (bounded, counted). */
		ret = lg_influx_open(&p.influx, &dp.influx, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "linegate: %s\n", err);
			goto out;
		}
	}
	if (metrics) {
		struct lg_http_opts ho = { .addr = metrics, .step_s = status_step,
					   .version = LG_VERSION };

		if (lg_http_start(&dp, &ho, err, sizeof(err))) {
			fprintf(stderr, "linegate: --metrics: %s\n", err);
			goto out;
		}
	}
	/* Before any worker runs: they read what it sets up with every push. Without it
	 * (no eventfd), the output thread polls as before. */
	if (lg_output_wake_init(&dp))
		fprintf(stderr, "linegate: output thread: no eventfd, it polls every 2 ms\n");
	if (pthread_create(&dp.out_thread, NULL, lg_output_main, &dp))
		goto out;
	out_started = true;
	/* Named, so that top -H, perf and /proc/PID/task/N/comm tell the threads apart (the
	 * workers name themselves lg-worker-N). */
	pthread_setname_np(dp.out_thread, "lg-output");
	if (lg_dp_check_cores(&p)) {
		fprintf(stderr, "linegate: workers.cores lists a core this process may not run on "
			"(see taskset -p %d)\n", (int)getpid());
		goto out;
	}
	for (; started < dp.nworkers; started++) {
		atomic_init(&dp.workers[started].cpu, -1);
		if (pthread_create(&dp.workers[started].thread, NULL, lg_worker_main,
				   &dp.workers[started]))
			goto out;
		dp.workers[started].running = true;
	}
	/* uring: the sockets are bound (ops->open), so admitted frames go to the stack now. */
	if (dp.admit && (ops->flags & LG_BACKEND_F_SOCKET))
		lg_admit_set_xsk_readers(dp.admit, 0);
	if (lg_dp_pin_workers(&dp, &atomic_load(&dp.gen)->policy))
		fprintf(stderr, "linegate: could not pin the workers to workers.cores\n");
	if (p.opcua_mqtt.host[0]) {
		/* As the MQTT output: a broker that is down now is retried in the background. */
		ret = lg_opcua_mqtt_open(&dp, &p.opcua_mqtt, &dp.opcua_mqtt, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "linegate: %s\n", err);
			goto out;
		}
		fprintf(stderr, "linegate: OPC UA PubSub over MQTT from %s:%u, %u topic filter(s)\n",
			p.opcua_mqtt.host, p.opcua_mqtt.port, p.opcua_mqtt.ntopics);
	}

	while (!got_stop && atomic_load(&dp.done_workers) < dp.nworkers) {
		struct pollfd pfd = { .fd = ctl_fd, .events = POLLIN };

		if (got_usr1 || got_hup) {
			/* logrotate renamed the file: the output thread opens the path again. */
			got_usr1 = 0;
			atomic_store(&dp.out_reopen, true);
			lg_output_wake(&dp);
		}
		if (got_hup) {
			char msg[16384];

			got_hup = 0;
			ret = reload_file(&dp, msg, sizeof(msg));
			fprintf(stderr, "linegate: reload: %s%s\n", ret ? "refused: " : "", msg);
		}
		lg_dp_rate_watch(&dp, false);
		lg_dp_flood_watch(&dp, false);
		lg_dp_lockout_watch(&dp, false);
		if (poll(&pfd, ctl_fd >= 0 ? 1 : 0, 200) > 0) {
			int c = accept4(ctl_fd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				struct timeval tv = { 2, 0 };

				setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
				lg_ctl_serve(&ctl_srv, c);
				close(c);
			}
		}
	}
	status = 0;
out:
	/* From here on, the shutdown is bounded (shutdown_watchdog). */
	sw.deadline_ns = lg_now_ns() + shutdown_ns;
	lg_output_set_deadline(&dp, shutdown_ns);
	lg_influx_set_deadline(dp.influx, ms_left(sw.deadline_ns));
	sw_started = !pthread_create(&sw_thread, NULL, shutdown_watchdog, &sw);
	atomic_store(&sw.stage, "stopping the metrics server and opcua_mqtt");
	lg_http_stop(&dp);
	/* No message is handed to a worker that has stopped looking. */
	lg_opcua_mqtt_stop(dp.opcua_mqtt);
	if (started && dp.admit && xdp_readers_only(ops)) {
		atomic_store(&sw.stage, "emptying the receive rings and sockets");
		xsk_drain(&dp, started);
	}
	atomic_store(&dp.stop, true);
	lg_output_wake(&dp);
	atomic_store(&sw.stage, "waiting for the workers");
	for (unsigned w = 0; w < started; w++)
		pthread_join(dp.workers[w].thread, NULL);
	/* what the last round did not say yet (a replay that ended within it) */
	if (started && atomic_load(&dp.gen)) {
		lg_dp_rate_watch(&dp, true);
		lg_dp_flood_watch(&dp, true);
	}
	/* The workers are gone: what they recorded is written and the file closed. */
	if (dp.rec)
		lg_record_stop(dp.rec, "linegate stopped");
	if (out_started) {
		atomic_store(&sw.stage, "waiting for the output thread");
		pthread_join(dp.out_thread, NULL);
		/* The workers flushed their last batches: write what they left in the rings,
		 * until the shutdown timeout; what is left then is abandoned, and counted. */
		atomic_store(&sw.stage, "writing the JSON lines left");
		lg_output_drain_all(&dp);
		atomic_store(&sw.stage, "waiting for the MQTT broker");
		lg_mqtt_flush(dp.mqtt, ms_left(sw.deadline_ns));
		/* Issue 12: the clean offline said and the connection closed before the final
		 * counters, so that what libmosquitto still holds is counted abandoned by kind. */
		lg_mqtt_stop_within(dp.mqtt, ms_left(sw.deadline_ns));
		/* What is not acknowledged by then stays in the outbox for the next start. */
		atomic_store(&sw.stage, "waiting for the NATS server");
		lg_nats_flush(dp.nats, ms_left(sw.deadline_ns));
		/* Issue 12: what InfluxDB has not taken by the shutdown bound is counted as
		 * dropped (shutdown) in the final stats. */
		atomic_store(&sw.stage, "waiting for InfluxDB");
		lg_influx_stop(dp.influx, ms_left(sw.deadline_ns));
	}
	atomic_store(&sw.stage, "writing the final counters");
	if (atomic_load(&dp.gen)) {
		/* the summary is said first, from the same counters as the file */
		char *s = lg_dp_final_report(&dp, stderr);

		if (stats_out && s) {
			char why[LG_PATH_MAX + 300] = "";
			FILE *f = lg_outpath_fopen(stats_out, "w", why, sizeof(why));

			/* A run whose final counters were asked for and not written did not do
			 * what it was told: say so, and in the exit status. */
			int bad = !f || fprintf(f, "%s\n", s) < 0;

			if (f && fclose(f))
				bad = 1;
			if (!f) {
				fprintf(stderr, "linegate: --stats-out %s\n", why);
				status = 1;
			} else if (bad) {
				fprintf(stderr, "linegate: --stats-out %s: %s\n", stats_out,
					strerror(errno));
				status = 1;
			}
		}
		free(s);
	}
	if (out_started)
		lg_output_abandon_summary(&dp, stderr);
	if (out_started && dp.mqtt)
		lg_mqtt_abandon_summary(dp.mqtt, stderr);
	if (out_started && dp.influx) {
		struct lg_influx_stats is;

		lg_influx_stats(dp.influx, &is);
		fprintf(stderr, "linegate: shutdown: InfluxDB abandoned: %" PRIu64 " lines%s\n",
			is.dropped[LG_IX_DROP_STOP], is.dropped[LG_IX_DROP_STOP] ?
			" not written within the shutdown timeout (counted as dropped, "
			"shutdown)" : "");
	}
	atomic_store(&sw.stage, "closing the outputs");
	if (ctl_fd >= 0) {
		close(ctl_fd);
		lg_ctl_unlink_if(ctl, &ctl_made);
	}
	lg_opcua_mqtt_close(dp.opcua_mqtt);
	lg_mqtt_close_within(dp.mqtt, ms_left(sw.deadline_ns));
	lg_nats_close(dp.nats);
	lg_influx_close(dp.influx);
	lg_dp_meta_free(&dp);
	lg_wake_close(&dp.out_wake);
	lg_record_destroy(dp.rec);
	dp.rec = NULL;
	/* A start refused before any worker ran leaves no program it attached itself: nothing
	 * would read what it admits (an afxdp start refused for its queues, trial s19 B). */
	if (!started && ret && dp.admit_fresh && !xdp_unpin)
		fprintf(stderr, "linegate: XDP: linegate did not start: removing the program it "
			"attached\n");
	dp_teardown(&dp, xdp_unpin || (!started && ret && dp.admit_fresh));
	lg_mcast_close(&dp.mcast);
	if (be_setup && ops->teardown)
		ops->teardown();
	lg_uadmit_destroy(dp.uadmit);
	lg_state_close(dp.state);
	free(dp.inc_open);
	pthread_mutex_destroy(&dp.inc_lock);
	if (sw_started) {
		atomic_store(&sw.done, true);
		pthread_join(sw_thread, NULL);
	}
	return status;
}
