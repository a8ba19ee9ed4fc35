#!/usr/bin/python3
"""linegate's inference engine against onnxruntime and numpy, in one invocation.

Runs, interleaved over several rounds, one thread each:
  linegate   build/bench/model_bench (GEMM routes + fused epilogues; also the GEMM peak: the
             best of its fp32 routes, OpenBLAS's sgemm and libxsmm's kernels at 1024^3 and
             libxsmm's kernel for one weight panel in cache)
  numpy      bench/numpy_bench.py (a plain numpy forward pass of the same ONNX weights)
  onnxruntime  bench/ort_bench.mjs (onnxruntime-node, CPU execution provider)
on the fixtures mlp_classifier, ae_64 and ae_1024 at batch 1, 16, 64 and 256, plus a tiny
1x1 model whose batch-1 time is each runtime's fixed cost per call. linegate and numpy both
use OpenBLAS, so each of them runs twice per round: with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE
as the environment sets them (the project's defaults, Haswell and 1048576, when it does not:
see tests/run.sh), and with both unset for that one command alone
(`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...`). onnxruntime has its own GEMM (MLAS)
and runs once per round, in the unset environment.

Every point of every runner is the best of 7 short trials; over the rounds the script
reports the median and the best of those. Prints a table and the goals of issue 5, and
writes everything (raw lines, summary, load average, commands) as JSON.

onnxruntime-node is installed with npm into --ort-dir (default bench/.ort, not committed)
when it is missing; nothing else is downloaded. Needs the Debian python with numpy and
python3-onnx, so call it as:

    /usr/bin/python3 bench/model_compare.py [--build build] [--rounds 5] [--seconds 0.2]
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

try:
	import numpy as np
	import onnx
	from onnx import TensorProto, helper
except ImportError as e:
	# a python3 first on PATH (a venv, /usr/local) without Debian's python3-numpy and
	# python3-onnx: say which interpreter this needs instead of a bare traceback
	sys.exit('model_compare: %s under %s: run it as /usr/bin/python3 bench/model_compare.py '
		 '(Debian python3-numpy and python3-onnx; bash .ci/install-deps installs them)' %
		 (e, sys.executable))

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'models')
MODELS = ('mlp_classifier', 'ae_64', 'ae_1024')
TINY = 'tiny_1x1'
BATCHES = (1, 16, 64, 256)
BLAS_VARS = ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')
# what tests/run.sh and bench/demo.sh export when the machine does not
BLAS_DEFAULTS = {'OPENBLAS_CORETYPE': 'Haswell', 'OPENBLAS_L2_SIZE': '1048576'}
UNSET = ['env', '-u', 'OPENBLAS_CORETYPE', '-u', 'OPENBLAS_L2_SIZE']

# issue 5: linegate / onnxruntime speed-up wanted at each batch (variables unset)
GOAL_VS_ORT = {1: 2.0, 16: 2.0, 64: 1.2, 256: 1.0}
GOAL_PEAK = 0.85


def loadavg():
	with open('/proc/loadavg') as f:
		return [float(x) for x in f.read().split()[:3]]


def write_tiny(path):
	"""[batch, 1] -> Gemm 1x1 -> Relu: no arithmetic to speak of, only the cost of a call."""
	x = helper.make_tensor_value_info('input', TensorProto.FLOAT, ['batch', 1])
	y = helper.make_tensor_value_info('output', TensorProto.FLOAT, ['batch', 1])
	w = helper.make_tensor('w', TensorProto.FLOAT, [1, 1], [0.5])
	b = helper.make_tensor('b', TensorProto.FLOAT, [1], [0.25])
	nodes = [helper.make_node('Gemm', ['input', 'w', 'b'], ['g'], name='fc', transB=1),
		 helper.make_node('Relu', ['g'], ['output'], name='relu')]
	g = helper.make_graph(nodes, 'tiny', [x], [y], [w, b])
	m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)],
			      producer_name='linegate-model_compare')
	m.ir_version = 7
	onnx.checker.check_model(m)
	onnx.save(m, path)


def layer_shapes(path):
	"""OUTxIN of each Gemm/MatMul weight, in order: what lg_model_run() hands to OpenBLAS."""
	m = onnx.load(path)
	dims = {t.name: list(t.dims) for t in m.graph.initializer}
	shapes = []
	for node in m.graph.node:
		if node.op_type not in ('Gemm', 'MatMul'):
			continue
		d = dims[node.input[1]]
		trans_b = any(a.name == 'transB' and a.i for a in node.attribute)
		out, inp = (d[0], d[1]) if trans_b else (d[1], d[0])
		shapes.append('%dx%d' % (out, inp))
	return ','.join(shapes)


def ensure_ort(ort_dir):
	pkg = os.path.join(ort_dir, 'node_modules', 'onnxruntime-node', 'package.json')
	if not os.path.exists(pkg):
		os.makedirs(ort_dir, exist_ok=True)
		cmd = ['npm', 'install', '--prefix', ort_dir, '--ignore-scripts', '--no-audit',
		       '--no-fund', 'onnxruntime-node']
		print('model_compare: installing onnxruntime-node: ' + shlex.join(cmd),
		      file=sys.stderr)
		subprocess.run(cmd, check=True, stdout=sys.stderr)
	with open(pkg) as f:
		return json.load(f)['version']


def run_json(cmd, env):
	"""Run one benchmark process; its JSON lines, or exit with its stderr."""
	p = subprocess.run(cmd, env=env, capture_output=True, text=True)
	if p.returncode:
		sys.exit('model_compare: %s failed (%d):\n%s' % (shlex.join(cmd), p.returncode,
								 p.stderr))
	return [json.loads(line) for line in p.stdout.splitlines() if line.startswith('{')]


def stats(values):
	return {'median': statistics.median(values), 'best': min(values), 'n': len(values)}


def fmt_rate(ns):
	fps = 1e9 / ns
	if fps >= 1e6:
		return '%.2fM' % (fps / 1e6)
	return '%.1fk' % (fps / 1e3)


def main():
	ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	ap.add_argument('--build', default=os.path.join(ROOT, 'build'),
			help='meson build dir with bench/model_bench (default: build)')
	ap.add_argument('--rounds', type=int, default=5)
	ap.add_argument('--seconds', type=float, default=0.2, help='per point and runner')
	ap.add_argument('--ort-dir', default=os.environ.get('LG_ORT_DIR',
							    os.path.join(HERE, '.ort')))
	ap.add_argument('--json', help='output file (default: BUILD/model_compare.json)')
	ap.add_argument('--from-json', metavar='FILE',
			help='do not run: summarize the raw lines of an earlier run again')
	ap.add_argument('--as-is', action='store_true',
			help='leave OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE as the environment has '
			'them (as tests and CI must): linegate and numpy run once, without env -u, '
			'and their figures are labelled "as_is" (JSON keys, raw lines, commands) and '
			'"as-is: CORENAME" (goals, tables), never "unset"')
	o = ap.parse_args()
	if o.from_json:
		with open(o.from_json) as f:
			old = json.load(f)
		as_is = old['meta'].get('openblas_as_is')
		raw = [dict(d, blas_env='unset') if d.get('blas_env') == 'as_is' else d
		       for d in old['raw']]
		summary = summarize(raw)
		goals = judge(summary)
		print_table(summary, relabel(goals, summary) if as_is else goals, old['meta'])
		if o.json:
			if as_is:
				summary, goals = relabel(summary, summary), relabel(goals, summary)
			with open(o.json, 'w') as f:
				json.dump({'meta': old['meta'], 'summary': summary, 'goals': goals,
					   'raw': old['raw']}, f, indent=1)
		return
	out_json = o.json or os.path.join(o.build, 'model_compare.json')
	model_bench = os.path.join(o.build, 'bench', 'model_bench')
	shapes_bench = os.path.join(o.build, 'bench', 'sgemm_shapes')
	for b in (model_bench, shapes_bench):
		if not os.path.exists(b):
			subprocess.run(['ninja', '-C', o.build, os.path.relpath(b, o.build)],
				       check=True, stdout=sys.stderr)
	ort_version = ensure_ort(os.path.abspath(o.ort_dir))
	node = shutil.which('node')
	if not node:
		sys.exit('model_compare: node is not installed')

	env_set = dict(os.environ)
	blas_source = {}
	for k in BLAS_VARS:
		blas_source[k] = 'environment' if k in env_set else 'project default'
		env_set.setdefault(k, BLAS_DEFAULTS[k])
	env_unset = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
	blas_set = {k: env_set[k] for k in BLAS_VARS}

	scratch = tempfile.mkdtemp(prefix='lg-model-compare-')
	try:
		for m in MODELS:
			os.symlink(os.path.join(FIXTURES, m + '.onnx'), os.path.join(scratch, m + '.onnx'))
		write_tiny(os.path.join(scratch, TINY + '.onnx'))
		models = [TINY] + list(MODELS)
		sec = str(o.seconds)
		lg_cmd = [model_bench, scratch, sec] + models
		np_cmd = [sys.executable, os.path.join(HERE, 'numpy_bench.py'), '--dir', scratch,
			  '--check', FIXTURES, '--seconds', sec] + models
		# OpenBLAS alone at each model's layer shapes: the ceiling of an sgemm-based engine
		shapes_cmd = [shapes_bench, sec] + ['%s=%s' % (m, layer_shapes(os.path.join(
			FIXTURES, m + '.onnx'))) for m in MODELS]
		ort_cmd = [node, os.path.join(HERE, 'ort_bench.mjs'), '--ort',
			   os.path.abspath(o.ort_dir), '--dir', scratch, '--check', FIXTURES,
			   '--seconds', sec] + models
		jobs = [('linegate', 'set', lg_cmd, env_set), ('linegate', 'unset', UNSET + lg_cmd,
								 env_unset),
			('numpy', 'set', np_cmd, env_set), ('numpy', 'unset', UNSET + np_cmd, env_unset),
			('onnxruntime', 'unset', UNSET + ort_cmd, env_unset),
			('sgemm_shapes', 'set', shapes_cmd, env_set),
			('sgemm_shapes', 'unset', UNSET + shapes_cmd, env_unset)]
		if o.as_is:
			# tests and CI leave the variables as the machine set them: one run each,
			# in the "unset" columns, with the environment untouched
			jobs = [(n, e, c[len(UNSET):] if c[:len(UNSET)] == UNSET else c, dict(os.environ))
				for n, e, c, _ in jobs if e == 'unset']
		raw, loads = [], [{'when': 'start', 'loadavg': loadavg()}]
		t_start = time.time()
		for r in range(o.rounds):
			# rotate the order so that no runner always follows the same neighbour
			for i in range(len(jobs)):
				runner, blas, cmd, env = jobs[(i + r) % len(jobs)]
				print('model_compare: round %d/%d: %s (OpenBLAS variables %s)' %
				      (r + 1, o.rounds, runner, blas), file=sys.stderr)
				for d in run_json(cmd, env):
					d.update(round=r, runner=runner, blas_env=blas)
					raw.append(d)
			loads.append({'when': 'after round %d' % (r + 1), 'loadavg': loadavg()})
		elapsed = time.time() - t_start
	finally:
		shutil.rmtree(scratch, ignore_errors=True)

	summary = summarize(raw)
	goals = judge(summary)
	if o.as_is:
		goals = relabel(goals, summary)
	meta = {
		'date_utc': datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%M:%SZ'),
		'host': platform.node(), 'cpu': cpu_model(), 'nproc': os.cpu_count(),
		'kernel': platform.release(), 'rounds': o.rounds, 'seconds_per_point': o.seconds,
		'elapsed_s': round(elapsed, 1), 'loadavg': loads,
		'openblas_vars_set': blas_set, 'openblas_vars_source': blas_source,
		'openblas_as_is': bool(o.as_is),
		'onnxruntime_node': ort_version, 'node': subprocess.run(
			[node, '--version'], capture_output=True, text=True).stdout.strip(),
		'numpy': np.__version__, 'onnx': onnx.__version__,
		'commands': {
			'linegate_set': ' '.join('%s=%s' % kv for kv in blas_set.items()) + ' ' +
			shlex.join(lg_cmd),
			'linegate_unset': shlex.join(UNSET + lg_cmd),
			'numpy_set': ' '.join('%s=%s' % kv for kv in blas_set.items()) + ' ' +
			shlex.join(np_cmd),
			'numpy_unset': shlex.join(UNSET + np_cmd),
			'onnxruntime': shlex.join(UNSET + ort_cmd),
			'sgemm_shapes_set': ' '.join('%s=%s' % kv for kv in blas_set.items()) + ' ' +
			shlex.join(shapes_cmd),
			'sgemm_shapes_unset': shlex.join(UNSET + shapes_cmd)},
	}
	if o.as_is:
		# what ran: the three commands as they are, in the environment as it is
		meta['commands'] = {'linegate_as_is': shlex.join(lg_cmd), 'numpy_as_is':
				    shlex.join(np_cmd), 'onnxruntime': shlex.join(ort_cmd),
				    'sgemm_shapes_as_is': shlex.join(shapes_cmd)}
		meta['openblas_vars_as_is'] = {k: os.environ.get(k) for k in BLAS_VARS}
		del meta['openblas_vars_set'], meta['openblas_vars_source']
	print_table(summary, goals, meta)
	if o.as_is:
		summary = relabel(summary, summary)
		for d in raw:
			if d.get('blas_env') == 'unset':
				d['blas_env'] = 'as_is'
	os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
	with open(out_json, 'w') as f:
		json.dump({'meta': meta, 'summary': summary, 'goals': goals, 'raw': raw}, f,
			  indent=1)
	print('model_compare: wrote %s' % out_json, file=sys.stderr)


def relabel(x, summary):
	"""--as-is: summarize() files the one run of linegate and numpy under "unset"; they ran
	with OpenBLAS's variables as the environment has them, so everything written or printed
	says "as_is" (keys) or "as-is: CORENAME" (goal texts) instead."""
	core = '/'.join(summary['corenames'].get('linegate_unset', [])) or '?'
	if isinstance(x, dict):
		return {k.replace('unset', 'as_is'): relabel(v, summary) for k, v in x.items()}
	if isinstance(x, list):
		return [relabel(v, summary) for v in x]
	if isinstance(x, str):
		return x.replace('(unset)', '(as-is: %s)' % core).replace(
			', unset)', ', as-is: %s)' % core)
	return x


def cpu_model():
	try:
		with open('/proc/cpuinfo') as f:
			for line in f:
				if line.startswith('model name'):
					return line.split(':', 1)[1].strip()
	except OSError:
		pass
	return platform.processor()


def auto_isa(raw):
	"""The epilogue path lg_model picks by itself: the best ISA model_bench could run."""
	have = {d['isa'] for d in raw if d.get('bench') == 'model'}
	for isa in ('avx512', 'avx2', 'scalar'):
		if isa in have:
			return isa
	return None


def summarize(raw):
	"""Per (runtime, variant, model, batch): median and best over rounds of each round's
	best-of-7, plus the peaks and the derived ratios."""
	isa = auto_isa(raw)
	series = {}

	def add(key, value):
		series.setdefault(key, []).append(value)

	for d in raw:
		b = d.get('bench')
		if b == 'sgemm_peak':
			# gflops: the best of the fp32 GEMM routes (model_bench: OpenBLAS and libxsmm
			# at 1024^3, libxsmm's panel kernel in cache); each of them too
			add(('peak', 'linegate', d['blas_env']), d['gflops'])
			for route in ('openblas', 'xsmm_1024', 'xsmm_panel'):
				if d.get(route + '_gflops'):
					add(('peak_route', 'linegate', d['blas_env'], route),
					    d[route + '_gflops'])
		elif b == 'numpy_peak':
			add(('peak', 'numpy', d['blas_env']), d['gflops'])
		elif b == 'model' and d.get('route', 'auto') != 'auto':
			# the explicit GEMM routes, side by side; the default (auto) is what is compared
			add(('ns', 'linegate-%s-%s' % (d['isa'], d['route']), d['blas_env'], d['model'],
			     d['batch']), d['ns_per_frame'])
		elif b == 'model':
			add(('ns', 'linegate-' + d['isa'], d['blas_env'], d['model'], d['batch']),
			    d['ns_per_frame'])
			if d['isa'] == isa:
				add(('peak_ratio', d['blas_env'], d['model'], d['batch']), d['peak_ratio'])
				add(('flops', d['model']), d['gflops'] * d['ns_per_frame'])
				add(('corename', 'linegate', d['blas_env']), d['corename'])
		elif b == 'numpy':
			add(('ns', 'numpy', d['blas_env'], d['model'], d['batch']), d['ns_per_frame'])
			add(('corename', 'numpy', d['blas_env']), d['corename'])
		elif b == 'sgemm_chain':
			add(('chain', d['blas_env'], d['model'], d['batch']), 1e9 / d['frames_per_s'])
		elif b == 'ort':
			add(('ns', 'ort-' + d['mode'], d['blas_env'], d['model'], d['batch']),
			    d['ns_per_frame'])

	s = {'auto_isa': isa, 'peaks': {}, 'peak_routes': {}, 'corenames': {}, 'points': [],
	     'per_call_ns': {}}
	for k, v in series.items():
		if k[0] == 'peak':
			# GFLOP/s: the best round is the highest
			s['peaks']['%s_%s' % (k[1], k[2])] = {'median': statistics.median(v),
							      'best': max(v), 'n': len(v)}
		elif k[0] == 'peak_route':
			s['peak_routes']['%s_%s_%s' % (k[1], k[2], k[3])] = {
				'median': statistics.median(v), 'best': max(v), 'n': len(v)}
		elif k[0] == 'corename':
			s['corenames']['%s_%s' % (k[1], k[2])] = sorted(set(v))
	# the fixed cost of one call: batch 1 of the 1x1 model
	for k, v in series.items():
		if k[0] == 'ns' and k[3] == TINY and k[4] == 1:
			s['per_call_ns']['%s_%s' % (k[1], k[2])] = stats(v)

	def get(rt, env, model, batch):
		v = series.get(('ns', rt, env, model, batch))
		return stats(v) if v else None

	lg = 'linegate-' + isa
	for model in MODELS:
		for batch in BATCHES:
			p = {'model': model, 'batch': batch}
			for name, rt, env in (('linegate_set', lg, 'set'), ('linegate_unset', lg, 'unset'),
					      ('numpy_set', 'numpy', 'set'),
					      ('numpy_unset', 'numpy', 'unset'),
					      ('ort_sync', 'ort-sync', 'unset'),
					      ('ort_async', 'ort-async', 'unset')):
				p[name] = get(rt, env, model, batch)
			for env in ('set', 'unset'):
				# share of the GEMM peak: median and best GFLOP/s, both over the best
				# peak of the run. A peak is what the core can do; a disturbed
				# measurement only understates it (a median of 2 peaks a round on
				# this shared machine put ae_1024 at 1.01 of it while the best peak
				# was 1.7x that median). Per-run ratios are kept as
				# peak_ratio_per_run_*.
				v = series.get(('peak_ratio', env, model, batch))
				p['peak_ratio_per_run_' + env] = ({'median': statistics.median(v),
								   'max': max(v), 'n': len(v)} if v else None)
				me, pk = p['linegate_' + env], s['peaks'].get('linegate_' + env)
				fl = series.get(('flops', model))
				p['peak_ratio_' + env] = ({'median': statistics.median(fl) / me['median'] /
							   pk['best'],
							   'best': statistics.median(fl) / me['best'] /
							   pk['best']} if me and pk and fl else None)
			# the model against its own layers' sgemms alone (sgemm_shapes): the engine's
			# share of what OpenBLAS can do at these shapes
			for env in ('set', 'unset'):
				v = series.get(('chain', env, model, batch))
				me = p['linegate_' + env]
				p['openblas_chain_' + env] = stats(v) if v else None
				if v and me:
					p['share_of_chain_' + env] = {
						'median': statistics.median(v) / me['median'],
						'best': min(v) / me['best']}
			# speed-ups of linegate: ratio of medians and ratio of bests
			for env in ('set', 'unset'):
				me = p['linegate_' + env]
				for ref in ('ort_sync', 'ort_async', 'numpy_' + env):
					r = p[ref]
					if me and r:
						p['speedup_%s_vs_%s' % (env, ref.replace('_' + env, ''))] = {
							'median': r['median'] / me['median'],
							'best': r['best'] / me['best']}
			# onnxruntime with the node/N-API/Run() fixed cost taken out: an upper bound
			# on what onnxruntime's kernels do per frame (generous: the tiny model's time
			# also contains onnxruntime's own fixed cost of a Run())
			tiny = s['per_call_ns'].get('ort-sync_unset')
			ort = p['ort_sync']
			me = p['linegate_unset']
			if tiny and ort and me:
				comp_med = max(ort['median'] - tiny['median'] / batch, 1e-3)
				comp_best = max(ort['best'] - tiny['best'] / batch, 1e-3)
				p['ort_compute_bound'] = {'median': comp_med, 'best': comp_best}
				p['speedup_unset_vs_ort_compute_bound'] = {
					'median': comp_med / me['median'], 'best': comp_best / me['best']}
			s['points'].append(p)
	return s


def judge(s):
	goals = []
	for p in s['points']:
		want = GOAL_VS_ORT[p['batch']]
		sp = p.get('speedup_unset_vs_ort_sync')
		if sp:
			goals.append({'goal': '%s batch %d: linegate >= %.1fx onnxruntime (unset)' %
				      (p['model'], p['batch'], want), 'want': want,
				      'median': round(sp['median'], 2), 'best': round(sp['best'], 2),
				      'met_median': sp['median'] >= want})
		cb = p.get('speedup_unset_vs_ort_compute_bound')
		if cb:
			goals.append({'goal': '%s batch %d: linegate >= %.1fx onnxruntime without the '
				      'per-call cost (bound, unset)' % (p['model'], p['batch'], want),
				      'want': want, 'median': round(cb['median'], 2),
				      'best': round(cb['best'], 2), 'met_median': cb['median'] >= want})
	# the peak goal is about throughput, i.e. the largest batch; smaller ones are in the table
	for p in s['points']:
		if p['model'] != 'ae_1024' or p['batch'] != max(BATCHES):
			continue
		for env in ('unset', 'set'):
			pr = p.get('peak_ratio_' + env)
			if pr:
				g = {'goal': 'ae_1024 batch %d: >= %.0f%% of the same-run GEMM peak (%s)' %
				     (p['batch'], GOAL_PEAK * 100, env), 'want': GOAL_PEAK,
				     'median': round(pr['median'], 3), 'best': round(pr['best'], 3),
				     'met_median': pr['median'] >= GOAL_PEAK}
				# a share of a peak above 1 (or not above 0) is a mis-measured peak: an
				# error, never "met"
				if not 0 < pr['median'] <= 1:
					g['met_median'] = False
					g['error'] = 'share of the peak %.3f is not in (0, 1]: the peak was ' \
						     'mis-measured' % pr['median']
				goals.append(g)
	return goals


def print_table(s, goals, meta):
	cn = s['corenames']
	as_is = meta.get('openblas_as_is')
	u = 'as-is' if as_is else 'unset'
	print('linegate epilogue ISA: %s; OpenBLAS core: set=%s %s=%s (numpy: set=%s %s=%s)'
	      % (s['auto_isa'], ','.join(cn.get('linegate_set', [])) or '-', u,
		 ','.join(cn.get('linegate_unset', [])), ','.join(cn.get('numpy_set', [])) or '-',
		 u, ','.join(cn.get('numpy_unset', []))))
	if as_is:
		print('OpenBLAS variables as the environment has them (--as-is): %s; the "as-is" '
		      'columns ran with them, nothing ran "set" or "unset"' % ', '.join(
			      '%s=%s' % (k, v) if v is not None else '%s unset' % k
			      for k, v in meta.get('openblas_vars_as_is', {
				      k: os.environ.get(k) for k in BLAS_VARS}).items()))
	else:
		print('OpenBLAS variables "set": %s' % meta['openblas_vars_set'])
	for k, v in sorted(s['peaks'].items()):
		print('GEMM peak %-24s median %6.1f  best %6.1f GFLOP/s (%d measurements)%s' %
		      (k, v['median'], v['best'], v['n'], ' (the best fp32 route)'
		       if k.startswith('linegate') else ''))
	for k, v in sorted(s.get('peak_routes', {}).items()):
		print('  route %-26s median %6.1f  best %6.1f GFLOP/s' % (k, v['median'], v['best']))
	for k, v in sorted(s['per_call_ns'].items()):
		print('per-call cost (1x1 model, batch 1) %-22s median %8.0f  best %8.0f ns' %
		      (k, v['median'], v['best']))
	print()
	print('frames/s, median over rounds (best in brackets); speed-up = other / linegate time')
	hdr = ('model', 'batch', 'lg set', 'lg ' + u, 'numpy set', 'numpy ' + u, 'ort sync',
	       'ort async', 'x ort', 'x ort-bound', 'x numpy', 'peak')
	print('%-14s %5s %17s %17s %17s %17s %17s %17s %11s %11s %11s %11s' % hdr)

	def cell(v):
		return '%s (%s)' % (fmt_rate(v['median']), fmt_rate(v['best'])) if v else '-'

	def ratio(v):
		return '%.2f/%.2f' % (v['median'], v['best']) if v else '-'

	for p in s['points']:
		print('%-14s %5d %17s %17s %17s %17s %17s %17s %11s %11s %11s %11s' % (
			p['model'], p['batch'], cell(p['linegate_set']), cell(p['linegate_unset']),
			cell(p['numpy_set']), cell(p['numpy_unset']), cell(p['ort_sync']),
			cell(p['ort_async']), ratio(p.get('speedup_unset_vs_ort_sync')),
			ratio(p.get('speedup_unset_vs_ort_compute_bound')),
			ratio(p.get('speedup_unset_vs_numpy')),
			ratio(p.get('peak_ratio_unset')) if p['model'] == 'ae_1024' else ''))
	print('(x columns: median/best, OpenBLAS variables %s; x ort-bound: against onnxruntime '
	      'minus its per-call cost;\n peak: ae_1024 GFLOP/s (median/best) as a share of the best '
	      'same-run GEMM peak)' % ('as the environment has them' if as_is else 'unset'))
	print()
	print('linegate against OpenBLAS alone at the model\'s layer shapes (sgemm_shapes: its '
	      'sgemm/sgemv calls back to back, no epilogue)')
	for p in s['points']:
		print(('%-14s %5d  openblas-only set %17s ' + u + ' %17s  linegate share set %11s ' +
		       u + ' %11s') % (p['model'], p['batch'], cell(p.get('openblas_chain_set')),
			 cell(p.get('openblas_chain_unset')), ratio(p.get('share_of_chain_set')),
			 ratio(p.get('share_of_chain_unset'))))
	print()
	if as_is:
		print('(nothing ran with OpenBLAS variables "set" or "unset": --as-is)')
	for p in s['points'] if not as_is else []:
		if p is s['points'][0]:
			print('same, OpenBLAS variables set (%s)' % ', '.join(
				'%s=%s' % kv for kv in meta['openblas_vars_set'].items()))
		print('%-14s %5d  x ort %11s  x numpy %11s  peak %11s' % (
			p['model'], p['batch'], ratio(p.get('speedup_set_vs_ort_sync')),
			ratio(p.get('speedup_set_vs_numpy')),
			ratio(p.get('peak_ratio_set')) if p['model'] == 'ae_1024' else '-'))
	print()
	for g in goals:
		print('%-7s %-80s median %.2f best %.2f%s' % (
			'ERROR' if g.get('error') else 'MET' if g['met_median'] else 'MISSED', g['goal'],
			g['median'], g['best'], ': ' + g['error'] if g.get('error') else ''))
	print('load average: ' + ', '.join('%s %s' % (x['when'], x['loadavg'])
					   for x in meta['loadavg'][::max(1, len(meta['loadavg']) - 1)]))


if __name__ == '__main__':
	main()
