// SPDX-License-Identifier: MIT
/*
 * linegate-fleet: the plant side of NATS JetStream (docs/fleet.md). It talks to NATS
 * directly (not through linegated): stream-create makes (or updates) the stream that holds
 * what every line server publishes under <prefix>.>, with the duplicate window that removes
 * an outbox's resends; stream-dump prints a stream's messages as JSON lines.
 */
#include "bundle.h"
#include "ctlproto.h"
#include "objstore.h"

#include <linegate/nkey.h>
#include <linegate/nats_common.h>
#include <linegate/policy.h>
#include <linegate/sign.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <json-c/json.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
	"Usage: linegate-fleet COMMAND [OPTIONS]\n"
	"\n"
	"The plant side of linegate's NATS JetStream output (docs/fleet.md).\n"
	"\n"
	"Commands:\n"
	"  stream-create   make the stream over <prefix>.> (or update its limits)\n"
	"  stream-dump     print every message of the stream as a JSON line\n"
	"                  {\"seq\", \"subject\", \"msg_id\", \"data\"}; on stderr first, each\n"
	"                  source of the stream with its lag (a leaf's messages not copied yet)\n"
	"\n"
	"Options (every command):\n"
	"  --url URL            the NATS server(s), nats://HOST:PORT[,nats://...] (required)\n"
	"  --stream NAME        the stream's name (LINEGATE)\n"
	"  --tls-ca FILE        the CA of the servers' certificates (TLS)\n"
	"  --tls-cert FILE, --tls-key FILE\n"
	"                       a client certificate and its key (0600), with --tls-ca\n"
	"  --nkey FILE          log in with this NATS nkey user seed file (0600)\n"
	"  --creds FILE         or with this NATS .creds file (0600)\n"
	"stream-create:\n"
	"  --subject-prefix P   the output.nats.subject_prefix of the servers (linegate)\n"
	"  --plant P --line L   only this line's subjects, <prefix>.<P>.<L>.> (a leaf\n"
	"                       node's LOCAL stream)\n"
	"  --replicas N         copies in a JetStream cluster, 1..5 (1)\n"
	"  --max-age D          keep messages this long: 30s, 90m, 24h, 7d; 0 = for ever (7d)\n"
	"  --max-bytes B        at most this many bytes; 0 = unlimited (0)\n"
	"  --duplicate-window D resends within this time are removed (2m; at least as long\n"
	"                       as a NATS outage a line server should ride out without\n"
	"                       duplicates)\n"
	"  --memory             keep the stream in memory, not on disk\n"
	"  --source STREAM@DOMAIN\n"
	"                       also copy the stream STREAM of the leaf node whose JetStream\n"
	"                       domain is DOMAIN (store and forward: docs/fleet.md, \"Leaf\n"
	"                       nodes\"); repeat for each leaf node, at most 16\n"
	"\n"
	"\n"
	"Fleet configuration and rollout (docs/fleet.md, \"Fleet configuration and rollout\"):\n"
	"  publish BUNDLE_DIR  sign and put a bundle: BUNDLE_DIR/policy.yaml and, optionally,\n"
	"                      model.json or model.onnx (registered as NAME@VERSION); each\n"
	"                      part, its SHA-256 and the manifest's Ed25519 signature go to\n"
	"                      the object store (made with the key-value bucket if missing)\n"
	"  rollout VERSION     canaries first (<plant>.<line>.canary.<server>), waiting for\n"
	"                      their reports and watching their health, then the whole line\n"
	"                      (<plant>.<line>.bundle); a refusal, a timeout or a health\n"
	"                      regression of a canary rolls the canaries back to the line's\n"
	"                      version and stops; a refusal after that rolls the line back\n"
	"  status              a table of the line's servers: versions, last result, health\n"
	"  forget SERVER       remove a retired server's report (<plant>.<line>.status.SERVER),\n"
	"                      so that rollouts stop waiting for it; a server that runs again\n"
	"                      reports again\n"
	"Options (publish, rollout, status, forget):\n"
	"  --plant P, --line L       the line (required)\n"
	"  --bucket B                the key-value bucket (linegate-config)\n"
	"  --objects O               the object store (linegate-bundles)\n"
	"  --replicas N              publish: copies of a bucket it makes (1)\n"
	"publish:\n"
	"  --version V               the bundle's version name (required; never reused)\n"
	"  --key FILE                the Ed25519 secret key (linegatectl keygen; its .pub in\n"
	"                            the servers' models.trusted_keys) (required)\n"
	"  --model-name NAME         the registry name of the model (fleet)\n"
	"rollout:\n"
	"  --canary S[,S...]         the canary servers (none: the whole line at once)\n"
	"  --wait S                  how long to wait for each stage's reports (60)\n"
	"  --observe S               watch the canaries' health this long after they applied\n"
	"                            (10; their report period must fit in it)\n"
	"  --max-drop-increase R     a canary's drops per second may grow by R (1.0)\n"
	"  --max-incident-increase R a canary's incidents per second may grow by R (0.05)\n"
	"status:\n"
	"  --json                    each server's report as a JSON line\n"
	"\n"
	"Credentials (docs/fleet.md, \"Credentials\"):\n"
	"  nkey-gen FILE       make a NATS nkey user: its seed to FILE (created 0600, never\n"
	"                      over an existing file), its public key (U...) to stdout, for\n"
	"                      the nats-server configuration; needs no --url\n"
	"\n"
	"Exit status: 0 on success, 1 when NATS refused or could not be reached, or a rollout\n"
	"stopped (rolled back or incomplete), 2 on a usage error.\n";

struct fleet_opts {
	const char *url, *stream, *prefix, *tls_ca;
	const char *tls_cert, *tls_key, *nkey, *creds; /* issue 13: credentials */
	/* stream-create --source STREAM@DOMAIN: a leaf node's stream (docs/fleet.md, "Leaf
	 * nodes"), copied into this one by the plant's servers */
	const char *sources[16];
	unsigned nsources;
	int64_t replicas, max_age_ns, max_bytes, dup_ns;
	bool memory;
	/* fleet configuration and rollout */
	const char *arg; /* BUNDLE_DIR of publish, VERSION of rollout */
	const char *bucket, *objects, *plant, *line, *version, *key, *model_name, *canary;
	int64_t wait_s, observe_s;
	double max_drop_increase, max_incident_increase;
	bool json;
};

/* A duration: a whole number with s, m, h or d (or nothing: seconds). */
static int parse_duration(const char *s, int64_t *ns)
{
	char *end;
	unsigned long long v;
	int64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	if (!strcmp(end, "d"))
		mul = 86400;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else if (!strcmp(end, "m"))
		mul = 60;
	else if (*end && strcmp(end, "s"))
		return -EINVAL;
	if (v > (unsigned long long)(INT64_MAX / 1000000000 / mul))
		return -ERANGE;
	*ns = (int64_t)v * mul * 1000000000;
	return 0;
}

