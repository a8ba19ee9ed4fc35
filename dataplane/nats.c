// SPDX-License-Identifier: MIT
/* NATS JetStream output (nats.h). */
#include "nats.h"

#include <errno.h>
#include <stdio.h>

#ifdef LG_HAVE_NATS

#include <inttypes.h>
#include <limits.h>
#include <linegate/lgf.h>
#include <linegate/nkey.h>
#include <linegate/nats_common.h>
#include <nats/nats.h>
#include <sodium.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACKQ (4u * LG_NATS_INFLIGHT)
#define WINDOW (2u * LG_NATS_INFLIGHT)
#define DEC_SLOTS (2u * LG_POLICY_MAX_DEVICES)
/* After errors, send again from the cursor at most once a second; while nothing is
 * acknowledged between two such passes (no stream takes the subjects, a stream full for
 * good), twice as long each time, up to 16 s. */
#define REWIND_NS 1000000000ull
#define REWIND_SHIFT_MAX 4
_Static_assert((1u << REWIND_SHIFT_MAX) == LG_NATS_RESEND_MAX_S, "the longest resend wait");
#define DOWN_LOG_NS 10000000000ull /* not connected this long: said on stderr, last_error */

struct lg_nats {
	struct lg_outbox_said ob_said; /* the outbox's losses said on stderr (output thread) */
	struct lg_policy_nats cfg;
	struct lg_outbox *ob;
	natsOptions *opts;	/* libnats retries a first connect that fails (at start) */
	natsOptions *opts_once; /* a new connection's: a failure says why at once */
	natsConnection *nc;
	jsCtx *js;
	char subj_base[200]; /* <prefix>.<plant>.<line> */
	char id_base[160];   /* <plant>:<line>:<outbox id> */

	/* Filled by libnats's threads (the acknowledgement handler), taken by the pump. */
	pthread_mutex_t lock;
	uint64_t ackq[ACKQ];
	unsigned nackq;
	bool rewind;

	/* The output thread's. done[seq % WINDOW] == seq once the stream acknowledged seq. */
	uint64_t done[WINDOW];
	uint64_t acked;	  /* every record up to this one is acknowledged */
	uint64_t pass_hi; /* the last record published since the last rewind */
	uint64_t sent_hi; /* the highest ever published */
	uint64_t last_rewind_ns;
	unsigned rewind_shift;	 /* output thread: the wait before the next pass, REWIND_NS << it */
	uint64_t acked_at_rewind; /* output thread: the cursor at the last pass */
	/* Decimation per device: scores, and features per channel (issue 13). */
	struct {
		uint32_t id, count;
		uint32_t feat[LGF_MAX_CHANNELS];
	} dec[DEC_SLOTS];
	_Atomic uint64_t feat_skipped, feat_none;

	_Atomic uint64_t published, acks, duplicates, resent, errors, skipped, connects;
	_Atomic int64_t outstanding; /* handed to libnats, not yet acknowledged or failed */
	_Atomic bool connected;
	_Atomic bool closed; /* libnats's closed callback ran: none of n's callbacks comes later */

	/*
	 * libnats gives a connection up for good at a login refused twice in a row by the same
	 * server, or an -ERR it does not know; it did so silently and the output never
	 * published again (re-check trial 13 N2). The pump logs why, counts it and makes a new
	 * connection after a backoff (1 s, doubled up to 30 s), on a thread of its own: a
	 * connect waits up to 2 s per URL and must not stall the output thread.
	 */
	_Atomic uint64_t closes;   /* connections libnats gave up on */
	char close_why[256];	   /* under lock: its last error when it did */
	uint64_t renew_at_ns;	   /* output thread: when to connect again (0: not yet set) */
	uint64_t down_since_ns;	   /* output thread: not connected since (0: connected) */
	bool down_logged;	   /* output thread: that was said */
	/* output thread: connections said (connected, connected again) and whether the loss
	 * of the last one was: each once, not per record (trial J F13: a server killed and
	 * back left no line, MQTT's says both) */
	uint64_t connects_said;
	bool lost_said;
	uint64_t lost_ns;
	char url_said[256]; /* output thread: the server connected to, for the loss's line */
	unsigned given_up;	   /* output thread: closes since the last connection */
	unsigned backoff_ms;	   /* output thread: the wait before the next new connection */
	char close_logged[256];	   /* output thread: the reason last logged, and when */
	uint64_t close_logged_ns;
	bool renewing;		   /* output thread: renewer runs (or ran, not yet joined) */
	bool renew_inline;	   /* no thread could be made: renew_main ran in the pump */
	pthread_t renewer;
	_Atomic bool renewed;	   /* renewer done: new_nc, new_js, new_s are set */
	natsConnection *new_nc;
	jsCtx *new_js;
	natsStatus new_s;
	char new_why[256];
	natsStatus close_status;  /* under lock: libnats's status when it gave up */
	bool own_try;		  /* output thread: closed by a failed try of the renewer's */

