#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Usage: workers_replay.py [--build DIR] [--devices N] [--frames N] [--runs R] [--quick]
                         [--window N] [--readers-one] [--processes] [-o OUT.json]

Two workers against one, with no generator running (issue 10). Writes, into a temporary
folder, a policy of N enrolled LGF devices (bench/make_policy.py, ids from 1000:
lg_steer_lgf() puts 16 of 32 on each of two workers) and a capture of N x FRAMES frames of
theirs (linegate-loadgen --pcap, 256 samples, one channel: 610-byte frames), then replays
the capture at full speed (--backend pcap:file=F, pace=0) with -w 1 and -w 2, alternated R
times (1,2 then 2,1 ...). Each worker walks the capture, read into memory at start, and
keeps its own devices' records (readers=all): no generator, no network, no handoff. The
figures are linegate's own (its --stats-out "replay" object): the wall time from the first
frame a worker took to the last row scored, frames/s over it, each worker's and the output
thread's CPU seconds. The policy's detection.window is N samples (default 2048, where
docs/getting-started-own-line.md says to start; 256 and 4096 too), scored with the shipped
model of that window (control/defaults/): a window is 8 frames at 2048 and one frame at 256,
so at 256 the output thread formats a JSON line per frame. --readers-one adds -w 2 runs with readers=one (worker 0 reads and
hands over: the way before), --processes two one-worker linegates at once (the machine's
own scaling, nothing shared), for comparison.

Prints one JSON line per run and a summary line; -o writes everything as JSON. The goal:
frames/s with two workers >= 1.8x one worker's (median of the pairs).

Options:
  --build DIR     meson build folder (default: build beside this script's tree)
  --devices N     enrolled devices (default 32)
  --frames N      frames per device (default 7500: 240 000 frames with 32 devices)
  --runs R        pairs of runs (default 5)
  --quick         1500 frames per device, 3 pairs
  --window N      detection.window: 256, 2048 (default) or 4096, with the shipped model
                  of that window
  --readers-one   also -w 2 with readers=one (worker 0 reads and hands over)
  --processes     also two one-worker linegates at once (the machine's own scaling: the
                  same work with nothing shared)
  -o, --out FILE  everything as JSON
  -h, --help      this text
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class Parser(argparse.ArgumentParser):
	"""One line on stderr and status 2 for a bad option (tests/unit/help.sh)."""

	def error(self, message):
		print('workers_replay.py: %s (see --help)' % message, file=sys.stderr)
		sys.exit(2)


def steer(dev_id, n):
	"""lg_steer_lgf() of include/linegate/backend.h."""
	return (((dev_id * 0x9E3779B1) & 0xffffffff) >> 16) % n


# The shipped model of each window (control/defaults/)
MODELS = {256: 'model.json', 2048: 'model-2048.json', 4096: 'model-4096.json'}


def head(path, window):
	model = os.path.join(ROOT, 'control', 'defaults', MODELS[window])
	with open(path, 'w') as f:
		f.write('version: 1\nport: 4739\nuadp_port: 4840\ndetection:\n  window: %d\n'
			'  batch: 16\n  deadline_ms: 50\n  model: %s\nmodels:\n  trusted_keys: '
			'[c3126d69f8a2631f3922c10c7d9dd9422464cbeb25dc6416f0d452089979b3f6]\n'
			'devices:\n' % (window, model))


def start(o, tmp, workers, extra='', tag=''):
	"""linegate replaying the capture, started; (Popen, argv, stats path, start time)."""
	stats = os.path.join(tmp, 'stats%s.json' % tag)
	out = os.path.join(tmp, 'out%s.jsonl' % tag)
	for p in (stats, out):
		if os.path.exists(p):
			os.unlink(p)
	env = dict(os.environ, STATE_DIRECTORY=os.path.join(tmp, 'state' + tag))
	shutil.rmtree(env['STATE_DIRECTORY'], ignore_errors=True)
	argv = [os.path.join(o.build, 'dataplane', 'linegate'), '-p',
		os.path.join(tmp, 'policy.yaml'), '-b', 'pcap:file=%s%s' % (os.path.join(tmp, 'cap.pcap'), extra), '-w', str(workers),
		'-s', stats, '-o', out]
	p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
			     env=env)
	return p, argv, stats, time.monotonic()


