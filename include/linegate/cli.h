/* SPDX-License-Identifier: MIT */
/*
 * The command line of a program whose only option is --help (benchmarks, lg-model-check,
 * test programs), the same as every linegate binary's: -h/--help prints the usage on stdout
 * and exits 0; an unknown option exits 2 after getopt_long()'s one-line message; a number
 * of positional arguments outside min_args..max_args exits 2 with one line on stderr.
 * For main() only: it exits.
 */
#ifndef LINEGATE_CLI_H
#define LINEGATE_CLI_H

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns the index in argv of the first positional argument. */
static inline int lg_cli_simple(int argc, char **argv, const char *usage, int min_args,
				int max_args)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int opt, n;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt != 'h')
			exit(2);
		fputs(usage, stdout);
		exit(0);
	}
	n = argc - optind;
	if (n >= min_args && n <= max_args)
		return optind;
	if (max_args == 0)
		fprintf(stderr, "%s: takes no arguments (see --help)\n", name);
	else if (min_args == max_args)
		fprintf(stderr, "%s: takes %d argument%s, not %d (see --help)\n", name, min_args,
			min_args == 1 ? "" : "s", n);
	else if (max_args == 1 << 30)
		fprintf(stderr, "%s: takes at least %d argument%s (see --help)\n", name, min_args,
			min_args == 1 ? "" : "s");
	else
		fprintf(stderr, "%s: takes %d to %d arguments, not %d (see --help)\n", name,
			min_args, max_args, n);
	exit(2);
}

/* max_args for "any number". */
#define LG_CLI_ANY (1 << 30)

#endif