	/* Credentials and the server's refusals (issue 13, docs/fleet.md "Credentials"). */
	uint8_t nkey_raw[LG_NKEY_RAW_LEN]; /* the nkey seed, zeroed at close */
	char inbox[160];		    /* _INBOX.<plant>.<line>: replies come there */
	_Atomic uint64_t refused;	    /* messages the server refused (permissions) */
	char last_error[256];		    /* under lock: the server's last refusal */
	uint64_t last_error_ns;		    /* under lock: when (0: never) */
	_Atomic uint64_t last_ack_ns;	    /* the newest acknowledgement's time (0: none yet) */
	_Atomic bool nostream_said;	    /* the missing stream said, no ack since */
	uint64_t logged_ns;		    /* under lock: when a refusal was last logged */
	/* under lock: hashes of the refusal texts logged already (each is logged once; the
	 * last 256 kept), and the refusals not logged since the last summary line (at most
	 * one a minute) */
	uint64_t seen[256];
	unsigned nseen;
	uint64_t unlogged;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_connected(natsConnection *nc, void *closure)
{
	struct lg_nats *n = closure;

	(void)nc;
	atomic_store(&n->connected, true);
	atomic_fetch_add(&n->connects, 1);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	atomic_store(&((struct lg_nats *)closure)->connected, false);
}

/* The last callback of a connection (libnats calls them in order, from its own thread). */
static void on_closed(natsConnection *nc, void *closure)
{
	struct lg_nats *n = closure;
	const char *txt = NULL;
	/* closed: no reader thread writes the connection's last error any more */
	natsStatus st = natsConnection_GetLastError(nc, &txt);

	pthread_mutex_lock(&n->lock);
	snprintf(n->close_why, sizeof(n->close_why), "%s", txt && txt[0] ? txt : lg_nats_why(st));
	n->close_status = st;
	pthread_mutex_unlock(&n->lock);
	atomic_store(&n->connected, false);
	atomic_store(&n->closed, true);
}

/* The sequence number from Nats-Msg-Id (<plant>:<line>:<outbox id>:<seq>), 0 if none. */
static uint64_t msg_seq(natsMsg *msg)
{
	const char *id = NULL, *colon;

	if (!msg || natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || !id)
		return 0;
	colon = strrchr(id, ':');
	return colon ? strtoull(colon + 1, NULL, 10) : 0;
}

static void note_refusal(struct lg_nats *n, const char *what);
static void note_no_stream(struct lg_nats *n, const char *what);
static void take_acks(struct lg_nats *n);

/* libnats's thread: one acknowledgement (pa) or failure (pae) of a published record. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct lg_nats *n = closure;
	uint64_t seq = msg_seq(msg);

	(void)js;
	atomic_fetch_sub(&n->outstanding, 1);
	pthread_mutex_lock(&n->lock);
	(void)pae;
	if (pa && seq) {
		atomic_fetch_add(&n->acks, 1);
		atomic_store_explicit(&n->last_ack_ns, mono_ns(), memory_order_relaxed);
		atomic_store_explicit(&n->nostream_said, false, memory_order_relaxed);
		if (pa->Duplicate)
			atomic_fetch_add(&n->duplicates, 1);
		/* Room for every ack in flight (ACKQ > LG_NATS_INFLIGHT); were there none, the
		 * record would be sent again rather than hold the cursor back for good. */
		if (n->nackq < ACKQ)
			n->ackq[n->nackq++] = seq;
		else
			n->rewind = true;
	} else {
		/* Refused (no stream for the subject, a full stream) or not acknowledged within
		 * LG_NATS_ACK_WAIT_MS: sent again from the cursor. */
		atomic_fetch_add(&n->errors, 1);
		n->rewind = true;
	}
	pthread_mutex_unlock(&n->lock);
	if (pae && pae->ErrCode && pae->ErrText) {
		note_refusal(n, pae->ErrText); /* JetStream's own refusal (a full stream) */
	} else if (pae && pae->Err == NATS_NO_RESPONDERS) {
		/* Nothing took the subject: no stream holds it (trial Q, s23: a server started
		 * again without its stream refused every record, and nothing said so) */
		char why[400];

		snprintf(why, sizeof(why), "no stream takes the subjects %.200s.> (no responders): "
			 "create the plant's stream (docs/fleet.md \"The plant's stream\")",
			 n->subj_base);
		note_no_stream(n, why);
	}
	natsMsg_Destroy(msg);
}

