// SPDX-License-Identifier: MIT
/*
 * verify_bench: what a worker spends on one LGF frame (parse, device lookup, bound
 * source, replay check, tag, window commit, sample decode into the feature window)
 * against the bare keyed HMAC-SHA256 over the same bytes, in the same run.
 */
#include "bench_time.h"
#include "../dataplane/dataplane.h"
#include "../dataplane/scorer.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NDEV 64
#define NFRAMES 4096
#define ROUNDS_MAX 31
static int ROUNDS = ROUNDS_MAX;

static const char usage[] =
	"Usage: verify_bench [--json] [--rounds N]\n"
	"\n"
	"What a worker spends on one LGF frame (parse, device lookup, bound source, replay\n"
	"check, tag, window commit, sample decode into the feature window) against the bare\n"
	"keyed HMAC-SHA256 over the same bytes, in the same run: the fastest of N alternating\n"
	"rounds of 4096 frames each, and the median of the paired ratios, for frames of 64,\n"
	"256 and 1024 samples from 64 enrolled devices.\n"
	"\n"
	"Options:\n"
	"      --json        one JSON line per frame size instead of the table\n"
	"      --rounds N    rounds, 1..31 (default 31); few rounds suit valgrind\n"
	"                    --tool=callgrind, whose counts do not depend on other tenants\n"
	"  -h, --help        this text\n"
	"\n"
	"Output on stdout: a table (samples, hmac ns, verify ns, overhead of verify over the\n"
	"HMAC, and its median over paired rounds), or with --json per frame size\n"
	"{\"bench\":\"lgf_verify\", samples, frame_bytes, hmac_ns, verify_ns, overhead,\n"
	"overhead_median_paired}.\n"
	"Exit status: 0, 1 if the set-up failed or frames were rejected, 2 on a usage error.\n";

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	static uint8_t frames[NFRAMES][LGF_MAX_LEN];
	static int lens[NFRAMES];
	static struct lg_rx_pkt pkts[NFRAMES];
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 1 },
		{ "rounds", required_argument, NULL, 2 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const unsigned sizes[] = { 64, 256, 1024 };
	bool json = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 1:
			json = true;
			break;
		case 2:
			/* fewer rounds, for valgrind --tool=callgrind */
			ROUNDS = atoi(optarg);
			if (ROUNDS < 1 || ROUNDS > ROUNDS_MAX) {
				fprintf(stderr, "verify_bench: --rounds must be 1..%d\n", ROUNDS_MAX);
				return 2;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "verify_bench: no arguments besides options (see --help)\n");
		return 2;
	}
	char text[NDEV * 160 + 256], err[256], dir[] = "/tmp/lg-verify-bench-XXXXXX", name[64];
	struct lg_policy p;
	struct lg_gen *g;
	struct lg_worker *w = &dp.workers[0];
	int off;

	/* Windows so long that none completes: this measures verification and decode, not
	 * the features and the model. */
	off = snprintf(text, sizeof(text), "version: 1\ndetection: {window: 4096}\ndevices:\n");
	/* Keys come from key files (0600), one a device, in a folder of our own. */
	if (!mkdtemp(dir)) {
		perror("verify_bench: mkdtemp");
		return 1;
	}
	for (int d = 0; d < NDEV; d++) {
		char path[96], hex[72];
		int fd, n = snprintf(hex, sizeof(hex), "%064x\n", d + 1);

		snprintf(path, sizeof(path), "%s/%d.key", dir, d);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, hex, n) != n) {
			perror(path);
			return 1;
		}
		close(fd);
		off += snprintf(text + off, sizeof(text) - off,
				"  - {id: %d, source: 10.0.0.1, keys: [{id: 1, key_file: %d.key}]}\n",
				1000 + d, d);
	}
	snprintf(name, sizeof(name), "%s/bench.yaml", dir);
	if (lg_policy_parse(text, off, name, &p, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (int d = 0; d < NDEV; d++) {
		char path[96];

		snprintf(path, sizeof(path), "%s/%d.key", dir, d);
		unlink(path);
	}
	rmdir(dir);
	dp.nworkers = 1;
	w->dp = &dp;
	/* No model: no window completes (above), and verification asks the model only which
	 * sample rate it reads (none here). */
	static struct lg_scorer no_model;
	static struct lg_modelset ms = { .sc = { &no_model } };

	w->ms = &ms;
	if (lg_gen_build(&dp, &p, &g))
		return 1;
	g->epoch = 1;
	atomic_store(&dp.gen, g);
	const struct lg_policy_device *dev = lg_policy_find(&p, 1000 + NDEV / 2);
	struct lg_dev_state *st = g->state[dev - g->policy.devices];

	if (!json)
		printf("%8s %12s %12s %10s %10s\n", "samples", "hmac ns", "verify ns", "overhead",
		       "(median)");
	for (unsigned si = 0; si < 3; si++) {
		unsigned n = sizes[si];
		int16_t *samples = calloc(n, sizeof(*samples));
		double base[ROUNDS_MAX], full[ROUNDS_MAX], ratio[ROUNDS_MAX];
		struct lg_mac *mac;

		for (unsigned i = 0; i < n; i++)
			samples[i] = (int16_t)(i * 37);
		for (int i = 0; i < NFRAMES; i++) {
			struct lg_lgf_build b = {
				.device_id = dev->id, .key_id = 1, .type = LGF_TYPE_SAMPLES,
				.sample_format = LGF_FMT_I16, .channels = 1, .sample_count = (uint16_t)n,
				.sample_rate = 10000, .scale = 0.001f, .sequence = (uint64_t)i + 1,
				.samples = samples,
			};

			lens[i] = lg_lgf_encode(&b, dev->keys[0].bytes, LG_KEY_LEN, frames[i],
						sizeof(frames[i]));
			pkts[i] = (struct lg_rx_pkt){ .data = frames[i], .len = (uint32_t)lens[i],
						      .family = AF_INET, .src_addr = { 10, 0, 0, 1 } };
		}
		if (lg_mac_new(&mac, dev->keys[0].bytes, LG_KEY_LEN))
			return 1;
		for (int r = 0; r < ROUNDS; r++) {
			/* Alternate which path runs first, so neither always finds the frames
			 * already in cache. */
			for (int half = 0; half < 2; half++) {
				double t0 = now();
				unsigned ok = 0;

				if ((half ^ r) & 1) {
					memset(&st->replay, 0, sizeof(st->replay));
					/* the same sequences again: the reorder stage starts afresh too */
					memset(&st->order, 0, sizeof(st->order));
					st->fill = 0;
					t0 = now();
					for (int i = 0; i < NFRAMES; i++) {
						/* Keep the window from completing: features are
						 * not measured here. */
						if (st->fill + n >= g->policy.window)
							st->fill = 0;
						ok += lg_worker_handle(w, g, &pkts[i]) == LG_OK;
					}
					full[r] = (now() - t0) / NFRAMES * 1e9;
				} else {
					for (int i = 0; i < NFRAMES; i++) {
						uint8_t tag[LGF_TAG_LEN];
						const uint8_t *fr = frames[i];

						lg_mac_tag(mac, fr, lens[i] - LGF_TAG_LEN, tag);
						ok += !CRYPTO_memcmp(tag, fr + lens[i] - LGF_TAG_LEN,
								     LGF_TAG_LEN);
					}
					base[r] = (now() - t0) / NFRAMES * 1e9;
				}
				if (ok != NFRAMES) {
					fprintf(stderr, "verify_bench: %u frames rejected\n",
						NFRAMES - ok);
					return 1;
				}
			}
			ratio[r] = full[r] / base[r];
		}
		qsort(base, ROUNDS, sizeof(double), cmp_double);
		qsort(full, ROUNDS, sizeof(double), cmp_double);
		qsort(ratio, ROUNDS, sizeof(double), cmp_double);
		/* The fastest of many alternating rounds is each path's cost with the least
		 * interference from the other tenants of a shared machine; the median of the
		 * paired ratios is printed beside it as a cross-check. */
		if (json)
			printf("{\"bench\":\"lgf_verify\",\"samples\":%u,\"frame_bytes\":%d,"
			       "\"hmac_ns\":%.1f,\"verify_ns\":%.1f,\"overhead\":%.4f,"
			       "\"overhead_median_paired\":%.4f}\n",
			       n, lens[0], base[0], full[0], full[0] / base[0] - 1,
			       ratio[ROUNDS / 2] - 1);
		else
			printf("%8u %12.1f %12.1f %9.1f%% %9.1f%%\n", n, base[0], full[0],
			       100 * (full[0] / base[0] - 1), 100 * (ratio[ROUNDS / 2] - 1));
		lg_mac_free(mac);
		free(samples);
	}
	lg_gen_free(g, NULL);
	return 0;
}
