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

	for (size_t i = 0; i < n; i++, s->n++) {
		/* Speed wanders +-5% and load +-25% over tens of seconds, as on a real line. */
		double speed = s->shaft_hz * (1.0 + 0.05 * sin(2 * M_PI * s->t / 23.0 + s->speed_phase));
		double load = 1.0 + 0.25 * sin(2 * M_PI * s->t / 37.0 + s->load_phase);
		double a = s->amp * load, v;
		bool faulty = s->fault != LG_FAULT_NONE && s->n >= s->onset;

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
				 * 2.8 kHz structural resonance that decays in about a millisecond. */
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
