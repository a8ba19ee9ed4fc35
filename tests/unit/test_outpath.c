// SPDX-License-Identifier: MIT
/*
 * lg_outpath_open(), lg_outpath_fopen(), lg_outpath_check() (include/linegate/outpath.h):
 * in a sticky world-writable folder (a private 1777 one standing in for /tmp), a symlink
 * owned by another uid is refused, whatever fs.protected_symlinks says (trial J F16: root
 * appended its scores to the file another user's link named); the caller's own link and a
 * link owned by the folder's owner are followed; a plain file, a new file and a folder are
 * opened; outside a sticky folder links are followed as ever. Needs root (lchown).
 */
#include <linegate/outpath.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_outpath\n"
	"\n"
	"The symlink rule for files written from a user's path (include/linegate/outpath.h):\n"
	"another user's link in a sticky world-writable folder is refused. Needs root.\n";

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void expect(const char *path, const char *text)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
	CHECK_STR(buf, text);
}

int main(int argc, char **argv)
{
	char top[] = "/tmp/test_outpath.XXXXXX", sticky[64], plain[64], victim[64];
	char link[128], own[128], dirlink[128], other[128], err[1024], path[128];
	FILE *f;
	int fd;

	lgt_cli(argc, argv, usage, 0, 0);
	if (geteuid()) {
		printf("test_outpath: SKIP: needs root (a symlink owned by another uid)\n");
		return 77;
	}
	CHECK(mkdtemp(top) != NULL);
	snprintf(sticky, sizeof(sticky), "%s/tmp", top);
	snprintf(plain, sizeof(plain), "%s/plain", top);
	snprintf(victim, sizeof(victim), "%s/victim", top);
	/* owned by a third uid: the caller's own link is followed for being the caller's */
	CHECK_EQ(mkdir(sticky, 0700), 0);
	CHECK_EQ(chown(sticky, 65533, 65533), 0);
	CHECK_EQ(chmod(sticky, 01777), 0);
	CHECK_EQ(mkdir(plain, 0755), 0);
	put(victim, "secret\n");

	/* another user's link in the sticky folder: refused, the victim untouched */
	snprintf(link, sizeof(link), "%s/out.jsonl", sticky);
	CHECK_EQ(symlink(victim, link), 0);
	CHECK_EQ(lchown(link, 65534, 65534), 0);
	err[0] = '\0';
	f = lg_outpath_fopen(link, "a", err, sizeof(err));
	CHECK(f == NULL);
	CHECK_EQ(errno, EACCES);
	CHECK_STR_CONTAINS(err, link);
	CHECK_STR_CONTAINS(err, "owned by another user (uid 65534)");
	CHECK_STR_CONTAINS(err, sticky);
	f = lg_outpath_fopen(link, "w", err, sizeof(err));
	CHECK(f == NULL);
	CHECK_EQ(lg_outpath_open(link, O_WRONLY | O_CREAT | O_TRUNC, 0600, err, sizeof(err)),
		 -EACCES);
	CHECK_EQ(lg_outpath_check(link, err, sizeof(err)), -EACCES);
	expect(victim, "secret\n");
	/* a folder through such a link (an outbox, a state folder): refused too */
	snprintf(dirlink, sizeof(dirlink), "%s/outbox", sticky);
	CHECK_EQ(symlink(plain, dirlink), 0);
	CHECK_EQ(lchown(dirlink, 65534, 65534), 0);
	CHECK_EQ(lg_outpath_open(dirlink, O_RDONLY | O_DIRECTORY, 0, err, sizeof(err)), -EACCES);

	/* the caller's own link there: followed */
	snprintf(own, sizeof(own), "%s/own.jsonl", sticky);
	CHECK_EQ(symlink(victim, own), 0);
	CHECK_EQ(lg_outpath_check(own, err, sizeof(err)), 0);
	f = lg_outpath_fopen(own, "a", err, sizeof(err));
	CHECK(f != NULL);
	if (f) {
		fputs("mine\n", f);
		CHECK_EQ(fclose(f), 0);
	}
	expect(victim, "secret\nmine\n");
	/* a link the folder's owner owns (as root's in /tmp): followed */
	CHECK_EQ(chown(sticky, 65534, 65534), 0);
	CHECK_EQ(chmod(sticky, 01777), 0);
	f = lg_outpath_fopen(link, "a", err, sizeof(err));
	CHECK(f != NULL);
	if (f)
		fclose(f);
	/* not sticky (or not world-writable): followed, as the kernel does */
	CHECK_EQ(chown(sticky, 65533, 65533), 0);
	CHECK_EQ(chmod(sticky, 0777), 0);
	CHECK_EQ(lg_outpath_check(link, err, sizeof(err)), 0);
	CHECK_EQ(chmod(sticky, 01777), 0);
	CHECK_EQ(lg_outpath_check(link, err, sizeof(err)), -EACCES);

	/* plain and new files, a folder: opened; "w" truncates, "a" appends */
	snprintf(path, sizeof(path), "%s/new.json", sticky);
	f = lg_outpath_fopen(path, "w", err, sizeof(err));
	CHECK(f != NULL);
	if (f) {
		fputs("one\n", f);
		fclose(f);
	}
	f = lg_outpath_fopen(path, "a", err, sizeof(err));
	CHECK(f != NULL);
	if (f) {
		fputs("two\n", f);
		fclose(f);
	}
	expect(path, "one\ntwo\n");
	f = lg_outpath_fopen(path, "w", err, sizeof(err));
	CHECK(f != NULL);
	if (f)
		fclose(f);
	expect(path, "");
	fd = lg_outpath_open(plain, O_RDONLY | O_DIRECTORY, 0, err, sizeof(err));
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);

	/* outside a sticky world-writable folder another user's link is followed as ever */
	snprintf(other, sizeof(other), "%s/link", plain);
	CHECK_EQ(symlink(victim, other), 0);
	CHECK_EQ(lchown(other, 65534, 65534), 0);
	fd = lg_outpath_open(other, O_WRONLY | O_APPEND, 0, err, sizeof(err));
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	/* a missing folder: the open's own error, naming the path */
	snprintf(path, sizeof(path), "%s/none/x", top);
	CHECK_EQ(lg_outpath_open(path, O_WRONLY | O_CREAT, 0600, err, sizeof(err)), -ENOENT);
	CHECK_STR_CONTAINS(err, path);

	unlink(link);
	unlink(own);
	unlink(dirlink);
	unlink(other);
	unlink(victim);
	snprintf(path, sizeof(path), "%s/new.json", sticky);
	unlink(path);
	rmdir(sticky);
	rmdir(plain);
	rmdir(top);
	return lgt_done("outpath");
}
