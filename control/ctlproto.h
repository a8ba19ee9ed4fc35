/* SPDX-License-Identifier: MIT */
/* Small helpers the control tools share: Unix-socket request/response. */
#ifndef LINEGATE_CTLPROTO_H
#define LINEGATE_CTLPROTO_H

#include <stddef.h>

/* Connect to a Unix stream socket, send req, shut down writing, read the whole reply
 * (malloc'd, NUL-terminated). Returns 0 or a negative errno. */
int lg_ctl_call(const char *path, const char *req, size_t len, char **reply);
/* Listen on a Unix stream socket at path (replacing a stale one) with file mode. Returns
 * the socket or a negative errno. */
int lg_ctl_listen(const char *path, int mode);
/* Read a file whole (malloc'd, NUL-terminated). */
int lg_read_file(const char *path, char **out, size_t *len);
/* Read until EOF from fd (malloc'd, NUL-terminated), at most max bytes. */
int lg_read_fd(int fd, size_t max, char **out, size_t *len);
int lg_write_all(int fd, const char *buf, size_t len);

#endif