/*
 * Keep the server's text of a refusal; log each text once (a refused record is refused
 * again on every resend, each subject with its own text), and the count of the others at
 * most once a minute.
 */
/* The missing stream's refusal as its own episode: said once when it starts (the first
 * refusal after an acknowledgement), kept in last_error for every one; not among the texts
 * said once for the whole run (trial S, s23: a second loss of the stream was said as "N more
 * refusals like those above", N the first episode's count). */
static void note_no_stream(struct lg_nats *n, const char *what)
{
	bool said = atomic_exchange(&n->nostream_said, true);

	pthread_mutex_lock(&n->lock);
	snprintf(n->last_error, sizeof(n->last_error), "%.255s", what);
	n->last_error_ns = mono_ns();
	pthread_mutex_unlock(&n->lock);
	if (!said)
		fprintf(stderr, "linegate: nats: the server refused: %s (records stay in the "
			"outbox; said again only after records were acknowledged in between)\n",
			what);
}

static void note_refusal(struct lg_nats *n, const char *what)
{
	uint64_t now = mono_ns(), h = 1469598103934665603ull, more = 0;
	bool log = true;

	for (const char *c = what; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ull; /* FNV-1a */
	pthread_mutex_lock(&n->lock);
	snprintf(n->last_error, sizeof(n->last_error), "%s", what);
	n->last_error_ns = now;
	for (unsigned i = 0; log && i < n->nseen && i < 256; i++)
		log = n->seen[i] != h;
	if (log)
		n->seen[n->nseen++ % 256] = h;
	else
		n->unlogged++;
	if (n->unlogged && now - n->logged_ns >= 60000000000ull) {
		more = n->unlogged;
		n->unlogged = 0;
		n->logged_ns = now;
	}
	if (log)
		n->logged_ns = now;
	pthread_mutex_unlock(&n->lock);
	if (log)
		fprintf(stderr, "linegate: nats: the server refused: %s (records stay in the "
			"outbox; each text is shown once)\n", what);
	if (more)
		fprintf(stderr, "linegate: nats: %" PRIu64 " more refusals like those above "
			"(nats.refused counts every one)\n", more);
}

/* libnats's thread: an asynchronous error; a permission violation is the server refusing a
 * publish (or the subscription for acknowledgements), with its own words. */
static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	struct lg_nats *n = closure;
	const char *txt;

	(void)sub;
	if (err != NATS_NOT_PERMITTED)
		return;
	/* this event's own text: libnats hands it to this thread (the connection's last
	 * error may be a later one already: a subscription's refusal read as a publish's was
	 * counted as a record, re-check trial 13b) */
	(void)nc;
	txt = lg_nats_why(err);
	/* a publish refused is a record refused; a subscription refused (the replies' inbox)
	 * is logged the same way but is no record */
	if (!strstr(txt, "for Subscription"))
		atomic_fetch_add(&n->refused, 1);
	note_refusal(n, txt);
}

static int nats_err(char *err, size_t errlen, const char *what, natsStatus s)
{
	snprintf(err, errlen, "NATS %s: %s", what, lg_nats_why(s));
	return -EIO;
}

/* output.nats.nkey_file or creds_file: the file checked again (0600) and, for an nkey, its
 * seed read once; a .creds file is read at every connect (nats_common.h). */
static int setup_auth(struct lg_nats *n, char *err, size_t errlen)
{
	const struct lg_policy_nats *c = &n->cfg;
	char pub[LG_NKEY_PUB_LEN + 1], why[PATH_MAX + 200];
	int ret = lg_nats_auth_load(c->nkey_file, c->creds_file, n->nkey_raw, pub, why,
				    sizeof(why));
	natsStatus s;

	if (ret) {
		snprintf(err, errlen, "output.nats: %s", why);
		return ret;
	}
	s = lg_nats_auth_set(n->opts, pub, n->nkey_raw, c->creds_file);
	if (s == NATS_OK)
		s = lg_nats_auth_set(n->opts_once, pub, n->nkey_raw, c->creds_file);
	return s == NATS_OK ? 0 : nats_err(err, errlen, "credentials", s);
}

/* The options of a connection; retry: libnats tries again on its own when no server
 * answers the first time (at start), else the connect says why it failed (a new one). */
