// SPDX-License-Identifier: MIT
/*
 * The corpus of bad policies (tests/fixtures/policy/bad): each NAME.yaml is refused with the
 * LINE:COL and message in NAME.err (the deep check's refusals at the detection.model key;
 * "check: ..." where the policy has no such key), and the hostile ones made here in memory
 * (100 000 nested '[', a 64 MiB value, 200 000 devices, ...) too. Each case runs in a forked
 * child that must finish within a time bound with a bounded peak RSS growth (getrusage), and
 * no error may hold a run of 32 hex digits: no key leaks.
 */
#include <linegate/policy.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

/* Generous: ASan and UBSan builds beside three other builds on two cores. */
#define TIME_BOUND_S 2.0
#define RSS_BOUND_KB (256 * 1024)

struct result {
	int ret;
	double secs;
	long rss_growth_kb;
	char err[1024];
};

enum how { PARSE, LOAD };

/* An input made in the child (so that the parent never holds it), or a file. */
typedef char *(*gen_fn)(size_t *len, long arg);

/* The child's CPU time, not the wall clock: the bound is there to catch work that grows
 * faster than the input (a quadratic walk), and a loaded machine (CI's sanitizer build
 * beside other jobs: nodes.yaml took 2.11 s of wall time at load 10, 1.12 s in CI) stretches
 * the wall clock, not the work. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET)) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

/* Parse (or load) and, when that passes, the deep check: what linegatectl validate does. */
static void run_child(const char *name, enum how how, gen_fn gen, long arg, struct result *r)
{
	struct lg_policy p;
	size_t len = 0;
	char *text = NULL;
	long rss0;
	double t0;

	if (how == PARSE) {
		text = gen ? gen(&len, arg) : read_all(name, &len);
		if (!text) {
			r->ret = -ENOMEM;
			snprintf(r->err, sizeof(r->err), "%s: could not make the input", name);
			return;
		}
	}
	rss0 = maxrss_kb();
	t0 = now_s();
	if (how == PARSE)
		r->ret = lg_policy_validate(text, len, name, &p, r->err, sizeof(r->err));
	else
		r->ret = lg_policy_load_valid(name, &p, r->err, sizeof(r->err));
	r->secs = now_s() - t0;
	r->rss_growth_kb = maxrss_kb() - rss0;
	if (!r->ret)
		lg_policy_free(&p);
	free(text);
}

static int run(const char *name, enum how how, gen_fn gen, long arg, struct result *r)
{
	int fds[2], status;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe(fds))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		close(fds[0]);
		run_child(name, how, gen, arg, r);
		_exit(write(fds[1], r, sizeof(*r)) == (ssize_t)sizeof(*r) ? 0 : 1);
	}
	close(fds[1]);
	if (read(fds[0], r, sizeof(*r)) != (ssize_t)sizeof(*r))
		r->ret = 1; /* the child died: reported below as "accepted" with no error */
	close(fds[0]);
	waitpid(pid, &status, 0);
	return 0;
}

/* r must be a refusal that starts with "name:" + want (or "name: " + the rest for check:). */
static void expect(const char *name, const struct result *r, const char *want)
{
	char prefix[1200];
	size_t n;

	CHECK(r->ret < 0);
	if (!strncmp(want, "check: ", 7))
		snprintf(prefix, sizeof(prefix), "%s: %s", name, want + 7);
	else
		snprintf(prefix, sizeof(prefix), "%s:%s", name, want);
	n = strlen(prefix);
	lgt_checks++;
	if (strncmp(r->err, prefix, n)) {
		lgt_failures++;
		fprintf(stderr, "%s: got   '%s'\n%s: want  '%s...'\n", name, r->err, name, prefix);
	}
	lgt_checks++;
	if (r->secs > TIME_BOUND_S) {
		lgt_failures++;
		fprintf(stderr, "%s: took %.2f s (bound %.1f s)\n", name, r->secs, TIME_BOUND_S);
	}
	lgt_checks++;
	if (r->rss_growth_kb > RSS_BOUND_KB) {
		lgt_failures++;
		fprintf(stderr, "%s: peak RSS grew by %ld KiB (bound %d KiB)\n", name,
			r->rss_growth_kb, RSS_BOUND_KB);
	}
	/* No key, from the text or a key file, ever appears in an error. */
	lgt_checks++;
	if (lg_hex_run(r->err) >= LG_SECRET_HEX_RUN) {
		lgt_failures++;
		fprintf(stderr, "%s: the error shows a key-sized hex value: '%s'\n", name, r->err);
	}
	printf("%-28s %7.3f s %8ld KiB  %s\n", name, r->secs, r->rss_growth_kb, r->err);
}

/* --- inputs made in memory ------------------------------------------------------------ */

static char *gen_deep_flow(size_t *len, long n)
{
	static const char head[] = "version: 1\nx: ";
	char *s = malloc(sizeof(head) + n);

	if (!s)
		return NULL;
	memcpy(s, head, sizeof(head) - 1);
	memset(s + sizeof(head) - 1, '[', n);
	*len = sizeof(head) - 1 + n;
	return s;
}