def finish(run):
	p, argv, stats, t0 = run
	_, err = p.communicate(timeout=300)
	wall = time.monotonic() - t0
	if p.returncode:
		sys.exit('workers_replay: %s exited with %d: %s' % (' '.join(argv), p.returncode,
								     err[-1500:]))
	with open(stats) as f:
		return json.load(f), wall


def replay(o, tmp, workers, extra=''):
	st, wall = finish(start(o, tmp, workers, extra))
	return figures(st, wall, workers, extra)


def figures(st, wall, workers, extra):
	rp = st.get('replay')
	if not rp:
		sys.exit('workers_replay: no "replay" figures in --stats-out (an older linegate?)')
	wk = st['workers']
	judged = [w['judged'] for w in wk]
	row = {'workers': workers, 'readers': 'one' if 'readers=one' in extra else 'all',
	       'received': st['received'], 'admitted': st['admitted'], 'scored': st['scored'],
	       'handed_off': st['handed_off'], 'seconds': rp['seconds'],
	       'frames_per_s': rp['frames_per_s'], 'process_wall_s': round(wall, 3),
	       'worker_cpu_s': rp['worker_cpu_s'], 'output_cpu_s': rp['output_cpu_s'],
	       'judged': judged,
	       # 100 us waits for room in a full output ring (the output thread behind)
	       'output_waits': [w.get('output_waits') for w in wk],
	       # CPU per frame of each worker, over the frames it judged (its own devices')
	       'worker_cpu_ns_per_frame': [round(c * 1e9 / j, 1) if j else None
					   for c, j in zip(rp['worker_cpu_s'], judged)],
	       'output_share': round(rp['output_cpu_s'] / (sum(rp['worker_cpu_s']) +
							   rp['output_cpu_s']), 4)}
	print(json.dumps(row), flush=True)
	return row


def two_processes(o, tmp):
	"""The control: two one-worker linegates replaying the capture at once (nothing shared
	but the machine). Their frames together over the later one's time."""
	runs = [start(o, tmp, 1, tag=t) for t in ('a', 'b')]
	rows = [figures(*finish(r), 1, '') for r in runs]
	# Both started together: the pair's rate is all their frames over the longer run.
	fps = sum(r['received'] for r in rows) / max(r['seconds'] for r in rows)
	row = {'processes': 2, 'frames_per_s': fps, 'worker_cpu_ns_per_frame':
	       [r['worker_cpu_ns_per_frame'][0] for r in rows]}
	print(json.dumps(row), flush=True)
	return row


