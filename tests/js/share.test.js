// Unit tests for www/share.js, the model-in-link codec: exact round trips of a model file's tensors
// and metadata (floats bit for bit, -0 included; a pruned -0 as +0), the size of a pruned and quantized spiral MLP
// against the link limit, and refusals with a message for a wrong version, bad base64url,
// truncated or damaged data, decompression bombs, impossible shapes, palette indices and lengths.
// Run with `node --test tests/js/` (part of `make test`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CODEC_VERSION,
  MAX_ELEMENTS,
  MAX_LINK_BYTES,
  modelFromLinkText,
  modelLinkText,
  packModel,
  readSafetensors,
  shareLink,
  unpackModel,
  writeSafetensors,
} from '../../www/share.js';
import { bytesToBase64Url } from '../../www/state.js';

/** A small seeded generator (xorshift32) for test weights. @param {number} seed */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** @param {Float32Array | Int8Array | Uint8Array | Int32Array} a */
const bytesOf = (a) => new Uint8Array(a.buffer.slice(0));

/**
 * A model file shaped like the spiral MLP (2-64-64-2) after global pruning to `sparsity` and
 * per-tensor symmetric `bits`-bit quantization: F32 state (the dequantized values), U8 masks, I8
 * codes, scales and zero points, and a recipe in the metadata. `bits` 0: float weights, no codes.
 * @param {{sparsity?: number, bits?: number, seed?: number}} [o]
 */
function spiralFile({ sparsity = 0.9, bits = 4, seed = 7 } = {}) {
  const rand = rng(seed);
  const layers = [
    ['1', 64, 2],
    ['3', 64, 64],
    ['5', 2, 64],
  ];
  /** @type {import('../../www/share.js').FileTensor[]} */
  const tensors = [];
  for (const [name, out, inp] of layers) {
    const n = Number(out) * Number(inp);
    const w = new Float32Array(n);
    const mask = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      w[i] = (rand() - 0.5) * 2;
      mask[i] = rand() >= sparsity ? 1 : 0;
    }
    if (bits) {
      const qmax = 2 ** (bits - 1) - 1;
      const scale = Math.fround(1 / qmax);
      const q = new Int8Array(n);
      for (let i = 0; i < n; i++) {
        q[i] = mask[i] ? Math.max(-qmax, Math.min(qmax, Math.round(w[i] / scale))) : 0;
        w[i] = Math.fround(q[i] * scale);
      }
      tensors.push({ name: `${name}.weight.int8`, dtype: 'I8', shape: [Number(out), Number(inp)], data: bytesOf(q) });
      tensors.push({ name: `${name}.weight.scale`, dtype: 'F32', shape: [], data: bytesOf(new Float32Array([scale])) });
      tensors.push({ name: `${name}.weight.zero_point`, dtype: 'I32', shape: [], data: bytesOf(new Int32Array([0])) });
    } else {
      for (let i = 0; i < n; i++) if (!mask[i]) w[i] = 0;
    }
    tensors.push({ name: `${name}.weight`, dtype: 'F32', shape: [Number(out), Number(inp)], data: bytesOf(w) });
    tensors.push({ name: `${name}.weight_mask`, dtype: 'U8', shape: [Number(out), Number(inp)], data: bytesOf(mask) });
    const b = new Float32Array(Number(out)).map(() => (rand() - 0.5) / 4);
    tensors.push({ name: `${name}.bias`, dtype: 'F32', shape: [Number(out)], data: bytesOf(b) });
  }
  const recipe = { version: 1, dataset: { name: 'spiral', samples: 600, noise: 0.1, classes: 2 }, model: { kind: 'mlp', hidden: [64, 64], activation: 'tanh' }, seed: 1 };
  const metadata = { minnow_format: '1', format: 'pt', recipe: JSON.stringify(recipe), input_shape: '[2]', classes: '2' };
  return writeSafetensors({ metadata, tensors });
}

/** deflate-raw with node's CompressionStream. @param {Uint8Array} bytes */
async function deflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A payload around a hand-made body. @param {number[]} body @param {number} [version] */
async function payloadOf(body, version = CODEC_VERSION) {
  const d = await deflate(new Uint8Array(body));
  return new Uint8Array([version, ...d]);
}