static natsStatus make_options(struct lg_nats *n, natsOptions **out, bool retry)
{
	const struct lg_policy_nats *c = &n->cfg;
	const char *urls[LG_NATS_MAX_URLS];
	natsOptions *o = NULL;
	natsStatus s;

	for (unsigned i = 0; i < c->nurls; i++)
		urls[i] = c->urls[i];
	s = natsOptions_Create(&o);
	*out = o;
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, urls, c->nurls);
	/* Reconnect for ever, every 500 ms: records wait in the outbox meanwhile. */
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 500);
	if (s == NATS_OK && retry)
		s = natsOptions_SetRetryOnFailedConnect(o, true, on_connected, n);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_connected, n);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_disconnected, n);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(o, on_closed, n);
	if (s == NATS_OK && c->tls_ca[0]) {
		s = natsOptions_SetSecure(o, true);
		if (s == NATS_OK)
			s = natsOptions_LoadCATrustedCertificates(o, c->tls_ca);
		if (s == NATS_OK && c->tls_cert[0])
			s = natsOptions_LoadCertificatesChain(o, c->tls_cert, c->tls_key);
	}
	/* Replies (the stream's acknowledgements) to an inbox of this line's, so that a
	 * server's permissions can hold it to its own replies (docs/fleet.md). */
	if (s == NATS_OK)
		s = natsOptions_SetCustomInboxPrefix(o, n->inbox);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, on_error, n);
	return s;
}

static int setup_options(struct lg_nats *n, char *err, size_t errlen)
{
	natsStatus s;

	snprintf(n->inbox, sizeof(n->inbox), "_INBOX.%s.%s", n->cfg.plant, n->cfg.line);
	s = make_options(n, &n->opts, true);
	if (s == NATS_OK)
		s = make_options(n, &n->opts_once, false);
	if (s != NATS_OK)
		return nats_err(err, errlen, "options", s);
	return setup_auth(n, err, errlen);
}

/*
 * A connection and its JetStream context. With opts (retry), NATS_OK also when no server
 * answers yet: libnats keeps trying. On failure *what names the step and *ncp, *jsp hold
 * what was made (to be destroyed).
 */
static natsStatus connect_js(struct lg_nats *n, natsOptions *opts, natsConnection **ncp,
			     jsCtx **jsp, const char **what)
{
	jsOptions jo;
	natsStatus s = lg_nats_connect(ncp, opts);

	*what = "connect";
	if (s == NATS_OK) {
		atomic_store(&n->connected, true);
		atomic_fetch_add(&n->connects, 1);
	} else if (s != NATS_NOT_YET_CONNECTED) {
		return s;
	}
	*what = "JetStream context";
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = 4 * LG_NATS_INFLIGHT;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = n;
	return natsConnection_JetStream(jsp, *ncp, &jo);
}

/* The renewer thread: one try at every URL; a failure keeps libnats's words for it (its
 * last error is per thread). */
static void *renew_main(void *arg)
{
	struct lg_nats *n = arg;
	const char *what;

	n->new_s = connect_js(n, n->opts_once, &n->new_nc, &n->new_js, &what);
	if (n->new_s != NATS_OK)
		snprintf(n->new_why, sizeof(n->new_why), "%s", lg_nats_why(n->new_s));
	atomic_store(&n->renewed, true);
	return NULL;
}

static void drop_connection(natsConnection **nc, jsCtx **js)
{
	jsCtx_Destroy(*js);
	natsConnection_Destroy(*nc);
	*js = NULL;
	*nc = NULL;
}

/* The output thread: a connection made, the first or again (once each, with the server). */
static void say_connected(struct lg_nats *n, uint64_t c, uint64_t now)
{
	char url[256] = "";

	if (n->nc && natsConnection_GetConnectedUrl(n->nc, url, sizeof(url)) != NATS_OK)
		url[0] = '\0';
	if (n->lost_said || n->down_logged) /* "no server connected for 10 s" was said */
		fprintf(stderr, "linegate: nats: connected again after %.0f s to %s (%llu "
			"connections so far)\n",
			(double)(now - (n->lost_said ? n->lost_ns : n->down_since_ns)) / 1e9,
			url[0] ? url : "the server", (unsigned long long)c);
	else if (!n->connects_said)
		fprintf(stderr, "linegate: nats: connected to %s\n", url[0] ? url : "the server");
	else /* lost and made again between two looks */
		fprintf(stderr, "linegate: nats: the connection was lost and made again to %s "
			"(%llu connections so far)\n", url[0] ? url : "the server",
			(unsigned long long)c);
	snprintf(n->url_said, sizeof(n->url_said), "%s", url[0] ? url : "the server");
	n->connects_said = c;
	n->lost_said = false;
}

/* The output thread: the connection is lost (libnats reconnects on its own): said once, and
 * kept as the last failure /readyz shows. */
static void say_lost(struct lg_nats *n, uint64_t now)
{
	const char *url = n->url_said[0] ? n->url_said : "the server", *txt = NULL;
	char why[200] = "";

	if (n->nc && natsConnection_GetLastError(n->nc, &txt) != NATS_OK && txt && txt[0])
		snprintf(why, sizeof(why), ": %s", txt);
	fprintf(stderr, "linegate: nats: the connection to %s was lost%s; libnats reconnects "
		"every 0.5 s, records wait in the outbox\n", url, why);
	pthread_mutex_lock(&n->lock);
	snprintf(n->last_error, sizeof(n->last_error), "connection to %.150s lost%.80s", url,
		 why);
	n->last_error_ns = now;
	pthread_mutex_unlock(&n->lock);
	n->lost_said = true;
	n->lost_ns = now;
}

