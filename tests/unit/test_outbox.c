// SPDX-License-Identifier: MIT
/* The on-disk outbox (dataplane/outbox.h): what a restart sends again, the bounds, a torn
 * last record, a crash before the cursor was written, a failing disk, each by exact count. */
#include "outbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_outbox\n"
	"\n"
	"The on-disk outbox (dataplane/outbox.c) in a folder under /tmp: records read back in\n"
	"order with their keys and data; a restart sends again exactly the unacknowledged ones\n"
	"and continues the sequence numbers; a crash before the cursor was persisted sends again\n"
	"from the persisted cursor; scores refused past 3/4 of max_bytes and the oldest segment\n"
	"evicted for alerts, counted exactly; a record torn by a crash cut at open and counted;\n"
	"a failing disk (RLIMIT_FSIZE) counted and cut back; a second open of the folder refused;\n"
	"a reader that keeps up reads each record once.\n"
	"\n" LGT_EXIT_STATUS;

static char dir[64];

static struct lg_outbox *open_ob(uint64_t max_bytes, uint32_t sync_ms)
{
	struct lg_outbox_cfg cfg = { .dir = dir, .max_bytes = max_bytes, .sync_ms = sync_ms };
	struct lg_outbox *ob = NULL;
	char err[512] = "";
	int rc = lg_outbox_open(&cfg, &ob, err, sizeof(err));

	if (rc)
		fprintf(stderr, "open: %s\n", err);
	CHECK_EQ(rc, 0);
	return ob;
}

static void rm_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

static void payload(uint64_t i, char *buf, size_t len)
{
	snprintf(buf, len, "{\"record\":%" PRIu64 "}", i);
}

/* Read everything durable: the count, and every record checked against payload(seq). */
static unsigned read_all(struct lg_outbox *ob, uint64_t first, const char *key)
{
	struct lg_outbox_rec r;
	unsigned n = 0;
	char want[64];
	int rc;

	while ((rc = lg_outbox_next(ob, &r)) == 1) {
		CHECK_EQ(r.seq, first + n);
		payload(r.seq, want, sizeof(want));
		CHECK_EQ(r.len, strlen(want));
		CHECK(!strcmp(r.data, want));
		if (key)
			CHECK(!strcmp(r.key, key));
		n++;
	}
	CHECK_EQ(rc, 0);
	return n;
}

static void append_n(struct lg_outbox *ob, enum lg_outbox_kind kind, uint64_t from, unsigned n)
{
	char buf[64];

	for (unsigned i = 0; i < n; i++) {
		uint64_t seq = 0;

		payload(from + i, buf, sizeof(buf));
		CHECK_EQ(lg_outbox_append(ob, kind, "press-1", buf, strlen(buf), &seq), 0);
		CHECK_EQ(seq, from + i);
	}
}

static void test_restart(void)
{
	struct lg_outbox *ob = open_ob(1 << 20, 0), *again;
	struct lg_outbox_stats st;
	struct lg_outbox_cfg cfg = { .dir = dir, .max_bytes = 1 << 20 };
	char err[512] = "", id[17];

	/* The folder's id: 16 hex digits, the same after a restart. */
	CHECK_EQ(strlen(lg_outbox_id(ob)), 16);
	CHECK_EQ(strspn(lg_outbox_id(ob), "0123456789abcdef"), 16);
	snprintf(id, sizeof(id), "%s", lg_outbox_id(ob));
	append_n(ob, LG_OUTBOX_ALERT, 1, 10);
	/* Nothing is given before it is durable. */
	CHECK_EQ(read_all(ob, 1, NULL), 0);
	CHECK_EQ(lg_outbox_sync(ob, false), 0);
	CHECK_EQ(read_all(ob, 1, "press-1"), 10);
	lg_outbox_ack(ob, 4);
	/* A lost connection: from the cursor again. */
	lg_outbox_rewind(ob);
	CHECK_EQ(read_all(ob, 5, NULL), 6);
	/* One folder, one outbox. */
	CHECK_EQ(lg_outbox_open(&cfg, &again, err, sizeof(err)), -EBUSY);
	CHECK_STR_CONTAINS(err, "in use by another process");
	lg_outbox_close(ob);

	ob = open_ob(1 << 20, 0);
	CHECK(!strcmp(lg_outbox_id(ob), id));
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.acked, 4);
	CHECK_EQ(st.records, 6);
	CHECK_EQ(st.next_seq, 11);
	CHECK_EQ(st.torn, 0);
	CHECK_EQ(read_all(ob, 5, NULL), 6);
	append_n(ob, LG_OUTBOX_INCIDENT, 11, 2);
	lg_outbox_sync(ob, true);
	CHECK_EQ(read_all(ob, 11, NULL), 2);
	/* Everything acknowledged: the next open still continues the numbers. */
	lg_outbox_ack(ob, 12);
	lg_outbox_close(ob);
	ob = open_ob(1 << 20, 0);
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.next_seq, 13);
	CHECK_EQ(st.records, 0);
	CHECK_EQ(read_all(ob, 13, NULL), 0);
	lg_outbox_close(ob);
	rm_dir();
}

