/* SPDX-License-Identifier: MIT */
/*
 * The command line of a test program, the same as every linegate binary's: -h/--help prints
 * its usage on stdout and exits 0; an unknown option exits 2 after getopt_long()'s one-line
 * message; a wrong number of arguments exits 2 too, before any check runs (a typo must not
 * look like a failed or a passed test). Test code, so it may exit.
 */
#ifndef LGT_CLI_H
#define LGT_CLI_H

#include <linegate/cli.h>

/* The exit statuses every test program shares, for the end of its usage text. */
#define LGT_EXIT_STATUS                                                                   \
	"Exit status: 0 if every check passed, 1 if one failed (each failure is printed on\n" \
	"stderr), 2 on a usage error.\n"
#define LGT_EXIT_STATUS_SKIP                                                              \
	"Exit status: 0 if every check passed, 1 if one failed (each failure is printed on\n" \
	"stderr), 2 on a usage error, 77 (skipped) when the machine lacks what it needs.\n"

/* Returns the index in argv of the first of the min_args..max_args positional arguments. */
static inline int lgt_cli(int argc, char **argv, const char *usage, int min_args, int max_args)
{
	return lg_cli_simple(argc, argv, usage, min_args, max_args);
}

#endif