static int parse_u(const char *s, int64_t max, int64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > (unsigned long long)max)
		return -EINVAL;
	*out = (int64_t)v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct fleet_opts *o, bool takes_arg)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "stream", required_argument, NULL, 's' },
		{ "subject-prefix", required_argument, NULL, 'p' },
		{ "tls-ca", required_argument, NULL, 't' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "max-age", required_argument, NULL, 'a' },
		{ "max-bytes", required_argument, NULL, 'b' },
		{ "duplicate-window", required_argument, NULL, 'd' },
		{ "memory", no_argument, NULL, 'm' },
		{ "bucket", required_argument, NULL, 'B' },
		{ "objects", required_argument, NULL, 'O' },
		{ "plant", required_argument, NULL, 'P' },
		{ "line", required_argument, NULL, 'L' },
		{ "version", required_argument, NULL, 'V' },
		{ "key", required_argument, NULL, 'k' },
		{ "model-name", required_argument, NULL, 'N' },
		{ "canary", required_argument, NULL, 'c' },
		{ "wait", required_argument, NULL, 'w' },
		{ "observe", required_argument, NULL, 'o' },
		{ "max-drop-increase", required_argument, NULL, 'D' },
		{ "max-incident-increase", required_argument, NULL, 'I' },
		{ "json", no_argument, NULL, 'j' },
		{ "tls-cert", required_argument, NULL, 1 },
		{ "tls-key", required_argument, NULL, 2 },
		{ "nkey", required_argument, NULL, 3 },
		{ "creds", required_argument, NULL, 4 },
		{ "source", required_argument, NULL, 5 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, li = -1;

	*o = (struct fleet_opts){ .stream = "LINEGATE", .prefix = "linegate", .replicas = 1,
				  .max_age_ns = 7 * 86400 * 1000000000ll,
				  .dup_ns = 120 * 1000000000ll, .bucket = "linegate-config",
				  .objects = "linegate-bundles", .model_name = "fleet",
				  .wait_s = 60, .observe_s = 10, .max_drop_increase = 1.0,
				  .max_incident_increase = 0.05 };
	while ((opt = getopt_long(argc, argv, "h", opts, &li)) != -1) {
		int bad = 0;

		switch (opt) {
		case 'u': o->url = optarg; break;
		case 's': o->stream = optarg; break;
		case 'p': o->prefix = optarg; break;
		case 't': o->tls_ca = optarg; break;
		case 'm': o->memory = true; break;
		case 'r':
			bad = parse_u(optarg, 5, &o->replicas) || !o->replicas;
			break;
		case 'a': bad = parse_duration(optarg, &o->max_age_ns); break;
		case 'b': bad = parse_u(optarg, INT64_MAX, &o->max_bytes); break;
		case 'd':
			bad = parse_duration(optarg, &o->dup_ns) || !o->dup_ns;
			break;
		case 'B': o->bucket = optarg; bad = !lg_bundle_token_ok(optarg); break;
		case 'O': o->objects = optarg; bad = !lg_bundle_token_ok(optarg); break;
		case 'P': o->plant = optarg; break;
		case 'L': o->line = optarg; break;
		case 'V': o->version = optarg; break;
		case 'k': o->key = optarg; break;
		case 'N': o->model_name = optarg; break;
		case 'c': o->canary = optarg; break;
		case 'j': o->json = true; break;
		case 1: o->tls_cert = optarg; break;
		case 2: o->tls_key = optarg; break;
		case 3: o->nkey = optarg; break;
		case 4: o->creds = optarg; break;
		case 5: {
			const char *at = strchr(optarg, '@');

			bad = o->nsources == 16 || !at || at == optarg || !at[1] ||
			      strpbrk(optarg, " .*>") || strchr(at + 1, '@');
			if (!bad)
				o->sources[o->nsources++] = optarg;
			break;
		}
		case 'w': bad = parse_u(optarg, 86400, &o->wait_s) || !o->wait_s; break;
		case 'o': bad = parse_u(optarg, 86400, &o->observe_s); break;
		case 'D':
		case 'I': {
			char *end;
			double v = strtod(optarg, &end);

			bad = !optarg[0] || *end || !(v >= 0 && v < 1e9);
			*(opt == 'D' ? &o->max_drop_increase : &o->max_incident_increase) = v;
			break;
		}
		case 'h': fputs(usage, stdout); exit(0);
		default: return -EINVAL;
		}
		if (bad) {
			fprintf(stderr, "linegate-fleet: --%s %s: not a valid value (see --help)\n",
				li >= 0 ? opts[li].name : "?", optarg);
			return -EINVAL;
		}
	}
	/* publish BUNDLE_DIR, rollout VERSION: one argument (getopt_long moved it last) */
	if (takes_arg && optind == argc - 1)
		o->arg = argv[optind++];
	if (optind != argc) {
		fprintf(stderr, "linegate-fleet: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return -EINVAL;
	}
	if (!o->url) {
		fprintf(stderr, "linegate-fleet: --url nats://HOST:PORT is required\n");
		return -EINVAL;
	}
	if (!o->tls_cert != !o->tls_key || (o->tls_cert && !o->tls_ca)) {
		fprintf(stderr, "linegate-fleet: --tls-cert and --tls-key go together, with "
			"--tls-ca\n");
		return -EINVAL;
	}
	if (o->nkey && o->creds) {
		fprintf(stderr, "linegate-fleet: --nkey and --creds are two ways to log in: give "
			"one\n");
		return -EINVAL;
	}
	return 0;
}

/* The --nkey seed (zeroed at exit), signing the server's nonce on libnats's thread. */
static uint8_t nkey_raw[LG_NKEY_RAW_LEN];

/* The credentials of --nkey or --creds (each file checked: 0600, and the seed's form). */
static natsStatus set_auth(const struct fleet_opts *o, natsOptions *no)
{
	char pub[LG_NKEY_PUB_LEN + 1], err[PATH_MAX + 200];

	if ((o->nkey && !o->nkey[0]) || (o->creds && !o->creds[0])) {
		fprintf(stderr, "linegate-fleet: %s: an empty path\n",
			o->nkey ? "--nkey" : "--creds");
		return NATS_INVALID_ARG;
	}
	if (lg_nats_auth_load(o->nkey, o->creds, nkey_raw, pub, err, sizeof(err))) {
		fprintf(stderr, "linegate-fleet: %s: %s\n", o->nkey ? "--nkey" : "--creds", err);
		return NATS_INVALID_ARG;
	}
	return lg_nats_auth_set(no, pub, nkey_raw, o->creds);
}

/* The server's last asynchronous error (a Permissions Violation comes as one): a request it
 * refused otherwise only times out, and the timeout would hide the reason. */
static char server_said[256];

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
			   void *closure)
{
	const char *text = NULL;

	(void)sub;
	(void)closure;
	if (natsConnection_GetLastError(nc, &text) != NATS_OK && text && text[0])
		snprintf(server_said, sizeof(server_said), "%s", text);
	else if (err != NATS_OK)
		snprintf(server_said, sizeof(server_said), "%s", natsStatus_GetText(err));
}

/* Why a request failed: the server's refusal when it gave one, else the status. */
static const char *failed_why(natsStatus s, char *buf, size_t len)
{
	if (server_said[0])
		snprintf(buf, len, "the NATS server refused: %s", server_said);
	else
		snprintf(buf, len, "%s%s", natsStatus_GetText(s),
			 s == NATS_TIMEOUT ? " (no answer, and no refusal from the server: a "
			 "JetStream cluster without a leader for it, with a node down or one that "
			 "just restarted and is catching up (retry in a few seconds; a cluster needs "
			 "most of its nodes up), or credentials whose permissions do not reach this "
			 "plant and line)" : "");
	return buf;
}