/** LEB128 varint. @param {number} v */
function varint(v) {
  const out = [];
  do {
    const low = v & 0x7f;
    v = Math.floor(v / 128);
    out.push(v > 0 ? low | 0x80 : low);
  } while (v > 0);
  return out;
}

/** @param {string} s */
const str = (s) => [...varint(Buffer.byteLength(s)), ...Buffer.from(s)];

/** @param {Promise<unknown>} p @param {RegExp} pattern */
async function refuses(p, pattern) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof Error);
    assert.match(e.message, pattern);
    return true;
  });
}

test('a pruned, quantized spiral MLP file round-trips exactly, tensors bit for bit and metadata', async () => {
  const file = spiralFile();
  const link = await modelLinkText(file);
  assert.ok(link.ok, 'fits in a link');
  const back = readSafetensors(await modelFromLinkText(link.text));
  const orig = readSafetensors(file);
  assert.deepEqual(back.metadata, orig.metadata);
  assert.deepEqual(
    back.tensors.map((t) => [t.name, t.dtype, t.shape]),
    orig.tensors.map((t) => [t.name, t.dtype, t.shape]),
  );
  for (let i = 0; i < orig.tensors.length; i++) assert.deepEqual(back.tensors[i].data, orig.tensors[i].data, orig.tensors[i].name);
  // Masks, codes and the dequantized floats pack to well under the limit; the file is over 25 KB.
  assert.ok(link.bytes <= MAX_LINK_BYTES && link.bytes < 3000, `packed ${link.bytes} bytes`);
  assert.ok(file.length > 25_000, `file ${file.length} bytes`);
});

test('floats travel as their bit patterns: -0, subnormals, extremes and repeated values', async () => {
  const values = new Float32Array([0, -0, 1e-45, -3.4e38, 3.4e38, 0.1, 0.1, 0.1, -0, 7, 0, 0, 0, 0, 0, 0]);
  const ints = new Int32Array([-2147483648, 2147483647, 0, -1]);
  const codes = new Int8Array([-128, 127, 0, -1, 5]);
  const file = writeSafetensors({
    metadata: { note: 'ünïcode ✓' },
    tensors: [
      { name: 'a', dtype: 'F32', shape: [4, 4], data: bytesOf(values) },
      { name: 'b', dtype: 'I32', shape: [4], data: bytesOf(ints) },
      { name: 'c', dtype: 'I8', shape: [5], data: bytesOf(codes) },
      { name: 'empty', dtype: 'F32', shape: [0, 3], data: new Uint8Array(0) },
      { name: 'scalar', dtype: 'F32', shape: [], data: bytesOf(new Float32Array([-0])) },
    ],
  });
  const back = await unpackModel(await packModel(file));
  assert.equal(back.metadata.note, 'ünïcode ✓');
  const a = new Float32Array(back.tensors[0].data.buffer.slice(0));
  assert.ok(Object.is(a[1], -0) && Object.is(a[0], 0) && Object.is(a[8], -0));
  assert.deepEqual(Array.from(a), Array.from(values));
  assert.deepEqual(Array.from(new Int32Array(back.tensors[1].data.buffer.slice(0))), Array.from(ints));
  assert.deepEqual(Array.from(new Int8Array(back.tensors[2].data.buffer.slice(0))), Array.from(codes));
  assert.deepEqual(back.tensors[3].shape, [0, 3]);
  assert.ok(Object.is(new Float32Array(back.tensors[4].data.buffer.slice(0))[0], -0));
});

test('a dense float model is refused with its packed size against the limit', async () => {
  const file = spiralFile({ sparsity: 0, bits: 0 });
  const link = await modelLinkText(file);
  assert.equal(link.ok, false);
  assert.ok(link.bytes > MAX_LINK_BYTES);
  if (!link.ok) assert.match(link.reason, new RegExp(`packs to ${link.bytes} bytes, over the ${MAX_LINK_BYTES}.*model file`));
});

