// SPDX-License-Identifier: MIT
/* Dropping privileges after setup (include/linegate/priv.h). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <linegate/priv.h>

int lg_priv_lookup(const char *name, struct lg_priv_user *u, char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char buf[4096], *end;
	unsigned long n;

	memset(u, 0, sizeof(*u));
	if (!name[0] || strlen(name) >= sizeof(u->name)) {
		snprintf(err, errlen, "'%s': not a user name", name);
		return -ENOENT;
	}
	if (!getpwnam_r(name, &pw, buf, sizeof(buf), &res) && res) {
		if (!pw.pw_uid) {
			/* root by another name: a drop to uid 0 keeps every root-owned file */
			snprintf(err, errlen, "'%s' is uid 0 (root): name the user to become after "
				 "setup", name);
			return -EINVAL;
		}
		snprintf(u->name, sizeof(u->name), "%s", name);
		u->uid = pw.pw_uid;
		u->gid = pw.pw_gid;
		return 0;
	}
	errno = 0;
	n = strtoul(name, &end, 10);
	if (name[0] >= '0' && name[0] <= '9' && !*end && !errno && n > 0 && n < (uid_t)-1) {
		/* A bare number: its passwd entry if it has one, else uid and gid alike. */
		u->uid = (uid_t)n;
		u->gid = (gid_t)n;
		if (!getpwuid_r(u->uid, &pw, buf, sizeof(buf), &res) && res) {
			snprintf(u->name, sizeof(u->name), "%s", pw.pw_name);
			u->gid = pw.pw_gid;
		}
		return 0;
	}
	if (!strcmp(name, "0")) {
		snprintf(err, errlen, "uid 0 is root: name the user to become after setup");
		return -EINVAL;
	}
	snprintf(err, errlen, "no user '%s' (create it: adduser --system --group %s)", name, name);
	return -ENOENT;
}

void lg_priv_fs_as(const struct lg_priv_user *u)
{
	/* group first: once fsuid is not 0, setfsgid() would need CAP_SETGID, which the
	 * fsuid change takes out of the effective set for file system operations */
	setfsgid(u->gid);
	setfsuid(u->uid);
}

void lg_priv_fs_root(void)
{
	setfsuid(0);
	setfsgid(0);
}

static bool kept(cap_value_t c, const cap_value_t *keep, int nkeep)
{
	for (int i = 0; i < nkeep; i++)
		if (keep[i] == c)
			return true;
	return false;
}

int lg_priv_drop(const struct lg_priv_user *u, const cap_value_t *keep, int nkeep, char *err,
		 size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	cap_t caps;
	int ret;

	/* The bounding set first: dropping from it needs CAP_SETPCAP, which goes with the uid. */
	for (cap_value_t c = 0; c < (cap_value_t)cap_max_bits(); c++) {
		if (!CAP_IS_SUPPORTED(c) || kept(c, keep, nkeep) || cap_get_bound(c) != 1)
			continue;
		if (cap_drop_bound(c)) {
			char *name = cap_to_name(c);

			ret = -errno;
			snprintf(err, errlen,
				 "dropping %s from the bounding set: %s (dropping "
				 "capabilities needs CAP_SETPCAP)",
				 name ? name : "?", strerror(-ret));
			cap_free(name);
			return ret;
		}
	}
	/* Without KEEPCAPS the change of uid would clear this thread's permitted set, and the
	 * capabilities still needed with it. Other threads lose theirs: they have no KEEPCAPS. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)) {
		ret = -errno;
		snprintf(err, errlen, "PR_SET_KEEPCAPS: %s", strerror(errno));
		return ret;
	}
	if (u->name[0] ? initgroups(u->name, u->gid) : setgroups(1, &u->gid)) {
		ret = -errno;
		snprintf(err, errlen, "setting the groups of %s: %s",
			 u->name[0] ? u->name : "the user", strerror(errno));
		return ret;
	}
	if (setresgid(u->gid, u->gid, u->gid) || setresuid(u->uid, u->uid, u->uid)) {
		ret = -errno;
		snprintf(err, errlen, "becoming uid %u gid %u: %s", (unsigned)u->uid,
			 (unsigned)u->gid, strerror(errno));
		return ret;
	}
	caps = cap_init();
	if (!caps) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = 0;
	if (nkeep && (cap_set_flag(caps, CAP_PERMITTED, nkeep, keep, CAP_SET) ||
		      cap_set_flag(caps, CAP_EFFECTIVE, nkeep, keep, CAP_SET)))
		ret = -errno;
	if (!ret && cap_set_proc(caps))
		ret = -errno;
	cap_free(caps);
	if (ret) {
		snprintf(err, errlen, "keeping only the capabilities needed: %s", strerror(-ret));
		return ret;
	}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) || cap_reset_ambient() ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		ret = -errno;
		snprintf(err, errlen, "no_new_privs: %s", strerror(errno));
		return ret;
	}
	/* Check, not trust: every id is the user's, and root cannot be had back. */
	if (getresuid(&ru, &eu, &su) || getresgid(&rg, &eg, &sg) || ru != u->uid || eu != u->uid ||
	    su != u->uid || rg != u->gid || eg != u->gid || sg != u->gid ||
	    (u->uid && !setuid(0))) {
		snprintf(err, errlen, "the change of user did not take");
		return -EPERM;
	}
	return 0;
}

static int set_flag(cap_value_t c, cap_flag_t flag, cap_flag_value_t v)
{
	cap_t caps = cap_get_proc();
	int ret = 0;

	if (!caps)
		return -errno;
	if (cap_set_flag(caps, flag, 1, &c, v) ||
	    (flag == CAP_PERMITTED && v == CAP_CLEAR &&
	     cap_set_flag(caps, CAP_EFFECTIVE, 1, &c, CAP_CLEAR)) ||
	    cap_set_proc(caps))
		ret = -errno;
	cap_free(caps);
	return ret;
}

int lg_priv_try_without(cap_value_t c, int (*probe)(void *arg), void *arg)
{
	int ret = set_flag(c, CAP_EFFECTIVE, CAP_CLEAR);

	if (ret)
		return ret;
	if (probe(arg)) {
		ret = set_flag(c, CAP_EFFECTIVE, CAP_SET);
		return ret ? ret : 0;
	}
	ret = set_flag(c, CAP_PERMITTED, CAP_CLEAR);
	return ret ? ret : 1;
}

void lg_priv_describe(char *buf, size_t len)
{
	cap_t caps = cap_get_proc();
	size_t used = 0;

	buf[0] = '\0';
	for (cap_value_t c = 0; caps && c < (cap_value_t)cap_max_bits() && used < len; c++) {
		cap_flag_value_t v = CAP_CLEAR;
		char *name;

		if (cap_get_flag(caps, c, CAP_EFFECTIVE, &v) || v != CAP_SET)
			continue;
		name = cap_to_name(c);
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "",
					 name ? name : "?");
		cap_free(name);
	}
	if (!buf[0])
		snprintf(buf, len, "none");
	cap_free(caps);
}
