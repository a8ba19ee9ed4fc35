#!/usr/bin/python3
"""A plain numpy forward pass of an ONNX model, timed like bench/model_bench.c.

The numpy baseline for bench/model_compare.py: the weights are read from the ONNX file with
the `onnx` package (python3-onnx), and the graph is run node by node as anyone would write it
in numpy: `x @ W.T + b`, then the activation (in place where numpy allows it). numpy's
matrix product is OpenBLAS's sgemm/sgemv here (Debian's libblas.so.3 alternative), so
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE apply to it as to linegate; the OpenBLAS core name
is printed beside every figure.

Prints JSON lines: "numpy_peak" (a 1024^3 float32 matmul, the same as model_bench's
sgemm_peak), "numpy_check" (the fixture's PyTorch outputs reproduced) and one "numpy" line
per model and batch.

usage: /usr/bin/python3 numpy_bench.py --dir MODEL_DIR [--seconds S] [--trials N]
                                       [--batches 1,16,64,256] [--check FIXTURE_DIR] model...
"""
import argparse
import ctypes
import json
import os
import sys
import time

# one thread, as a linegate worker runs: must be set before numpy loads OpenBLAS
os.environ['OPENBLAS_NUM_THREADS'] = '1'
os.environ['OMP_NUM_THREADS'] = '1'

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402


def openblas():
	"""The OpenBLAS that numpy loaded (same soname, so dlopen returns the loaded copy), or
	None when numpy's BLAS is something else (the libblas.so.3 alternative)."""
	with open('/proc/self/maps') as f:
		if 'openblas' not in f.read():
			return None
	for name in ('libopenblas.so.0', 'libopenblasp-r0.3.21.so'):
		try:
			lib = ctypes.CDLL(name)
			lib.openblas_get_corename.restype = ctypes.c_char_p
			return lib
		except OSError:
			continue
	return None