static char *gen_deep_bare(size_t *len, long n)
{
	char *s = malloc(n);

	if (s)
		memset(s, '[', n);
	*len = n;
	return s;
}

static char *gen_scalar(size_t *len, long n)
{
	static const char head[] = "version: 1\nx: ";
	char *s = malloc(sizeof(head) + n + 1);

	if (!s)
		return NULL;
	memcpy(s, head, sizeof(head) - 1);
	memset(s + sizeof(head) - 1, 'a', n);
	s[sizeof(head) - 1 + n] = '\n';
	*len = sizeof(head) + n;
	return s;
}

static char *gen_devices(size_t *len, long n)
{
	size_t cap = 32 + (size_t)n * 96, off;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	off = (size_t)snprintf(s, cap, "version: 1\ndevices:\n");
	for (long i = 1; i <= n; i++)
		off += (size_t)snprintf(s + off, cap - off,
					"  - {id: %ld, source: 10.0.0.1, keys: "
					"[{id: 1, key_file: keys/good.key}]}\n",
					i);
	*len = off;
	return s;
}

/* Every device field set: what the node limit must leave room for at 4096 devices. */
static char *gen_devices_full(size_t *len, long n)
{
	size_t cap = 64 + (size_t)n * 400, off;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	off = (size_t)snprintf(s, cap, "version: 1\ngroups: {g: {audit: false}}\ndevices:\n");
	for (long i = 1; i <= n; i++)
		off += (size_t)snprintf(
		    s + off, cap - off,
		    "  - {id: %ld, name: dev-%ld, source: 10.0.0.1, port: 4000, "
		    "mac: '02:00:00:00:00:01', rate: 100, burst: 20, group: g, keys: ["
		    "{id: 1, key_file: keys/good.key, expires: 2026-12-04T18:00:00Z}, "
		    "{id: 2, key_file: keys/good.key}], uadp: {publisher_id: %ld, "
		    "publisher_type: uint32, writer_group: 1, writer: 1, signed: true}}\n",
		    i, i, i);
	*len = off;
	return s;
}

static char *gen_nodes(size_t *len, long n)
{
	static const char head[] = "version: 1\nx: [";
	char *s = malloc(sizeof(head) + 2 * (size_t)n + 2);
	size_t off = sizeof(head) - 1;

	if (!s)
		return NULL;
	memcpy(s, head, off);
	for (long i = 0; i < n; i++) {
		s[off++] = '1';
		s[off++] = ',';
	}
	s[off - 1] = ']';
	s[off++] = '\n';
	*len = off;
	return s;
}

static char *gen_comments(size_t *len, long n)
{
	char *s = malloc((size_t)n);

	if (!s)
		return NULL;
	memcpy(s, "version: 1\n", 11);
	/* 63-character comment lines, then newline: 64 bytes a line */
	for (long i = 11; i < n; i++)
		s[i] = (i - 11) % 64 == 63 ? '\n' : (i - 11) % 64 == 0 ? '#' : 'c';
	*len = (size_t)n;
	return s;
}

static void write_file(const char *path, gen_fn gen, long arg)
{
	size_t len;
	char *s = gen(&len, arg);
	FILE *f = fopen(path, "wb");

	CHECK(s && f && fwrite(s, 1, len, f) == len);
	if (f)
		fclose(f);
	free(s);
}

/* --- the fixture folder, copied so that key files can be given their modes -------------- */

static int copy_file(const char *from, const char *to, mode_t mode)
{
	size_t len;
	char *s = read_all(from, &len);
	int fd, ok;

	if (!s)
		return -1;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ok = fd >= 0 && write(fd, s, len) == (ssize_t)len;
	if (fd >= 0)
		fchmod(fd, mode); /* the umask must not decide */
	if (fd >= 0)
		close(fd);
	free(s);
	return ok ? 0 : -1;
}