/*
 * The output thread: the connection libnats gave up on is logged and counted, then replaced
 * after the backoff. False while there is no connection to publish on.
 */
static bool connection_alive(struct lg_nats *n)
{
	uint64_t now = mono_ns();
	char why[256];

	if (n->renewing) {
		if (!atomic_load(&n->renewed))
			return false;
		if (!n->renew_inline)
			pthread_join(n->renewer, NULL);
		n->renewing = false;
		atomic_store(&n->renewed, false);
		n->nc = n->new_nc;
		n->js = n->new_js;
		n->own_try = n->new_s != NATS_OK;
		if (n->own_try) { /* refused (or no server): libnats's words for this try */
			drop_connection(&n->nc, &n->js);
			pthread_mutex_lock(&n->lock);
			snprintf(n->close_why, sizeof(n->close_why), "%s", n->new_why);
			n->close_status = n->new_s;
			pthread_mutex_unlock(&n->lock);
			atomic_store(&n->closed, true);
		}
	}
	if (!atomic_load(&n->closed)) {
		uint64_t c = atomic_load(&n->connects);

		if (atomic_load(&n->connected)) {
			if (n->given_up)
				fprintf(stderr, "linegate: nats: connected, after %u connection(s) "
					"given up\n", n->given_up);
			n->given_up = 0;
			n->backoff_ms = 0;
			if (c != n->connects_said)
				say_connected(n, c, now);
			n->down_logged = false;
			n->down_since_ns = 0;
		} else if (c && !n->lost_said) {
			say_lost(n, now);
			n->down_since_ns = now;
		} else if (!n->down_since_ns) {
			n->down_since_ns = now;
		} else if (!n->down_logged && now - n->down_since_ns >= DOWN_LOG_NS) {
			/* libnats retries on its own and says nothing of why (its errors are
			 * its reconnect thread's): a server that is down or unreachable, or one
			 * that takes the connection and never answers (re-check trial 13b) */
			n->down_logged = true;
			fprintf(stderr, "linegate: nats: no server connected for %llu s (libnats "
				"keeps trying every 0.5 s: a server down or out of reach, or one "
				"that takes the connection and does not answer); records wait in "
				"the outbox\n", DOWN_LOG_NS / 1000000000ull);
			pthread_mutex_lock(&n->lock);
			snprintf(n->last_error, sizeof(n->last_error), "no server connected for %llu "
				 "s (libnats keeps trying)", DOWN_LOG_NS / 1000000000ull);
			n->last_error_ns = now;
			pthread_mutex_unlock(&n->lock);
		}
		return true;
	}
	if (!n->renew_at_ns) {
		pthread_mutex_lock(&n->lock);
		snprintf(why, sizeof(why), "%s", n->close_why);
		bool vague = n->close_status == NATS_NO_SERVER && !n->own_try;
		if (!vague) {
			snprintf(n->last_error, sizeof(n->last_error), "connection given up: %.200s",
				 why);
			n->last_error_ns = now;
		}
		pthread_mutex_unlock(&n->lock);
		if (vague) {
			/* libnats's retries of a first connect end in "no server" whatever the
			 * server said: one try of linegate's own, at once, says why */
			n->renew_at_ns = now;
		} else {
			atomic_fetch_add(&n->closes, 1);
			n->given_up++;
			n->backoff_ms = n->backoff_ms ? (n->backoff_ms >= 15000 ? 30000
									 : n->backoff_ms * 2)
						      : 1000;
			n->renew_at_ns = now + (uint64_t)n->backoff_ms * 1000000u;
			/* a new reason at once, the same one at most once a minute */
			if (strcmp(why, n->close_logged) ||
			    now - n->close_logged_ns >= 60000000000ull) {
				fprintf(stderr, "linegate: nats: libnats gave the connection up (%s); "
					"a new one in %u s, records wait in the outbox (nats.closes "
					"counts these)\n", why, n->backoff_ms / 1000);
				snprintf(n->close_logged, sizeof(n->close_logged), "%s", why);
				n->close_logged_ns = now;
			}
			return false;
		}
	}
	if (now < n->renew_at_ns)
		return false;
	/* Its callbacks are over (on_closed was the last); acknowledgements not come are
	 * not coming: everything past the cursor is sent again on the new connection. */
	drop_connection(&n->nc, &n->js);
	take_acks(n);
	atomic_store(&n->outstanding, 0);
	lg_outbox_rewind(n->ob);
	n->pass_hi = n->acked;
	n->renew_at_ns = 0;
	atomic_store(&n->closed, false);
	n->new_nc = NULL;
	n->new_js = NULL;
	n->renewing = true;
	n->renew_inline = pthread_create(&n->renewer, NULL, renew_main, n) != 0;
	if (n->renew_inline)
		renew_main(n); /* no thread: here, then (taken at the next pump) */
	return false;
}

