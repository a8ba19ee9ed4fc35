// SPDX-License-Identifier: MIT
/* linegated's fleet watch thread (fleet_watch.h, docs/fleet.md). */
#include "fleet_watch.h"
#include "bundle.h"
#include "ctlproto.h"
#include "objstore.h"

#include <errno.h>
#include <fcntl.h>
#include <linegate/nkey.h>
#include <linegate/outpath.h>
#include <linegate/nats_common.h>
#include <nats/nats.h>
#include <sodium.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bundle parts are held in memory once while fetched: a bound on what a bucket may push. */
#define FLEET_MAX_PART (512u << 20)
#define FLEET_LOOK_MS 1000

struct lg_fleet {
	struct lg_fleet_cfg cfg;
	char url[1024], plant[72], line[72], server[72], bucket[72], objects[72], dir[PATH_MAX];
	char tls_ca[PATH_MAX], tls_cert[PATH_MAX], tls_key[PATH_MAX], creds[PATH_MAX];
	pthread_t thread;
	int pipe[2];
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	/* under lock */
	bool ready, connected;
	struct lg_fleet_fetch fetch;
	char wanted[72], handled[72];
	bool wanted_canary; /* wanted is the canary key's */
	char *report;
	/* Credentials (issue 13): the nkey's seed (zeroed at stop) and public key; replies
	 * come to _INBOX.<plant>.<line>, so that permissions can hold them to this line. */
	uint8_t nkey_raw[LG_NKEY_RAW_LEN];
	char nkey_pub[LG_NKEY_PUB_LEN + 1], inbox[160];
	char refused[256]; /* the last refusal logged (the watch thread's) */
	char domain[72];   /* issue 13: the JetStream domain, "" = the server's own */
	/* The watch thread's: a connect that failed, or a connection libnats gave up on (a
	 * login refused twice, an error it does not know), is logged with its reason (a new one
	 * at once, the same at most once a minute) and tried again after 1 s, doubled up to
	 * 30 s while it fails (re-check trial 13 N2: it was silent, and a closed connection
	 * was never made again). */
	char conn_why[256];
	struct timespec conn_logged, conn_next;
	unsigned conn_backoff_ms;
	/* The watch thread's: why the last look at the keys failed, and what was said of it
	 * (a lost server, a bucket that does not exist: re-check trial 13c, silent before). */
	natsStatus look_status;
	char look_why[256], look_logged[256];
	struct timespec look_logged_at;
	bool look_failed;
};

/* libnats's thread: a permission violation (a key or an object of another line, a subject
 * these credentials may not use) is logged with the server's words, once per text. */
static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	struct lg_fleet *f = closure;
	const char *txt = NULL;
	bool log;

	(void)sub;
	if (err != NATS_NOT_PERMITTED)
		return;
	natsConnection_GetLastError(nc, &txt);
	if (!txt || !txt[0])
		txt = natsStatus_GetText(err);
	pthread_mutex_lock(&f->lock);
	log = strcmp(f->refused, txt);
	if (log)
		snprintf(f->refused, sizeof(f->refused), "%s", txt);
	pthread_mutex_unlock(&f->lock);
	if (log)
		fprintf(stderr, "linegated: fleet: the NATS server refused: %s\n", txt);
}

static void msleep_locked(struct lg_fleet *f, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&f->wake, &f->lock, &ts);
}

/* The watch thread: a connection failed or given up on, why: logged, and the next try set. */
static void connection_lost(struct lg_fleet *f, const char *what, const char *why)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	f->conn_backoff_ms = f->conn_backoff_ms ? (f->conn_backoff_ms >= 15000 ? 30000
							: f->conn_backoff_ms * 2)
						: 1000;
	f->conn_next = now;
	f->conn_next.tv_sec += f->conn_backoff_ms / 1000;
	if (strcmp(why, f->conn_why) || now.tv_sec - f->conn_logged.tv_sec >= 60) {
		fprintf(stderr, "linegated: fleet: %s (%s); trying again in %u s\n", what, why,
			f->conn_backoff_ms / 1000);
		snprintf(f->conn_why, sizeof(f->conn_why), "%s", why);
		f->conn_logged = now;
	}
}

/* The watch thread: a look at the keys that failed over a connection, or works again:
 * said on a change (the same reason at most once a minute). */
