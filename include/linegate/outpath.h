/* SPDX-License-Identifier: MIT */
/*
 * Opening a file a user named on the command line (or in a policy) for writing, the way
 * fs.protected_symlinks = 1 would: a final symlink in a sticky world-writable folder (/tmp)
 * is followed only when the caller or the folder's owner owns it. Containers often run with
 * fs.protected_symlinks = 0, where root's `-o /tmp/out.jsonl` followed another user's link
 * /tmp/out.jsonl -> /root/secret and appended to it (trial J F16). linegate, linegated,
 * linegate-loadgen and the model tools open every file they create or append to from a
 * user's path through these.
 */
#ifndef LINEGATE_OUTPATH_H
#define LINEGATE_OUTPATH_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * 0 when path may be opened: its final component is no symlink, or a symlink that
 * fs.protected_symlinks = 1 lets the caller follow (the folder it is in is not both sticky
 * and world-writable, or the caller or that folder's owner owns the link). -EACCES when it
 * may not, with a message naming path, the link's owner and the folder in err.
 */
int lg_outpath_check(const char *path, char *err, size_t errlen);
/*
 * open(path, flags | O_CLOEXEC, mode) with that rule; returns the descriptor or a negative
 * errno, with a message naming path in err (-EACCES: the refused symlink).
 */
int lg_outpath_open(const char *path, int flags, mode_t mode, char *err, size_t errlen);
/* fopen() with that rule, for fmode "w" or "a" (an "e" or "b" is accepted and implied):
 * the FILE, or NULL with errno set and err filled. Files are created 0666 & ~umask. */
FILE *lg_outpath_fopen(const char *path, const char *fmode, char *err, size_t errlen);

#endif /* LINEGATE_OUTPATH_H */