/* A crash: the child acknowledges 15 of 23, but only the cursor of 7 reached the disk. */
static void test_crash(void)
{
	struct lg_outbox *ob;
	struct lg_outbox_stats st;
	pid_t pid = fork();
	int status = 0;

	if (!pid) {
		ob = open_ob(1 << 20, 3600 * 1000);
		append_n(ob, LG_OUTBOX_ALERT, 1, 20);
		lg_outbox_sync(ob, true);
		CHECK_EQ(read_all(ob, 1, NULL), 20);
		lg_outbox_ack(ob, 7);
		lg_outbox_sync(ob, true);
		append_n(ob, LG_OUTBOX_ALERT, 21, 3);
		lg_outbox_ack(ob, 15);
		lg_outbox_sync(ob, false); /* not due: sync_ms is an hour */
		_exit(lgt_failures ? 1 : 0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ob = open_ob(1 << 20, 0);
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.acked, 7);
	CHECK_EQ(st.next_seq, 24);
	/* 21..23 were in the page cache (a process crash keeps them): 8..23 again. */
	CHECK_EQ(read_all(ob, 8, NULL), 16);
	lg_outbox_close(ob);
	rm_dir();
}

static char *last_segment(char *buf, size_t len)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strstr(ents[i]->d_name, ".seg"))
			snprintf(buf, len, "%s/%s", dir, ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return buf;
}

static void test_torn(void)
{
	struct lg_outbox *ob = open_ob(1 << 20, 0);
	struct lg_outbox_stats st;
	char seg[512];
	struct stat sb;

	append_n(ob, LG_OUTBOX_ALERT, 1, 5);
	lg_outbox_close(ob);
	/* The last record ("{"record":5}", 7-byte key, 24-byte header = 43 bytes) loses its
	 * last 6 bytes, as a crash mid-write leaves it. */
	CHECK(stat(last_segment(seg, sizeof(seg)), &sb) == 0);
	CHECK_EQ(sb.st_size, 5 * 43);
	CHECK(truncate(seg, sb.st_size - 6) == 0);
	ob = open_ob(1 << 20, 0);
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.torn, 1);
	CHECK_EQ(st.torn_bytes, 43 - 6);
	CHECK_EQ(st.next_seq, 5);
	CHECK_EQ(read_all(ob, 1, NULL), 4);
	CHECK(stat(seg, &sb) == 0);
	CHECK_EQ(sb.st_size, 4 * 43);
	/* The number is given again: the torn record was never durable, so never sent. */
	append_n(ob, LG_OUTBOX_ALERT, 5, 1);
	lg_outbox_close(ob);
	/* A flipped byte in a record's data: it and what follows are cut (by the crc). */
	{
		int fd = open(seg, O_RDWR);

		CHECK(fd >= 0);
		CHECK(pwrite(fd, "X", 1, 2 * 43 + 30) == 1);
		close(fd);
	}
	ob = open_ob(1 << 20, 0);
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.torn, 1);
	CHECK_EQ(st.torn_bytes, 3 * 43);
	CHECK_EQ(st.next_seq, 3);
	CHECK_EQ(read_all(ob, 1, NULL), 2);
	lg_outbox_close(ob);
	rm_dir();
}

/*
 * 64 KiB: segments of 8 KiB, scores up to 48 KiB, alerts up to 56 KiB. A record of key
 * "press-1" and 169 bytes of data is 200 bytes: 40 to a segment, 245 scores, then 41 alerts
 * (the 42nd is refused: the last eighth is for incident lines and events), then 41
 * incident lines fill the 64 KiB (327 records); an event then evicts the oldest segment (40
 * unacknowledged scores), and alerts stay refused.
 */
