/* SPDX-License-Identifier: MIT */
/*
 * Detection quality on labelled simulated machines (include/linegate/signal.h): recall
 * of injected faults within a few windows of their onset, per fault kind and severity,
 * and the false-alarm rate per window on healthy machines. Shared by linegate-quality
 * and tests/unit/test_quality.c. docs/models.md defines every number.
 */
#ifndef LG_QUALITY_H
#define LG_QUALITY_H

#include <linegate/detector.h>
#include <linegate/model.h>
#include <linegate/signal.h>

#include <stdint.h>

#define LG_QUALITY_MAX_SEV 4

struct lg_quality_conf {
	unsigned window;  /* samples per window */
	double fs;        /* samples per second */
	/* training (linegate-train uses the same recipe) */
	uint64_t train_seed;
	unsigned train_machines, train_windows; /* windows per machine, spread over time */
	enum lg_detector_kind kind;
	size_t components;  /* PCA; 0 = automatic */
	double quantile, margin;
	/* evaluation, on machines the model never saw */
	uint64_t test_seed;
	unsigned healthy_machines, healthy_windows; /* consecutive windows per machine */
	unsigned fault_trials;                      /* per kind and severity */
	double severity[LG_QUALITY_MAX_SEV];
	unsigned nsev;
	unsigned latency;   /* a fault counts as detected when alarmed within this many windows */
	unsigned k, n;      /* alarm policy: k of the last n windows over the threshold */
	/* Per-device normalisation: > 0 fits the model on rows centred per machine, and
	 * every test machine scores against its own mean over this many healthy baseline
	 * windows, spread over its first minutes (commissioning), not the global mean. */
	unsigned per_device;
	/* Score the windows with this ONNX model (lg_model_scores, on whatever GEMM route it
	 * was set to; rows of the default band layout) against onnx_threshold, instead of the
	 * detector, whose feature extractor still makes the rows. NULL: the detector. */
	const struct lg_model *onnx;
	struct lg_model_ws *onnx_ws;
	float onnx_threshold;
};

struct lg_quality_cell {
	enum lg_fault fault;
	double severity;
	unsigned trials, detected;
	double latency_sum; /* windows from onset to alarm, over the detected ones */
};

struct lg_quality {
	uint64_t healthy_windows, false_alarms;
	/* --onnx: windows it scored, and those the bf16 guard scored again on fp32 */
	uint64_t onnx_windows, bf16_rescored;
	unsigned ncells;
	struct lg_quality_cell cell[3 * LG_QUALITY_MAX_SEV];
};

/* The defaults the docs quote: 256-sample windows at 10 kHz, 3 windows, 1 of 1. */
void lg_quality_defaults(struct lg_quality_conf *c);
/* Simulate healthy machines and fit a detector on their windows. */
int lg_quality_train(const struct lg_quality_conf *c, struct lg_detector *det);
/* Rows of training windows (train_machines x train_windows x LG_FEAT_N), as above. */
float *lg_quality_training_rows(const struct lg_quality_conf *c, const struct lg_bands *bands,
				size_t *nrows);
int lg_quality_run(const struct lg_quality_conf *c, struct lg_detector *det,
		   struct lg_quality *q);

/* linegate-quality --from (quality_files.c). */
#include "lifecycle.h"

struct lg_quality_files {
	struct lg_from_list from;
	const char *model, *labels, *policy;
	uint16_t port;
	unsigned latency, k, n;
	double after; /* judge only windows that start this many seconds in, or later */
	int per_device; /* a line per device */
	/* judge windows the model learnt from (the same data digest, before its
	 * trained_until) with --after: refused unless set */
	int judge_trained;
	int allow_cut; /* --allow-cut: lg_ingest.allow_cut */
};

int lg_quality_files(const struct lg_quality_files *qc);

#endif