def main():
	ap = Parser(add_help=False)
	ap.add_argument('-h', '--help', action='store_true')
	ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
	ap.add_argument('--devices', type=int, default=32)
	ap.add_argument('--frames', type=int, default=7500)
	ap.add_argument('--runs', type=int, default=5)
	ap.add_argument('--quick', action='store_true')
	ap.add_argument('--window', type=int, default=2048)
	ap.add_argument('--readers-one', action='store_true')
	ap.add_argument('--processes', action='store_true')
	ap.add_argument('-o', '--out')
	o = ap.parse_args()
	if o.help:
		print(__doc__.strip())
		return
	if o.window not in MODELS:
		ap.error('--window must be one of %s (a shipped model of that window)' %
			 ', '.join(map(str, sorted(MODELS))))
	if o.quick:
		o.frames, o.runs = min(o.frames, 1500), min(o.runs, 3)
	o.build = os.path.abspath(o.build)
	tmp = tempfile.mkdtemp(prefix='lg-workers-replay-')
	try:
		head(os.path.join(tmp, 'head.yaml'), o.window)
		subprocess.run([sys.executable, os.path.join(HERE, 'make_policy.py'), tmp,
				str(o.devices), '--head', os.path.join(tmp, 'head.yaml'), '--seed',
				'workers-replay'], check=True, stdout=subprocess.DEVNULL)
		t0 = time.monotonic()
		subprocess.run([os.path.join(o.build, 'bench', 'linegate-loadgen'), '-p',
				os.path.join(tmp, 'policy.yaml'), '-t', '10.77.0.1', '-n', str(o.frames),
				'-r', '1000000', '--pcap', os.path.join(tmp, 'cap.pcap'), '-q'],
			       check=True)
		gen_s = time.monotonic() - t0
		ids = range(1000, 1000 + o.devices)
		split = [sum(steer(i, 2) == w for i in ids) for w in (0, 1)]
		print('workers_replay: %d devices x %d frames (%.1f MB capture, written in %.1f s); '
		      'window %d; two workers own %d and %d of them; load %s' % (
			      o.devices, o.frames, os.path.getsize(os.path.join(tmp, 'cap.pcap')) / 1e6,
			      gen_s, o.window, split[0], split[1], open('/proc/loadavg').read().split()[0]),
		      flush=True)
		rows, procs = [], []
		for k in range(o.runs):
			for w in ((1, 2) if k % 2 == 0 else (2, 1)):
				rows.append(dict(replay(o, tmp, w), pair=k))
			if o.readers_one:
				rows.append(dict(replay(o, tmp, 2, ',readers=one'), pair=k))
			if o.processes:
				procs.append(dict(two_processes(o, tmp), pair=k))
	finally:
		shutil.rmtree(tmp, ignore_errors=True)
	one = {r['pair']: r for r in rows if r['workers'] == 1}
	two = {r['pair']: r for r in rows if r['workers'] == 2 and r['readers'] == 'all'}
	ratios = [two[k]['frames_per_s'] / one[k]['frames_per_s'] for k in sorted(one)]
	res = {'devices': o.devices, 'frames_per_device': o.frames, 'window': o.window,
	       'devices_per_worker': split,
	       'ideal_ratio': o.devices / max(split), 'runs': rows, 'ratios': ratios,
	       'ratio_median': statistics.median(ratios), 'ratio_min': min(ratios),
	       'ratio_max': max(ratios),
	       'fps_1w_median': statistics.median(r['frames_per_s'] for r in one.values()),
	       'fps_2w_median': statistics.median(r['frames_per_s'] for r in two.values()),
	       'cpu_ns_per_frame_1w_median': statistics.median(
		       r['worker_cpu_ns_per_frame'][0] for r in one.values()),
	       'cpu_ns_per_frame_2w_median': statistics.median(
		       x for r in two.values() for x in r['worker_cpu_ns_per_frame']),
	       'output_share_1w_median': statistics.median(r['output_share'] for r in one.values()),
	       'output_share_2w_median': statistics.median(r['output_share'] for r in two.values()),
	       'handed_off_2w': sum(r['handed_off'] for r in two.values())}
	# What the per-frame CPU alone allows with a core per worker: 2 x one worker's / two's
	res['cpu_ratio'] = res['cpu_ns_per_frame_2w_median'] / res['cpu_ns_per_frame_1w_median']
	if procs:
		res['processes'] = procs
		res['ratio_processes_median'] = statistics.median(
			p['frames_per_s'] / one[p['pair']]['frames_per_s'] for p in procs)
		res['cpu_ns_per_frame_processes_median'] = statistics.median(
			x for p in procs for x in p['worker_cpu_ns_per_frame'])
	ro = [r for r in rows if r['readers'] == 'one']
	if ro:
		res['ratios_readers_one'] = [r['frames_per_s'] / one[r['pair']]['frames_per_s']
					     for r in ro]
		res['ratio_readers_one_median'] = statistics.median(res['ratios_readers_one'])
	print('workers_replay: two workers / one (frames/s, no generator): median %.3f, range '
	      '%.3f-%.3f over %d pairs (ideal %.2f with %d/%d devices); frames/s median %.0f '
	      '(1w), %.0f (2w); worker CPU/frame %.0f ns (1w), %.0f ns (2w); output thread %.0f%% '
	      '(1w), %.0f%% (2w) of the CPU%s' % (
		      res['ratio_median'], res['ratio_min'], res['ratio_max'], len(ratios),
		      res['ideal_ratio'], split[0], split[1], res['fps_1w_median'], res['fps_2w_median'],
		      res['cpu_ns_per_frame_1w_median'], res['cpu_ns_per_frame_2w_median'],
		      100 * res['output_share_1w_median'], 100 * res['output_share_2w_median'],
		      ('; readers=one: median %.3f' % res['ratio_readers_one_median'] if ro else '') +
		      ('; two one-worker processes at once: %.3f, worker CPU/frame %.0f ns' % (
			      res['ratio_processes_median'], res['cpu_ns_per_frame_processes_median'])
		       if procs else '')),
	      flush=True)
	if o.out:
		with open(o.out, 'w') as f:
			json.dump(res, f, indent=1)


if __name__ == '__main__':
	main()
