// SPDX-License-Identifier: MIT
/*
 * linegate-fleet: the plant side of NATS JetStream (docs/fleet.md). It talks to NATS
 * directly (not through linegated): stream-create makes (or updates) the stream that holds
 * what every line server publishes under <prefix>.>, with the duplicate window that removes
 * an outbox's resends; stream-dump prints a stream's messages as JSON lines.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"Usage: linegate-fleet COMMAND [OPTIONS]\n"
	"\n"
	"The plant side of linegate's NATS JetStream output (docs/fleet.md).\n"
	"\n"
	"Commands:\n"
	"  stream-create   make the stream over <prefix>.> (or update its limits)\n"
	"  stream-dump     print every message of the stream as a JSON line\n"
	"                  {\"seq\", \"subject\", \"msg_id\", \"data\"}\n"
	"\n"
	"Options (both commands):\n"
	"  --url URL            the NATS server(s), nats://HOST:PORT[,nats://...] (required)\n"
	"  --stream NAME        the stream's name (LINEGATE)\n"
	"  --tls-ca FILE        the CA of the servers' certificates (TLS)\n"
	"stream-create:\n"
	"  --subject-prefix P   the output.nats.subject_prefix of the servers (linegate)\n"
	"  --replicas N         copies in a JetStream cluster, 1..5 (1)\n"
	"  --max-age D          keep messages this long: 30s, 90m, 24h, 7d; 0 = for ever (7d)\n"
	"  --max-bytes B        at most this many bytes; 0 = unlimited (0)\n"
	"  --duplicate-window D resends within this time are removed (2m; at least as long\n"
	"                       as a NATS outage a line server should ride out without\n"
	"                       duplicates)\n"
	"  --memory             keep the stream in memory, not on disk\n"
	"\n"
	"Exit status: 0 on success, 1 when NATS refused or could not be reached, 2 on a usage\n"
	"error.\n";

struct fleet_opts {
	const char *url, *stream, *prefix, *tls_ca;
	int64_t replicas, max_age_ns, max_bytes, dup_ns;
	bool memory;
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

static int parse_opts(int argc, char **argv, struct fleet_opts *o)
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
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, li = -1;

	*o = (struct fleet_opts){ .stream = "LINEGATE", .prefix = "linegate", .replicas = 1,
				  .max_age_ns = 7 * 86400 * 1000000000ll,
				  .dup_ns = 120 * 1000000000ll };
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
		case 'h': fputs(usage, stdout); exit(0);
		default: return -EINVAL;
		}
		if (bad) {
			fprintf(stderr, "linegate-fleet: --%s %s: not a valid value (see --help)\n",
				li >= 0 ? opts[li].name : "?", optarg);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "linegate-fleet: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		return -EINVAL;
	}
	if (!o->url) {
		fprintf(stderr, "linegate-fleet: --url nats://HOST:PORT is required\n");
		return -EINVAL;
	}
	return 0;
}

static int connect_js(const struct fleet_opts *o, natsConnection **nc, jsCtx **js)
{
	natsOptions *no = NULL;
	natsStatus s = natsOptions_Create(&no);

	if (s == NATS_OK)
		s = natsOptions_SetURL(no, o->url);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(no, 5000);
	if (s == NATS_OK && o->tls_ca) {
		s = natsOptions_SetSecure(no, true);
		if (s == NATS_OK)
			s = natsOptions_LoadCATrustedCertificates(no, o->tls_ca);
	}
	if (s == NATS_OK)
		s = natsConnection_Connect(nc, no);
	if (s == NATS_OK)
		s = natsConnection_JetStream(js, *nc, NULL);
	natsOptions_Destroy(no);
	if (s != NATS_OK) {
		fprintf(stderr, "linegate-fleet: %s: %s\n", o->url, natsStatus_GetText(s));
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

	snprintf(subject, sizeof(subject), "%s.>", o->prefix);
	jsStreamConfig_Init(&sc);
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
		fprintf(stderr, "linegate-fleet: stream %s over %s: %s%s%s (error %d)\n", o->stream,
			subject, natsStatus_GetText(s), nats_GetLastError(NULL) ? ": " : "",
			nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "", (int)jerr);
		return -EIO;
	}
	printf("stream %s %s: subjects %s, replicas %" PRId64 ", duplicate window %" PRId64
	       " s, max age %" PRId64 " s, %s storage, %" PRIu64 " messages\n",
	       o->stream, updated ? "updated" : "ready", subject, si->Config->Replicas,
	       si->Config->Duplicates / 1000000000, si->Config->MaxAge / 1000000000,
	       si->Config->Storage == js_MemoryStorage ? "memory" : "file", si->State.Msgs);
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
		fprintf(stderr, "linegate-fleet: stream %s: %s (error %d)\n", o->stream,
			natsStatus_GetText(s), (int)jerr);
		return -EIO;
	}
	first = si->State.FirstSeq;
	last = si->State.LastSeq;
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

static const struct fleet_cmd {
	const char *name;
	int (*run)(const struct fleet_opts *o, jsCtx *js);
} cmds[] = {
	{ "stream-create", stream_create },
	{ "stream-dump", stream_dump },
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
	for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			cmd = &cmds[i];
	if (!cmd) {
		fprintf(stderr, "linegate-fleet: %s%s (commands: stream-create, stream-dump; see "
			"--help)\n", argc >= 2 ? "unknown command " : "a command is needed",
			argc >= 2 ? argv[1] : "");
		return 2;
	}
	if (parse_opts(argc - 1, argv + 1, &o))
		return 2;
	rc = connect_js(&o, &nc, &js);
	if (!rc)
		rc = cmd->run(&o, js);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return rc ? 1 : 0;
}
