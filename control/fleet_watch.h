/* SPDX-License-Identifier: MIT */
/*
 * linegated's fleet watch (docs/fleet.md, "Fleet configuration and rollout"): a thread
 * that talks to NATS so that linegated's own loop never waits for the network. It looks
 * at the key-value bucket for this server's bundle version every second, fetches a new
 * version's manifest, signature and parts from the object store into a folder, and hands
 * them to linegated's loop (lg_fleet_fd() becomes readable). Nothing here trusts what it
 * fetched: linegated verifies the signature and the hashes, and applies. The loop hands
 * back the status report, which the thread puts under <plant>.<line>.status.<server>.
 */
#ifndef LINEGATE_FLEET_WATCH_H
#define LINEGATE_FLEET_WATCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct lg_fleet;

struct lg_fleet_cfg {
	const char *url;      /* nats://HOST:PORT[,...] */
	const char *plant, *line, *server; /* key tokens */
	const char *bucket;   /* key-value bucket (linegate-config) */
	const char *objects;  /* object store (linegate-bundles) */
	const char *tls_ca, *tls_cert, *tls_key; /* NULL = plain TCP */
	const char *creds;    /* a NATS .creds file, or NULL (0600, checked at start) */
	const char *nkey;     /* or an nkey user seed file, or NULL (0600, read at start) */
	const char *dir;      /* where fetched bundles are written (made 0700) */
	const char *applied;  /* the bundle version already applied ("" = none) */
	/* Issue 13: the JetStream domain of bucket and objects, NULL = the server's own; a
	 * line server's leaf node with JetStream of its own reaches the hub's by its domain
	 * ($JS.<domain>.API). */
	const char *domain;
};

struct lg_fleet_fetch {
	char version[72];
	char dir[PATH_MAX];   /* manifest.json, manifest.sig and the parts */
	int err;              /* 0, or why the fetch failed (in why) */
	bool canary;          /* the version came from this server's canary key */
	char why[512];
};

int lg_fleet_start(struct lg_fleet **out, const struct lg_fleet_cfg *cfg, char *err,
		   size_t errlen);
/* Readable when a fetch is ready for lg_fleet_take(). */
int lg_fleet_fd(const struct lg_fleet *f);
/* The fetch that is ready, if any (true). The version counts as handled: it is not fetched
 * again until the wanted version changes. */
bool lg_fleet_take(struct lg_fleet *f, struct lg_fleet_fetch *out);
/* The wanted version last seen in the bucket ("" = none), whether NATS answers, and whether
 * the version is this server's canary key's (canary may be NULL). */
void lg_fleet_wanted(struct lg_fleet *f, char *out, size_t len, bool *connected, bool *canary);
/* Fetch version again if it is the one handled last (its apply failed for a reason of this
 * server's, a data plane away: trial S, s23), at the thread's next look. */
void lg_fleet_again(struct lg_fleet *f, const char *version);
/* Put this status (JSON text) under <plant>.<line>.status.<server> (latest wins). */
void lg_fleet_report(struct lg_fleet *f, const char *json);
void lg_fleet_stop(struct lg_fleet *f);

#endif
