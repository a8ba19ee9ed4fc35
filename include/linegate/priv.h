/* SPDX-License-Identifier: MIT */
/*
 * Dropping privileges after setup (docs/operations.md, "Installing as a service").
 *
 * A binary started as root does what needs root first (attach XDP, pin maps, open AF_XDP
 * sockets, bind the control socket), then becomes a dedicated user that keeps only the
 * capabilities it still uses. The drop is one call, made by the main thread before it
 * starts the threads that do the work: threads started later inherit its credentials, and
 * threads already running lose every capability with the change of user.
 */
#ifndef LINEGATE_PRIV_H
#define LINEGATE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <sys/capability.h>

/* The user to become, looked up once (before any work, so that a typo is refused at once). */
struct lg_priv_user {
	char name[64];
	uid_t uid;
	gid_t gid;
};

/*
 * Look NAME up (a user name, or a number). 0, or -ENOENT (-EINVAL for uid 0: not a drop)
 * with why in err.
 */
int lg_priv_lookup(const char *name, struct lg_priv_user *u, char *err, size_t errlen);

/*
 * Become u: drop every capability not in keep[0..nkeep) from the bounding set, set the
 * supplementary groups (the user's, from the group database), gid and uid (real,
 * effective and saved), keep exactly keep[] permitted and effective (none inheritable or
 * ambient), and set no_new_privs. 0, or negative errno with what failed in err: the caller
 * must stop then, never run on with more than it asked for.
 */
int lg_priv_drop(const struct lg_priv_user *u, const cap_value_t *keep, int nkeep, char *err,
		 size_t errlen);

/*
 * Find out by trying whether capability c is still needed: lower it from the effective set,
 * run probe(arg) and, when that returns 0, remove c from the permitted set too (for good)
 * and return 1; else raise it again and return 0. Negative errno when the sets cannot be
 * changed.
 */
int lg_priv_try_without(cap_value_t c, int (*probe)(void *arg), void *arg);

/*
 * Open, create and read files as u while still root (the file system uid and gid of this
 * thread: the kernel checks permissions as it would for u, follows no link u could not,
 * and what is created belongs to u), then as root again. For every path the root part of
 * a --user start takes from a file u may write (the policy, the state folder): root never
 * opens them on u's say-so.
 */
void lg_priv_fs_as(const struct lg_priv_user *u);
void lg_priv_fs_root(void);

/*
 * Write the effective capabilities of this thread as names ("cap_bpf,cap_net_admin", or
 * "none") into buf.
 */
void lg_priv_describe(char *buf, size_t len);

#endif