static void test_bounds(void)
{
	struct lg_outbox *ob = open_ob(64 << 10, 0);
	struct lg_outbox_stats st;
	struct lg_outbox_rec r;
	char data[169], big[9000];
	unsigned ok = 0;

	memset(data, 'a', sizeof(data));
	for (unsigned i = 0; i < 300; i++)
		ok += !lg_outbox_append(ob, LG_OUTBOX_SCORE, "press-1", data, sizeof(data), NULL);
	CHECK_EQ(ok, 245);
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.dropped_scores, 55);
	CHECK_EQ(st.bytes, 245 * 200);
	/* 41 alerts; the 42nd refused (286 records, 57 200 bytes: one more is past 7/8); then
	 * 41 incident lines */
	for (unsigned i = 0; i < 2 * 41; i++) {
		if (i == 41) {
			CHECK_EQ(lg_outbox_append(ob, LG_OUTBOX_ALERT, "press-1", data,
						  sizeof(data), NULL), -ENOSPC);
			lg_outbox_stats(ob, &st);
			CHECK_EQ(st.dropped_alerts, 1);
			CHECK_EQ(st.bytes, 286 * 200);
		}
		CHECK_EQ(lg_outbox_append(ob, i < 41 ? LG_OUTBOX_ALERT : LG_OUTBOX_INCIDENT,
					  "press-1", data, sizeof(data), NULL), 0);
	}
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.evicted, 0);
	CHECK_EQ(st.bytes, 327 * 200);
	CHECK_EQ(lg_outbox_append(ob, LG_OUTBOX_SCORE, "press-1", data, sizeof(data), NULL),
		 -ENOSPC);
	/* Issue 13: feature records are routine as scores: refused, counted apart. */
	CHECK_EQ(lg_outbox_append(ob, LG_OUTBOX_FEATURES, "press-1", data, sizeof(data), NULL),
		 -ENOSPC);
	CHECK_EQ(lg_outbox_append(ob, LG_OUTBOX_EVENT, "press-1", data, sizeof(data), NULL), 0);
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.evicted, 40);
	CHECK_EQ(st.dropped_scores, 56);
	CHECK_EQ(st.dropped_features, 1);
	CHECK_EQ(st.dropped_alerts, 1);
	CHECK_EQ(st.evicted_kind[LG_OUTBOX_SCORE], 40);
	CHECK_EQ(st.evicted_kind[LG_OUTBOX_INCIDENT], 0);
	CHECK_EQ(st.acked, 40);
	CHECK_EQ(st.records, 288);
	CHECK_EQ(st.bytes, 288 * 200);
	CHECK(st.bytes <= 64 << 10);
	lg_outbox_sync(ob, true);
	CHECK_EQ(lg_outbox_next(ob, &r), 1);
	CHECK_EQ(r.seq, 41);
	CHECK_EQ(r.kind, LG_OUTBOX_SCORE);
	/* 288 records (56.25 KiB) after the eviction: still past 7/8 for an alert */
	CHECK_EQ(lg_outbox_append(ob, LG_OUTBOX_ALERT, "press-1", data, sizeof(data), NULL),
		 -ENOSPC);
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.dropped_alerts, 2);
	/* said as it happens: both kinds of refusal and the eviction by kind; then nothing
	 * new within the minute, and the next alert refused said alone after it */
	{
		struct lg_outbox_said said = { 0 };
		char line[512];

		CHECK_EQ(lg_outbox_loss_say(ob, &said, 1000, line, sizeof(line)), 1);
		CHECK(strstr(line, "57 scores and feature records refused since the start (past "
				   "3/4 of max_bytes), 2 alerts refused since the start (past 7/8 of "
				   "max_bytes: the last eighth is kept for incident lines and events); "
				   "40 unsent records evicted (40 scores) since the start") != NULL);
		CHECK_EQ(lg_outbox_loss_say(ob, &said, 2000, line, sizeof(line)), 0);
		CHECK_EQ(lg_outbox_append(ob, LG_OUTBOX_ALERT, "press-1", data, sizeof(data),
					  NULL), -ENOSPC);
		CHECK_EQ(lg_outbox_loss_say(ob, &said, 1000 + 60000000000ull, line, sizeof(line)),
			 1);
		CHECK(!strncmp(line, "the outbox lost records: 1 alerts refused since the last "
				     "such line (past 7/8", 62));
		if (lgt_failures)
			fprintf(stderr, "said: %s\n", line);
	}
	/* Larger than a segment, or a key too long: refused and counted. */
	memset(big, 'b', sizeof(big));
	CHECK_EQ(lg_outbox_append(ob, LG_OUTBOX_ALERT, "press-1", big, sizeof(big), NULL),
		 -EMSGSIZE);
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.dropped_full, 1);
	CHECK_EQ(st.appended, 328);
	lg_outbox_close(ob);
	rm_dir();
}

/* A disk that refuses more bytes: RLIMIT_FSIZE makes pwrite fail with EFBIG (as ENOSPC
 * would), in a child so that the limit stays there. */
