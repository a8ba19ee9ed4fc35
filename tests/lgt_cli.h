/* SPDX-License-Identifier: MIT */
/*
 * The command line of a test program, the same as every linegate binary's: -h/--help prints
 * its usage on stdout and exits 0; an unknown option exits 2 after getopt_long()'s one-line
 * message; a wrong number of arguments exits 2 too, before any check runs (a typo must not
 * look like a failed or a passed test). Test code, so it may exit.
 */
#ifndef LGT_CLI_H
#define LGT_CLI_H

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

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
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, n;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt != 'h')
			exit(2);
		fputs(usage, stdout);
		exit(0);
	}
	n = argc - optind;
	if (n < min_args || n > max_args) {
		if (max_args == 0)
			fprintf(stderr, "%s: takes no arguments (see --help)\n", argv[0]);
		else if (min_args == max_args)
			fprintf(stderr, "%s: takes %d argument%s, not %d (see --help)\n", argv[0],
				min_args, min_args == 1 ? "" : "s", n);
		else
			fprintf(stderr, "%s: takes %d to %d arguments, not %d (see --help)\n",
				argv[0], min_args, max_args, n);
		exit(2);
	}
	return optind;
}

#endif