static void look_result(struct lg_fleet *f, natsConnection *nc, int ret)
{
	struct timespec now;
	char why[512];

	if (!ret) {
		if (f->look_failed)
			fprintf(stderr, "linegated: fleet: reading the bucket %s again\n", f->bucket);
		f->look_failed = false;
		f->look_logged[0] = '\0';
		return;
	}
	if (natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED)
		snprintf(why, sizeof(why), "the NATS server is lost: libnats reconnects every "
			 "0.5 s");
	else if (f->look_status == NATS_NO_RESPONDERS || f->look_status == NATS_TIMEOUT)
		snprintf(why, sizeof(why), "no answer for the bucket: it does not exist yet "
			 "(linegate-fleet publish makes it), its JetStream is not running or is "
			 "another domain (--fleet-domain), or these credentials may not read it");
	else
		snprintf(why, sizeof(why), "%.300s", f->look_why);
	clock_gettime(CLOCK_MONOTONIC, &now);
	why[250] = '\0'; /* as kept in look_logged */
	if (!f->look_failed || strcmp(why, f->look_logged) ||
	    now.tv_sec - f->look_logged_at.tv_sec >= 60) {
		fprintf(stderr, "linegated: fleet: cannot read the keys of %s/%s in bucket %s "
			"(%s); looking again every second\n", f->plant, f->line, f->bucket, why);
		snprintf(f->look_logged, sizeof(f->look_logged), "%.250s", why);
		f->look_logged_at = now;
	}
	f->look_failed = true;
}

static bool connect_due(const struct lg_fleet *f)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > f->conn_next.tv_sec ||
	       (now.tv_sec == f->conn_next.tv_sec && now.tv_nsec >= f->conn_next.tv_nsec);
}

static int connect_nats(struct lg_fleet *f, natsConnection **nc)
{
	natsOptions *o = NULL;
	natsStatus s = natsOptions_Create(&o);

	if (s == NATS_OK)
		s = lg_nats_servers(o, f->url);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 500);
	if (s == NATS_OK && f->tls_ca[0]) {
		s = natsOptions_SetSecure(o, true);
		if (s == NATS_OK)
			s = natsOptions_LoadCATrustedCertificates(o, f->tls_ca);
		if (s == NATS_OK && f->tls_cert[0])
			s = natsOptions_LoadCertificatesChain(o, f->tls_cert, f->tls_key);
	}
	if (s == NATS_OK)
		s = lg_nats_auth_set(o, f->nkey_pub, f->nkey_raw, f->creds);
	if (s == NATS_OK)
		s = natsOptions_SetCustomInboxPrefix(o, f->inbox);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, on_error, f);
	if (s == NATS_OK)
		s = lg_nats_connect(nc, o);
	if (s != NATS_OK)
		connection_lost(f, "cannot connect to the NATS server", lg_nats_why(s));
	else
		f->conn_backoff_ms = 0;
	natsOptions_Destroy(o);
	return s == NATS_OK ? 0 : -EIO;
}

/* The value of key, "" when absent or deleted; -EIO when the bucket did not answer. */
/*
 * One key's value by the stream's direct get ($JS.API.DIRECT.GET.KV_<bucket>.<subject>, in
 * the jsCtx's domain), not through js_KeyValue(): that asks for the bucket's stream info
 * first, and a permission for STREAM.INFO would let a line server list every line's key
 * names (issue 13, F2). The server's permissions name each key this server may read.
 * "" = no such key, or deleted.
 */