def attrs(node):
	return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def compile_model(path):
	"""The graph as a list of numpy steps; constants prepared once, as a worker would."""
	model = onnx.load(path)
	g = model.graph
	consts = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in g.initializer}
	opset = next((o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')), 13)
	steps = []
	for node in g.node:
		a = attrs(node)
		op = node.op_type
		if op == 'Constant':
			consts[node.output[0]] = numpy_helper.to_array(a['value']).astype(np.float32)
			continue
		if op == 'Gemm':
			if a.get('transA', 0):
				raise SystemExit('numpy_bench: Gemm transA is not supported')
			w = consts[node.input[1]] * np.float32(a.get('alpha', 1.0))
			w = w.T if a.get('transB', 0) else w  # a view: BLAS gets the transpose flag
			c = None
			if len(node.input) > 2 and node.input[2]:
				c = consts[node.input[2]] * np.float32(a.get('beta', 1.0))
			steps.append(('gemm', w, c))
		elif op == 'MatMul':
			steps.append(('gemm', consts[node.input[1]], None))
		elif op in ('Add', 'Sub', 'Mul', 'Div'):
			other = node.input[1] if node.input[1] in consts else node.input[0]
			steps.append((op.lower(), consts[other], None))
		elif op in ('Relu', 'Tanh', 'Sigmoid'):
			steps.append((op.lower(), None, None))
		elif op == 'LeakyRelu':
			steps.append(('leaky', np.float32(a.get('alpha', 0.01)), None))
		elif op == 'Softmax':
			axis = a.get('axis', -1 if opset >= 13 else 1)
			if axis not in (1, -1):
				raise SystemExit('numpy_bench: Softmax axis %d is not supported' % axis)
			steps.append(('softmax', None, None))
		elif op in ('Identity', 'Dropout', 'Flatten'):
			continue
		else:
			raise SystemExit('numpy_bench: %s: operator %s is not supported' % (path, op))
	dims = [d.dim_value for d in g.input[0].type.tensor_type.shape.dim]
	return steps, dims[1]


def forward(steps, x):
	owned = False  # in-place steps must not write into the caller's input
	for op, p, q in steps:
		if not owned and op in ('relu', 'tanh', 'sigmoid'):
			x = x.copy()
		owned = True
		if op == 'gemm':
			x = x @ p
			if q is not None:
				x += q
		elif op == 'add':
			x = x + p
		elif op == 'sub':
			x = x - p
		elif op == 'mul':
			x = x * p
		elif op == 'div':
			x = x / p
		elif op == 'relu':
			np.maximum(x, 0, out=x)
		elif op == 'leaky':
			x = np.where(x > 0, x, x * p)
		elif op == 'tanh':
			np.tanh(x, out=x)
		elif op == 'sigmoid':
			np.negative(x, out=x)
			np.exp(x, out=x)
			x += 1
			np.reciprocal(x, out=x)
		elif op == 'softmax':
			x = np.exp(x - x.max(axis=1, keepdims=True))
			x /= x.sum(axis=1, keepdims=True)
	return x


def make_input(batch, dim):
	i = np.arange(batch * dim, dtype=np.int64)
	return (((i * 7919) % 1009) / 504.5 - 1.0).astype(np.float32).reshape(batch, dim)


def time_point(fn, seconds, trials):
	fn()
	per = []
	for _ in range(trials):
		iters, t0 = 0, time.perf_counter()
		while True:
			for _ in range(16):
				fn()
			iters += 16
			t = time.perf_counter()
			if t - t0 >= seconds / trials:
				break
		per.append((t - t0) * 1e9 / iters)
	return sorted(per)


def peak(seconds, corename):
	n = 1024
	a = (np.arange(n * n) % 17 * 0.01).astype(np.float32).reshape(n, n)
	b = (np.arange(n * n) % 13 * 0.01).astype(np.float32).reshape(n, n)
	c = np.empty((n, n), dtype=np.float32)
	np.matmul(a, b, out=c)
	best, reps, t0 = 0.0, 0, time.perf_counter()
	while True:
		s = time.perf_counter()
		np.matmul(a, b, out=c)
		t = time.perf_counter()
		best = max(best, 2.0 * n ** 3 / (t - s))
		reps += 1
		if t - t0 >= seconds and reps >= 3:
			break
	print(json.dumps({'bench': 'numpy_peak', 'm': n, 'n': n, 'k': n, 'threads': 1,
			  'gflops': round(best * 1e-9, 2), 'reps': reps, 'corename': corename}))
	return best


def main():
	ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	ap.add_argument('--dir', required=True)
	ap.add_argument('--seconds', type=float, default=0.2)
	ap.add_argument('--trials', type=int, default=7)
	ap.add_argument('--batches', default='1,16,64,256')
	ap.add_argument('--check')
	ap.add_argument('--no-peak', action='store_true')
	ap.add_argument('models', nargs='+')
	o = ap.parse_args()
	batches = [int(b) for b in o.batches.split(',')]

	lib = openblas()
	corename = lib.openblas_get_corename().decode() if lib else 'not-openblas'
	if lib and lib.openblas_get_num_threads() != 1:
		lib.openblas_set_num_threads(1)
	if not o.no_peak:
		peak(o.seconds * 3, corename)
	for name in o.models:
		steps, in_dim = compile_model(os.path.join(o.dir, name + '.onnx'))
		if o.check and os.path.exists(os.path.join(o.check, name + '.in.f32')):
			x = np.fromfile(os.path.join(o.check, name + '.in.f32'), dtype='<f4')
			want = np.fromfile(os.path.join(o.check, name + '.out.f32'), dtype='<f4')
			got = forward(steps, x.reshape(-1, in_dim).copy()).ravel()
			err = np.abs(got - want)
			if got.shape != want.shape or np.any(err > 1e-5 + 1e-4 * np.abs(want)):
				sys.exit('numpy_bench: %s: the numpy forward pass differs from the fixture'
					 % name)
			print(json.dumps({'bench': 'numpy_check', 'model': name,
					  'max_abs_err_vs_fixture': float(err.max())}))
		for batch in batches:
			x = make_input(batch, in_dim)
			c0, w0 = time.process_time(), time.perf_counter()
			per = time_point(lambda: forward(steps, x), o.seconds, o.trials)
			# above 1 would mean a second thread did work: the check on "one thread"
			cpu = (time.process_time() - c0) / (time.perf_counter() - w0)
			best, med = per[0], per[len(per) // 2]
			print(json.dumps({'bench': 'numpy', 'runtime': 'numpy-' + np.__version__,
					  'model': name, 'batch': batch, 'in': in_dim, 'threads': 1,
					  'frames_per_s': round(1e9 * batch / best),
					  'ns_per_frame': round(best / batch, 1),
					  'ns_per_frame_median': round(med / batch, 1),
					  'ns_per_call': round(best, 1), 'cpu_per_wall': round(cpu, 2),
					  'corename': corename}))
			sys.stdout.flush()


if __name__ == '__main__':
	main()