static int connect_js(const struct fleet_opts *o, natsConnection **nc, jsCtx **js)
{
	natsOptions *no = NULL;
	natsStatus s;
	char why[300];

	/* a tls:// URL without a CA connected in plain text, and so did TLS:// with one
	 * (re-check trials 13) */
	if (lg_nats_urls_check(o->url, o->tls_ca != NULL, "--tls-ca", why, sizeof(why))) {
		fprintf(stderr, "linegate-fleet: --url %s\n", why);
		return -EINVAL;
	}
	s = natsOptions_Create(&no);

	if (s == NATS_OK)
		s = lg_nats_servers(no, o->url);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(no, 5000);
	if (s == NATS_OK && o->tls_ca) {
		s = natsOptions_SetSecure(no, true);
		if (s == NATS_OK)
			s = natsOptions_LoadCATrustedCertificates(no, o->tls_ca);
		if (s == NATS_OK && o->tls_cert)
			s = natsOptions_LoadCertificatesChain(no, o->tls_cert, o->tls_key);
	}
	if (s == NATS_OK)
		s = set_auth(o, no);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(no, on_async_error, NULL);
	if (s == NATS_OK)
		s = lg_nats_connect(nc, no);
	if (s == NATS_OK)
		s = natsConnection_JetStream(js, *nc, NULL);
	natsOptions_Destroy(no);
	if (s != NATS_OK) {
		const char *hint = "";

		/* TLS mistakes show as a bare status: say what usually causes each */
		if (s == NATS_SSL_ERROR && !o->tls_ca)
			hint = " (a TLS server? give tls:// and --tls-ca)";
		else if (s == NATS_SSL_ERROR)
			hint = " (the server's certificate is not of --tls-ca's CA, or tls:// to a "
			       "server without TLS)";
		else if (s == NATS_PROTOCOL_ERROR && o->tls_ca && !o->tls_cert)
			hint = " (the server may ask for a client certificate: --tls-cert and "
			       "--tls-key)";
		fprintf(stderr, "linegate-fleet: %s: %s%s\n", o->url, lg_nats_why(s), hint);
		return -EIO;
	}
	return 0;
}

static int stream_create(const struct fleet_opts *o, jsCtx *js)
{
	char subject[256];
	const char *subjects[1] = { subject };
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	bool updated = false;

	jsStreamSource src[16], *srcp[16];
	jsExternalStream ext[16];
	char names[16][128], apis[16][160];

	/* with --plant and --line, one line's subjects only: a leaf node's LOCAL, which must not
	 * take other lines' records (docs/fleet.md, "Leaf nodes") */
	if ((o->plant || o->line) && (!o->plant || !o->line || !lg_bundle_token_ok(o->plant) ||
				      !lg_bundle_token_ok(o->line))) {
		fprintf(stderr, "linegate-fleet: stream-create: --plant and --line go together, "
			"each letters, digits, _ and -\n");
		return -EINVAL;
	}
	if (o->plant && o->line)
		snprintf(subject, sizeof(subject), "%s.%s.%s.>", o->prefix, o->plant, o->line);
	else
		snprintf(subject, sizeof(subject), "%s.>", o->prefix);
	jsStreamConfig_Init(&sc);
	for (unsigned i = 0; i < o->nsources; i++) {
		const char *at = strchr(o->sources[i], '@');

		snprintf(names[i], sizeof(names[i]), "%.*s", (int)(at - o->sources[i]),
			 o->sources[i]);
		snprintf(apis[i], sizeof(apis[i]), "$JS.%.120s.API", at + 1);
		jsStreamSource_Init(&src[i]);
		jsExternalStream_Init(&ext[i]);
		ext[i].APIPrefix = apis[i];
		ext[i].DeliverPrefix = ""; /* libnats 3.4 marshals it unchecked */
		src[i].Name = names[i];
		src[i].External = &ext[i];
		srcp[i] = &src[i];
	}
	sc.Sources = o->nsources ? srcp : NULL;
	sc.SourcesLen = (int)o->nsources;
	sc.Name = o->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Retention = js_LimitsPolicy;
	sc.Discard = js_DiscardOld;
	sc.Storage = o->memory ? js_MemoryStorage : js_FileStorage;
	sc.Replicas = o->replicas;
	sc.MaxAge = o->max_age_ns;
	sc.MaxBytes = o->max_bytes ? o->max_bytes : -1;
	sc.Duplicates = o->dup_ns;
	s = js_AddStream(&si, js, &sc, NULL, &jerr);
	if (s != NATS_OK && jerr == JSStreamNameExistErr) {
		/* There already, with other limits: the new ones (what NATS allows to change). */
		jerr = 0;
		s = js_UpdateStream(&si, js, &sc, NULL, &jerr);
		updated = true;
	}
	if (s != NATS_OK) {
		char why[400];

		/* the server's words where it refused (a Permissions Violation comes as an
		 * asynchronous error, and the request itself only times out: trial R, s23) */
		if (jerr || !server_said[0])
			fprintf(stderr, "linegate-fleet: stream %s over %s: %s%s%s (error %d)\n",
				o->stream, subject, natsStatus_GetText(s),
				nats_GetLastError(NULL) ? ": " : "",
				nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "", (int)jerr);
		else
			fprintf(stderr, "linegate-fleet: stream %s over %s: %s\n", o->stream,
				subject, failed_why(s, why, sizeof(why)));
		return -EIO;
	}
	printf("stream %s %s: subjects %s, replicas %" PRId64 ", duplicate window %" PRId64
	       " s, max age %" PRId64 " s, %s storage, %" PRIu64 " messages\n",
	       o->stream, updated ? "updated" : "ready", subject, si->Config->Replicas,
	       si->Config->Duplicates / 1000000000, si->Config->MaxAge / 1000000000,
	       si->Config->Storage == js_MemoryStorage ? "memory" : "file", si->State.Msgs);
	for (int i = 0; i < si->Config->SourcesLen; i++)
		printf("  sources %s from %s\n", si->Config->Sources[i]->Name,
		       si->Config->Sources[i]->External ? si->Config->Sources[i]->External->APIPrefix
							  : "this domain");
	jsStreamInfo_Destroy(si);
	return 0;
}

static int stream_dump(const struct fleet_opts *o, jsCtx *js)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, js, o->stream, NULL, &jerr);
	uint64_t first, last;

	if (s != NATS_OK) {
		char why[400];

		if (jerr)
			fprintf(stderr, "linegate-fleet: stream %s: %s (error %d)\n", o->stream,
				natsStatus_GetText(s), (int)jerr);
		else
			fprintf(stderr, "linegate-fleet: stream %s: %s\n", o->stream,
				failed_why(s, why, sizeof(why)));
		return -EIO;
	}
	first = si->State.FirstSeq;
	last = si->State.LastSeq;
	/* each source's lag (on stderr: stdout is the messages): a lag that stays is a source
	 * that stopped copying (docs/fleet.md, "Leaf nodes") */
	for (int i = 0; i < si->SourcesLen; i++) {
		const jsStreamSourceInfo *src = si->Sources[i];

		fprintf(stderr, "linegate-fleet: stream %s: source %s%s%s: lag %" PRIu64 ", last "
			"heard %s%.1f s ago\n", o->stream, src->Name ? src->Name : "?",
			src->External && src->External->APIPrefix ? " from " : "",
			src->External && src->External->APIPrefix ? src->External->APIPrefix : "",
			src->Lag, src->Active < 0 ? "never: " : "",
			src->Active < 0 ? 0.0 : (double)src->Active / 1e9);
	}
	jsStreamInfo_Destroy(si);
	for (uint64_t seq = first; seq && seq <= last; seq++) {
		natsMsg *msg = NULL;
		const char *id = NULL;
		json_object *j;

		s = js_GetMsg(&msg, js, o->stream, seq, NULL, &jerr);
		if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr)
			continue; /* removed (max age, max bytes) */
		if (s != NATS_OK) {
			fprintf(stderr, "linegate-fleet: stream %s message %" PRIu64 ": %s\n",
				o->stream, seq, natsStatus_GetText(s));
			return -EIO;
		}
		natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
		j = json_object_new_object();
		json_object_object_add(j, "seq", json_object_new_uint64(seq));
		json_object_object_add(j, "subject",
				       json_object_new_string(natsMsg_GetSubject(msg)));
		json_object_object_add(j, "msg_id", id ? json_object_new_string(id) : NULL);
		json_object_object_add(j, "data",
				       json_object_new_string_len(natsMsg_GetData(msg),
								  natsMsg_GetDataLength(msg)));
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
		natsMsg_Destroy(msg);
	}
	return 0;
}