static int kv_get(struct lg_fleet *f, jsCtx *js, const char *key, char *out, size_t len)
{
	char stream[160], subj[512];
	jsDirectGetMsgOptions o;
	const char *op = NULL;
	natsMsg *m = NULL;
	natsStatus s;

	out[0] = '\0';
	snprintf(stream, sizeof(stream), "KV_%s", f->bucket);
	snprintf(subj, sizeof(subj), "$KV.%s.%s", f->bucket, key);
	jsDirectGetMsgOptions_Init(&o);
	o.LastBySubject = subj;
	s = js_DirectGetMsg(&m, js, stream, NULL, &o);
	if (s == NATS_NOT_FOUND)
		return 0;
	if (s != NATS_OK) {
		f->look_status = s;
		snprintf(f->look_why, sizeof(f->look_why), "%s", lg_nats_why(s));
		return -EIO;
	}
	if (natsMsgHeader_Get(m, "KV-Operation", &op) != NATS_OK || !op)
		snprintf(out, len, "%.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
	natsMsg_Destroy(m);
	/* a value that is not a version token is no version: linegated is told why */
	return 0;
}

static int write_file(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char path[PATH_MAX + 128], why[PATH_MAX + 400];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = lg_outpath_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600, why, sizeof(why));
	if (fd < 0)
		return fd;
	ret = lg_write_all(fd, (const char *)buf, len);
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

static void rm_dir(const char *dir)
{
	char cmd_path[PATH_MAX + 160];
	static const char *const names[] = {"manifest.json", "manifest.sig"};

	/* Only what a fetch writes: the manifest, its signature and part names (no '/'). */
	for (size_t i = 0; i < 2; i++) {
		snprintf(cmd_path, sizeof(cmd_path), "%s/%s", dir, names[i]);
		unlink(cmd_path);
	}
}

/* Fetch version ver into f->dir/<ver>: manifest, signature, then each part it names. */
static int fetch(struct lg_fleet *f, jsCtx *js, const char *ver, char *dir, size_t dirlen,
		 char *why, size_t whylen)
{
	char obj[512], err[512];
	struct lg_bundle_manifest m;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	snprintf(dir, dirlen, "%.3900s/%.64s", f->dir, ver);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(why, whylen, "%.400s: %s", dir, strerror(errno));
		return ret;
	}
	rm_dir(dir);
	snprintf(obj, sizeof(obj), "%.64s.%.64s.%.64s/manifest.json", f->plant, f->line, ver);
	ret = lg_obj_get(js, f->objects, obj, LG_BUNDLE_MAX_MANIFEST, &buf, &len, err, sizeof(err));
	if (!ret)
		ret = write_file(dir, "manifest.json", buf, len);
	if (!ret)
		/* unverified here: only to know the parts' names; linegated verifies */
		ret = lg_bundle_manifest_parse((const char *)buf, len, &m, err, sizeof(err));
	free(buf);
	buf = NULL;
	if (!ret) {
		snprintf(obj, sizeof(obj), "%.64s.%.64s.%.64s/manifest.sig", f->plant, f->line,
			 ver);
		ret = lg_obj_get(js, f->objects, obj, 4096, &buf, &len, err, sizeof(err));
		if (!ret)
			ret = write_file(dir, "manifest.sig", buf, len);
		free(buf);
		buf = NULL;
	}
	for (size_t i = 0; !ret && i < m.nparts; i++) {
		snprintf(obj, sizeof(obj), "%.64s.%.64s.%.64s/%s", f->plant, f->line, ver,
			 m.parts[i].name);
		ret = lg_obj_get(js, f->objects, obj, FLEET_MAX_PART, &buf, &len, err, sizeof(err));
		if (!ret)
			ret = write_file(dir, m.parts[i].name, buf, len);
		free(buf);
		buf = NULL;
	}
	if (ret)
		snprintf(why, whylen, "bundle %.64s: %.400s", ver, err);
	return ret;
}

/* The report under its key: a JetStream publish to $KV.<bucket>.<key>, as a put is; in
 * another domain, $JS.<domain>.API.$KV.… (a leaf node passes no $KV.> of the hub's). */
static void put_report(struct lg_fleet *f, jsCtx *js, const char *key, const char *json)
{
	char subj[512];

	if (f->domain[0])
		snprintf(subj, sizeof(subj), "$JS.%s.API.$KV.%s.%s", f->domain, f->bucket, key);
	else
		snprintf(subj, sizeof(subj), "$KV.%s.%s", f->bucket, key);
	js_Publish(NULL, js, subj, json, (int)strlen(json), NULL, NULL);
}

