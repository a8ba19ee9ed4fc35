// SPDX-License-Identifier: MIT
#include <linegate/signal.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* splitmix64: tiny, seedable, and good enough for simulated noise. */
static uint64_t next_u64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform(uint64_t *x)
{
	return ((next_u64(x) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double gauss(uint64_t *x)
{
	return sqrt(-2.0 * log(uniform(x))) * cos(2 * M_PI * uniform(x));
}

static const double speed_points[4] = { 0.7, 0.85, 1.0, 1.15 };

/* The operating process moves in steps of this many seconds (1 ms): fine against its
 * seconds-long changes, and cheap. */
#define OPERATE_DT 0.001

void lg_signal_init(struct lg_signal *s, uint64_t seed, unsigned device, double fs)
{
	memset(s, 0, sizeof(*s));
	s->rng = seed * 0x100000001b3ull ^ (device + 1) * 0x9e3779b97f4a7c15ull;
	s->fs = fs;
	s->shaft_hz = 20.0 + 10.0 * uniform(&s->rng);
	s->amp = 0.8 + 0.4 * uniform(&s->rng);
	s->noise = 0.05 + 0.05 * uniform(&s->rng);
	s->phase = 2 * M_PI * uniform(&s->rng);
	s->speed_phase = 2 * M_PI * uniform(&s->rng);
	s->load_phase = 2 * M_PI * uniform(&s->rng);
	s->prng = s->rng ^ 0x5851f42d4c957f2dull;
	s->speed_set = s->speed_target = speed_points[next_u64(&s->prng) % 4];
	s->load_level = 0.75 + 0.5 * uniform(&s->prng);
	s->next_change = 20.0 + 100.0 * uniform(&s->prng);
}

/* The operating point moves on by dt: product changes, ramps, part-to-part load. */
static void operate(struct lg_signal *s, double dt)
{
	const double ramp = 0.1 * dt, tau = 2.0, sd = 0.05;

	if (s->t >= s->next_change) {
		s->speed_target = speed_points[next_u64(&s->prng) % 4];
		s->load_level = 0.75 + 0.5 * uniform(&s->prng);
		s->next_change = s->t + 20.0 + 100.0 * uniform(&s->prng);
	}
	if (s->speed_set < s->speed_target - ramp)
		s->speed_set += ramp;
	else if (s->speed_set > s->speed_target + ramp)
		s->speed_set -= ramp;
	else
		s->speed_set = s->speed_target;
	/* Exact OU step: the variance stays sd^2 whatever dt is. */
	s->load_ou = s->load_ou * exp(-dt / tau) +
		     sd * sqrt(1 - exp(-2 * dt / tau)) * gauss(&s->prng);
}

void lg_signal_set_fault(struct lg_signal *s, enum lg_fault f, double severity, uint64_t onset)
{
	s->fault = f;
	s->severity = severity;
	s->onset = onset;
}

void lg_signal_fill(struct lg_signal *s, float *out, size_t n)
{
	const double dt = 1.0 / s->fs;
	uint64_t step = (uint64_t)(s->fs * OPERATE_DT + 0.5);

	if (!step)
		step = 1;
	for (size_t i = 0; i < n; i++, s->n++) {
		double speed, load, a, v;
		bool faulty = s->fault != LG_FAULT_NONE && s->n >= s->onset;

		if (s->n % step == 0)
			operate(s, (double)step * dt);
		speed = s->shaft_hz * s->speed_set *
			(1.0 + 0.01 * sin(2 * M_PI * s->t / 23.0 + s->speed_phase));
		load = s->load_level * (1.0 + 0.1 * sin(2 * M_PI * s->t / 37.0 + s->load_phase)) *
		       (1.0 + s->load_ou);
		a = s->amp * load;

		s->phase += 2 * M_PI * speed * dt;
		if (s->phase > 2 * M_PI)
			s->phase -= 2 * M_PI;
		v = a * sin(s->phase) + 0.3 * a * sin(2 * s->phase + 0.4) +
		    0.1 * a * sin(3 * s->phase + 1.1) + s->noise * gauss(&s->rng);
		if (faulty) {
			double sev = s->severity;

			switch (s->fault) {
			case LG_FAULT_BEARING:
				/* Outer race: BPFO about 3.58x shaft speed; each impact rings a
				 * 2.8 kHz structural resonance that decays in about 1 ms. */
				if (s->ring_t >= s->next_impulse) {
					s->ring_t = 0;
					s->next_impulse = 1.0 / (3.58 * speed) *
							  (1.0 + 0.02 * gauss(&s->rng));
				}
				v += sev * 4.0 * a * exp(-s->ring_t / 0.0008) *
				     sin(2 * M_PI * 2800.0 * s->ring_t);
				s->ring_t += dt;
				break;
			case LG_FAULT_IMBALANCE:
				v += sev * 2.0 * a * sin(s->phase);
				break;
			case LG_FAULT_LOOSENESS:
				for (int h = 2; h <= 10; h++)
					v += sev * 0.5 * a / h * sin(h * s->phase + h);
				v += sev * 0.4 * a * sin(0.5 * s->phase);
				v = v > 2.5 * a ? 2.5 * a : v; /* clipping as parts knock */
				break;
			default:
				break;
			}
		}
		out[i] = (float)v;
		s->t += dt;
	}
}

void lg_signal_skip(struct lg_signal *s, uint64_t n)
{
	const double dt = 1.0 / s->fs;
	/* 100 ms steps: the operating process changes over seconds, and its OU step is
	 * exact for any step length. */
	const uint64_t step = (uint64_t)(s->fs * 0.1) + 1;

	while (n) {
		uint64_t m = n < step ? n : step;
		double speed;

		operate(s, (double)m * dt);
		speed = s->shaft_hz * s->speed_set *
			(1.0 + 0.01 * sin(2 * M_PI * s->t / 23.0 + s->speed_phase));
		s->phase = fmod(s->phase + 2 * M_PI * speed * dt * (double)m, 2 * M_PI);
		s->ring_t += dt * (double)m;
		s->t += dt * (double)m;
		s->n += m;
		n -= m;
	}
}

static const char *const fault_names[] = { "none", "bearing", "imbalance", "looseness" };

const char *lg_fault_name(enum lg_fault f)
{
	return (unsigned)f < 4 ? fault_names[f] : "invalid";
}

int lg_fault_parse(const char *name, enum lg_fault *f)
{
	for (unsigned i = 0; i < 4; i++)
		if (!strcmp(name, fault_names[i])) {
			*f = (enum lg_fault)i;
			return 0;
		}
	return -EINVAL;
}
