// SPDX-License-Identifier: MIT
/* The state folder: replay high-water marks and the last applied policy (statefile.h). */
#include "statefile.h"
#include "incident.h"

#include <linegate/outpath.h>
#include <linegate/policy.h>

#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#define HWM_SLOTS 8192 /* twice the device table: ids that come and go keep their marks */
#define HWM_MAGIC "LGHWM002"

/* A cache line each: workers store into their own devices' marks on every frame, and two
 * devices of two workers must not share a line. */
struct hwm_slot {
	uint32_t id;   /* 0 = free */
	uint32_t pad;
	_Atomic uint64_t seq;
	/* Fingerprints of the keys whose frames the mark covers (all zero: none, or a file
	 * of a linegate before trial s18; one of a linegate before trial s21 holds the keys
	 * the device had at the last apply): lg_state_hwm_keys(). Written by the device's
	 * owner worker (generation.c, lg_gen_mark_key()). */
	uint8_t keys[LG_HWM_KEYS][LG_HWM_FP_LEN];
	char line[48 - LG_HWM_KEYS * LG_HWM_FP_LEN];
};

struct hwm_file {
	char magic[8];
	uint64_t nslots;
	char line[48];
	struct hwm_slot slot[HWM_SLOTS];
};
_Static_assert(sizeof(struct hwm_slot) == 64, "one mark a cache line");
_Static_assert(offsetof(struct hwm_file, slot) == 64, "marks start on a cache line");

#define INC_SLOTS HWM_SLOTS
#define INC_MAGIC "LGINC001"

/* incidents.state: a header of 192 bytes, then one lg_inc_rec a device. */
struct inc_file {
	char magic[8];
	uint64_t nslots;
	char pad[176];
	struct lg_inc_rec slot[INC_SLOTS];
};
_Static_assert(offsetof(struct inc_file, slot) == 192, "slots start on a cache line");

struct lg_state {
	char *dir;
	int dfd;
	struct hwm_file *hwm;
	struct inc_file *inc;
	uint8_t boot[32];
	/* The boot file (--policy): as given, for messages, and its real path, which
	 * applied.json keeps to tell another file from an edited one. */
	char boot_path[PATH_MAX], boot_real[PATH_MAX];
};

/*
 * A state file by its name in the folder, never through a link, and only a regular file:
 * whoever may write the folder (the --user, the service user) must not make linegate open
 * another file in its place. err names the path and, for a link, says so.
 */
static int state_openat(const struct lg_state *st, const char *name, int flags, char *err,
			size_t errlen)
{
	struct stat sb;
	int fd = openat(st->dfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600), ret;

	if (fd < 0) {
		ret = -errno;
		if (errno == ELOOP)
			snprintf(err, errlen, "%s/%s is a symbolic link: refused (linegate makes "
				 "its state files itself and never follows a link there: remove "
				 "it)", st->dir, name);
		else
			snprintf(err, errlen, "%s/%s: %s", st->dir, name, strerror(errno));
		return ret;
	}
	if (fstat(fd, &sb))
		ret = -errno;
	else if (!S_ISREG(sb.st_mode))
		ret = -EINVAL;
	else
		return fd;
	snprintf(err, errlen, "%s/%s: %s", st->dir, name, ret == -EINVAL ?
		 "not a regular file: refused (remove it)" : strerror(-ret));
	close(fd);
	return ret;
}

