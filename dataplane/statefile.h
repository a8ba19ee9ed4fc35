/* SPDX-License-Identifier: MIT */
/*
 * The state folder (--state-dir, docs/operations.md "Restarts"): what a restarted linegate
 * needs to stay safe.
 *
 *	replay.hwm      per device (a cache line each), the highest sequence a worker
 *	                committed: a file mapped shared, stored into on every commit. It
 *	                lives in the page cache, so it survives kill -9 exactly (a power
 *	                cut may lose the last seconds).
 *	incidents.state per device (192 bytes each), its incident: open or not, id, onset,
 *	                counts (incident.h). Mapped shared like replay.hwm, written by the
 *	                device's owner worker, so that a restart continues an open incident.
 *	applied.json    the last applied policy: its text, the name it was parsed as and the
 *	                SHA-256 and path of the boot file at the time; written atomically
 *	                (temp file, fsync, rename, fsync of the folder).
 */
#ifndef LG_STATEFILE_H
#define LG_STATEFILE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct lg_state;

/* Open the folder (made 0700 when missing; refused when group or others may write it). */
int lg_state_open(const char *dir, struct lg_state **out, char *err, size_t errlen);
void lg_state_close(struct lg_state *st);
const char *lg_state_dir(const struct lg_state *st);

/* The high-water slot of a device (made on first use; called under the apply lock), NULL
 * when the table is full. */
_Atomic uint64_t *lg_state_hwm(struct lg_state *st, uint32_t id);

/*
 * The key fingerprints kept beside a high-water mark (hwm from lg_state_hwm()): the keys under
 * which a frame was accepted into the mark, LG_HWM_KEYS of LG_HWM_FP_LEN bytes (unused ones
 * zero), added by the device's owner worker the first time a key's frame is accepted, before
 * the mark moves (a file of an older linegate: the keys the device had at the last apply).
 * A device none of whose recorded keys is its any more starts a fresh mark (generation.c):
 * no frame the mark covers can verify again. NULL for NULL.
 */
#define LG_HWM_KEYS 2
#define LG_HWM_FP_LEN 16
uint8_t (*lg_state_hwm_keys(_Atomic uint64_t *hwm))[LG_HWM_FP_LEN];

/* The incident slot of a device (made on first use; called under the apply lock), NULL
 * when there is no state folder or the table is full. */
struct lg_inc_rec;
struct lg_inc_rec *lg_state_incident(struct lg_state *st, uint32_t id);

/* Keep an applied policy with the hash the boot file has now and its path (--policy;
 * kept as its real path, to tell another file from an edited one; NULL keeps the last). */
void lg_state_set_boot(struct lg_state *st, const uint8_t hash[32], const char *path);
int lg_state_save_policy(struct lg_state *st, const char *text, size_t len, const char *name);
/*
 * The last applied policy, when the boot file still has the hash it had when that policy
 * was applied: 1 with *text (NUL-terminated), *len and *name malloc'd. 0 when the boot file
 * is to be used. Either way why says which and why, as the start line says it (naming the
 * policy file of the last apply when linegate was started with another one). Negative errno
 * when the file cannot be opened, why then naming it: the start is refused (a link, which
 * linegate never follows in the state folder, or a file it may not read).
 *
 * Every state file is opened by name in the folder, never through a symbolic link and only
 * when it is a regular file (a folder the service user may write must not make linegate
 * open another file in its place).
 */
/* The last applied policy's text and name, whatever the boot file: 1, 0 when there is none
 * (or it is not JSON), or a negative errno with err naming the file (a link is refused). */
int lg_state_last_applied(struct lg_state *st, char **text, size_t *len, char **name, char *err,
			  size_t errlen);
int lg_state_load_policy(struct lg_state *st, char **text, size_t *len, char **name, char *why,
			 size_t whylen);

#endif
