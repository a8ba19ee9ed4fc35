// SPDX-License-Identifier: MIT
/*
 * pipeline_bench: a worker's whole cost per frame with the default policy and model —
 * verify, decode, window, features, score, publish — and its parts, in one run: the
 * bare keyed HMAC of the frame, the features of one window, the score of one row; and the
 * output stage that follows it in linegate (the output thread's own drain: a JSON line a
 * scored window, written to /dev/null in its batches).
 */
#include "bench_time.h"
#include "../dataplane/dataplane.h"
#include "../dataplane/scorer.h"
#include "../dataplane/stages.h"

#include <getopt.h>
#include <linegate/cli.h>
#include <linegate/signal.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void openblas_set_num_threads(int n);
char *openblas_get_corename(void);

#define NFRAMES 4096
#define ROUNDS 15

static const char usage[] =
	"Usage: pipeline_bench [options]\n"
	"\n"
	"A worker's whole cost per LGF frame with the default policy and model (verify,\n"
	"decode, window, features, score, publish; frames and windows of 256 samples, batches\n"
	"of the policy's detection.batch (16), one OpenBLAS thread), and its parts in the same\n"
	"run: the bare keyed HMAC of the frame, the features of one window, the score of one\n"
	"row in a batch of that size. Each figure is the fastest of 15 rounds of 4096 frames.\n"
	"\n"
	"The output stage is timed too, apart: every 256 frames the events the worker\n"
	"published are drained by the output thread's own code (lg_output_drain_all(): a JSON\n"
	"line a scored window, formatted in the output buffer, its publish latency, one\n"
	"write(2) of the batch, here to /dev/null), as linegate's output thread does.\n"
	"\n"
	"Figures (ns per frame):\n"
	"  frame_ns    the worker path alone: verify .. publish onto the rings (not the output)\n"
	"  output_ns   the output stage: the drain of those events into JSON lines, written\n"
	"  path_ns     frame_ns + output_ns: what linegate's worker and output threads do for a\n"
	"              frame, without receiving it (bench/rx_compare.sh subtracts this)\n"
	"  hmac_ns, features_ns, score_ns  parts of frame_ns, timed alone\n"
	"\n"
	"Options:\n"
	"  -b, --batch N  windows scored together, 1..256 (default: the policy's)\n"
	"  -h, --help     this text\n"
	"\n"
	"Environment:\n"
	"  LG_SOURCE     the source tree, where control/defaults/policy.yaml and the model it\n"
	"                names are read (default: the current folder)\n"
	"\n"
	"Output on stdout: one JSON line {\"bench\":\"pipeline\", window, batch, openblas_core,\n"
	"frame_ns, output_ns, path_ns, output_lines, hmac_ns, features_ns, score_ns}, then the\n"
	"same in words (output_lines: JSON lines the output stage wrote per frame, 1 at\n"
	"window 256).\n"
	"Exit status: 0, 1 if the policy or model did not load or frames were refused, 2 on a\n"
	"usage error.\n";

/*
 * The default policy in a folder of our own: git keeps its key files 0644, which the parser
 * refuses, so they are copied 0600; the policy and its model are linked. Returns the
 * policy's path in buf, or NULL.
 */
static char tmp_dir[] = "/tmp/lg-pipeline-bench-XXXXXX";

static void remove_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	if (system(cmd))
		fprintf(stderr, "pipeline_bench: could not remove %s\n", tmp_dir);
}

static const char *default_policy(const char *src, char *buf, size_t len)
{
	static const char *const linked[] = { "policy.yaml", "model.json", "model.json.sig" };
	char *dir = tmp_dir;
	char from[1100], to[1100], kdir[700];
	struct dirent *e;
	DIR *d;

	if (!mkdtemp(dir))
		return NULL;
	atexit(remove_tmp);
	for (size_t i = 0; i < 3; i++) {
		snprintf(from, sizeof(from), "%s/control/defaults/%s", src, linked[i]);
		snprintf(to, sizeof(to), "%s/%s", dir, linked[i]);
		if (symlink(from, to))
			return NULL;
	}
	snprintf(kdir, sizeof(kdir), "%s/control/defaults/keys", src);
	snprintf(to, sizeof(to), "%s/keys", dir);
	if (mkdir(to, 0700) || !(d = opendir(kdir)))
		return NULL;
	while ((e = readdir(d))) {
		char hex[80];
		ssize_t n;
		int in, out;

		if (e->d_name[0] == '.')
			continue;
		snprintf(from, sizeof(from), "%s/%s", kdir, e->d_name);
		snprintf(to, sizeof(to), "%s/keys/%s", dir, e->d_name);
		in = open(from, O_RDONLY | O_CLOEXEC);
		out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		n = in >= 0 ? read(in, hex, sizeof(hex)) : -1;
		if (n < 0 || out < 0 || write(out, hex, n) != n)
			n = -1;
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
		if (n < 0) {
			closedir(d);
			return NULL;
		}
	}
	closedir(d);
	snprintf(buf, len, "%s/policy.yaml", dir);
	return buf;
}