test('another codec version is refused naming both versions', async () => {
  const payload = await packModel(spiralFile());
  payload[0] = CODEC_VERSION + 1;
  await refuses(unpackModel(payload), new RegExp(`format version ${CODEC_VERSION + 1}; this page reads version ${CODEC_VERSION}`));
  await refuses(unpackModel(new Uint8Array(0)), /empty/);
});

test('bad base64url is refused', async () => {
  await refuses(modelFromLinkText('AQ$$'), /not valid base64url/);
  await refuses(modelFromLinkText('A'), /not valid base64url/);
});

test('truncated payloads are refused at every cut', async () => {
  const payload = await packModel(spiralFile());
  for (const cut of [1, 2, 10, Math.floor(payload.length / 2), payload.length - 1]) {
    await refuses(unpackModel(payload.subarray(0, cut)), /model in the link: (the compressed data is damaged or truncated|truncated while reading)/);
  }
  const text = bytesToBase64Url(payload);
  await refuses(modelFromLinkText(text.slice(0, text.length - 7)), /model in the link/);
});

test('a decompression bomb is refused before it is held in memory', async () => {
  const zeros = new Uint8Array(4 << 20);
  const bomb = await deflate(zeros);
  assert.ok(bomb.length < MAX_LINK_BYTES, `bomb is ${bomb.length} bytes`);
  await refuses(unpackModel(new Uint8Array([CODEC_VERSION, ...bomb])), /inflates past \d+ bytes; refused/);
});

test('a payload over the link limit is refused', async () => {
  const big = new Uint8Array(MAX_LINK_BYTES + 1);
  big[0] = CODEC_VERSION;
  await refuses(unpackModel(big), new RegExp(`${MAX_LINK_BYTES + 1} bytes; a link carries at most ${MAX_LINK_BYTES}`));
});

test('hostile bodies: impossible lengths, shapes, palettes and trailing bytes are refused with a message', async () => {
  const tensor = (/** @type {number[]} */ rest) => [...varint(0), ...varint(1), ...str('w'), ...rest];
  // A tensor of 4 F32 elements, raw, with only 8 bytes of data.
  await refuses(unpackModel(await payloadOf(tensor([0, 1, 4, 0, ...new Array(8).fill(0)]))), /truncated while reading tensor `w`/);
  // A shape over the element budget, stored as a zero-bit palette (no data at all).
  await refuses(unpackModel(await payloadOf(tensor([0, 2, ...varint(1 << 11), ...varint(1 << 11), 2, 1, 0, 0, 0, 0]))), new RegExp(`more elements than a link's model may \\(${MAX_ELEMENTS}`));
  // Rank past the limit.
  await refuses(unpackModel(await payloadOf(tensor([0, 9]))), /rank 9; at most 8/);
  // An unknown dtype code and unknown flags.
  await refuses(unpackModel(await payloadOf(tensor([7]))), /dtype code 7/);
  await refuses(unpackModel(await payloadOf(tensor([0, 1, 1, 8]))), /unknown flags 8/);
  // A palette of 3 values whose 2-bit index 3 is out of range.
  await refuses(unpackModel(await payloadOf(tensor([1, 1, 4, 2, 3, 1, 2, 3, 0b1111_0000]))), /palette index 3 ≥ its palette size 3/);
  // A palette larger than the elements it codes.
  await refuses(unpackModel(await payloadOf(tensor([1, 1, 2, 2, 5, 1, 2, 3, 4, 5, 0]))), /palette of 5 values for 2 elements/);
  // A length varint that never ends, and one past 2^32.
  await refuses(unpackModel(await payloadOf([0x80, 0x80, 0x80, 0x80, 0x80, 0x80])), /out of range|truncated/);
  // Bytes left after the last tensor.
  await refuses(unpackModel(await payloadOf([...tensor([2, 1, 1, 0, 9]), 0, 0])), /2 bytes after the last tensor/);
  // Too many tensors claimed.
  await refuses(unpackModel(await payloadOf([0, ...varint(100000)])), /100000 tensors; at most/);
  // A repeated tensor name.
  await refuses(unpackModel(await payloadOf([0, 2, ...str('w'), 2, 1, 1, 0, 9, ...str('w'), 2, 1, 1, 0, 9])), /`w` repeated/);
  // A bitmap with bits past the tensor's end.
  await refuses(unpackModel(await payloadOf(tensor([2, 1, 3, 1, 0b1111_0000]))), /bits past its 3 elements/);
  // Not UTF-8 in a name.
  await refuses(unpackModel(await payloadOf([0, 1, 2, 0xff, 0xfe])), /not UTF-8/);
  // A valid hand-made body still decodes (the refusals above are about their one fault).
  const ok = await unpackModel(await payloadOf(tensor([2, 1, 3, 0, 4, 5, 6])));
  assert.deepEqual(Array.from(ok.tensors[0].data), [4, 5, 6]);
});

