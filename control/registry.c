// SPDX-License-Identifier: MIT
#include "registry.h"
#include "ctlproto.h"

#include <linegate/sign.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 63 || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

/* "name@version" -> its two parts, both checked. */
static int split_ref(const char *ref, char *name, char *version, char *err, size_t errlen)
{
	const char *at = strchr(ref, '@');

	if (!at || at - ref > 63 || strlen(at + 1) > 63) {
		snprintf(err, errlen, "'%s' is not NAME@VERSION", ref);
		return -EINVAL;
	}
	memcpy(name, ref, at - ref);
	name[at - ref] = '\0';
	strcpy(version, at + 1);
	if (!name_ok(name) || !name_ok(version)) {
		snprintf(err, errlen, "model names and versions are 1-63 letters, digits, '.', '_' "
			 "or '-', not starting with '.'");
		return -EINVAL;
	}
	return 0;
}

static int save_state(const struct lg_registry *r, char *err, size_t errlen)
{
	json_object *o = json_object_new_object(), *h = json_object_new_array();
	char path[LG_PATH_MAX + 32], tmp[LG_PATH_MAX + 32];
	int ret = 0;

	json_object_object_add(o, "active", json_object_new_string(r->active));
	json_object_object_add(o, "shadow", json_object_new_string(r->shadow));
	for (unsigned i = 0; i < r->nhistory; i++)
		json_object_array_add(h, json_object_new_string(r->history[i]));
	json_object_object_add(o, "history", h);
	snprintf(path, sizeof(path), "%s/state.json", r->root);
	snprintf(tmp, sizeof(tmp), "%s/.state.json.tmp", r->root);
	/* Write aside, then rename: a crash leaves the old state or the new, never half. */
	if (json_object_to_file_ext(tmp, o, JSON_C_TO_STRING_PRETTY) || rename(tmp, path)) {
		ret = -EIO;
		snprintf(err, errlen, "%s: cannot write the registry state", path);
	}
	json_object_put(o);
	return ret;
}

static int read_state(struct lg_registry *r, const char *path, char *err, size_t errlen);

int lg_registry_open(struct lg_registry *r, const char *root, char *err, size_t errlen)
{
	char path[LG_PATH_MAX + 32];

	memset(r, 0, sizeof(*r));
	if (strlen(root) >= sizeof(r->root)) {
		snprintf(err, errlen, "%s: path too long", root);
		return -ENAMETOOLONG;
	}
	strcpy(r->root, root);
	if (mkdir(root, 0750) && errno != EEXIST) {
		int ret = -errno;

		snprintf(err, errlen, "%s: %s", root, strerror(-ret));
		return ret;
	}
	snprintf(path, sizeof(path), "%s/state.json", root);
	if (access(path, F_OK))
		return 0; /* a new registry */
	return read_state(r, path, err, errlen);
}

int lg_registry_read(struct lg_registry *r, const char *root, char *err, size_t errlen)
{
	char path[LG_PATH_MAX + 32];

	memset(r, 0, sizeof(*r));
	if (strlen(root) >= sizeof(r->root)) {
		snprintf(err, errlen, "%s: path too long", root);
		return -ENAMETOOLONG;
	}
	strcpy(r->root, root);
	snprintf(path, sizeof(path), "%s/state.json", root);
	if (access(path, F_OK)) {
		int ret = -errno;

		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	return read_state(r, path, err, errlen);
}

static int read_state(struct lg_registry *r, const char *path, char *err, size_t errlen)
{
	json_object *o, *v;

	o = json_object_from_file(path);
	if (!o) {
		snprintf(err, errlen, "%s: unreadable (%s)", path, json_util_get_last_err());
		return -EINVAL;
	}
	if (json_object_object_get_ex(o, "active", &v))
		snprintf(r->active, sizeof(r->active), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "shadow", &v))
		snprintf(r->shadow, sizeof(r->shadow), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "history", &v) && json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v) && i < LG_REG_HISTORY; i++)
			snprintf(r->history[r->nhistory++], sizeof(r->history[0]), "%s",
				 json_object_get_string(json_object_array_get_idx(v, i)));
	json_object_put(o);
	return 0;
}

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640), ret;

	if (fd < 0)
		return -errno;
	ret = lg_write_all(fd, buf, len);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	return ret;
}