int lg_nats_open(const struct lg_policy_nats *cfg, struct lg_nats **out, char *err,
		 size_t errlen)
{
	struct lg_outbox_cfg ocfg = { .dir = cfg->outbox_dir, .max_bytes = cfg->outbox_max_bytes,
				      .sync_ms = 20 };
	struct lg_outbox_stats st;
	const char *what;
	natsStatus s;
	struct lg_nats *n = calloc(1, sizeof(*n));
	int rc;

	if (!n)
		return -ENOMEM;
	n->cfg = *cfg;
	pthread_mutex_init(&n->lock, NULL);
	rc = lg_outbox_open(&ocfg, &n->ob, err, errlen);
	if (rc)
		goto err;
	lg_outbox_stats(n->ob, &st);
	n->acked = n->pass_hi = st.acked;
	/* The first pass counts as one: a refusal of it is sent again a second later, not at
	 * once (trial V, s24: the second pass 11 ms after the first after a restart). */
	n->last_rewind_ns = mono_ns();
	/* What a previous run left unacknowledged counts as sent: it may well have been. */
	n->sent_hi = st.next_seq - 1;
	snprintf(n->subj_base, sizeof(n->subj_base), "%s.%s.%s", cfg->subject_prefix, cfg->plant,
		 cfg->line);
	snprintf(n->id_base, sizeof(n->id_base), "%s:%s:%s", cfg->plant, cfg->line,
		 lg_outbox_id(n->ob));
	rc = setup_options(n, err, errlen);
	if (rc)
		goto err;
	s = connect_js(n, n->opts, &n->nc, &n->js, &what);
	if (s != NATS_OK) {
		rc = nats_err(err, errlen, what, s);
		goto err;
	}
	*out = n;
	return 0;
err:
	lg_nats_close(n);
	return rc;
}

/* A device's decimation counters (open addressing; more slots than devices). */
static unsigned dec_slot(struct lg_nats *n, uint32_t id)
{
	uint32_t h = (id * 2654435761u) % DEC_SLOTS;

	for (unsigned i = 0; i < DEC_SLOTS; i++, h = (h + 1) % DEC_SLOTS) {
		if (!n->dec[h].id)
			n->dec[h].id = id;
		if (n->dec[h].id == id)
			return h;
	}
	return 0; /* cannot happen: more slots than devices */
}

/* score_every: the first score of a device and then every N-th. */
static bool score_due(struct lg_nats *n, uint32_t id)
{
	if (!n->cfg.score_every)
		return false;
	return n->dec[dec_slot(n, id)].count++ % n->cfg.score_every == 0;
}

uint32_t lg_nats_features(const struct lg_nats *n)
{
	return n ? n->cfg.features : 0;
}

/* feature_every: as output.influx's decimation, the 1st, N+1-th, ... row of each device
 * channel (influx.c), counted here whatever the row carries. */
bool lg_nats_feature_due(struct lg_nats *n, uint32_t device_id, unsigned channel)
{
	uint32_t *cnt = &n->dec[dec_slot(n, device_id)].feat[channel % LGF_MAX_CHANNELS];

	if ((*cnt)++ % n->cfg.feature_every == 0)
		return true;
	atomic_fetch_add_explicit(&n->feat_skipped, 1, memory_order_relaxed);
	return false;
}

void lg_nats_features_none(struct lg_nats *n)
{
	atomic_fetch_add_explicit(&n->feat_none, 1, memory_order_relaxed);
}

void lg_nats_put(struct lg_nats *n, enum lg_outbox_kind kind, uint32_t device_id,
		 const char *device, const char *json, size_t len)
{
	if (kind == LG_OUTBOX_SCORE && !score_due(n, device_id)) {
		atomic_fetch_add_explicit(&n->skipped, 1, memory_order_relaxed);
		return;
	}
	/* Refusals are counted by the outbox (full, disk errors). */
	lg_outbox_append(n->ob, kind, device, json, len, NULL);
}

static const char *const kind_token[LG_OUTBOX_KINDS] = {
	[LG_OUTBOX_SCORE] = "score",
	[LG_OUTBOX_ALERT] = "alert",
	[LG_OUTBOX_INCIDENT] = "incident",
	[LG_OUTBOX_EVENT] = "event",
	[LG_OUTBOX_FEATURES] = "features",
};

