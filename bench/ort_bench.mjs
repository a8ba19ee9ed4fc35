// SPDX-License-Identifier: MIT
//
// onnxruntime (CPU execution provider, one thread) through onnxruntime-node: the reference
// runtime for bench/model_compare.py. Prints JSON lines in the shape of bench/model_bench.c.
//
// Two call paths are timed for every point, because node's own cost per call is several
// microseconds and would otherwise be counted as onnxruntime's:
//   "async"  the public API, `await session.run(feeds, fetches)`: a Promise and a
//            setImmediate() turn of the event loop per call, what a node program pays;
//   "sync"   the native binding's run() called directly (the call that the public API makes
//            inside its setImmediate), without the Promise and the event loop.
// Both get a preallocated input tensor and reuse the feeds object; a tiny model (1x1 Gemm +
// Relu, see model_compare.py) timed the same way measures what is left per call: N-API
// marshalling plus onnxruntime's fixed cost of a Run().
//
// usage: node ort_bench.mjs --ort DIR --dir MODEL_DIR [--seconds S] [--trials N]
//                           [--batches 1,16,64,256] [--check FIXTURE_DIR] model...
// DIR holds node_modules/onnxruntime-node (npm install --prefix DIR onnxruntime-node).
import { createRequire } from 'node:module';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';

function usage(msg) {
	process.stderr.write(`ort_bench: ${msg}\n`);
	process.exit(2);
}

const args = { seconds: 0.2, trials: 7, batches: [1, 16, 64, 256], models: [] };
for (let i = 2; i < process.argv.length; i++) {
	const a = process.argv[i];
	const next = () => {
		if (i + 1 >= process.argv.length)
			usage(`${a} needs a value`);
		return process.argv[++i];
	};
	if (a === '--ort') args.ort = next();
	else if (a === '--dir') args.dir = next();
	else if (a === '--seconds') args.seconds = Number(next());
	else if (a === '--trials') args.trials = Number(next());
	else if (a === '--batches') args.batches = next().split(',').map(Number);
	else if (a === '--check') args.check = next();
	else if (a.startsWith('--')) usage(`unknown option ${a}`);
	else args.models.push(a);
}
if (!args.ort || !args.dir || !args.models.length)
	usage('usage: node ort_bench.mjs --ort DIR --dir MODEL_DIR [--seconds S] [--trials N] ' +
	      '[--batches 1,16,64,256] [--check FIXTURE_DIR] model...');

// resolve the package from DIR, not from this file's folder: it is installed out of tree
const require = createRequire(path.join(path.resolve(args.ort), 'node_modules', '.resolve.js'));
const ort = require('onnxruntime-node');
const { binding, initOrt } = require('onnxruntime-node/dist/binding.js');
const ortVersion = ort.env.versions?.node ?? require('onnxruntime-node/package.json').version;

const sessionOptions = {
	executionProviders: ['cpu'],
	intraOpNumThreads: 1,
	interOpNumThreads: 1,
	executionMode: 'sequential',
	graphOptimizationLevel: 'all',
};

function now() {
	return Number(process.hrtime.bigint());
}

// Inputs like model_bench.c's: a fixed pseudo-random pattern in [-1, 1].
function makeInput(batch, dim) {
	const a = new Float32Array(batch * dim);
	for (let i = 0; i < a.length; i++)
		a[i] = ((i * 7919) % 1009) / 504.5 - 1.0;
	return a;
}

// One point: `trials` runs of seconds/trials each; ns per call of each run, sorted.
async function timeCalls(call, seconds, trials) {
	const per = [];
	await call();
	for (let t = 0; t < trials; t++) {
		const t0 = now();
		let iters = 0, t1;
		do {
			for (let k = 0; k < 16; k++)
				await call();
			iters += 16;
			t1 = now();
		} while (t1 - t0 < (seconds / trials) * 1e9);
		per.push((t1 - t0) / iters);
	}
	return per.sort((x, y) => x - y);
}