int lg_registry_add(struct lg_registry *r, const struct lg_policy *p, const char *name,
		    const char *version, const char *path, lg_registry_check_fn *check, char *err,
		    size_t errlen)
{
	char sig_path[LG_PATH_MAX + 8], dir[LG_PATH_MAX * 2], tmp[LG_PATH_MAX * 2],
		dst[LG_PATH_MAX * 3], hex[65], *sig_text = NULL;
	const char *file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	uint8_t *buf = NULL;
	size_t len, siglen;
	json_object *meta;
	int ret;

	if (!name_ok(name) || !name_ok(version) || !name_ok(file)) {
		snprintf(err, errlen, "model names, versions and file names are 1-63 letters, "
			 "digits, '.', '_' or '-', not starting with '.'");
		return -EINVAL;
	}
	snprintf(sig_path, sizeof(sig_path), "%s.sig", path);
	ret = lg_sign_verify_artifact(path, (const uint8_t(*)[32])p->model_keys, p->nmodel_keys,
				      &buf, &len, err, errlen);
	if (ret)
		return ret;
	if (check) {
		char msg[768];

		ret = check(p, path, msg, sizeof(msg));
		if (ret) {
			snprintf(err, errlen, "%s@%s refused: it cannot run under the running policy "
				 "(model activate would refuse it): %s", name, version, msg);
			goto out_quiet;
		}
	}
	ret = lg_read_file(sig_path, &sig_text, &siglen);
	if (ret)
		goto out;
	snprintf(dir, sizeof(dir), "%s/%s", r->root, name);
	if (mkdir(dir, 0750) && errno != EEXIST) {
		ret = -errno;
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/%s/%s", r->root, name, version);
	if (!access(dir, F_OK)) {
		snprintf(err, errlen, "%s@%s is in the registry already; versions are immutable",
			 name, version);
		ret = -EEXIST;
		goto out_quiet;
	}
	/* Build the version aside and rename it in: it appears whole or not at all. */
	snprintf(tmp, sizeof(tmp), "%s/%s/.%s.tmp", r->root, name, version);
	if (mkdir(tmp, 0750)) {
		ret = -errno;
		goto out;
	}
	snprintf(dst, sizeof(dst), "%s/%s", tmp, file);
	ret = write_file(dst, buf, len);
	if (!ret) {
		snprintf(dst, sizeof(dst), "%s/%s.sig", tmp, file);
		ret = write_file(dst, sig_text, siglen);
	}
	if (!ret) {
		struct timespec now;
		char ts[32];

		lg_sha256_hex(buf, len, hex);
		clock_gettime(CLOCK_REALTIME, &now);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now.tv_sec));
		meta = json_object_new_object();
		json_object_object_add(meta, "name", json_object_new_string(name));
		json_object_object_add(meta, "version", json_object_new_string(version));
		json_object_object_add(meta, "file", json_object_new_string(file));
		json_object_object_add(meta, "sha256", json_object_new_string(hex));
		json_object_object_add(meta, "size", json_object_new_uint64(len));
		json_object_object_add(meta, "added", json_object_new_string(ts));
		snprintf(dst, sizeof(dst), "%s/meta.json", tmp);
		ret = json_object_to_file_ext(dst, meta, JSON_C_TO_STRING_PRETTY) ? -EIO : 0;
		json_object_put(meta);
	}
	if (!ret && rename(tmp, dir))
		ret = -errno;
	if (ret) {
		/* Leave nothing half-made behind. */
		snprintf(dst, sizeof(dst), "%s/%s", tmp, file);
		unlink(dst);
		snprintf(dst, sizeof(dst), "%s/%s.sig", tmp, file);
		unlink(dst);
		snprintf(dst, sizeof(dst), "%s/meta.json", tmp);
		unlink(dst);
		rmdir(tmp);
	}
out:
	if (ret)
		snprintf(err, errlen, "%s@%s: %s", name, version, strerror(-ret));
out_quiet:
	free(buf);
	free(sig_text);
	return ret;
}

