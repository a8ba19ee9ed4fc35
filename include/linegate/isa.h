/* SPDX-License-Identifier: MIT */
/*
 * Code paths chosen at run time by CPU feature detection: the model engine's epilogues and
 * the feature extractor's time-domain statistics each come as scalar, AVX2 and AVX-512 code,
 * built with per-file flags. The CPU is probed once per process; the names are the model
 * engine's, which had them first.
 */
#ifndef LINEGATE_ISA_H
#define LINEGATE_ISA_H

#ifdef __cplusplus
extern "C" {
#endif

enum lg_model_isa {
	LG_MODEL_ISA_AUTO = 0, /* best this CPU has; what a freshly loaded model uses */
	LG_MODEL_ISA_SCALAR,
	LG_MODEL_ISA_AVX2,   /* AVX2 + FMA */
	LG_MODEL_ISA_AVX512, /* AVX-512 F + DQ */
};

const char *lg_model_isa_name(enum lg_model_isa isa);
/* True if this CPU (and this build) can run `isa`. */
int lg_model_isa_supported(enum lg_model_isa isa);

#ifdef __cplusplus
}
#endif

#endif /* LINEGATE_ISA_H */