/*
 * Fleet configuration and rollout (docs/fleet.md): bundles in the object store, the
 * version each server runs in the key-value bucket, the servers' reports beside it.
 *   <plant>.<line>.bundle            the line's version
 *   <plant>.<line>.canary.<server>   a canary's version (wins over the line's)
 *   <plant>.<line>.status.<server>   the server's report (JSON)
 * Objects: <plant>.<line>.<version>/manifest.json, manifest.sig and each part.
 */
static int kv_open(const struct fleet_opts *o, jsCtx *js, bool create, kvStore **kv)
{
	kvConfig kc;
	natsStatus s = js_KeyValue(kv, js, o->bucket);

	if (s == NATS_OK || !create) {
		char why[320];

		if (s != NATS_OK)
			fprintf(stderr, "linegate-fleet: key-value bucket %s: %s%s\n", o->bucket,
				failed_why(s, why, sizeof(why)),
				s == NATS_NOT_FOUND ? " (publish makes it)" : "");
		return s == NATS_OK ? 0 : -EIO;
	}
	kvConfig_Init(&kc);
	kc.Bucket = o->bucket;
	kc.History = 16;
	kc.Replicas = (int)o->replicas;
	kc.StorageType = js_FileStorage;
	s = js_CreateKeyValue(kv, js, &kc);
	if (s != NATS_OK) {
		char why[320];

		fprintf(stderr, "linegate-fleet: key-value bucket %s: %s\n", o->bucket,
			failed_why(s, why, sizeof(why)));
		return -EIO;
	}
	return 0;
}

static int need_line(const struct fleet_opts *o)
{
	if (!o->plant || !o->line || !lg_bundle_token_ok(o->plant) ||
	    !lg_bundle_token_ok(o->line)) {
		fprintf(stderr, "linegate-fleet: --plant and --line are needed: letters, digits, _ "
			"and - (at most 64)\n");
		return -EINVAL;
	}
	return 0;
}

/* Every string of a parsed report, as lg_bundle_shown(). */
static void shown_json(json_object *j)
{
	char buf[1024];

	if (json_object_is_type(j, json_type_object)) {
		json_object_object_foreach(j, k, v)
		{
			(void)k;
			if (json_object_is_type(v, json_type_string))
				json_object_set_string(v, lg_bundle_shown(json_object_get_string(v),
									  buf, sizeof(buf)));
			else
				shown_json(v);
		}
	} else if (json_object_is_type(j, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(j); i++)
			shown_json(json_object_array_get_idx(j, i));
	}
}

/* A key's value ("" when absent or deleted); *stored_ms, when asked, the time the server
 * stored it (its own clock: a report's at_ms is what the line server says). */
static int kv_str_at(kvStore *kv, const char *key, char *out, size_t len, int64_t *stored_ms)
{
	kvEntry *e = NULL;
	natsStatus s = kvStore_Get(&e, kv, key);

	out[0] = '\0';
	if (stored_ms)
		*stored_ms = 0;
	if (s == NATS_NOT_FOUND)
		return 0;
	if (s != NATS_OK) {
		fprintf(stderr, "linegate-fleet: %s: %s\n", key, natsStatus_GetText(s));
		return -EIO;
	}
	if (kvEntry_Operation(e) == kvOp_Put)
		snprintf(out, len, "%.*s", kvEntry_ValueLen(e), (const char *)kvEntry_Value(e));
	if (stored_ms)
		*stored_ms = kvEntry_Created(e) / 1000000;
	kvEntry_Destroy(e);
	return 0;
}

static int kv_str(kvStore *kv, const char *key, char *out, size_t len)
{
	return kv_str_at(kv, key, out, len, NULL);
}

static int kv_set(kvStore *kv, const char *key, const char *val)
{
	natsStatus s = val && val[0] ? kvStore_PutString(NULL, kv, key, val) :
			      kvStore_Delete(kv, key);

	if (s != NATS_OK) {
		fprintf(stderr, "linegate-fleet: %s: %s\n", key, natsStatus_GetText(s));
		return -EIO;
	}
	return 0;
}

static int read_part(const char *dir, const char *name, char **buf, size_t *len, bool need)
{
	char p[4096];
	int ret;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	ret = lg_read_file(p, buf, len);
	if (ret && (need || ret != -ENOENT))
		fprintf(stderr, "linegate-fleet: %s: %s\n", p, strerror(-ret));
	return ret;
}

static void add_part(struct lg_bundle_manifest *m, const char *name, const void *buf,
		     size_t len)
{
	struct lg_bundle_part *p = &m->parts[m->nparts++];

	snprintf(p->name, sizeof(p->name), "%s", name);
	SHA256(buf, len, p->sha256);
	p->size = len;
}

static char *sig_text(const uint8_t sk[64], const void *buf, size_t len)
{
	uint8_t sig[64];
	char *hex = malloc(130);

	if (!hex || lg_sign_buf(sk, buf, len, sig)) {
		free(hex);
		return NULL;
	}
	lg_hex_encode(sig, 64, hex);
	strcat(hex, "\n");
	return hex;
}