/* Acknowledgements in: the cursor advances over every record acknowledged in a row. */
static void take_acks(struct lg_nats *n)
{
	uint64_t q[ACKQ];
	unsigned cnt;
	bool rewind;
	struct lg_outbox_stats st;

	pthread_mutex_lock(&n->lock);
	cnt = n->nackq;
	memcpy(q, n->ackq, cnt * sizeof(q[0]));
	n->nackq = 0;
	rewind = n->rewind;
	n->rewind = false;
	pthread_mutex_unlock(&n->lock);

	/* The outbox may have evicted records (full): the cursor is past them. */
	lg_outbox_stats(n->ob, &st);
	if (st.acked > n->acked)
		n->acked = st.acked;
	for (unsigned i = 0; i < cnt; i++)
		if (q[i] > n->acked && q[i] - n->acked <= WINDOW)
			n->done[q[i] % WINDOW] = q[i];
	while (n->done[(n->acked + 1) % WINDOW] == n->acked + 1)
		n->acked++;
	lg_outbox_ack(n->ob, n->acked);
	if (n->pass_hi < n->acked)
		n->pass_hi = n->acked;
	if (rewind) {
		uint64_t now = mono_ns();

		if (now - n->last_rewind_ns >= REWIND_NS << n->rewind_shift) {
			if (n->acked != n->acked_at_rewind)
				n->rewind_shift = 0;
			else if (n->rewind_shift < REWIND_SHIFT_MAX)
				n->rewind_shift++;
			n->acked_at_rewind = n->acked;
			n->last_rewind_ns = now;
			lg_outbox_rewind(n->ob);
			n->pass_hi = n->acked;
		} else {
			pthread_mutex_lock(&n->lock);
			n->rewind = true; /* not yet: keep it for a later round */
			pthread_mutex_unlock(&n->lock);
		}
	}
}

static bool publish_one(struct lg_nats *n, const struct lg_outbox_rec *r)
{
	char subj[512], id[200];
	jsPubOptions po;
	natsMsg *msg = NULL;
	natsStatus s;

	/* key "": the line server's own event (a recording that stopped), <base>.event */
	if (r->key[0])
		snprintf(subj, sizeof(subj), "%s.%s.%s", n->subj_base, kind_token[r->kind], r->key);
	else
		snprintf(subj, sizeof(subj), "%s.%s", n->subj_base, kind_token[r->kind]);
	snprintf(id, sizeof(id), "%s:%" PRIu64, n->id_base, r->seq);
	jsPubOptions_Init(&po);
	po.MsgId = id;
	po.MaxWait = LG_NATS_ACK_WAIT_MS;
	s = natsMsg_Create(&msg, subj, NULL, r->data, (int)r->len);
	atomic_fetch_add(&n->outstanding, 1);
	if (s == NATS_OK)
		s = js_PublishMsgAsync(n->js, &msg, &po);
	natsMsg_Destroy(msg); /* NULL once libnats took it */
	if (s != NATS_OK) {
		atomic_fetch_sub(&n->outstanding, 1);
		atomic_fetch_add(&n->errors, 1);
		return false;
	}
	atomic_fetch_add_explicit(&n->published, 1, memory_order_relaxed);
	if (r->seq <= n->sent_hi)
		atomic_fetch_add_explicit(&n->resent, 1, memory_order_relaxed);
	else
		n->sent_hi = r->seq;
	n->pass_hi = r->seq;
	return true;
}

void lg_nats_pump(struct lg_nats *n)
{
	struct lg_outbox_rec r;

	lg_outbox_sync(n->ob, false);
	take_acks(n);
	{
		char why[512];

		if (lg_outbox_loss_say(n->ob, &n->ob_said, mono_ns(), why, sizeof(why)))
			fprintf(stderr, "linegate: nats: %s (docs/fleet.md \"At least once, "
				"through the outbox\")\n", why);
	}
	if (!connection_alive(n) || !atomic_load(&n->connected) ||
	    natsConnection_Status(n->nc) != NATS_CONN_STATUS_CONNECTED)
		return;
	/* At most LG_NATS_INFLIGHT in flight, so that libnats never makes us wait. */
	while (n->pass_hi - n->acked < LG_NATS_INFLIGHT &&
	       atomic_load(&n->outstanding) < (int64_t)LG_NATS_INFLIGHT &&
	       lg_outbox_next(n->ob, &r) == 1) {
		if (!publish_one(n, &r)) {
			/* Not taken (a connection lost just now): from the cursor again later. */
			lg_outbox_rewind(n->ob);
			n->pass_hi = n->acked;
			break;
		}
	}
}