static void *run(void *arg)
{
	struct lg_fleet *f = arg;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	bool kv = false;
	char line_key[256], own_key[256], status_key[256], failed[72] = "";
	struct timespec failed_at = {0};

	snprintf(line_key, sizeof(line_key), "%s.%s.bundle", f->plant, f->line);
	snprintf(own_key, sizeof(own_key), "%s.%s.canary.%s", f->plant, f->line, f->server);
	snprintf(status_key, sizeof(status_key), "%s.%s.status.%s", f->plant, f->line, f->server);
	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		char own[128], all[128], wanted[72], handled[72], dir[PATH_MAX], why[512];
		char *report;
		struct timespec now;
		bool busy;
		int ret;

		pthread_mutex_unlock(&f->lock);
		if (nc && natsConnection_IsClosed(nc)) {
			const char *txt = NULL;
			char why_closed[256];

			natsConnection_GetLastError(nc, &txt);
			snprintf(why_closed, sizeof(why_closed), "%s",
				 txt && txt[0] ? txt : "closed");
			connection_lost(f, "libnats gave the connection up", why_closed);
			jsCtx_Destroy(js);
			natsConnection_Destroy(nc);
			js = NULL;
			nc = NULL;
		}
		if (!nc && connect_due(f) && connect_nats(f, &nc))
			nc = NULL;
		if (nc && !js) {
			jsOptions jo;

			jsOptions_Init(&jo);
			jo.Domain = f->domain[0] ? f->domain : NULL;
			if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
				js = NULL;
		}
		kv = js != NULL;
		ret = kv ? kv_get(f, js, own_key, own, sizeof(own)) : -EIO;
		if (!ret)
			ret = kv_get(f, js, line_key, all, sizeof(all));
		if (nc)
			look_result(f, nc, ret);
		pthread_mutex_lock(&f->lock);
		f->connected = !ret;
		report = f->report;
		f->report = NULL;
		if (!ret) {
			snprintf(f->wanted, sizeof(f->wanted), "%.64s", own[0] ? own : all);
			f->wanted_canary = own[0] != '\0';
		}
		snprintf(wanted, sizeof(wanted), "%s", f->wanted);
		snprintf(handled, sizeof(handled), "%s", f->handled);
		busy = f->ready;
		pthread_mutex_unlock(&f->lock);
		if (report) {
			if (kv)
				put_report(f, js, status_key, report);
			free(report);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		/* a failed fetch is tried again every 10 s (the objects may come after the key) */
		if (!ret && wanted[0] && strcmp(wanted, handled) && !busy &&
		    (strcmp(failed, wanted) || now.tv_sec - failed_at.tv_sec >= 10)) {
			int fr;

			why[0] = '\0';
			fr = lg_bundle_token_ok(wanted)
				 ? fetch(f, js, wanted, dir, sizeof(dir), why, sizeof(why))
				 : -EINVAL;
			if (fr == -EINVAL && !why[0]) {
				char txt[400];

				/* logged and reported: control characters as \xHH */
				snprintf(why, sizeof(why),
					 "the wanted version \"%.300s\" is not a version name",
					 lg_bundle_shown(wanted, txt, sizeof(txt)));
			}
			if (fr) {
				snprintf(failed, sizeof(failed), "%s", wanted);
				failed_at = now;
			}
			pthread_mutex_lock(&f->lock);
			memset(&f->fetch, 0, sizeof(f->fetch));
			snprintf(f->fetch.version, sizeof(f->fetch.version), "%s", wanted);
			f->fetch.canary = f->wanted_canary;
			snprintf(f->fetch.dir, sizeof(f->fetch.dir), "%s", fr ? "" : dir);
			snprintf(f->fetch.why, sizeof(f->fetch.why), "%s", why);
			f->fetch.err = fr;
			f->ready = true;
			pthread_mutex_unlock(&f->lock);
			if (write(f->pipe[1], "f", 1) < 0) {
				/* the pipe is full: linegated has a wake-up to read already */
			}
		}
		pthread_mutex_lock(&f->lock);
		if (!f->stop && !f->report)
			msleep_locked(f, FLEET_LOOK_MS);
	}
	pthread_mutex_unlock(&f->lock);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return NULL;
}

