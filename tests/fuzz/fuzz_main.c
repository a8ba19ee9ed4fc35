// SPDX-License-Identifier: MIT
/*
 * Replays files and directories of files through LLVMFuzzerTestOneInput when
 * the harness is built without libFuzzer (any compiler): the seed corpus and any
 * crash reproducer then run as a plain test.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return -1;
	}
	/* Exactly len bytes, so a sanitizer build catches a read past the input. */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

/* One driver for every harness: the name it was built under says which one it is. */
static void print_usage(const char *argv0)
{
	const char *name = strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;
	size_t harness = strlen(name);

	if (harness > 7 && !strcmp(name + harness - 7, "_replay"))
		harness -= 7;
	printf("Usage: %s [options] PATH...\n"
	       "\n"
	       "Replays inputs through the fuzz harness %.*s (LLVMFuzzerTestOneInput in %.*s.c)\n"
	       "without libFuzzer: the seed corpus and any crash reproducer run as a plain test,\n"
	       "under the sanitizers the build has (docs/fuzzing.md).\n"
	       "\n"
	       "Arguments:\n"
	       "  PATH          a file (one input, its whole content) or a folder (every file in\n"
	       "                it whose name does not start with '.', not recursing)\n"
	       "\n"
	       "Options:\n"
	       "  -h, --help    this text\n"
	       "\n"
	       "Output: \"N inputs replayed\" on stdout. A crash or sanitizer report stops the run.\n"
	       "Exit status: 0 if at least one input was replayed, 1 if none was or a PATH could not\n"
	       "be read (\"PATH: cannot stat\" or \"PATH: cannot read\" on stderr), 2 on a usage\n"
	       "error.\n",
	       name, (int)harness, name, (int)harness, name);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char path[4096];
	int n = 0, opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			print_usage(argv[0]);
			return 0;
		default:
			return 2;
		}
	}
	for (int i = optind; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st)) {
			fprintf(stderr, "%s: cannot stat\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]))
				return 1;
			n++;
			continue;
		}
		d = opendir(argv[i]);
		if (!d)
			return 1;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (run_file(path)) {
				fprintf(stderr, "%s: cannot read\n", path);
				closedir(d);
				return 1;
			}
			n++;
		}
		closedir(d);
	}
	printf("%d inputs replayed\n", n);
	return n ? 0 : 1;
}
