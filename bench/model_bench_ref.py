#!/usr/bin/env python3
"""Inference engine against a reference runtime, in one invocation.

Runs bench/model_bench (linegate: sgemm + fused epilogues) and then PyTorch (eager,
inference_mode, one thread) on the very same models, rebuilt by
tests/fixtures/models/gen_models.py, at the same batch sizes. Prints JSON lines: the C
benchmark's own lines, one "model_ref" line per torch point, and one "model_vs_ref" line
per (model, batch) with the ratio of linegate's best ISA path to torch.

Needs the Debian python with python3-torch (call /usr/bin/python3 explicitly; CI has no
torch, so this is a development-machine tool, not a test):

    /usr/bin/python3 bench/model_bench_ref.py build/bench/model_bench [seconds-per-point]
"""
import json
import os
import subprocess
import sys
import time

# one thread for torch and for whatever BLAS it calls, as linegate's workers run: set before
# torch (and its BLAS) is loaded
os.environ['OMP_NUM_THREADS'] = '1'
os.environ['OPENBLAS_NUM_THREADS'] = '1'

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', 'tests', 'fixtures', 'models')
sys.path.insert(0, FIXTURES)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import gen_models  # noqa: E402

BATCHES = (1, 16, 64, 256)
TRIALS = 7
MODELS = ('mlp_classifier', 'ae_64', 'ae_1024')


def time_torch(model, shape, seconds):
	out = []
	for batch in BATCHES:
		x = torch.randn((batch,) + tuple(shape))
		with torch.inference_mode():
			model(x)
			ns = []
			for _ in range(TRIALS):
				iters, t0 = 0, time.perf_counter()
				while True:
					for _ in range(16):
						model(x)
					iters += 16
					t = time.perf_counter()
					if t - t0 >= seconds / TRIALS:
						break
				ns.append((t - t0) * 1e9 / (iters * batch))
		ns.sort()
		out.append((batch, ns[0], ns[TRIALS // 2]))
	return out


def main():
	if len(sys.argv) < 2:
		sys.exit(__doc__)
	binary = sys.argv[1]
	seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
	torch.set_num_threads(1)

	c_lines = subprocess.run([binary, FIXTURES, str(seconds)] + list(MODELS), check=True,
				 capture_output=True, text=True).stdout.splitlines()
	best = {}
	for line in c_lines:
		print(line)
		d = json.loads(line)
		if d['bench'] == 'model':
			key = (d['model'], d['batch'])
			if key not in best or d['ns_per_frame'] < best[key]['ns_per_frame']:
				best[key] = d

	models = {name: (m.eval(), shape) for name, m, shape, _ in gen_models.build_models()}
	for name in MODELS:
		model, shape = models[name]
		# the rebuilt module must be the exported one: check it against the fixture
		x = np.fromfile(os.path.join(FIXTURES, name + '.in.f32'), dtype='<f4')
		want = np.fromfile(os.path.join(FIXTURES, name + '.out.f32'), dtype='<f4')
		with torch.inference_mode():
			got = model(torch.from_numpy(x).reshape((-1,) + tuple(shape))).numpy().ravel()
		if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
			sys.exit('model_bench_ref: %s rebuilt by gen_models.py differs from the '
				 'fixture' % name)
		for batch, ns, med in time_torch(model, shape, seconds):
			print(json.dumps({'bench': 'model_ref', 'runtime': 'torch-%s-eager' %
					  torch.__version__, 'model': name, 'batch': batch,
					  'frames_per_s': round(1e9 / ns), 'ns_per_frame': round(ns, 1),
					  'ns_per_frame_median': round(med, 1), 'threads': 1}))
			lg = best[(name, batch)]
			print(json.dumps({'bench': 'model_vs_ref', 'model': name, 'batch': batch,
					  'isa': lg['isa'], 'linegate_ns_per_frame': lg['ns_per_frame'],
					  'torch_ns_per_frame': round(ns, 1),
					  'speedup': round(ns / lg['ns_per_frame'], 2),
					  'corename': lg['corename']}))
			sys.stdout.flush()


if __name__ == '__main__':
	main()