static double best(double *v)
{
	qsort(v, ROUNDS, sizeof(double), cmp_double);
	return v[0];
}

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	static uint8_t frames[NFRAMES][1024];
	static int lens[NFRAMES];
	static struct lg_rx_pkt pkts[NFRAMES];
	static float win[256], rows[256 * LG_FEAT_N], scores[256];
	static const struct option opts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned long batch = 0;
	int opt;
	struct lg_worker *w = &dp.workers[0];
	const char *src = getenv("LG_SOURCE") ? getenv("LG_SOURCE") : ".";
	double t_all[ROUNDS], t_out[ROUNDS], t_mac[ROUNDS], t_feat[ROUNDS], t_score[ROUNDS];
	uint64_t lines[ROUNDS];
	double fr, out;
	char path[600], err[512];
	struct lg_policy p;
	struct lg_gen *g;
	struct lg_mac *mac;
	struct lg_signal sig;
	const struct lg_policy_device *dev;
	struct lg_dev_state *st;

	while ((opt = getopt_long(argc, argv, "b:h", opts, NULL)) != -1) {
		char *end;

		if (opt == 'h') {
			fputs(usage, stdout);
			return 0;
		}
		if (opt != 'b')
			return 2;
		errno = 0;
		batch = strtoul(optarg, &end, 10);
		if (errno || *end || optarg[0] < '0' || optarg[0] > '9' || batch < 1 || batch > 256) {
			fprintf(stderr, "pipeline_bench: --batch must be 1..256, not %s\n", optarg);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "pipeline_bench: takes no arguments (see --help)\n");
		return 2;
	}
	openblas_set_num_threads(1);
	if (!default_policy(src, path, sizeof(path))) {
		fprintf(stderr, "pipeline_bench: could not copy %s/control/defaults to /tmp\n", src);
		return 1;
	}
	if (lg_policy_load(path, &p, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	p.threshold = 0;
	if (batch)
		p.batch = (uint32_t)batch;
	batch = p.batch;
	dp.nworkers = 1;
	dp.max_batch = 256;
	w->dp = &dp;
	if (lg_worker_buffers(w, 256, 8192, 8192))
		return 1;
	if (lg_gen_build(&dp, &p, &g))
		return 1;
	g->epoch = 1;
	atomic_store(&dp.gen, g);
	pthread_mutex_init(&dp.apply_lock, NULL);
	pthread_mutex_init(&dp.model_lock, NULL);
	if (lg_dp_set_models(&dp, p.model, "default", NULL, NULL, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	w->ms = atomic_load(&dp.models);
	dev = &g->policy.devices[0];
	st = g->state[0];
	lg_signal_init(&sig, 1, 0, 10000);
	for (int i = 0; i < NFRAMES; i++) {
		int16_t s16[256];
		struct lg_lgf_build b = {
			.device_id = dev->id, .key_id = dev->keys[0].id, .type = LGF_TYPE_SAMPLES,
			.sample_format = LGF_FMT_I16, .channels = 1, .sample_count = 256,
			.sample_rate = 10000, .scale = 0.001f, .sequence = (uint64_t)i + 1,
			.samples = s16,
		};

		lg_signal_fill(&sig, win, 256);
		for (int k = 0; k < 256; k++)
			s16[k] = (int16_t)(win[k] * 1000);
		lens[i] = lg_lgf_encode(&b, dev->keys[0].bytes, LG_KEY_LEN, frames[i], sizeof(frames[i]));
		pkts[i] = (struct lg_rx_pkt){ .data = frames[i], .len = (uint32_t)lens[i],
					      .family = dev->family };
		memcpy(pkts[i].src_addr, dev->addr, 16);
	}
	if (lg_mac_new(&mac, dev->keys[0].bytes, LG_KEY_LEN))
		return 1;
	/* The output stage's own setup, as linegate's: lines to a file that is not a
	 * regular one (no rotation), no metadata, no brokers. */
	dp.out = fopen("/dev/null", "we");
	if (!dp.out) {
		fprintf(stderr, "pipeline_bench: /dev/null: %s\n", strerror(errno));
		return 1;
	}
	lg_output_prepare(&dp);
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now(), t_o = 0;
		uint64_t lines0 = atomic_load(&dp.out_written);
		unsigned ok = 0;

		/* The worker's whole path: every frame completes a 256-sample window, every
		 * batch-th scores a batch and publishes its events; every 256 frames the output
		 * thread's drain takes them (timed apart: output_ns). */
		memset(&st->replay, 0, sizeof(st->replay));
		/* the same sequences again: the reorder stage starts afresh too */
		memset(&st->order, 0, sizeof(st->order));
		/* The pickup and arrival times a backend gives each frame (its clock reads are
		 * receive cost, not timed here): the lines' latencies and the output's latency
		 * stages are then a live run's, not of frames that arrived at boot. */
		for (int i = 0; i < NFRAMES; i++)
			pkts[i].rx_ns = pkts[i].arrival_ns = lg_now_ns();
		t0 = now();
		for (int i = 0; i < NFRAMES; i++) {
			ok += lg_worker_handle(w, g, &pkts[i]) == LG_OK;
			lg_worker_score_full(w, g);
			if ((i & 255) == 255) {
				double t1 = now();

				lg_output_drain_all(&dp);
				t_o += now() - t1;
			}
		}
		lg_worker_flush(w);
		t_all[r] = (now() - t0 - t_o) / NFRAMES * 1e9;
		{
			double t1 = now();

			lg_output_drain_all(&dp);
			t_o += now() - t1;
		}
		t_out[r] = t_o / NFRAMES * 1e9;
		lines[r] = atomic_load(&dp.out_written) - lines0;
		if (ok != NFRAMES) {
			fprintf(stderr, "pipeline_bench: %u frames refused\n", NFRAMES - ok);
			return 1;
		}
		if (lines[r] < NFRAMES || atomic_load(&dp.out_dropped)) {
			fprintf(stderr, "pipeline_bench: the output stage wrote %" PRIu64
				" lines for %d frames, dropped %" PRIu64 "\n", lines[r], NFRAMES,
				(uint64_t)atomic_load(&dp.out_dropped));
			return 1;
		}
		t0 = now();
		for (int i = 0; i < NFRAMES; i++) {
			uint8_t tag[LGF_TAG_LEN];

			lg_mac_tag(mac, frames[i], lens[i] - LGF_TAG_LEN, tag);
			ok += !CRYPTO_memcmp(tag, frames[i] + lens[i] - LGF_TAG_LEN, LGF_TAG_LEN);
		}
		t_mac[r] = (now() - t0) / NFRAMES * 1e9;
		t0 = now();
		for (int i = 0; i < NFRAMES; i++)
			lg_features_rows(w->ms->sc[0]->fx, win, 1, 256, 256,
					 rows + (size_t)(i % (int)batch) * LG_FEAT_N);
		t_feat[r] = (now() - t0) / NFRAMES * 1e9;
		t0 = now();
		for (int i = 0; i + (int)batch <= NFRAMES; i += (int)batch)
			lg_scorer_score(w->ms->sc[0], rows, batch, scores);
		t_score[r] = (now() - t0) / (double)(NFRAMES / batch * batch) * 1e9;
	}
	fr = best(t_all);
	out = best(t_out);
	printf("{\"bench\":\"pipeline\",\"window\":256,\"batch\":%lu,\"openblas_core\":\"%s\","
	       "\"frame_ns\":%.1f,\"output_ns\":%.1f,\"path_ns\":%.1f,\"output_lines\":%.3f,"
	       "\"hmac_ns\":%.1f,\"features_ns\":%.1f,\"score_ns\":%.1f}\n",
	       batch, openblas_get_corename(), fr, out, fr + out, (double)lines[0] / NFRAMES,
	       best(t_mac), best(t_feat), best(t_score));
	printf("per frame of 256 samples, batches of %lu (fastest of %d rounds of %d frames), "
	       "OpenBLAS core %s:\n"
	       "  whole worker path %.0f ns = HMAC %.0f + features %.0f + score %.0f + the rest\n"
	       "  output stage %.0f ns (%.2f JSON lines a frame, to /dev/null)\n"
	       "  worker path + output stage %.0f ns\n",
	       batch, ROUNDS, NFRAMES, openblas_get_corename(), fr, t_mac[0], t_feat[0],
	       t_score[0], out, (double)lines[0] / NFRAMES, fr + out);
	lg_output_close(&dp);
	lg_mac_free(mac);
	return 0;
}