/* incidents.state, mapped like replay.hwm (a file of another layout starts empty). */
static int map_incidents(struct lg_state *st, char *err, size_t errlen)
{
	struct stat sb;
	int fd, ret;

	fd = state_openat(st, "incidents.state", O_RDWR | O_CREAT, err, errlen);
	if (fd < 0)
		return fd;
	if (fstat(fd, &sb) ||
	    ((size_t)sb.st_size != sizeof(struct inc_file) &&
	     ftruncate(fd, sizeof(struct inc_file)))) {
		ret = -errno;
		snprintf(err, errlen, "%s/incidents.state: %s", st->dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	st->inc = mmap(NULL, sizeof(struct inc_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ret = -errno;
	close(fd);
	if (st->inc == MAP_FAILED) {
		st->inc = NULL;
		snprintf(err, errlen, "%s/incidents.state: %s", st->dir, strerror(-ret));
		return ret;
	}
	if (memcmp(st->inc->magic, INC_MAGIC, 8) || st->inc->nslots != INC_SLOTS) {
		memset(st->inc, 0, sizeof(*st->inc));
		memcpy(st->inc->magic, INC_MAGIC, 8);
		st->inc->nslots = INC_SLOTS;
	}
	return 0;
}

int lg_state_open(const char *dir, struct lg_state **out, char *err, size_t errlen)
{
	struct lg_state *st = calloc(1, sizeof(*st));
	char why[PATH_MAX + 300];
	struct stat sb;
	int fd = -1, ret;

	if (!st)
		return -ENOMEM;
	st->dfd = -1;
	st->dir = strdup(dir);
	if (!st->dir) {
		ret = -ENOMEM;
		goto err;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		ret = -errno;
		/* Which user, and what to do (trial N, s22: the text read as if --state-dir had
		 * been given, and did not say that the parent was what refused). */
		snprintf(err, errlen, "state folder %s: %s: linegate, as uid %u, cannot create it "
			 "in its parent folder; create it beforehand owned by that user (mode "
			 "0700), as systemd's StateDirectory= does, or give another with "
			 "--state-dir DIR", dir, strerror(errno), (unsigned)geteuid());
		goto err;
	}
	st->dfd = lg_outpath_open(dir, O_RDONLY | O_DIRECTORY, 0, why, sizeof(why));
	if (st->dfd < 0) {
		ret = st->dfd;
		snprintf(err, errlen, "state folder %s", why);
		goto err;
	}
	if (fstat(st->dfd, &sb)) {
		ret = -errno;
		snprintf(err, errlen, "state folder %s: %s", dir, strerror(errno));
		goto err;
	}
	/* Whoever may write the marks may make linegate accept replayed frames. */
	if (sb.st_mode & 022) {
		snprintf(err, errlen, "state folder %s: group or others may write it (mode %03o): "
			 "chmod 700 %s", dir, sb.st_mode & 0777, dir);
		ret = -EPERM;
		goto err;
	}
	fd = state_openat(st, "replay.hwm", O_RDWR | O_CREAT, err, errlen);
	if (fd < 0) {
		ret = fd;
		fd = -1;
		goto err;
	}
	if (fstat(fd, &sb)) {
		ret = -errno;
		snprintf(err, errlen, "%s/replay.hwm: %s", dir, strerror(errno));
		goto err;
	}
	if ((size_t)sb.st_size != sizeof(struct hwm_file) &&
	    ftruncate(fd, sizeof(struct hwm_file))) {
		ret = -errno;
		snprintf(err, errlen, "%s/replay.hwm: %s", dir, strerror(errno));
		goto err;
	}
	st->hwm = mmap(NULL, sizeof(struct hwm_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (st->hwm == MAP_FAILED) {
		st->hwm = NULL;
		ret = -errno;
		snprintf(err, errlen, "%s/replay.hwm: %s", dir, strerror(errno));
		goto err;
	}
	close(fd);
	fd = -1;
	if (memcmp(st->hwm->magic, HWM_MAGIC, 8) || st->hwm->nslots != HWM_SLOTS) {
		/* A new file (zeros), or one of another layout: start empty. */
		memset(st->hwm, 0, sizeof(*st->hwm));
		memcpy(st->hwm->magic, HWM_MAGIC, 8);
		st->hwm->nslots = HWM_SLOTS;
	}
	ret = map_incidents(st, err, errlen);
	if (ret)
		goto err;
	*out = st;
	return 0;
err:
	if (fd >= 0)
		close(fd);
	lg_state_close(st);
	return ret;
}

void lg_state_close(struct lg_state *st)
{
	if (!st)
		return;
	if (st->hwm)
		munmap(st->hwm, sizeof(*st->hwm));
	if (st->inc)
		munmap(st->inc, sizeof(*st->inc));
	if (st->dfd >= 0)
		close(st->dfd);
	free(st->dir);
	free(st);
}

const char *lg_state_dir(const struct lg_state *st)
{
	return st->dir;
}

uint8_t (*lg_state_hwm_keys(_Atomic uint64_t *hwm))[LG_HWM_FP_LEN]
{
	struct hwm_slot *s;

	if (!hwm)
		return NULL;
	s = (struct hwm_slot *)((char *)hwm - offsetof(struct hwm_slot, seq));
	return s->keys;
}

_Atomic uint64_t *lg_state_hwm(struct lg_state *st, uint32_t id)
{
	uint32_t h;

	if (!st || !id)
		return NULL;
	h = (id * 0x9e3779b1u) % HWM_SLOTS;
	for (unsigned i = 0; i < HWM_SLOTS; i++) {
		struct hwm_slot *s = &st->hwm->slot[(h + i) % HWM_SLOTS];

		if (s->id == id)
			return &s->seq;
		if (!s->id) {
			s->id = id;
			atomic_store(&s->seq, 0);
			return &s->seq;
		}
	}
	return NULL;
}

struct lg_inc_rec *lg_state_incident(struct lg_state *st, uint32_t id)
{
	uint32_t h;

	if (!st || !st->inc || !id)
		return NULL;
	h = (id * 0x9e3779b1u) % INC_SLOTS;
	for (unsigned i = 0; i < INC_SLOTS; i++) {
		struct lg_inc_rec *r = &st->inc->slot[(h + i) % INC_SLOTS];

		if (r->dev == id) {
			/* What a previous run wrote goes out in JSON lines: an id that is
			 * not one linegate makes (a damaged file) closes the incident. */
			size_t n = strnlen(r->id, sizeof(r->id));

			if (n == sizeof(r->id) || strspn(r->id, "abcdefghijklmnopqrstuvwxyz"
							"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n) {
				r->id[0] = '\0';
				r->open = 0;
			}
			return r;
		}
		if (!r->dev) {
			memset(r, 0, sizeof(*r));
			r->dev = id;
			return r;
		}
	}
	return NULL;
}

void lg_state_set_boot(struct lg_state *st, const uint8_t hash[32], const char *path)
{
	memcpy(st->boot, hash, 32);
	if (!path)
		return;
	snprintf(st->boot_path, sizeof(st->boot_path), "%s", path);
	if (!realpath(path, st->boot_real))
		snprintf(st->boot_real, sizeof(st->boot_real), "%s", path);
}

int lg_state_save_policy(struct lg_state *st, const char *text, size_t len, const char *name)
{
	json_object *o = json_object_new_object();
	const char *s;
	char hex[65];
	int fd = -1, ret = 0;
	size_t n;

	if (!o)
		return -ENOMEM;
	lg_hex_encode(st->boot, 32, hex);
	json_object_object_add(o, "boot_sha256", json_object_new_string(hex));
	if (st->boot_real[0])
		json_object_object_add(o, "boot_file", json_object_new_string(st->boot_real));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "text", json_object_new_string_len(text, (int)len));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	n = strlen(s);
	fd = openat(st->dfd, "applied.json.tmp",
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, s + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = w < 0 ? -errno : -EIO;
			goto out;
		}
		done += (size_t)w;
	}
	/* Data before the name: after a crash the old file or the new one, never half. */
	if (fsync(fd) || renameat(st->dfd, "applied.json.tmp", st->dfd, "applied.json") ||
	    fsync(st->dfd))
		ret = -errno;
out:
	if (fd >= 0)
		close(fd);
	json_object_put(o);
	return ret;
}

/* applied.json's policy text and name, copied: 1, or -ENOMEM with both NULL. */
static int take_text(json_object *nm, json_object *t, char **text, size_t *len, char **name)
{
	*len = (size_t)json_object_get_string_len(t);
	*text = malloc(*len + 1);
	*name = strdup(json_object_get_string(nm));
	if (!*text || !*name) {
		free(*text);
		free(*name);
		*text = *name = NULL;
		return -ENOMEM;
	}
	memcpy(*text, json_object_get_string(t), *len + 1);
	return 1;
}

/* applied.json, parsed (NULL when it is not JSON); *fd < 0 when it cannot be opened (a link,
 * ENOENT, ...: err says which). */
static json_object *read_applied(struct lg_state *st, int *fd, char *err, size_t errlen)
{
	json_object *o;

	*fd = state_openat(st, "applied.json", O_RDONLY, err, errlen);
	if (*fd < 0)
		return NULL;
	o = json_object_from_fd(*fd);
	close(*fd);
	return o;
}

int lg_state_last_applied(struct lg_state *st, char **text, size_t *len, char **name, char *err,
			  size_t errlen)
{
	json_object *o, *nm, *t;
	int ret = 0, fd;

	o = read_applied(st, &fd, err, errlen);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	if (o && json_object_object_get_ex(o, "name", &nm) &&
	    json_object_object_get_ex(o, "text", &t))
		ret = take_text(nm, t, text, len, name);
	json_object_put(o);
	return ret;
}

int lg_state_load_policy(struct lg_state *st, char **text, size_t *len, char **name, char *why,
			 size_t whylen)
{
	json_object *o, *b, *nm, *t, *bf;
	const char *last_boot = NULL;
	bool other_file;
	char hex[65];
	int fd, ret = 0;

	o = read_applied(st, &fd, why, whylen);
	if (fd < 0) {
		if (fd != -ENOENT)
			return fd;
		snprintf(why, whylen, "the boot file %s: no policy was applied since the state "
			 "folder %s was made", st->boot_path, st->dir);
		return 0;
	}
	if (!o || !json_object_object_get_ex(o, "boot_sha256", &b) ||
	    !json_object_object_get_ex(o, "name", &nm) ||
	    !json_object_object_get_ex(o, "text", &t)) {
		json_object_put(o);
		snprintf(why, whylen, "the boot file %s: %s/applied.json is unreadable",
			 st->boot_path, st->dir);
		return 0;
	}
	/* The start rule compares the boot file's text with the one it had at the last apply,
	 * whatever its name; the reason says which file it was then (kept since boot_file). */
	if (json_object_object_get_ex(o, "boot_file", &bf))
		last_boot = json_object_get_string(bf);
	other_file = last_boot && st->boot_real[0] && strcmp(last_boot, st->boot_real);
	lg_hex_encode(st->boot, 32, hex);
	if (strcmp(json_object_get_string(b), hex)) {
		if (other_file)
			snprintf(why, whylen, "started with another policy file (%s) than the "
				 "one of the last apply (%s): using %s", st->boot_path, last_boot,
				 st->boot_path);
		else
			snprintf(why, whylen, "the boot file %s: it changed since the last apply",
				 st->boot_path);
	} else {
		if (other_file)
			snprintf(why, whylen, "the last applied policy (kept in %s/applied.json): "
				 "started with another policy file (%s) than the one of the last "
				 "apply (%s), but with the same text, so the applies since are "
				 "newer",
				 st->dir, st->boot_path, last_boot);
		else
			snprintf(why, whylen, "the last applied policy (kept in %s/applied.json): "
				 "the boot file %s is unchanged since", st->dir, st->boot_path);
		ret = take_text(nm, t, text, len, name);
	}
	json_object_put(o);
	return ret;
}