test('damaged safetensors input to the packer is refused naming the problem', async () => {
  assert.throws(() => readSafetensors(new Uint8Array(4)), /shorter than its 8-byte header length/);
  const file = spiralFile();
  const view = new DataView(file.buffer);
  view.setBigUint64(0, BigInt(file.length), true);
  assert.throws(() => readSafetensors(file), /header of \d+ bytes in a file of/);
});

test('shareLink: the recipe alone, or with the model; refused without a trained model or past the limit', async () => {
  const recipe = { version: 1, seed: 3 };
  const page = 'https://example.org/minnow/';
  const plain = await shareLink({ page, recipe, model: false, trained: 'the page is idle', exportModel: async () => new Uint8Array() });
  assert.equal(plain, `${page}#v=1&r=${bytesToBase64Url(new TextEncoder().encode(JSON.stringify(recipe)))}`);
  const file = spiralFile();
  const withModel = await shareLink({ page, recipe, model: true, trained: null, exportModel: async () => file });
  const m = new URLSearchParams(new URL(withModel).hash.slice(1)).get('m');
  assert.deepEqual(await modelFromLinkText(/** @type {string} */ (m)), writeSafetensors(readSafetensors(file)));
  await refuses(shareLink({ page, recipe, model: true, trained: 'the page is training', exportModel: async () => file }), /no trained model to share \(the page is training\)/);
  await refuses(shareLink({ page, recipe, model: true, trained: null, exportModel: async () => spiralFile({ sparsity: 0, bits: 0 }) }), /packs to \d+ bytes, over the 4096/);
});

test('a -0 under a pruning mask travels as +0 (as the loader reads it); other -0s keep their sign', async () => {
  const w = new Float32Array([-0, -0, 0.5, -0, -0, -0.25, 0, -0, -0, 1]);
  const mask = new Uint8Array([0, 0, 1, 0, 1, 1, 0, 0, 1, 1]);
  const file = writeSafetensors({
    metadata: {},
    tensors: [
      { name: 'w', dtype: 'F32', shape: [10], data: bytesOf(w) },
      { name: 'w_mask', dtype: 'U8', shape: [10], data: bytesOf(mask) },
      { name: 'v', dtype: 'F32', shape: [10], data: bytesOf(w) },
    ],
  });
  const back = await unpackModel(await packModel(file));
  const bw = new Float32Array(back.tensors[0].data.slice().buffer);
  const signs = Array.from(bw, (v) => (Object.is(v, -0) ? '-0' : String(v)));
  assert.deepEqual(signs, ['0', '0', '0.5', '0', '-0', '-0.25', '0', '0', '-0', '1']);
  const bv = new Float32Array(back.tensors[2].data.slice().buffer);
  assert.deepEqual(Array.from(bv, (v) => (Object.is(v, -0) ? '-0' : String(v))), Array.from(w, (v) => (Object.is(v, -0) ? '-0' : String(v))));
  assert.deepEqual(back.tensors[1].data, mask);
  // The sign bitmap is for floats with a zero bitmap only.
  const tensor = (/** @type {number[]} */ rest) => [...varint(0), ...varint(1), ...str('w'), ...rest];
  await refuses(unpackModel(await payloadOf(tensor([1, 1, 2, 5, 0b01, 7, 0]))), /unknown flags 5/);
  await refuses(unpackModel(await payloadOf(tensor([0, 1, 2, 4]))), /unknown flags 4/);
  await refuses(unpackModel(await payloadOf(tensor([0, 1, 2, 5, 0b01, 0b10, 0, 0, 128, 63]))), /sign bitmap has bits past its 1 zeros/);
});
