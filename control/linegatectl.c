// SPDX-License-Identifier: MIT
/* linegatectl: the admin CLI. Speaks the control protocol (ctlproto.h) to linegated. */
#include <linegate/policy.h>
#include <linegate/sign.h>

#include "ctlproto.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	"  status            the daemon's policy, its hash, and whether the data plane answers\n"
	"  validate FILE     check a policy file as linegate would at start: the text, its key\n"
	"                    files (0600) and its model (signature, window); errors name\n"
	"                    file:line:column (docs/policy.md). Works without a daemon (exit 0\n"
	"                    valid, 1 invalid)\n"
	"  diff FILE         devices FILE would add, remove or change against the running policy\n"
	"  apply [--dry-run] [FILE]\n"
	"                    validate and apply FILE (default: re-read the daemon's policy file);\n"
	"                    a policy that does not validate is refused, the running one stays.\n"
	"                    --dry-run: validate and show the diff, change nothing\n"
	"  history           every kept policy version: number, hash, time, peer, the current\n"
	"  rollback [VERSION]\n"
	"                    re-apply a kept version (default: the one before the current one);\n"
	"                    version 1 is the boot policy of this run\n"
	"  devices           the enrolled devices\n"
	"  metrics [--watch SECONDS]\n"
	"                    the data plane's counters (JSON), repeated every SECONDS with --watch\n"
	"  models            the model registry: every version, which is active and shadow\n"
	"  model add NAME VERSION FILE\n"
	"                    register FILE (and FILE.sig) as NAME@VERSION; refused unless\n"
	"                    signed by a key in the policy's models.trusted_keys\n"
	"  model activate NAME@VERSION\n"
	"                    run it: the data plane swaps it in between two batches\n"
	"  model shadow NAME@VERSION|off\n"
	"                    score with it too, publish only the active model's results, count\n"
	"                    where they disagree (metrics: shadow_disagreements)\n"
	"  model rollback    back to the model that was active before; with no earlier registry\n"
	"                    model, back to the boot model (the policy's detection.model)\n"
	"  keygen PREFIX     make an Ed25519 model-signing key pair: PREFIX.key (secret, mode\n"
	"                    0600) and PREFIX.pub (put it in the policy's models.trusted_keys)\n"
	"  sign KEY FILE     sign a model artifact with secret key file KEY: writes FILE.sig\n"
	"  verify PUB FILE   check FILE.sig against public key file PUB (exit 0 good, 1 bad)\n"
	"\n"
	"Options:\n"
	"  -s, --socket PATH   linegated's admin socket (default " DEFAULT_SOCKET ",\n"
	"                      or $LINEGATE_SOCKET)\n"
	"  -r, --raw           print the daemon's JSON reply as it is\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 success, 1 the request failed or was refused (the reason on stderr: the\n"
	"daemon's, the data plane's, or why no reply came), 2 usage error.\n";

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
		int ret = lg_read_file(file, &text, &len);

		if (ret) {
			fprintf(stderr, "linegatectl: %s: %s\n", file, strerror(-ret));
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

static int print_result(json_object *resp, bool raw)
{
	json_object *v;
	bool ok = json_object_object_get_ex(resp, "ok", &v) && json_object_get_boolean(v);

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

		ret = lg_hex_read_file(argv[0], sk, sizeof(sk));
		if (ret) {
			fprintf(stderr, "linegatectl: %s: not a secret key file (%s)\n", argv[0],
				strerror(-ret));
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
		printf("%s: valid, %zu devices\n", argv[optind], p.ndevices);
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
			char *end;
			long v = strtol(argv[optind], &end, 10);

			if (*end || v < 1) {
				json_object_put(req);
				fprintf(stderr, "linegatectl: rollback VERSION: '%s' is not a "
					"version number (see linegatectl history)\n", argv[optind]);
				return 2;
			}
			json_object_object_add(req, "version", json_object_new_int64(v));
		}
		if (call(sock, req, &resp))
			return 1;
		return print_result(resp, raw);
	}
	if (!strcmp(cmd, "status") || !strcmp(cmd, "devices") || !strcmp(cmd, "history") ||
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
