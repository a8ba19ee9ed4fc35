/* SPDX-License-Identifier: MIT */
/*
 * Simulated machine vibration: shaft harmonics at a speed and load that change as on
 * a real line, sensor noise, and labelled faults. Seeded and deterministic, shared by
 * the load generator, the model trainer, the quality tool and the tests, so that what
 * a model is trained on and what it is tested against come from one definition.
 *
 * Operating point (docs/models.md has the numbers):
 *  - speed: the line runs one product at a time at a set point of 0.7, 0.85, 1.0 or
 *    1.15 x the machine's nominal shaft speed; products change after 20-120 s and the
 *    drive ramps to the new set point at 10% of nominal per second; on top, +-1% slow
 *    wander.
 *  - load: a level per product (0.75-1.25) times a slow +-10% cycle, times a random
 *    part-to-part variation (Ornstein-Uhlenbeck, 5% sd, 2 s time constant).
 * The operating process draws from its own random stream, so it does not depend on
 * how the samples are cut into calls.
 */
#ifndef LINEGATE_SIGNAL_H
#define LINEGATE_SIGNAL_H

#include <stddef.h>
#include <stdint.h>

enum lg_fault {
	LG_FAULT_NONE = 0,
	LG_FAULT_BEARING,   /* outer-race defect: impulses at BPFO exciting a resonance */
	LG_FAULT_IMBALANCE, /* the 1x component grows */
	LG_FAULT_LOOSENESS, /* many harmonics and half orders */
};

struct lg_signal {
	uint64_t rng;
	double fs;          /* samples per second */
	double shaft_hz;    /* nominal shaft speed */
	double amp;         /* 1x amplitude at nominal load, in g */
	double noise;       /* noise standard deviation, g */
	double phase, t;    /* shaft phase (rad), time (s) */
	double speed_phase, load_phase; /* slow wander of speed and load */
	uint64_t prng;      /* the operating process's own stream */
	double speed_set;   /* current speed, x nominal (ramps towards speed_target) */
	double speed_target, load_level, load_ou;
	double next_change; /* time of the next product change, s */
	double ring_t;      /* time since the last bearing impulse */
	double next_impulse;
	enum lg_fault fault;
	double severity;    /* 0..1 */
	uint64_t onset;     /* sample index at which the fault starts */
	uint64_t n;         /* samples generated */
};

/* Seed a machine; the device index varies speed and amplitude between machines. */
void lg_signal_init(struct lg_signal *s, uint64_t seed, unsigned device, double fs);
/* The fault starts at sample index onset. */
void lg_signal_set_fault(struct lg_signal *s, enum lg_fault f, double severity, uint64_t onset);
/* Generate the next n samples (in g). */
void lg_signal_fill(struct lg_signal *s, float *out, size_t n);
/* Let n samples' time pass without making them: the operating point and the shaft
 * move on as if they had been generated (the noise does not), at a thousandth of the
 * cost. For sampling windows spread over hours of operation. */
void lg_signal_skip(struct lg_signal *s, uint64_t n);

const char *lg_fault_name(enum lg_fault f);
int lg_fault_parse(const char *name, enum lg_fault *f);

#endif /* LINEGATE_SIGNAL_H */