static void test_disk_full(void)
{
	pid_t pid = fork();
	int status = 0;

	if (!pid) {
		struct rlimit rl = { 3 * 43 + 10, RLIM_INFINITY };
		struct lg_outbox *ob = open_ob(1 << 20, 0);
		struct lg_outbox_stats st;
		char buf[64];
		int rc = 0;

		signal(SIGXFSZ, SIG_IGN);
		CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		append_n(ob, LG_OUTBOX_ALERT, 1, 3);
		for (unsigned i = 0; i < 4; i++) {
			payload(4, buf, sizeof(buf));
			rc = lg_outbox_append(ob, LG_OUTBOX_ALERT, "press-1", buf, strlen(buf),
					      NULL);
			CHECK_EQ(rc, -EFBIG);
		}
		lg_outbox_stats(ob, &st);
		CHECK_EQ(st.dropped_disk, 4);
		CHECK_EQ(st.disk_errno, EFBIG);
		CHECK_EQ(st.next_seq, 4);
		CHECK_EQ(st.bytes, 3 * 43);
		rl.rlim_cur = RLIM_INFINITY;
		CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		append_n(ob, LG_OUTBOX_ALERT, 4, 1);
		lg_outbox_sync(ob, true);
		CHECK_EQ(read_all(ob, 1, NULL), 4);
		lg_outbox_close(ob);
		/* No torn record was left behind. */
		ob = open_ob(1 << 20, 0);
		lg_outbox_stats(ob, &st);
		CHECK_EQ(st.torn, 0);
		CHECK_EQ(read_all(ob, 1, NULL), 4);
		lg_outbox_close(ob);
		_exit(lgt_failures ? 1 : 0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rm_dir();
}

/* Many segments: acknowledging removes whole segments only, and reading goes across them. */
static void test_segments(void)
{
	struct lg_outbox *ob = open_ob(64 << 10, 0);
	struct lg_outbox_stats st;
	char data[169];

	memset(data, 'c', sizeof(data));
	for (unsigned i = 0; i < 300; i++)
		CHECK_EQ(lg_outbox_append(ob, LG_OUTBOX_EVENT, "p", data, sizeof(data), NULL), 0);
	/* 300 records of 194 bytes, 42 to a segment: 8 segments (the last with 6). */
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.bytes, 300 * 194);
	lg_outbox_ack(ob, 83);
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.bytes, (300 - 42) * 194);
	lg_outbox_ack(ob, 84);
	lg_outbox_stats(ob, &st);
	CHECK_EQ(st.bytes, (300 - 84) * 194);
	lg_outbox_sync(ob, true);
	{
		struct lg_outbox_rec r;
		unsigned n = 0;
		uint64_t want = 85;

		while (lg_outbox_next(ob, &r) == 1) {
			CHECK_EQ(r.seq, want);
			CHECK(!strcmp(r.key, "p"));
			want++;
			n++;
		}
		CHECK_EQ(n, 216);
	}
	lg_outbox_close(ob);
	rm_dir();
}

/* A reader that keeps up with the writer (the NATS output's normal state) reads each record
 * once: it keeps its place at the end of the segment (it once read the whole segment again
 * for every record, 902 records/s into JetStream). */
static void test_read_once(void)
{
	struct lg_outbox *ob = open_ob(64 << 20, 0);
	struct lg_outbox_stats st;
	struct lg_outbox_rec r;
	char buf[64];
	unsigned got = 0;

	for (uint64_t i = 1; i <= 2000; i++) {
		payload(i, buf, sizeof(buf));
		CHECK_EQ(lg_outbox_append(ob, LG_OUTBOX_ALERT, "press-1", buf, strlen(buf),
					  NULL), 0);
		if (i % 10)
			continue;
		lg_outbox_sync(ob, true);
		while (lg_outbox_next(ob, &r) == 1)
			CHECK_EQ(r.seq, ++got);
	}
	lg_outbox_stats(ob, &st);
	CHECK_EQ(got, 2000);
	/* Exactly the records' bytes: each header and body read once. */
	CHECK_EQ(st.read_bytes, st.bytes);
	lg_outbox_close(ob);
	rm_dir();
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/lg-outbox-test.XXXXXX";

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK(mkdtemp(tmpl) != NULL);
	snprintf(dir, sizeof(dir), "%s/ob", tmpl);
	test_restart();
	test_crash();
	test_torn();
	test_bounds();
	test_disk_full();
	test_segments();
	test_read_once();
	rmdir(tmpl);
	return lgt_done("test_outbox");
}