int lg_fleet_start(struct lg_fleet **out, const struct lg_fleet_cfg *cfg, char *err, size_t errlen)
{
	struct lg_fleet *f;

	char why[300];

	/* a tls:// URL without a CA connected in plain text, and so did TLS:// with one
	 * (re-check trials 13) */
	if (lg_nats_urls_check(cfg->url, cfg->tls_ca && cfg->tls_ca[0], "--fleet-tls-ca", why,
			       sizeof(why))) {
		snprintf(err, errlen, "--fleet-url %s", why);
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	snprintf(f->url, sizeof(f->url), "%s", cfg->url);
	snprintf(f->plant, sizeof(f->plant), "%s", cfg->plant);
	snprintf(f->line, sizeof(f->line), "%s", cfg->line);
	snprintf(f->server, sizeof(f->server), "%s", cfg->server);
	snprintf(f->bucket, sizeof(f->bucket), "%s", cfg->bucket);
	snprintf(f->objects, sizeof(f->objects), "%s", cfg->objects);
	snprintf(f->domain, sizeof(f->domain), "%s", cfg->domain ? cfg->domain : "");
	snprintf(f->dir, sizeof(f->dir), "%s", cfg->dir);
	snprintf(f->tls_ca, sizeof(f->tls_ca), "%s", cfg->tls_ca ? cfg->tls_ca : "");
	snprintf(f->tls_cert, sizeof(f->tls_cert), "%s", cfg->tls_cert ? cfg->tls_cert : "");
	snprintf(f->tls_key, sizeof(f->tls_key), "%s", cfg->tls_key ? cfg->tls_key : "");
	snprintf(f->creds, sizeof(f->creds), "%s", cfg->creds ? cfg->creds : "");
	snprintf(f->handled, sizeof(f->handled), "%s", cfg->applied ? cfg->applied : "");
	snprintf(f->inbox, sizeof(f->inbox), "_INBOX.%s.%s", f->plant, f->line);
	if (cfg->creds && cfg->nkey) {
		snprintf(err, errlen, "--fleet-creds and --fleet-nkey are two ways to log in: give "
			 "one");
		free(f);
		return -EINVAL;
	}
	if ((cfg->nkey && !cfg->nkey[0]) || (cfg->creds && !cfg->creds[0])) {
		snprintf(err, errlen, "%s: an empty path",
			 cfg->nkey ? "--fleet-nkey" : "--fleet-creds");
		free(f);
		return -EINVAL;
	}
	{
		int ret = lg_nats_auth_load(cfg->nkey, cfg->creds, f->nkey_raw, f->nkey_pub, err,
					    errlen);

		if (ret) {
			free(f);
			return ret;
		}
	}
	if (mkdir(f->dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", f->dir, strerror(errno));
		sodium_memzero(f->nkey_raw, sizeof(f->nkey_raw));
		free(f);
		return -errno;
	}
	if (pipe2(f->pipe, O_CLOEXEC | O_NONBLOCK)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		sodium_memzero(f->nkey_raw, sizeof(f->nkey_raw));
		free(f);
		return -EMFILE;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	if (pthread_create(&f->thread, NULL, run, f)) {
		snprintf(err, errlen, "cannot start the fleet thread");
		close(f->pipe[0]);
		close(f->pipe[1]);
		sodium_memzero(f->nkey_raw, sizeof(f->nkey_raw));
		free(f);
		return -EAGAIN;
	}
	*out = f;
	return 0;
}

int lg_fleet_fd(const struct lg_fleet *f)
{
	return f->pipe[0];
}

bool lg_fleet_take(struct lg_fleet *f, struct lg_fleet_fetch *out)
{
	char b[64];
	bool got;

	while (read(f->pipe[0], b, sizeof(b)) > 0)
		;
	pthread_mutex_lock(&f->lock);
	got = f->ready;
	if (got) {
		*out = f->fetch;
		f->ready = false;
		if (!out->err)
			snprintf(f->handled, sizeof(f->handled), "%s", out->version);
	}
	pthread_mutex_unlock(&f->lock);
	return got;
}

void lg_fleet_again(struct lg_fleet *f, const char *version)
{
	pthread_mutex_lock(&f->lock);
	if (!strcmp(f->handled, version))
		f->handled[0] = '\0';
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

void lg_fleet_wanted(struct lg_fleet *f, char *out, size_t len, bool *connected, bool *canary)
{
	pthread_mutex_lock(&f->lock);
	snprintf(out, len, "%s", f->wanted);
	*connected = f->connected;
	if (canary)
		*canary = f->wanted_canary;
	pthread_mutex_unlock(&f->lock);
}

void lg_fleet_report(struct lg_fleet *f, const char *json)
{
	char *c = strdup(json);

	if (!c)
		return;
	pthread_mutex_lock(&f->lock);
	free(f->report);
	f->report = c;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

void lg_fleet_stop(struct lg_fleet *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	close(f->pipe[0]);
	close(f->pipe[1]);
	free(f->report);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->wake);
	sodium_memzero(f->nkey_raw, sizeof(f->nkey_raw));
	free(f);
	/* Not nats_Close(): it cleans OpenSSL up for the whole process once a TLS connection
	 * made libnats initialise it, and OpenSSL's own exit handler then crashed linegated
	 * (SIGSEGV in OPENSSL_cleanup at exit, with --fleet-tls-ca). */
}
