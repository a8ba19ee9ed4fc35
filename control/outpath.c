// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linegate/outpath.h>

/* 1: a symlink that may be followed, 0: no symlink, -EACCES: one that may not. */
static int link_rule(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], *slash;
	struct stat ls, ds;
	size_t n;

	if (lstat(path, &ls) || !S_ISLNK(ls.st_mode))
		return 0; /* no link (or nothing yet): the open says what is wrong */
	n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &ds)) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	/* the kernel's may_follow_link() rule, with the file-system uid it uses (linegate
	 * --user opens its output as the user); setfsuid(-1) only reads it */
	if ((ds.st_mode & (S_ISVTX | S_IWOTH)) != (S_ISVTX | S_IWOTH) ||
	    ls.st_uid == (uid_t)setfsuid((uid_t)-1) || ls.st_uid == ds.st_uid)
		return 1;
	snprintf(err, errlen, "%s is a symlink owned by another user (uid %u) in the "
		 "world-writable sticky folder %s: not followed (fs.protected_symlinks=1 would "
		 "refuse it too); write to a folder of your own (mktemp -d)", path,
		 (unsigned)ls.st_uid, dir);
	return -EACCES;
}

int lg_outpath_check(const char *path, char *err, size_t errlen)
{
	int ret = link_rule(path, err, errlen);

	return ret < 0 ? ret : 0;
}

int lg_outpath_open(const char *path, int flags, mode_t mode, char *err, size_t errlen)
{
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode), ret;

	/* ELOOP for a final symlink, ENOTDIR with O_DIRECTORY, EACCES with O_CREAT in a sticky
	 * folder (kernel 6.18, fs.protected_regular = 0 too): only then is lstat() needed.
	 * A link allowed here cannot be swapped: in a sticky folder only its owner (the
	 * caller or the folder's), or root, may replace it. What is no link by now is opened
	 * O_NOFOLLOW again, so a link put back in between is not followed either. */
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR || errno == EACCES)) {
		ret = link_rule(path, err, errlen);
		if (ret < 0)
			return ret;
		fd = open(path, flags | (ret ? 0 : O_NOFOLLOW) | O_CLOEXEC, mode);
	}
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	return fd;
}

FILE *lg_outpath_fopen(const char *path, const char *fmode, char *err, size_t errlen)
{
	int flags = O_WRONLY | O_CREAT, fd;
	FILE *f;

	if (fmode[0] == 'a') {
		flags |= O_APPEND;
	} else if (fmode[0] == 'w') {
		flags |= O_TRUNC;
	} else {
		snprintf(err, errlen, "%s: open mode %s", path, fmode);
		errno = EINVAL;
		return NULL;
	}
	fd = lg_outpath_open(path, flags, 0666, err, errlen);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	f = fdopen(fd, fmode[0] == 'a' ? "a" : "w");
	if (!f) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		close(fd);
		errno = e;
	}
	return f;
}