static void copy_dir(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *e;

	CHECK(d != NULL);
	if (!d)
		return;
	mkdir(to, 0700);
	while ((e = readdir(d))) {
		char a[1024], b[1024];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, e->d_name);
		if (stat(a, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			copy_dir(a, b);
		else
			/* Key files 0600 (git keeps 0644), except the one that tests that. */
			CHECK(!copy_file(a, b,
					 strstr(e->d_name, "-0644.key") ? 0644
					 : strstr(e->d_name, ".key")	? 0600
									: 0644));
	}
	closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char usage[] =
    "Usage: test_policy_bad [options]\n"
    "\n"
    "The corpus of bad policies in $LG_SOURCE/tests/fixtures/policy/bad and hostile ones\n"
    "made in memory: each refused with its LINE:COL and message, within a time and a\n"
    "memory bound, with no key in the error. Prints one line per case.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: one line per case, then \"test_policy_bad: N checks, M failed\" on "
    "stdout.\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	const char *src = getenv("LG_SOURCE");
	char fixtures[1024], tmp[] = "/tmp/lg-policy-bad-XXXXXX", *names[256];
	struct result r;
	size_t nnames = 0;
	DIR *d;
	struct dirent *e;

	lgt_cli(argc, argv, usage, 0, 0);
	snprintf(fixtures, sizeof(fixtures), "%s/tests/fixtures/policy/bad", src ? src : ".");
	CHECK(mkdtemp(tmp) != NULL);
	copy_dir(fixtures, tmp);
	CHECK(!chdir(tmp));

	d = opendir(".");
	CHECK(d != NULL);
	while (d && (e = readdir(d)))
		if (strlen(e->d_name) > 5 && !strcmp(e->d_name + strlen(e->d_name) - 5, ".yaml") &&
		    nnames < 256)
			names[nnames++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, nnames, sizeof(*names), cmp_str);
	CHECK(nnames >= 30);
	for (size_t i = 0; i < nnames; i++) {
		char errf[300], *want;
		size_t len;

		snprintf(errf, sizeof(errf), "%.*s.err", (int)strlen(names[i]) - 5, names[i]);
		want = read_all(errf, &len);
		CHECK(want != NULL);
		if (want) {
			want[strcspn(want, "\n")] = '\0';
			run(names[i], PARSE, NULL, 0, &r);
			expect(names[i], &r, want);
		}
		free(want);
		free(names[i]);
	}

	/* Hostile inputs made in the child: libyaml took 33 s on the first one. */
	run("deep-flow.yaml", PARSE, gen_deep_flow, 100000, &r);
	expect("deep-flow.yaml", &r, "2:35: mappings and lists nested deeper than 32 levels");
	run("deep-bare.yaml", PARSE, gen_deep_bare, 100000, &r);
	expect("deep-bare.yaml", &r, "1:33: mappings and lists nested deeper than 32 levels");
	/* A 64 MiB value: refused where the file passes 16 MiB, 16 777 216 bytes in. */
	run("scalar-64mib.yaml", PARSE, gen_scalar, 64L << 20, &r);
	expect("scalar-64mib.yaml", &r,
	       "2:16777206: the policy is longer than the limit of "
	       "16777216 bytes");
	run("scalar-1mib.yaml", PARSE, gen_scalar, 1L << 20, &r);
	expect("scalar-1mib.yaml", &r, "2:4: a value of 1048576 bytes: the limit is 65536");
	run("scalar-limit.yaml", PARSE, gen_scalar, LG_POLICY_MAX_SCALAR + 1, &r);
	expect("scalar-limit.yaml", &r, "2:4: a value of 65537 bytes");
	/* 200 000 devices: refused at the first one too many, line 2 + 4097. */
	run("devices-200000.yaml", PARSE, gen_devices, 200000, &r);
	expect("devices-200000.yaml", &r,
	       "4099:5: device number 4097: a policy enrolls at most "
	       "4096 devices");
	{
		/* map, 'version', '1', 'x', the list: item k is node k + 5, at column 5 + 2(k-1) */
		long k = LG_POLICY_MAX_NODES + 1 - 5;
		char want[128];

		run("nodes.yaml", PARSE, gen_nodes, 300000, &r);
		snprintf(want, sizeof(want), "2:%ld: more than %u values", 5 + 2 * (k - 1),
			 LG_POLICY_MAX_NODES);
		expect("nodes.yaml", &r, want);
	}
	{
		/* 17 MiB of comments: line 1 is 11 bytes, then 64-byte lines. */
		long past = LG_POLICY_MAX_BYTES - 11;
		char want[128];

		run("comments-17mib.yaml", PARSE, gen_comments, 17L << 20, &r);
		snprintf(want, sizeof(want), "%ld:%ld: the policy is longer than the limit",
			 2 + past / 64, 1 + past % 64);
		expect("comments-17mib.yaml", &r, want);
	}
	/* From a file: lg_policy_load reads one byte past the limit, never the whole file. */
	write_file("file-64mib.yaml", gen_scalar, 64L << 20);
	run("file-64mib.yaml", LOAD, NULL, 0, &r);
	expect("file-64mib.yaml", &r, "2:16777206: the policy is longer than the limit");
	unlink("file-64mib.yaml");

	/* Within the limits, 4096 devices with key files load, every field set too. */
	for (int full = 0; full < 2; full++) {
		struct lg_policy p;
		size_t len;
		char err[512] = "",
		     *text = (full ? gen_devices_full : gen_devices)(&len, LG_POLICY_MAX_DEVICES);
		const char *name = full ? "devices-4096-full.yaml" : "devices-4096.yaml";
		double t0 = now_s();
		int ret = lg_policy_parse(text, len, name, &p, err, sizeof(err));

		CHECK_EQ(ret, 0);
		if (ret)
			fprintf(stderr, "%s\n", err);
		printf("%-28s %7.3f s  accepted, %zu devices\n", name, now_s() - t0,
		       ret ? 0 : p.ndevices);
		if (!ret) {
			CHECK_EQ(p.ndevices, LG_POLICY_MAX_DEVICES);
			CHECK(!full ||
			      (p.devices[4095].nkeys == 2 && p.devices[4095].uadp_pub_type &&
			       p.devices[4095].keys[0].expires == 1796407200));
			lg_policy_free(&p);
		}
		free(text);
	}
	{
		char cmd[1100];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		CHECK(!system(cmd));
	}
	return lgt_done("test_policy_bad");
}
