// SPDX-License-Identifier: MIT
//
// The NaN/Inf table of docs/model-engine.md ("NaN and infinities") checked against
// onnxruntime (CPU execution provider), the reference runtime: each op the engine fuses
// (Relu, LeakyRelu, Sigmoid, Tanh, Softmax) as a one-node ONNX model, built here byte by
// byte (no onnx package needed), run on NaN, +inf and -inf among finite values. Prints each
// op's outputs and exits 1 if one differs from the table (which tests/model/test_model_nan.c
// holds linegate's scalar, AVX2 and AVX-512 kernels to).
//
// usage: node ort_nan.mjs --ort DIR
// DIR holds node_modules/onnxruntime-node (npm install --prefix DIR onnxruntime-node).
import { createRequire } from 'node:module';
import path from 'node:path';

let dir = null;
for (let i = 2; i < process.argv.length; i++) {
	if (process.argv[i] === '--ort' && i + 1 < process.argv.length)
		dir = process.argv[++i];
	else if (process.argv[i] === '-h' || process.argv[i] === '--help') {
		process.stdout.write('usage: node ort_nan.mjs --ort DIR\n');
		process.exit(0);
	}
}
if (!dir) {
	process.stderr.write('ort_nan: --ort DIR is required\n');
	process.exit(2);
}
const ort = createRequire(path.join(path.resolve(dir), 'x.js'))('onnxruntime-node');

// protobuf: varint, length-delimited and fixed32 fields
function varint(n) {
	const out = [];
	do {
		let b = n % 128;
		n = Math.floor(n / 128);
		if (n) b |= 0x80;
		out.push(b);
	} while (n);
	return out;
}
const key = (f, wt) => varint(f * 8 + wt);
const bytes = (f, b) => [...key(f, 2), ...varint(b.length), ...b];
const str = (f, s) => bytes(f, [...Buffer.from(s)]);
const int = (f, n) => [...key(f, 0), ...varint(n)];
function f32(f, x) {
	const b = Buffer.alloc(4);
	b.writeFloatLE(x);
	return [...key(f, 5), ...b];
}

// A float tensor [1, n] value info
const value = (name, n) => str(1, name).concat(bytes(2, bytes(1,
	int(1, 1).concat(bytes(2, bytes(1, int(1, 1)).concat(bytes(1, int(1, n))))))));

function model(op, n, attrs) {
	// NodeProto: input 1, output 2, op_type 4, attribute 5 (AttributeProto: name 1, f 2,
	// i 3, type 20: FLOAT 1, INT 2)
	let node = str(1, 'x').concat(str(2, 'y'), str(4, op));
	for (const a of attrs)
		node = node.concat(bytes(5, a));
	const graph = bytes(1, node).concat(str(2, 'g'), bytes(11, value('x', n)),
					    bytes(12, value('y', n)));
	// ModelProto: ir_version 1, graph 7, opset_import 8 (OperatorSetIdProto version 2)
	return Uint8Array.from(int(1, 7).concat(bytes(7, graph), bytes(8, int(2, 13))));
}

const alpha = str(1, 'alpha').concat(f32(2, 0.3), int(20, 1));
const N = NaN, I = Infinity;
const x = [N, I, -I, 2, -2, 0];
// The table: what each op gives for x (only the special values and their neighbours matter)
const cases = [
	['Relu', [], x, [N, I, 0, 2, 0, 0]],
	['LeakyRelu', [alpha], x, [N, I, -I, 2, -0.6, 0]],
	['Sigmoid', [], x, [N, 1, 0, 0.8807970779778823, 0.11920292202211755, 0.5]],
	['Tanh', [], x, [N, 1, -1, 0.9640275800758169, -0.9640275800758169, 0]],
	// Softmax over the whole row (opset 13, axis -1 is the default)
	['Softmax', [], [N, 1, 2], [N, N, N]],
	['Softmax', [], [I, 1, 2], [N, N, N]],
	['Softmax', [], [-I, 1, 1], [0, 0.5, 0.5]],
	['Softmax', [], [-I, -I], [N, N]],
];
// Long rows too, so that vector code paths run: the specials in every position of 40
for (const op of ['Relu', 'LeakyRelu', 'Sigmoid', 'Tanh']) {
	const long = Array.from({ length: 40 }, (_, i) => [N, I, -I][i % 3]);
	const short = cases.find((c) => c[0] === op);
	cases.push([op, short[1], long, long.map((_, i) => short[3][i % 3])]);
}

let bad = 0;
const same = (a, b) => (Number.isNaN(a) && Number.isNaN(b)) ||
	(!Number.isNaN(a) && !Number.isNaN(b) && (a === b || Math.abs(a - b) <= 1e-6 * Math.abs(b)));
for (const [op, attrs, input, want] of cases) {
	const s = await ort.InferenceSession.create(model(op, input.length, attrs));
	const r = await s.run({ x: new ort.Tensor('float32', Float32Array.from(input),
						  [1, input.length]) });
	const got = Array.from(r.y.data);
	const ok = got.every((g, i) => same(g, want[i]));
	bad += !ok;
	process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${op}(${input.slice(0, 6).join(', ')}` +
			     `${input.length > 6 ? `, ... (${input.length})` : ''}) = ` +
			     `${got.slice(0, 6).map((v) => +v.toPrecision(7)).join(', ')}` +
			     `${ok ? '' : `; the table says ${want.join(', ')}`}\n`);
}
process.stdout.write(`onnxruntime ${ort.env.versions ? ort.env.versions.common : ''}: ` +
		     `${bad ? bad + ' op(s) differ from' : 'agrees with'} the table\n`);
process.exit(bad ? 1 : 0);