/* publish BUNDLE_DIR: sign (the model and the manifest) and put the parts, manifest last. */
static int fleet_publish(const struct fleet_opts *o, jsCtx *js)
{
	static const char *const model_files[] = { "model.json", "model.onnx" };
	struct lg_bundle_manifest m = { 0 };
	char *pol = NULL, *model = NULL, *msig = NULL, *man = NULL, *manifest_sig = NULL;
	char obj[512], err[512], ver[72];
	size_t plen, mlen = 0, manlen;
	uint8_t sk[64];
	kvStore *kv = NULL;
	const char *mfile = NULL;
	int ret = need_line(o);

	if (ret)
		return ret;
	if (!o->arg || !o->key || !o->version || !lg_bundle_token_ok(o->version) ||
	    !lg_bundle_token_ok(o->model_name)) {
		fprintf(stderr, "linegate-fleet: publish BUNDLE_DIR --key KEY --version V (V and "
			"--model-name: letters, digits, _ and -)\n");
		return -EINVAL;
	}
	{
		char why[600];

		if (lg_sign_init() || lg_sign_read_secret(o->key, sk, why, sizeof(why))) {
			fprintf(stderr, "linegate-fleet: --key %s\n", why);
			return -EINVAL;
		}
	}
	ret = read_part(o->arg, "policy.yaml", &pol, &plen, true);
	for (size_t i = 0; !ret && !mfile && i < 2; i++) {
		ret = read_part(o->arg, model_files[i], &model, &mlen, false);
		if (!ret)
			mfile = model_files[i];
		else if (ret == -ENOENT)
			ret = 0;
	}
	if (ret)
		goto out;
	snprintf(m.plant, sizeof(m.plant), "%s", o->plant);
	snprintf(m.line, sizeof(m.line), "%s", o->line);
	snprintf(m.version, sizeof(m.version), "%s", o->version);
	snprintf(m.policy, sizeof(m.policy), "policy.yaml");
	/* the serial a server compares to refuse an older bundle (docs/fleet.md, "Newer only"):
	 * the time of the publish in ms, so a later publish of the line is always higher */
	{
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		m.serial = (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
	}
	add_part(&m, "policy.yaml", pol, plen);
	if (mfile) {
		char sname[64];

		msig = sig_text(sk, model, mlen);
		snprintf(m.model_name, sizeof(m.model_name), "%s", o->model_name);
		snprintf(m.model_file, sizeof(m.model_file), "%s", mfile);
		snprintf(sname, sizeof(sname), "%s.sig", mfile);
		add_part(&m, mfile, model, mlen);
		add_part(&m, sname, msig, msig ? strlen(msig) : 0);
	}
	ret = lg_bundle_manifest_text(&m, &man, &manlen);
	if (!ret)
		manifest_sig = sig_text(sk, man, manlen);
	if (ret || !manifest_sig || (mfile && !msig)) {
		fprintf(stderr, "linegate-fleet: cannot sign the bundle\n");
		ret = -EIO;
		goto out;
	}
	ret = kv_open(o, js, true, &kv);
	if (!ret && lg_obj_bucket(js, o->objects, (int)o->replicas, err, sizeof(err))) {
		fprintf(stderr, "linegate-fleet: object store %s: %s\n", o->objects, err);
		ret = -EIO;
	}
	if (ret)
		goto out;
	snprintf(obj, sizeof(obj), "%.64s.%.64s.%.64s/manifest.json", o->plant, o->line,
		 o->version);
	{
		uint8_t *old = NULL;
		size_t oldlen;

		ret = lg_obj_get(js, o->objects, obj, LG_BUNDLE_MAX_MANIFEST, &old, &oldlen, err,
				 sizeof(err));
		free(old);
		if (!ret) {
			fprintf(stderr, "linegate-fleet: %s/%s@%s is published already: a version "
				"never changes, publish another one\n", o->plant, o->line,
				o->version);
			ret = -EEXIST;
			goto out;
		}
	}
	/* The parts first, the manifest last: a server that sees a manifest finds its parts. */
	for (size_t i = 0; i < m.nparts; i++) {
		const char *n = m.parts[i].name;
		const char *b = !strcmp(n, "policy.yaml") ? pol : mfile && !strcmp(n, mfile) ?
				model : msig;

		snprintf(obj, sizeof(obj), "%s.%s.%s/%s", o->plant, o->line, o->version, n);
		ret = lg_obj_put(js, o->objects, obj, b, m.parts[i].size, err, sizeof(err));
		if (ret)
			break;
	}
	if (!ret) {
		snprintf(obj, sizeof(obj), "%.64s.%.64s.%.64s/manifest.sig", o->plant, o->line,
			 o->version);
		ret = lg_obj_put(js, o->objects, obj, manifest_sig, strlen(manifest_sig), err,
				 sizeof(err));
	}
	if (!ret) {
		snprintf(obj, sizeof(obj), "%.64s.%.64s.%.64s/manifest.json", o->plant, o->line,
			 o->version);
		ret = lg_obj_put(js, o->objects, obj, man, manlen, err, sizeof(err));
	}
	if (ret) {
		fprintf(stderr, "linegate-fleet: object store %s: %s\n", o->objects, err);
		goto out;
	}
	snprintf(ver, sizeof(ver), "%s", o->version);
	printf("published %s/%s@%s: policy.yaml (%zu bytes)%s%s%s, signed manifest of %zu "
	       "parts, serial %llu; roll it out with: linegate-fleet rollout %s\n", o->plant,
	       o->line, ver, plen, mfile ? ", model " : "", mfile ? mfile : "",
	       mfile ? " (signed)" : "", m.nparts, (unsigned long long)m.serial, ver);
out:
	sodium_memzero(sk, sizeof(sk));
	kvStore_Destroy(kv);
	free(pol);
	free(model);
	free(msig);
	free(man);
	free(manifest_sig);
	return ret;
}

/* A server's report, parsed; NULL when there is none. */
static json_object *status_of(const struct fleet_opts *o, kvStore *kv, const char *server)
{
	char key[256], *text = malloc(65536);
	json_object *j = NULL;
	int64_t stored = 0;

	if (!text)
		return NULL;
	snprintf(key, sizeof(key), "%.64s.%.64s.status.%.71s", o->plant, o->line, server);
	if (!kv_str_at(kv, key, text, 65536, &stored) && text[0])
		j = json_tokener_parse(text);
	free(text);
	if (j && !json_object_is_type(j, json_type_object)) {
		json_object_put(j);
		return NULL;
	}
	if (j && !o->json) {
		shown_json(j);
		/* the age from the server's time stamp: at_ms is the line server's word (a
		 * report dated ahead looked fresh for as long as it liked) */
		json_object_object_add(j, "stored_ms", json_object_new_int64(stored));
	}
	return j;
}

static const char *jpath_str(json_object *j, const char *a, const char *b)
{
	json_object *v;

	if (!j || !json_object_object_get_ex(j, a, &v))
		return "";
	if (b && !json_object_object_get_ex(v, b, &v))
		return "";
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static double jpath_num(json_object *j, const char *a, const char *b, double dflt)
{
	json_object *v;

	if (!j || !json_object_object_get_ex(j, a, &v))
		return dflt;
	if (b && !json_object_object_get_ex(v, b, &v))
		return dflt;
	return json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int) ?
	       json_object_get_double(v) : dflt;
}

static bool jpath_bool(json_object *j, const char *a, const char *b)
{
	json_object *x = NULL;

	if (!j || !json_object_object_get_ex(j, a, &x) || (b && !json_object_object_get_ex(x, b, &x)))
		return false;
	return json_object_get_boolean(x);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The servers with a report under <plant>.<line>.status.*, into names (at most max). */
/*
 * The servers that reported on the line: their status keys. The bucket's keys are listed
 * again for up to 10 s while the listing fails (a node of a cluster killed: its stream's
 * leader is elected anew; trial R, s23: "no server has reported" right after a canary's
 * report); -EIO when it still fails, said on stderr.
 */
static ssize_t line_servers(const struct fleet_opts *o, kvStore *kv, char (*names)[72],
			    size_t max)
{
	char prefix[256], why[300];
	kvKeysList list = { 0 };
	size_t n = 0, pl;
	int64_t until = now_ms() + 10000;
	natsStatus s;

	snprintf(prefix, sizeof(prefix), "%s.%s.status.", o->plant, o->line);
	pl = strlen(prefix);
	while ((s = kvStore_Keys(&list, kv, NULL)) != NATS_OK && s != NATS_NOT_FOUND &&
	       now_ms() < until) {
		kvKeysList_Destroy(&list);
		nats_Sleep(500);
	}
	if (s == NATS_NOT_FOUND)
		return 0; /* an empty bucket */
	if (s != NATS_OK) {
		fprintf(stderr, "linegate-fleet: listing the line's servers in the bucket: %s (for "
			"10 s: a NATS node down, its stream's leader not yet elected anew?)\n",
			failed_why(s, why, sizeof(why)));
		return -EIO;
	}
	for (int i = 0; i < list.Count && n < max; i++)
		/* a server's name as linegated takes it (--fleet-server): letters, digits, _
		 * and -; a key written by hand with anything else is no server of the line */
		if (!strncmp(list.Keys[i], prefix, pl) && strlen(list.Keys[i] + pl) < 72 &&
		    lg_bundle_token_ok(list.Keys[i] + pl))
			snprintf(names[n++], 72, "%s", list.Keys[i] + pl);
	kvKeysList_Destroy(&list);
	return n;
}

/*
 * Wait until each of the n servers reported on version (a report newer than since_ms), or
 * the --wait deadline: 0 when all applied it; -EPROTO when one or more refused or failed
 * (each printed, the first in why: every server's verdict is heard before a rollback);
 * -ETIMEDOUT when some did not report (named in why).
 */
/*
 * Wait for each server's report of o->arg. line: the rollout's last wait, where a server
 * counts once its report shows it off the canary key, running the version as the line's
 * (its floor moved: an older line version is refused from then on); a canary's own report
 * of the canary phase is not enough.
 */
/*
 * A server that reports VERSION applied but runs another policy (a local apply or rollback
 * since: trial K, s21, "done: runs v11 on 3 servers" while one ran its own): said, and the
 * rollout is not done. want: the bundle's policy part's SHA-256 in hex ("" = not known).
 */
static bool runs_other_policy(json_object *j, const char *name, const char *version,
			      const char *want, char *why, size_t whylen)
{
	const char *have = jpath_str(j, "policy", "sha256"), *dp;

	if (!want[0] || !have[0])
		return false;
	if (!strcmp(have, want)) {
		/* linegated runs it; its data plane too? (one that came back on its boot file) */
		dp = jpath_str(j, "policy", "dataplane_sha256");
		if (!dp[0] && !jpath_bool(j, "health", "dataplane")) {
			/* trial R, s23: a linegated without a data plane counted as running it */
			printf("  %s reports %s applied, but no data plane of it answers "
			       "(linegated without --dataplane, or its linegate is down): not "
			       "counted as running it\n", name, version);
			snprintf(why, whylen, "%s: no data plane runs %s", name, version);
			return true;
		}
		if (!dp[0] || !strcmp(dp, want))
			return false;
		printf("  %s reports %s applied but its data plane runs another policy (sha256 "
		       "%.8s, %s's is %.8s)\n", name, version, dp, version, want);
		snprintf(why, whylen, "%s's data plane runs another policy than %s's", name,
			 version);
		return true;
	}
	printf("  %s reports %s applied but runs another policy (version %.0f, sha256 %.8s, "
	       "%s's is %.8s): a local apply or rollback since\n", name, version,
	       jpath_num(j, "policy", "version", 0), have, version, want);
	snprintf(why, whylen, "%s runs another policy than %s's (a local apply or rollback "
		 "since): publish a newer version to bring it back to the line's", name, version);
	return true;
}

static int wait_reports(const struct fleet_opts *o, kvStore *kv, char (*names)[72], size_t n,
			int64_t since_ms, int64_t since_srv_ms, int64_t *applied_ms, bool line,
			const char *want_policy, char *why, size_t whylen)
{
	int64_t deadline = now_ms() + o->wait_s * 1000;
	bool done[64] = { false }, said_retry[64] = { false };
	char other[512];
	size_t left = n;
	int ret = 0;

	while (left) {
		for (size_t i = 0; i < n; i++) {
			json_object *j;
			const char *res;
			int64_t stored;
			bool fresh;

			if (done[i])
				continue;
			j = status_of(o, kv, names[i]);
			res = jpath_str(j, "bundle", "result");
			/* a report stored after the rollout's own key write (both times the
			 * NATS server's: re-check trial 13c took one stored before it); where
			 * there is none, the report's own time against the rollout's start */
			stored = (int64_t)jpath_num(j, "stored_ms", NULL, 0);
			fresh = since_srv_ms && stored ? stored >= since_srv_ms :
				jpath_num(j, "at_ms", NULL, 0) >= (double)since_ms;
			if (line && fresh && jpath_bool(j, "bundle", "canary") &&
			    (!strcmp(res, "applied") || !strcmp(jpath_str(j, "bundle", "applied"),
								o->arg))) {
				json_object_put(j); /* applied, on the canary key still */
				continue;
			}
			if (j && fresh && !strcmp(jpath_str(j, "bundle", "last"), o->arg) &&
			    !strcmp(res, "retrying")) {
				/* no verdict: its fetch is tried again (a node of the cluster
				 * down); waited for up to --wait, said once */
				if (!said_retry[i])
					printf("  %s retrying %s: %s\n", names[i], o->arg,
					       jpath_str(j, "bundle", "reason"));
				said_retry[i] = true;
			} else if (j && fresh && !strcmp(jpath_str(j, "bundle", "last"), o->arg) &&
			    res[0]) {
				done[i] = true;
				left--;
				if (strcmp(res, "applied")) {
					printf("  %s %s %s: %s\n", names[i], res, o->arg,
					       jpath_str(j, "bundle", "reason"));
					if (!ret)
						snprintf(why, whylen, "%s %s %s: %s", names[i], res,
							 o->arg, jpath_str(j, "bundle", "reason"));
					ret = -EPROTO;
				} else if (runs_other_policy(j, names[i], o->arg, want_policy,
							     other, sizeof(other))) {
					/* the first reason stays the one said (trial S, s23: a
					 * refusal's was overwritten by a later server's) */
					if (!ret)
						snprintf(why, whylen, "%s", other);
					ret = ret ? ret : -ESTALE;
				} else {
					printf("  %s applied %s\n", names[i], o->arg);
				}
				if (applied_ms)
					applied_ms[i] = (int64_t)jpath_num(j, "at_ms", NULL, 0);
			} else if (j && fresh &&
				   !strcmp(jpath_str(j, "bundle", "applied"), o->arg)) {
				/* it ran this version already (a rollout that is resumed) */
				done[i] = true;
				left--;
				if (applied_ms)
					applied_ms[i] = since_ms;
				if (runs_other_policy(j, names[i], o->arg, want_policy, other,
						      sizeof(other))) {
					if (!ret)
						snprintf(why, whylen, "%s", other);
					ret = ret ? ret : -ESTALE;
				}
				else
					printf("  %s runs %s\n", names[i], o->arg);
			}
			json_object_put(j);
		}
		if (!left)
			break;
		if (now_ms() > deadline) {
			size_t k = 0;

			if (ret)
				return ret;
			k += (size_t)snprintf(why, whylen, "no report of %s within %lld s from:",
					      o->arg, (long long)o->wait_s);
			for (size_t i = 0; i < n && k < whylen; i++)
				if (!done[i])
					k += (size_t)snprintf(why + k, whylen - k, " %s", names[i]);
			return -ETIMEDOUT;
		}
		usleep(250000);
	}
	return ret;
}

/* Health after the change: each canary's rates in a report period that began after it
 * applied, against its rates before. */
static int health_check(const struct fleet_opts *o, kvStore *kv, char (*names)[72], size_t n,
			const double *base_drop, const double *base_inc, const int64_t *applied,
			char *why, size_t whylen)
{
	int64_t deadline = now_ms() + (o->observe_s + o->wait_s) * 1000;
	int64_t from = now_ms() + o->observe_s * 1000;

	printf("  watching the canaries' health for %lld s\n", (long long)o->observe_s);
	for (size_t i = 0; i < n; i++) {
		double nodp_at = 0;
		int nodp = 0;

		for (;;) {
			json_object *j = status_of(o, kv, names[i]);
			double at = jpath_num(j, "at_ms", NULL, 0);
			double period = jpath_num(j, "health", "period_s", -1);
			double drop = jpath_num(j, "health", "drop_rate", -1);
			double inc = jpath_num(j, "health", "incident_rate", -1);
			json_object *dp = NULL;
			bool dp_ok = j && json_object_object_get_ex(j, "health", &dp) &&
				     json_object_object_get_ex(dp, "dataplane", &dp) &&
				     json_object_get_boolean(dp);

			json_object_put(j);
			/* a fresh report without a data plane: no health to wait for (trial S,
			 * s23: "no health report" after the whole --wait, while it reported) */
			if (at >= (double)from && at >= (double)applied[i] && at > nodp_at) {
				nodp_at = at;
				nodp = dp_ok ? 0 : nodp + 1;
				if (nodp >= 2) { /* two reports in a row: not one slow answer */
					snprintf(why, whylen, "%s: its data plane does not answer "
						 "(its last 2 reports say so)", names[i]);
					return -EPROTO;
				}
			}
			if (at >= (double)from && period > 0 &&
			    at - period * 1000 >= (double)applied[i] && drop >= 0 && inc >= 0) {
				printf("  %s: drops %.2f/s (before %.2f), incidents %.3f/s (before "
				       "%.3f)\n", names[i], drop, base_drop[i], inc, base_inc[i]);
				if (!dp_ok) {
					snprintf(why, whylen, "%s: its data plane does not answer",
						 names[i]);
					return -EPROTO;
				}
				if (drop > base_drop[i] + o->max_drop_increase ||
				    inc > base_inc[i] + o->max_incident_increase) {
					snprintf(why, whylen, "%s: health regression after %s: "
						 "drops %.2f/s (before %.2f, allowed +%.2f), "
						 "incidents %.3f/s (before %.3f, allowed +%.3f)",
						 names[i], o->arg, drop, base_drop[i],
						 o->max_drop_increase, inc, base_inc[i],
						 o->max_incident_increase);
					return -EPROTO;
				}
				break;
			}
			if (now_ms() > deadline) {
				snprintf(why, whylen, "%s: no health report after %s", names[i],
					 o->arg);
				return -ETIMEDOUT;
			}
			usleep(250000);
		}
	}
	return 0;
}

static int fleet_rollout(const struct fleet_opts *o, jsCtx *js)
{
	char names[64][72], key[256], prev[128], why[1024] = "", err[512], prev_txt[512];
	char stamp[128], want_policy[65] = "";
	double base_drop[64], base_inc[64];
	int64_t applied[64], t0, since_srv = 0; /* the NATS server's time of our key write */
	kvStore *kv = NULL;
	size_t nc = 0;
	ssize_t ns;
	uint8_t *man = NULL;
	size_t manlen;
	int ret = need_line(o);

	if (ret)
		return ret;
	if (!o->arg || !lg_bundle_token_ok(o->arg)) {
		fprintf(stderr, "linegate-fleet: rollout VERSION: a version name is needed\n");
		return -EINVAL;
	}
	ret = kv_open(o, js, false, &kv);
	if (ret)
		return ret;
	snprintf(key, sizeof(key), "%.64s.%.64s.%.64s/manifest.json", o->plant, o->line, o->arg);
	ret = lg_obj_get(js, o->objects, key, LG_BUNDLE_MAX_MANIFEST, &man, &manlen, err,
			 sizeof(err));
	if (ret) {
		free(man);
		fprintf(stderr, "linegate-fleet: %s (publish it first)\n", err);
		goto out;
	}
	{
		/* the policy part's SHA-256: what a server that runs the version runs (the
		 * servers verify the manifest's signature; here it only names the text) */
		struct lg_bundle_manifest *m = calloc(1, sizeof(*m));

		if (m && !lg_bundle_manifest_parse((const char *)man, manlen, m, err, sizeof(err)))
			for (size_t i = 0; i < m->nparts; i++)
				if (!strcmp(m->parts[i].name, m->policy))
					lg_hex_encode(m->parts[i].sha256, 32, want_policy);
		free(m);
	}
	free(man);
	snprintf(key, sizeof(key), "%.64s.%.64s.bundle", o->plant, o->line);
	ret = kv_str(kv, key, prev, sizeof(prev));
	if (ret)
		goto out;
	for (const char *c = o->canary; c && *c && nc < 64;) {
		size_t l = strcspn(c, ",");

		snprintf(names[nc], 72, "%.*s", (int)(l < 71 ? l : 71), c);
		if (!lg_bundle_token_ok(names[nc])) {
			fprintf(stderr, "linegate-fleet: --canary: %s is not a server name\n",
				names[nc]);
			ret = -EINVAL;
			goto out;
		}
		nc++;
		c += l + (c[l] == ',');
	}
	/* prev is put back as it was if the rollout stops; printed as lg_bundle_shown() */
	if (prev[0])
		lg_bundle_shown(prev, prev_txt, sizeof(prev_txt));
	else
		snprintf(prev_txt, sizeof(prev_txt), "(no bundle)");
	printf("rollout %s/%s@%s (the line runs %s)\n", o->plant, o->line, o->arg,
	       prev[0] ? prev_txt : "no bundle yet");
	t0 = now_ms();
	/* a canary that never reported on this line (a typo) is refused before any key is
	 * set (trial R, s23: the rollout waited out --wait for it) */
	for (size_t i = 0; i < nc; i++) {
		json_object *j = status_of(o, kv, names[i]);

		json_object_put(j);
		if (!j) {
			fprintf(stderr, "linegate-fleet: --canary %s: no server of that name has "
				"reported on %s/%s (linegate-fleet status lists them): nothing "
				"changed\n", names[i], o->plant, o->line);
			ret = -ENOENT;
			goto out;
		}
	}
	if (nc) {
		for (size_t i = 0; i < nc; i++) {
			json_object *j = status_of(o, kv, names[i]);

			base_drop[i] = jpath_num(j, "health", "drop_rate", 0);
			base_inc[i] = jpath_num(j, "health", "incident_rate", 0);
			json_object_put(j);
			snprintf(key, sizeof(key), "%.64s.%.64s.canary.%.71s", o->plant, o->line,
				 names[i]);
			ret = kv_set(kv, key, o->arg);
			if (!ret && !since_srv)
				ret = kv_str_at(kv, key, stamp, sizeof(stamp), &since_srv);
			if (ret)
				goto out;
		}
		printf("canaries:");
		for (size_t i = 0; i < nc; i++)
			printf(" %s", names[i]);
		printf("\n");
		ret = wait_reports(o, kv, names, nc, t0, since_srv, applied, false, want_policy, why,
				   sizeof(why));
		if (!ret && o->observe_s >= 0)
			ret = health_check(o, kv, names, nc, base_drop, base_inc, applied, why,
					   sizeof(why));
		if (ret) {
			/* back to the line's version: the canary keys go, the line key stays */
			for (size_t i = 0; i < nc; i++) {
				snprintf(key, sizeof(key), "%.64s.%.64s.canary.%.71s", o->plant,
					 o->line, names[i]);
				kv_set(kv, key, NULL);
			}
			printf("stopped: %s\nrolled back: the canaries go back to %s; the other "
			       "servers never saw %s\n", why, prev_txt,
			       o->arg);
			ret = -EPROTO;
			goto out;
		}
	}
	snprintf(key, sizeof(key), "%.64s.%.64s.bundle", o->plant, o->line);
	ret = kv_set(kv, key, o->arg);
	if (!ret)
		ret = kv_str_at(kv, key, stamp, sizeof(stamp), &since_srv);
	for (size_t i = 0; !ret && i < nc; i++) {
		snprintf(key, sizeof(key), "%.64s.%.64s.canary.%.71s", o->plant, o->line, names[i]);
		ret = kv_set(kv, key, NULL);
	}
	if (ret)
		goto out;
	ns = line_servers(o, kv, names, 64);
	if (ns < 0) {
		printf("incomplete: the line's servers could not be listed (above); the line's "
		       "bundle is %s now: linegate-fleet status %s/%s shows who runs it\n", o->arg,
		       o->plant, o->line);
		ret = -EIO;
		goto out;
	}
	if (!ns) {
		/* nothing ran it: not "done" (a line whose servers never reported, or a typo in
		 * --plant/--line) */
		printf("incomplete: no server of %s/%s has reported (linegated --fleet-plant %s "
		       "--fleet-line %s running?); the line's bundle is %s now: a server that "
		       "starts applies it\n", o->plant, o->line, o->plant, o->line, o->arg);
		ret = -ENODEV;
		goto out;
	}
	if (ns == 1)
		printf("the one server of %s/%s:\n", o->plant, o->line);
	else
		printf("all %zd servers of %s/%s:\n", ns, o->plant, o->line);
	ret = wait_reports(o, kv, names, (size_t)ns, t0, since_srv, NULL, true, want_policy, why,
			   sizeof(why));
	if (ret == -EPROTO) {
		snprintf(key, sizeof(key), "%.64s.%.64s.bundle", o->plant, o->line);
		kv_set(kv, key, prev);
		printf("stopped: %s\nrolled back: the line's bundle is %s again", why, prev_txt);
		/* A server that applied the new version keeps it: it refuses an older bundle
		 * (trial K, s21: "the line goes back" while 2 of 3 servers kept the new one). */
		{
			size_t kept = 0;

			for (size_t i = 0; i < (size_t)ns; i++) {
				json_object *j = status_of(o, kv, names[i]);

				if (j && !strcmp(jpath_str(j, "bundle", "applied"), o->arg))
					printf("%s %s", kept++ ? "," : "; these keep it:", names[i]);
				json_object_put(j);
			}
			if (kept)
				printf(" (a server never goes back to an older bundle): publish a "
				       "newer version (the fix, or the old content under a new "
				       "name) to bring the line to one version again");
		}
		printf("\n");
	} else if (ret) {
		printf("incomplete: %s\n", why);
	} else {
		printf("done: %s/%s runs %s on %zd server%s (%.1f s)\n", o->plant, o->line, o->arg,
		       ns, ns == 1 ? "" : "s", (double)(now_ms() - t0) / 1000.0);
	}
out:
	kvStore_Destroy(kv);
	return ret;
}

static int fleet_status(const struct fleet_opts *o, jsCtx *js)
{
	char names[64][72], key[256], line_ver[128], shown_ver[512];
	kvStore *kv = NULL;
	size_t n;
	int ret = need_line(o);

	if (!ret)
		ret = kv_open(o, js, false, &kv);
	if (ret)
		return ret;
	snprintf(key, sizeof(key), "%.64s.%.64s.bundle", o->plant, o->line);
	ret = kv_str(kv, key, line_ver, sizeof(line_ver));
	if (!ret) {
		ssize_t k = line_servers(o, kv, names, 64);

		ret = k < 0 ? (int)k : 0;
		n = k < 0 ? 0 : (size_t)k;
	} else {
		n = 0;
	}
	if (!ret && !o->json)
		printf("%s/%s: bundle %s\n%-16s %-10s %-8s %-10s %-7s %-20s %9s %9s %6s %s\n",
		       o->plant, o->line,
		       line_ver[0] ? lg_bundle_shown(line_ver, shown_ver, sizeof(shown_ver)) : "(none)",
		       "SERVER", "WANTED",
		       "APPLIED", "LAST", "POLICY", "MODEL", "DROPS/S", "INCID/S", "AGE_S",
		       "RESULT");
	for (size_t i = 0; i < n; i++) {
		json_object *j = status_of(o, kv, names[i]);
		char pol[32];

		if (!j)
			continue;
		if (o->json) {
			printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
			json_object_put(j);
			continue;
		}
		snprintf(pol, sizeof(pol), "%.0f:%.6s", jpath_num(j, "policy", "version", 0),
			 jpath_str(j, "policy", "sha256"));
		int64_t at = (int64_t)jpath_num(j, "at_ms", NULL, 0);
		int64_t stored = (int64_t)jpath_num(j, "stored_ms", NULL, 0);
		char name[300];

		bool dp = jpath_bool(j, "health", "dataplane");
		char dr[32] = "-", ir[32] = "-";

		/* no data plane: no rates, not 0.00 (trial S, s23) */
		if (dp) {
			snprintf(dr, sizeof(dr), "%.2f", jpath_num(j, "health", "drop_rate", 0));
			snprintf(ir, sizeof(ir), "%.3f", jpath_num(j, "health", "incident_rate", 0));
		}
		printf("%-16s %-10s %-8s %-10s %-7s %-20s %9s %9s %6.0f %s%s%s%s%s\n",
		       lg_bundle_shown(names[i], name, sizeof(name)),
		       jpath_str(j, "bundle", "wanted"), jpath_str(j, "bundle", "applied"),
		       jpath_str(j, "bundle", "last"), pol, jpath_str(j, "model", NULL), dr, ir,
		       (double)(now_ms() - (stored ? stored : at)) / 1000.0,
		       jpath_str(j, "bundle", "result"), jpath_str(j, "bundle", "reason")[0] ?
		       ": " : "", jpath_str(j, "bundle", "reason"),
		       stored && at - stored > 5000 ? " (its report is dated ahead of the "
		       "server's clock)" : "",
		       /* trial R, s23: a server whose data plane is down read as healthy */
		       dp ? "" : " [NO DATA PLANE answers: "
		       "nothing is scored or admitted there; drops and incidents unknown]");
		json_object_put(j);
	}
	kvStore_Destroy(kv);
	return ret;
}

/* A retired server's report out of the bucket (trial R, s23: every later rollout of its line
 * ended "incomplete" waiting for it, and no tool removed it). */
static int fleet_forget(const struct fleet_opts *o, jsCtx *js)
{
	char key[256], shown[300];
	kvStore *kv = NULL;
	kvEntry *e = NULL;
	int ret = need_line(o);

	if (!ret && !lg_bundle_token_ok(o->arg)) {
		fprintf(stderr, "linegate-fleet: forget: %s is no server name (letters, digits, _ "
			"and -, at most 64)\n", lg_bundle_shown(o->arg, shown, sizeof(shown)));
		ret = -EINVAL;
	}
	if (!ret)
		ret = kv_open(o, js, false, &kv);
	if (ret)
		return ret;
	snprintf(key, sizeof(key), "%.64s.%.64s.status.%.64s", o->plant, o->line, o->arg);
	if (kvStore_Get(&e, kv, key) != NATS_OK) {
		fprintf(stderr, "linegate-fleet: forget: %s/%s has no server %s (linegate-fleet "
			"status lists them)\n", o->plant, o->line, o->arg);
		kvStore_Destroy(kv);
		return -ENOENT;
	}
	kvEntry_Destroy(e);
	ret = kv_set(kv, key, NULL);
	if (!ret)
		printf("forgot %s of %s/%s: rollouts no longer wait for it; if it runs again, its "
		       "next report brings it back\n", o->arg, o->plant, o->line);
	kvStore_Destroy(kv);
	return ret;
}

static const struct fleet_cmd {
	const char *name;
	int (*run)(const struct fleet_opts *o, jsCtx *js);
	bool takes_arg;
} cmds[] = {
	{ "stream-create", stream_create, false },
	{ "stream-dump", stream_dump, false },
	{ "publish", fleet_publish, true },
	{ "rollout", fleet_rollout, true },
	{ "status", fleet_status, false },
	{ "forget", fleet_forget, true },
};

int main(int argc, char **argv)
{
	const struct fleet_cmd *cmd = NULL;
	struct fleet_opts o;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	int rc;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "nkey-gen")) {
		char pub[LG_NKEY_PUB_LEN + 1], err[PATH_MAX + 200];

		if (argc != 3 || argv[2][0] == '-') {
			fprintf(stderr, "linegate-fleet: nkey-gen FILE (see --help)\n");
			return 2;
		}
		if (lg_nkey_write_new(argv[2], pub, err, sizeof(err))) {
			fprintf(stderr, "linegate-fleet: nkey-gen: %s\n", err);
			return 1;
		}
		printf("%s\n", pub);
		return 0;
	}
	for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			cmd = &cmds[i];
	if (!cmd) {
		fprintf(stderr, "linegate-fleet: %s%s (commands: stream-create, stream-dump, "
			"publish, rollout, status, nkey-gen; see "
			"--help)\n", argc >= 2 ? "unknown command " : "a command is needed",
			argc >= 2 ? argv[1] : "");
		return 2;
	}
	if (parse_opts(argc - 1, argv + 1, &o, cmd->takes_arg))
		return 2;
	rc = connect_js(&o, &nc, &js);
	if (!rc)
		rc = cmd->run(&o, js);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	sodium_memzero(nkey_raw, sizeof(nkey_raw));
	return rc ? 1 : 0;
}