void lg_nats_flush(struct lg_nats *n, int timeout_ms)
{
	if (!n)
		return;
	lg_outbox_sync(n->ob, true);
	for (int t = 0; t < timeout_ms; t += 10) {
		struct lg_outbox_stats st;
		struct timespec ts = { 0, 10000000 };

		lg_nats_pump(n);
		lg_outbox_sync(n->ob, true);
		lg_outbox_stats(n->ob, &st);
		if (!st.records || !atomic_load(&n->connected))
			break;
		nanosleep(&ts, NULL);
	}
}

void lg_nats_stats(const struct lg_nats *n, struct lg_nats_stats *st)
{
	struct lg_nats *m = (struct lg_nats *)n;

	*st = (struct lg_nats_stats){
		.published = atomic_load(&m->published),
		.acked = atomic_load(&m->acks),
		.duplicates = atomic_load(&m->duplicates),
		.resent = atomic_load(&m->resent),
		.errors = atomic_load(&m->errors),
		.scores_skipped = atomic_load(&m->skipped),
		.connects = atomic_load(&m->connects),
		.closes = atomic_load(&m->closes),
		.connected = atomic_load(&m->connected),
		.refused = atomic_load(&m->refused),
		.features_skipped = atomic_load(&m->feat_skipped),
		.features_none = atomic_load(&m->feat_none),
	};
	pthread_mutex_lock(&m->lock);
	snprintf(st->last_error, sizeof(st->last_error), "%s", m->last_error);
	st->last_error_age_s = m->last_error_ns ? (double)(mono_ns() - m->last_error_ns) / 1e9 : -1;
	{
		uint64_t a = atomic_load_explicit(&m->last_ack_ns, memory_order_relaxed);

		st->last_ack_age_s = a ? (double)(mono_ns() - a) / 1e9 : -1;
	}
	pthread_mutex_unlock(&m->lock);
	lg_outbox_stats(n->ob, &st->outbox);
}

void lg_nats_close(struct lg_nats *n)
{
	if (!n)
		return;
	if (n->renewing) { /* a new connection being made: wait for it, and close it */
		if (!n->renew_inline)
			pthread_join(n->renewer, NULL);
		if (n->nc)
			drop_connection(&n->nc, &n->js);
		n->nc = n->new_nc;
		n->js = n->new_js;
	}
	if (n->js)
		jsCtx_Destroy(n->js);
	if (n->nc) {
		natsConnection_Close(n->nc);
		/* libnats delivers the disconnected and closed callbacks from its own thread,
		 * after Close returns: n is freed below, so wait for the last one (at most 1 s;
		 * it wrote into freed memory at exit, SIGSEGV, about one stop in five) */
		for (int i = 0; i < 100 && !atomic_load(&n->closed); i++)
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
		natsConnection_Destroy(n->nc);
	}
	natsOptions_Destroy(n->opts);
	natsOptions_Destroy(n->opts_once);
	/* Acknowledgements that came in while closing still move the cursor. */
	if (n->ob)
		take_acks(n);
	lg_outbox_close(n->ob);
	pthread_mutex_destroy(&n->lock);
	sodium_memzero(n->nkey_raw, sizeof(n->nkey_raw));
	free(n);
	/* Not nats_Close(): it cleans OpenSSL up for the whole process (a TLS connection made
	 * libnats initialise it), which linegate still uses for its MACs until it exits. */
}

#else /* !LG_HAVE_NATS */

int lg_nats_open(const struct lg_policy_nats *cfg, struct lg_nats **out, char *err,
		 size_t errlen)
{
	(void)cfg;
	(void)out;
	snprintf(err, errlen, "output.nats: this linegate was built without NATS (install "
		 "libnats-dev and build with meson -Dnats=enabled)");
	return -ENOTSUP;
}

void lg_nats_put(struct lg_nats *n, enum lg_outbox_kind kind, uint32_t device_id,
		 const char *device, const char *json, size_t len)
{
	(void)n, (void)kind, (void)device_id, (void)device, (void)json, (void)len;
}

uint32_t lg_nats_features(const struct lg_nats *n)
{
	(void)n;
	return 0;
}

bool lg_nats_feature_due(struct lg_nats *n, uint32_t device_id, unsigned channel)
{
	(void)n, (void)device_id, (void)channel;
	return false;
}

void lg_nats_features_none(struct lg_nats *n)
{
	(void)n;
}

void lg_nats_pump(struct lg_nats *n)
{
	(void)n;
}

void lg_nats_flush(struct lg_nats *n, int timeout_ms)
{
	(void)n, (void)timeout_ms;
}

void lg_nats_stats(const struct lg_nats *n, struct lg_nats_stats *st)
{
	(void)n;
	*st = (struct lg_nats_stats){ 0 };
}

void lg_nats_close(struct lg_nats *n)
{
	(void)n;
}

#endif
