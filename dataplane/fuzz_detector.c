// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the JSON model files (detector.c): "linegate-detector" and
 * "linegate-detectors" of every kind (mahalanobis, pca, knn) and layout (basic18,
 * bands96-time5, orders96-time5 with its "order_ref": seeds knn_orders_*.json). Any byte string must either load or be refused with "NAME: reason",
 * never crash, leak or read past the input. A set that loads is saved and loaded again
 * (the same detectors), and each detector scores two rows of zeros: finite scores or NaN,
 * never a crash (the kNN sgemm and row minimum, per channel too, the Mahalanobis/PCA sgemm).
 * The same bytes as a federated statistics file ("linegate-stats", lg_stats_load(): another
 * server's export, untrusted): loaded or refused with a reason, never a crash; one that loads
 * is saved and loaded again (seeds stats_*.json).
 */
#include <linegate/detector.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_detector_set set, back;
	char err[512] = "", path[64];
	float *rows, scores[2];

	if (size > 1 << 20)
		return 0;
	{
		struct lg_stats st, st2;
		FILE *f;

		memset(&st, 0, sizeof(st));
		memset(&st2, 0, sizeof(st2));
		snprintf(path, sizeof(path), "/tmp/fuzz_stats.%d.json", (int)getpid());
		f = fopen(path, "wb");
		if (!f || fwrite(data, 1, size, f) != size || fclose(f))
			abort();
		if (lg_stats_load(path, &st, err, sizeof(err))) {
			if (!err[0])
				abort(); /* every refusal says why */
		} else {
			if (lg_stats_save(&st, path) || lg_stats_load(path, &st2, err, sizeof(err)))
				abort(); /* what was saved loads again */
			if (st2.d != st.d)
				abort();
			lg_stats_free(&st2);
		}
		lg_stats_free(&st);
		unlink(path);
		err[0] = '\0';
	}
	if (lg_detector_set_load_mem(data, size, "fuzz", 2, &set, err, sizeof(err))) {
		if (strncmp(err, "fuzz", 4))
			abort(); /* every refusal names the input and says why */
		return 0;
	}
	for (size_t i = 0; i < set.n; i++) {
		struct lg_detector *d = &set.det[i];

		rows = calloc(2 * d->d, sizeof(float));
		if (!rows)
			abort();
		lg_detector_score(d, rows, 2, scores);
		free(rows);
	}
	snprintf(path, sizeof(path), "/tmp/fuzz_detector.%d.json", (int)getpid());
	if (!lg_detector_set_save(&set, path)) {
		if (lg_detector_set_load(path, 2, &back, err, sizeof(err)))
			abort(); /* what was saved loads again */
		if (back.n != set.n)
			abort();
		for (size_t i = 0; i < set.n; i++)
			if (back.det[i].kind != set.det[i].kind || back.det[i].d != set.det[i].d ||
			    back.det[i].layout != set.det[i].layout || back.det[i].m != set.det[i].m ||
			    back.det[i].nch != set.det[i].nch)
				abort();
		lg_detector_set_free(&back);
	}
	unlink(path);
	lg_detector_set_free(&set);
	return 0;
}