static int read_meta(const struct lg_registry *r, const char *name, const char *version,
		     json_object **meta)
{
	char path[LG_PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s/%s/meta.json", r->root, name, version);
	*meta = json_object_from_file(path);
	return *meta ? 0 : -ENOENT;
}

int lg_registry_path(const struct lg_registry *r, const char *ref, char *out, size_t outlen,
		     char *err, size_t errlen)
{
	char name[64], version[64];
	json_object *meta, *v;
	int ret = split_ref(ref, name, version, err, errlen);

	if (ret)
		return ret;
	if (read_meta(r, name, version, &meta)) {
		snprintf(err, errlen, "%s is not in the registry (linegatectl models)", ref);
		return -ENOENT;
	}
	json_object_object_get_ex(meta, "file", &v);
	if ((size_t)snprintf(out, outlen, "%s/%s/%s/%s", r->root, name, version,
			     json_object_get_string(v)) >= outlen)
		ret = -ENAMETOOLONG;
	json_object_put(meta);
	return ret;
}

int lg_registry_set_active(struct lg_registry *r, const char *ref, bool remember, char *err,
			   size_t errlen)
{
	if (remember && r->active[0] && strcmp(r->active, ref)) {
		memmove(r->history[1], r->history[0],
			sizeof(r->history[0]) * (LG_REG_HISTORY - 1));
		snprintf(r->history[0], sizeof(r->history[0]), "%s", r->active);
		if (r->nhistory < LG_REG_HISTORY)
			r->nhistory++;
	} else if (!remember && r->nhistory) {
		memmove(r->history[0], r->history[1],
			sizeof(r->history[0]) * (LG_REG_HISTORY - 1));
		r->nhistory--;
	}
	snprintf(r->active, sizeof(r->active), "%s", ref);
	return save_state(r, err, errlen);
}

int lg_registry_set_shadow(struct lg_registry *r, const char *ref, char *err, size_t errlen)
{
	snprintf(r->shadow, sizeof(r->shadow), "%s", ref ? ref : "");
	return save_state(r, err, errlen);
}

/* Only the undo of an add that never ran: a version active, shadow or in the history has
 * been used, and stays (versions are immutable). The version goes aside by rename first, so
 * that a crash leaves a hidden folder, never a half version. */
int lg_registry_undo_add(struct lg_registry *r, const char *ref, char *err, size_t errlen)
{
	char name[64], version[64], dir[LG_PATH_MAX * 2], tmp[LG_PATH_MAX * 2], f[LG_PATH_MAX * 3];
	int ret = split_ref(ref, name, version, err, errlen);
	json_object *meta, *v;

	if (ret)
		return ret;
	if (!strcmp(r->active, ref) || !strcmp(r->shadow, ref)) {
		snprintf(err, errlen, "%s is the %s model: it stays", ref,
			 !strcmp(r->active, ref) ? "active" : "shadow");
		return -EBUSY;
	}
	for (unsigned i = 0; i < r->nhistory; i++)
		if (!strcmp(r->history[i], ref)) {
			snprintf(err, errlen, "%s was active before: it stays", ref);
			return -EBUSY;
		}
	if (read_meta(r, name, version, &meta)) {
		snprintf(err, errlen, "%s is not in the registry", ref);
		return -ENOENT;
	}
	snprintf(dir, sizeof(dir), "%s/%s/%s", r->root, name, version);
	snprintf(tmp, sizeof(tmp), "%s/%s/.%s.undo", r->root, name, version);
	if (rename(dir, tmp)) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		json_object_put(meta);
		return ret;
	}
	json_object_object_get_ex(meta, "file", &v);
	snprintf(f, sizeof(f), "%s/%s", tmp, json_object_get_string(v));
	unlink(f);
	snprintf(f, sizeof(f), "%s/%s.sig", tmp, json_object_get_string(v));
	unlink(f);
	snprintf(f, sizeof(f), "%s/meta.json", tmp);
	unlink(f);
	json_object_put(meta);
	if (rmdir(tmp)) {
		snprintf(err, errlen, "%s: %s (left aside; %s is out of the registry)", tmp,
			 strerror(errno), ref);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s/%s", r->root, name);
	rmdir(dir); /* the name's first version: the name goes too (fails if others are there) */
	snprintf(err, errlen, "%s taken out of the registry again", ref);
	return 0;
}

int lg_registry_previous(const struct lg_registry *r, char *ref, size_t len, char *err,
			 size_t errlen)
{
	if (!r->nhistory) {
		snprintf(err, errlen, "there is no earlier model to roll back to");
		return -ENOENT;
	}
	snprintf(ref, len, "%s", r->history[0]);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of a folder that are valid names, sorted (malloc'd array of strdup'd). */
static size_t list_dir(const char *path, char ***out)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	*out = NULL;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char **nv;

		if (!name_ok(e->d_name))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n] = strdup(e->d_name);
		if (v[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	return n;
}

json_object *lg_registry_list(const struct lg_registry *r)
{
	json_object *a = json_object_new_array();
	char **names, **versions;
	size_t nn = list_dir(r->root, &names);

	for (size_t i = 0; i < nn; i++) {
		char dir[LG_PATH_MAX * 2];
		size_t nv;

		snprintf(dir, sizeof(dir), "%s/%s", r->root, names[i]);
		nv = list_dir(dir, &versions);
		for (size_t j = 0; j < nv; j++) {
			json_object *meta;
			char ref[160];

			if (!read_meta(r, names[i], versions[j], &meta)) {
				snprintf(ref, sizeof(ref), "%s@%s", names[i], versions[j]);
				json_object_object_add(meta, "ref", json_object_new_string(ref));
				json_object_object_add(meta, "active",
						       json_object_new_boolean(!strcmp(ref, r->active)));
				json_object_object_add(meta, "shadow",
						       json_object_new_boolean(!strcmp(ref, r->shadow)));
				json_object_array_add(a, meta);
			}
			free(versions[j]);
		}
		free(versions);
		free(names[i]);
	}
	free(names);
	return a;
}

int lg_registry_check_policy(const struct lg_registry *r, const struct lg_policy *p,
			     lg_registry_check_fn *check, char *err, size_t errlen)
{
	const char *ref[2] = { r->active, r->shadow }, *role[2] = { "active", "shadow" };

	for (int i = 0; i < 2; i++) {
		char path[LG_PATH_MAX * 2], why[900];
		int ret;

		if (!ref[i][0])
			continue;
		ret = lg_registry_path(r, ref[i], path, sizeof(path), why, sizeof(why));
		if (!ret)
			ret = check(p, path, why, sizeof(why));
		if (ret) {
			snprintf(err, errlen, "the registry's %s model %s cannot serve the policy: "
				 "%.900s", role[i], ref[i], why);
			return ret;
		}
	}
	return 0;
}
