/* SPDX-License-Identifier: MIT */
/*
 * Key files for the policies tests embed: policies name keys by key_file (never inline), and
 * a key file must be readable by its owner only. lgt_keys_make() makes a temp folder with
 * NAME.key files (mode 0600); a policy parsed under the name "<folder>/t.yaml" finds them as
 * "key_file: NAME.key". Test code, so it may exit.
 */
#ifndef LGT_KEYS_H
#define LGT_KEYS_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lgt_keys {
	char dir[64];
	char policy[96]; /* "<dir>/t.yaml": the name to parse embedded policies under */
};

/* pairs: NAME, HEX, NAME, HEX, ..., NULL. */
static inline void lgt_keys_make(struct lgt_keys *k, const char *const *pairs)
{
	snprintf(k->dir, sizeof(k->dir), "/tmp/lgt-keys-XXXXXX");
	if (!mkdtemp(k->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(k->policy, sizeof(k->policy), "%s/t.yaml", k->dir);
	for (; pairs[0] && pairs[1]; pairs += 2) {
		char path[160];
		int fd;

		snprintf(path, sizeof(path), "%s/%s.key", k->dir, pairs[0]);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, pairs[1], strlen(pairs[1])) != (ssize_t)strlen(pairs[1]) ||
		    write(fd, "\n", 1) != 1) {
			perror(path);
			exit(1);
		}
		close(fd);
	}
}

/* Removes the folder with every file in it: a test may have added files of its own (a CA
 * file a policy names), and a folder left behind is a leak in /tmp at every run. */
static inline void lgt_keys_remove(struct lgt_keys *k, const char *const *pairs)
{
	DIR *d = opendir(k->dir);
	struct dirent *e;

	(void)pairs;
	while (d && (e = readdir(d))) {
		char path[384];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", k->dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	if (rmdir(k->dir))
		perror(k->dir);
}

#endif