function timeSync(call, seconds, trials) {
	const per = [];
	call();
	for (let t = 0; t < trials; t++) {
		const t0 = now();
		let iters = 0, t1;
		do {
			for (let k = 0; k < 16; k++)
				call();
			iters += 16;
			t1 = now();
		} while (t1 - t0 < (seconds / trials) * 1e9);
		per.push((t1 - t0) / iters);
	}
	return per.sort((x, y) => x - y);
}

// The fixture's reference inputs/outputs (PyTorch's) must come out of onnxruntime too, so a
// wrong model or a wrong reading of the output cannot produce a fast, meaningless number.
async function check(session, name, inDim, outDim) {
	const inPath = path.join(args.check, `${name}.in.f32`);
	const outPath = path.join(args.check, `${name}.out.f32`);
	if (!existsSync(inPath) || !existsSync(outPath))
		return null;
	const buf = readFileSync(inPath);
	const x = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
	const ob = readFileSync(outPath);
	const want = new Float32Array(ob.buffer, ob.byteOffset, ob.byteLength / 4);
	const rows = x.length / inDim;
	const r = await session.run({ [session.inputNames[0]]:
		new ort.Tensor('float32', x, [rows, inDim]) });
	const got = r[session.outputNames[0]].data;
	let maxErr = 0;
	if (got.length !== want.length || want.length !== rows * outDim)
		throw new Error(`${name}: onnxruntime gave ${got.length} floats, fixture has ${want.length}`);
	for (let i = 0; i < got.length; i++) {
		const e = Math.abs(got[i] - want[i]);
		if (e > 1e-5 + 1e-4 * Math.abs(want[i]))
			throw new Error(`${name}: onnxruntime output ${i} is ${got[i]}, fixture ${want[i]}`);
		maxErr = Math.max(maxErr, e);
	}
	return maxErr;
}

async function benchModel(name) {
	const file = path.join(args.dir, `${name}.onnx`);
	const session = await ort.InferenceSession.create(file, sessionOptions);
	const inName = session.inputNames[0], outName = session.outputNames[0];
	const inDim = session.inputMetadata[0].shape[1];
	const outDim = session.outputMetadata[0].shape[1];
	if (!Number.isInteger(inDim) || !Number.isInteger(outDim))
		throw new Error(`${name}: expected [batch, N] input and output`);

	initOrt();
	const native = new binding.InferenceSession();
	native.loadModel(file, sessionOptions);

	const maxErr = args.check ? await check(session, name, inDim, outDim) : null;
	for (const batch of args.batches) {
		const feeds = { [inName]: new ort.Tensor('float32', makeInput(batch, inDim),
			[batch, inDim]) };
		const fetches = { [outName]: null };
		const runOpts = {};
		const paths = [
			['async', () => timeCalls(() => session.run(feeds), args.seconds, args.trials)],
			['sync', async () => timeSync(() => native.run(feeds, fetches, runOpts),
				args.seconds, args.trials)],
		];
		for (const [mode, timer] of paths) {
			const cpu0 = process.cpuUsage(), w0 = now();
			const per = await timer();
			const cpu = process.cpuUsage(cpu0), wall = now() - w0;
			const best = per[0], med = per[Math.floor(per.length / 2)];
			const line = {
				bench: 'ort', runtime: `onnxruntime-node-${ortVersion}`, mode, model: name,
				batch, in: inDim, out: outDim, threads: 1,
				frames_per_s: Math.round(1e9 * batch / best),
				ns_per_frame: +(best / batch).toFixed(1),
				ns_per_frame_median: +(med / batch).toFixed(1),
				ns_per_call: +best.toFixed(1), ns_per_call_median: +med.toFixed(1),
				// above 1 would mean a second thread did work: the check on "one thread"
				cpu_per_wall: +((cpu.user + cpu.system) * 1e3 / wall).toFixed(2),
			};
			if (maxErr !== null)
				line.max_abs_err_vs_fixture = maxErr;
			process.stdout.write(JSON.stringify(line) + '\n');
		}
	}
	await session.release();
}

for (const m of args.models)
	await benchModel(m);
