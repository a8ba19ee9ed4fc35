// SPDX-License-Identifier: MIT
/*
 * The recorder (dataplane/record.c) without a network: a worker that records frames much
 * faster than a disk takes them never waits; every frame it offered is either in the files
 * (counted with libpcap) or counted as dropped, exactly; frames of devices not selected
 * are not offered at all; a stop closes the file (no .part left); a second start while one
 * runs is refused; a frame larger than a quarter of the ring is dropped, counted.
 */
#include "dataplane.h"
#include "record.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
    "Usage: test_record\n"
    "\n"
    "The recorder of admitted frames (dataplane/record.c): a burst far faster than the disk\n"
    "is recorded or counted as dropped, exactly (files read back with libpcap); the device\n"
    "selection; start, stop and their refusals. Writes under /tmp.\n"
    "\n" LGT_EXIT_STATUS;

/* Frames in every .pcapng of dir (libpcap), and whether a .part is left. */
static uint64_t count_dir(const char *dir, unsigned *files, unsigned *parts)
{
	char perr[PCAP_ERRBUF_SIZE], path[600];
	struct dirent *e;
	uint64_t n = 0;
	DIR *d = opendir(dir);

	*files = *parts = 0;
	while (d && (e = readdir(d))) {
		struct pcap_pkthdr *h;
		const u_char *data;
		pcap_t *pc;

		if (strstr(e->d_name, ".part"))
			++*parts;
		if (!strstr(e->d_name, ".pcapng") || strstr(e->d_name, ".part"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		pc = pcap_open_offline(path, perr);
		CHECK(pc != NULL);
		if (!pc)
			continue;
		++*files;
		while (pcap_next_ex(pc, &h, &data) == 1)
			n++;
		pcap_close(pc);
	}
	if (d)
		closedir(d);
	return n;
}

static void rm_dir(const char *dir)
{
	char path[600];
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	static uint8_t payload[1400], big[(4u << 20) / 4 + 8];
	char dir[] = "/tmp/lg-record-test.XXXXXX", err[512] = "";
	uint32_t sel[] = {7, 9}, id;
	struct lg_rec_conf c = {.max_file_bytes = 16u << 20,
				.max_file_seconds = 3600,
				.max_total_bytes = 1ull << 40,
				.ids = sel,
				.nids = 2,
				.origin = "test"};
	struct lg_rx_pkt pkt = {
	    .data = payload, .len = sizeof(payload), .family = AF_INET, .src_port = 5000};
	struct lg_worker *w = &dp.workers[0];
	struct lg_rec_status st;
	unsigned files, parts;
	uint64_t offered = 0, n;

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK(mkdtemp(dir) != NULL);
	inet_pton(AF_INET, "10.77.0.2", pkt.src_addr);
	dp.nworkers = 1;
	w->dp = &dp;
	w->id = 0;
	CHECK_EQ(lg_record_init(&dp, "10.77.0.1", &dp.rec), 0);
	snprintf(c.dir, sizeof(c.dir), "%s", dir);
	snprintf(c.prefix, sizeof(c.prefix), "t");
	CHECK_EQ(lg_record_start(dp.rec, &c, err, sizeof(err)), 0);
	CHECK_EQ(lg_record_start(dp.rec, &c, err, sizeof(err)), -EBUSY);
	CHECK_STR_CONTAINS(err, "a recording runs already");
	{
		char origin[32];

		lg_record_status(dp.rec, &st);
		CHECK(st.running);
		CHECK_STR(st.origin, "test");
		CHECK(lg_record_running(dp.rec, origin, sizeof(origin)));
		CHECK_STR(origin, "test");
	}

	/* A burst: 200 000 frames of 1.4 kB (280 MB) as fast as memcpy goes, far past what the
	 * 4 MiB ring holds while the recorder sleeps 5 ms between rounds. Device 8 is not
	 * selected: none of its frames is offered. */
	for (unsigned i = 0; i < 200000; i++) {
		id = i % 3 == 2 ? 8 : i % 3 ? 9 : 7;
		memcpy(payload, &i, sizeof(i));
		lg_record_frame(w, 4739, &pkt, &id, 1);
		offered += id != 8;
	}
	/* Too big for the ring (more than a quarter of it): dropped, counted. */
	pkt.data = big;
	pkt.len = sizeof(big);
	id = 7;
	lg_record_frame(w, 4739, &pkt, &id, 1);
	offered++;
	CHECK_EQ(lg_record_stop(dp.rec, "test"), 0);
	CHECK_EQ(lg_record_stop(dp.rec, "test"), -ENOENT);
	lg_record_status(dp.rec, &st);
	n = count_dir(dir, &files, &parts);
	printf("offered %llu, recorded %llu in %u files, dropped %llu\n",
	       (unsigned long long)offered, (unsigned long long)st.frames, files,
	       (unsigned long long)st.dropped);
	CHECK_EQ(st.frames + st.dropped, offered);
	CHECK_EQ(n, st.frames);
	CHECK(st.dropped >= 1);
	CHECK(st.frames > 0);
	CHECK_EQ(parts, 0);
	CHECK(files >= 1);
	CHECK_EQ(st.errors, 0);
	CHECK_STR_CONTAINS(st.state, "stopped: test");
	CHECK_EQ(st.current[0], '\0');
	/* after a stop, status still says whose recording it was; none runs */
	CHECK_STR(st.origin, "test");
	CHECK(!st.running);
	{
		char origin[32] = "x";

		CHECK(!lg_record_running(dp.rec, origin, sizeof(origin)));
		CHECK_STR(origin, "");
	}

	/* A frame after the stop is not recorded (nothing selected any more). */
	pkt.data = payload;
	pkt.len = sizeof(payload);
	lg_record_frame(w, 4739, &pkt, &id, 1);
	lg_record_status(dp.rec, &st);
	CHECK_EQ(st.frames + st.dropped, offered);

	lg_record_destroy(dp.rec);
	rm_dir(dir);
	return lgt_done("record");
}
