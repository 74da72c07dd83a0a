// Links that carry a trained model: the model-in-link codec (`m=` in the fragment). It packs a
// model file's content, as the engine's exportModel wrote it, losslessly, and rebuilds a
// safetensors file that the worker opens through the same path as "Open a model" (the engine's
// own checks: dtypes, shapes against the recipe, finite values, quantization records, test split).
// Packing model-file bytes, not a wasm export, keeps the codec independent of what the file holds
// (floats, masks, integer codes, qparams, a later format version): every tensor travels as it is,
// bit for bit, with one exception that changes nothing the engine reads: a -0 under a pruning mask
// (`<name>_mask` = 0) travels as +0, since the model-file format defines pruned entries as 0 and
// the loader sets them so (the signs of pruned weights are one random bit each: ~500 bytes for
// the spiral MLP, an eighth of what a link carries). Elsewhere -0 stays -0.
// Pure functions over bytes (plus CompressionStream): unit-tested by tests/js/share.test.js.
//
// Payload = [CODEC_VERSION] ++ deflate-raw(body), written as base64url. Body (varints are LEB128):
//   metadata: count, then (key, value) strings;  tensors: count, then per tensor:
//   name, dtype (0 F32, 1 I8, 2 U8, 3 I32), rank, dims, flags (bit 0: a bitmap of the non-zero
//   elements comes first and only those are stored; bit 2, F32 only: then a bitmap over the zero
//   elements marking the -0s, as pruning leaves them; bit 1: the stored values are palette indices),
//   then either the values, or k, the k distinct values ascending, and the indices packed LSB-first
//   in ceil(log2 k) bits each. Values of 4 bytes are stored as 4 byte planes (lowest bytes first). A 0/1 mask is a bitmap and nothing else;
//   a pruned, quantized weight is a bitmap and a few bits per kept weight.

import { base64UrlToBytes, bytesToBase64Url, encodeFragment } from './state.js';

/** Version of the packed-model format (the payload's first byte). */
export const CODEC_VERSION = 1;
/** The most packed bytes (version byte included, before base64url) a link may carry. */
export const MAX_LINK_BYTES = 4096;
/** The most bytes a payload may inflate to: more is refused as a decompression bomb. */
export const MAX_BODY_BYTES = 1 << 20;
/** The most elements (all tensors together) a link's model may have. */
export const MAX_ELEMENTS = 1 << 20;
/** The most tensors, metadata entries and dimensions a link's model may have. */
const MAX_TENSORS = 512;
const MAX_META = 64;
const MAX_RANK = 8;

/** safetensors dtype names by code, with their element width in bytes. */
const DTYPES = /** @type {const} */ ([
  ['F32', 4],
  ['I8', 1],
  ['U8', 1],
  ['I32', 4],
]);

/**
 * One tensor of a safetensors file: its name, dtype, shape and raw little-endian bytes.
 * @typedef {{name: string, dtype: 'F32' | 'I8' | 'U8' | 'I32', shape: number[], data: Uint8Array}} FileTensor
 * @typedef {{metadata: Record<string, string>, tensors: FileTensor[]}} ModelContent
 */

/**
 * Reads a safetensors file: 8-byte little-endian header length, the JSON header (`__metadata__` and
 * one `{dtype, shape, data_offsets}` per tensor), the data. Throws naming what is wrong.
 * @param {Uint8Array} bytes
 * @returns {ModelContent}
 */
export function readSafetensors(bytes) {
  if (bytes.length < 8) throw new Error('model file: shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) throw new Error(`model file: header of ${headerLen} bytes in a file of ${bytes.length}`);
  /** @type {any} */
  let header;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new Error(`model file: the header is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('model file: the header is not an object');
  const data = bytes.subarray(8 + headerLen);
  /** @type {Record<string, string>} */
  const metadata = {};
  /** @type {FileTensor[]} */
  const tensors = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      for (const [k, v] of Object.entries(entry ?? {})) {
        if (typeof v !== 'string') throw new Error(`model file: metadata \`${k}\` is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const dtype = entry?.dtype;
    const width = DTYPES.find(([d]) => d === dtype)?.[1];
    if (!width) throw new Error(`model file: tensor \`${name}\` has dtype ${dtype}; a link carries F32, I8, U8 or I32`);
    const shape = entry.shape;
    const [start, end] = entry.data_offsets ?? [];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`model file: tensor \`${name}\` has a bad shape`);
    const n = shape.reduce((a, d) => a * d, 1);
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end === start + n * width && end <= data.length)) {
      throw new Error(`model file: tensor \`${name}\` has bad data offsets`);
    }
    tensors.push({ name, dtype, shape, data: data.subarray(start, end) });
  }
  tensors.sort((a, b) => a.data.byteOffset - b.data.byteOffset);
  return { metadata, tensors };
}

/**
 * Writes a safetensors file (header padded with spaces to 8 bytes, data in the tensors' order).
 * @param {ModelContent} content
 * @returns {Uint8Array}
 */
export function writeSafetensors({ metadata, tensors }) {
  /** @type {Record<string, any>} */
  const header = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const t of tensors) {
    out.set(t.data, at);
    at += t.data.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Body writer and reader

class Writer {
  constructor() {
    /** @type {number[]} */
    this.bytes = [];
  }
  /** @param {number} v a non-negative integer below 2^32 */
  varint(v) {
    do {
      const low = v & 0x7f;
      v = Math.floor(v / 128);
      this.bytes.push(v > 0 ? low | 0x80 : low);
    } while (v > 0);
  }
  /** @param {Uint8Array | number[]} b */
  raw(b) {
    for (const x of b) this.bytes.push(x);
  }
  /** @param {string} s */
  string(s) {
    const b = new TextEncoder().encode(s);
    this.varint(b.length);
    this.raw(b);
  }
}

class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
    /** What is being read, for the messages. */
    this.what = 'the header';
  }
  /** @param {number} n */
  take(n) {
    if (n > this.bytes.length - this.at) throw new Error(`model in the link: truncated while reading ${this.what} (needs ${n} bytes at byte ${this.at} of ${this.bytes.length})`);
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  varint() {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.take(1)[0];
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) {
        if (v > 0xffffffff) break;
        return v;
      }
    }
    throw new Error(`model in the link: a length in ${this.what} is out of range`);
  }
  string() {
    const n = this.varint();
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.take(n));
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('model in the link')) throw e;
      throw new Error(`model in the link: ${this.what} is not UTF-8 text`);
    }
  }
}

/**
 * A tensor's elements as unsigned integers of its width (the bit patterns: lossless for floats,
 * -0 and all).
 * @param {FileTensor} t
 * @returns {Uint32Array | Uint8Array}
 */
function elements(t) {
  if (t.data.length % (t.dtype === 'F32' || t.dtype === 'I32' ? 4 : 1)) throw new Error(`tensor \`${t.name}\`: data length is not a whole number of elements`);
  if (t.dtype === 'I8' || t.dtype === 'U8') return t.data;
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint32Array(t.data.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

/**
 * The order of two element bit patterns as the values they encode.
 * @param {string} dtype
 * @returns {(a: number, b: number) => number}
 */
function valueOrder(dtype) {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const asFloat = (/** @type {number} */ x) => ((u[0] = x), f[0]);
  if (dtype === 'F32') return (a, b) => asFloat(a) - asFloat(b) || a - b;
  if (dtype === 'I32') return (a, b) => (a | 0) - (b | 0);
  if (dtype === 'I8') return (a, b) => ((a << 24) >> 24) - ((b << 24) >> 24);
  return (a, b) => a - b;
}

/** Bits of a palette index for `k` values. @param {number} k */
function indexBits(k) {
  return k <= 1 ? 0 : Math.ceil(Math.log2(k));
}

/**
 * Appends values of `width` bytes, a 4-byte value's bytes as four planes (every value's lowest
 * byte, then every value's second byte, …): the planes of sign and exponent repeat, which deflate
 * then finds, where interleaved floats look random to it.
 * @param {Writer} w
 * @param {ArrayLike<number>} values
 * @param {number} width
 */
function putValues(w, values, width) {
  for (let plane = 0; plane < width; plane++) {
    for (let i = 0; i < values.length; i++) w.bytes.push((values[i] >>> (8 * plane)) & 0xff);
  }
}

/**
 * Appends one tensor to the body, in the smallest of its encodings (before deflate).
 * @param {Writer} w
 * @param {FileTensor} t
 */
function packTensor(w, t) {
  const code = DTYPES.findIndex(([d]) => d === t.dtype);
  const width = DTYPES[code][1];
  const all = elements(t);
  w.string(t.name);
  w.varint(code);
  w.varint(t.shape.length);
  for (const d of t.shape) w.varint(d);
  const float = t.dtype === 'F32';
  const isZero = (/** @type {number} */ v) => (float ? (v & 0x7fffffff) === 0 : v === 0);
  const nonzero = all.filter((v) => !isZero(v));
  const zeros = all.length - nonzero.length;
  const negativeZeros = float && all.some((v) => v === 0x80000000);
  const sparse = Math.ceil(all.length / 8) + (negativeZeros ? Math.ceil(zeros / 8) : 0) + nonzero.length * width < all.length * width;
  const values = sparse ? nonzero : all;
  const distinct = [...new Set(values)].sort(valueOrder(t.dtype));
  const bits = indexBits(distinct.length);
  const paletteBytes = distinct.length * width + Math.ceil((values.length * bits) / 8) + 4;
  const palette = distinct.length > 0 && paletteBytes < values.length * width;
  const signs = sparse && negativeZeros;
  w.varint((sparse ? 1 : 0) | (palette ? 2 : 0) | (signs ? 4 : 0));
  if (sparse) {
    const map = new Uint8Array(Math.ceil(all.length / 8));
    for (let i = 0; i < all.length; i++) if (!isZero(all[i])) map[i >> 3] |= 1 << (i & 7);
    w.raw(map);
  }
  if (signs) {
    const map = new Uint8Array(Math.ceil(zeros / 8));
    let z = 0;
    for (const v of all) {
      if (!isZero(v)) continue;
      if (v === 0x80000000) map[z >> 3] |= 1 << (z & 7);
      z++;
    }
    w.raw(map);
  }
  if (!palette) {
    putValues(w, values, width);
    return;
  }
  w.varint(distinct.length);
  putValues(w, distinct, width);
  const index = new Map(distinct.map((v, i) => [v, i]));
  const packed = new Uint8Array(Math.ceil((values.length * bits) / 8));
  let bit = 0;
  for (const v of values) {
    const i = /** @type {number} */ (index.get(v));
    for (let b = 0; b < bits; b++, bit++) if ((i >> b) & 1) packed[bit >> 3] |= 1 << (bit & 7);
  }
  w.raw(packed);
}

/**
 * Reads `count` values written by `putValues`.
 * @param {Reader} r
 * @param {number} count
 * @param {number} width
 * @returns {number[]}
 */
function getValues(r, count, width) {
  const bytes = r.take(count * width);
  const out = new Array(count).fill(0);
  for (let plane = 0; plane < width; plane++) {
    for (let i = 0; i < count; i++) out[i] = (out[i] | (bytes[plane * count + i] << (8 * plane))) >>> 0;
  }
  return out;
}

/**
 * Reads one tensor of the body back into its bytes.
 * @param {Reader} r
 * @param {{elements: number}} budget elements still allowed
 * @returns {FileTensor}
 */
function unpackTensor(r, budget) {
  r.what = 'a tensor name';
  const name = r.string();
  r.what = `tensor \`${name}\``;
  const code = r.varint();
  if (code >= DTYPES.length) throw new Error(`model in the link: tensor \`${name}\` has dtype code ${code}; known: 0–${DTYPES.length - 1}`);
  const [dtype, width] = DTYPES[code];
  const rank = r.varint();
  if (rank > MAX_RANK) throw new Error(`model in the link: tensor \`${name}\` has rank ${rank}; at most ${MAX_RANK}`);
  /** @type {number[]} */
  const shape = [];
  let n = 1;
  for (let i = 0; i < rank; i++) {
    const d = r.varint();
    shape.push(d);
    n *= d;
    if (n > budget.elements) throw new Error(`model in the link: tensor \`${name}\` has more elements than a link's model may (${MAX_ELEMENTS} in all)`);
  }
  budget.elements -= n;
  const flags = r.varint();
  if (flags > 7 || (flags & 4 && (dtype !== 'F32' || !(flags & 1)))) throw new Error(`model in the link: tensor \`${name}\` has unknown flags ${flags}`);
  const all = width === 4 ? new Uint32Array(n) : new Uint8Array(n);
  /** @type {number[]} positions of the stored values */
  let at = [];
  if (flags & 1) {
    const map = r.take(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) if ((map[i >> 3] >> (i & 7)) & 1) at.push(i);
    if (n % 8 && map[map.length - 1] >> (n % 8)) throw new Error(`model in the link: tensor \`${name}\`'s bitmap has bits past its ${n} elements`);
    if (flags & 4) {
      const zeros = n - at.length;
      const signs = r.take(Math.ceil(zeros / 8));
      if (zeros % 8 && signs[signs.length - 1] >> (zeros % 8)) throw new Error(`model in the link: tensor \`${name}\`'s sign bitmap has bits past its ${zeros} zeros`);
      let z = 0;
      let next = 0;
      for (let i = 0; i < n; i++) {
        if (next < at.length && at[next] === i) {
          next++;
          continue;
        }
        if ((signs[z >> 3] >> (z & 7)) & 1) all[i] = 0x80000000;
        z++;
      }
    }
  } else {
    at = Array.from({ length: n }, (_, i) => i);
  }
  if (flags & 2) {
    const k = r.varint();
    if (k === 0 || k > Math.max(1, at.length)) throw new Error(`model in the link: tensor \`${name}\` has a palette of ${k} values for ${at.length} elements`);
    const palette = getValues(r, k, width);
    const bits = indexBits(k);
    const packed = r.take(Math.ceil((at.length * bits) / 8));
    let bit = 0;
    for (const pos of at) {
      let i = 0;
      for (let b = 0; b < bits; b++, bit++) i |= ((packed[bit >> 3] >> (bit & 7)) & 1) << b;
      if (i >= k) throw new Error(`model in the link: tensor \`${name}\` has palette index ${i} ≥ its palette size ${k}`);
      all[pos] = palette[i];
    }
  } else {
    const values = getValues(r, at.length, width);
    at.forEach((pos, i) => (all[pos] = values[i]));
  }
  const data = new Uint8Array(n * width);
  if (width === 1) data.set(all);
  else {
    const view = new DataView(data.buffer);
    for (let i = 0; i < n; i++) view.setUint32(i * 4, all[i], true);
  }
  return { name, dtype, shape, data };
}

// ---------------------------------------------------------------------------------------------
// Deflate with a cap

/**
 * @param {Uint8Array} bytes
 * @returns {Promise<Uint8Array>}
 */
async function deflate(bytes) {
  const stream = new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (bytes)]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Inflates `bytes`, refusing output past `cap` bytes (a decompression bomb) and damaged streams.
 * @param {Uint8Array} bytes
 * @param {number} cap
 * @returns {Promise<Uint8Array>}
 */
async function inflate(bytes, cap) {
  const reader = new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (bytes)]).stream().pipeThrough(new DecompressionStream('deflate-raw')).getReader();
  /** @type {Uint8Array[]} */
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > cap) {
        reader.cancel().catch(() => {});
        throw new Error(`model in the link: inflates past ${cap} bytes; refused`);
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('model in the link')) throw e;
    throw new Error(`model in the link: the compressed data is damaged or truncated (${e instanceof Error ? e.message : String(e)})`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The codec

/**
 * Packs a model file (the bytes exportModel gives) into the link's payload bytes: the version byte
 * and the deflated body. Lossless: `unpackModel` gives back all metadata and every tensor bit for
 * bit, except that a -0 under a pruning mask comes back +0 (the value the loader gives it).
 * @param {Uint8Array} fileBytes
 * @returns {Promise<Uint8Array>}
 */
export async function packModel(fileBytes) {
  const { metadata, tensors } = readSafetensors(fileBytes);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const t of tensors) {
    const mask = byName.get(`${t.name}_mask`);
    if (t.dtype !== 'F32' || !mask || mask.dtype !== 'U8' || mask.data.length * 4 !== t.data.length) continue;
    t.data = t.data.slice();
    for (let i = 0; i < mask.data.length; i++) {
      if (mask.data[i] === 0 && t.data[4 * i + 3] === 0x80 && !t.data[4 * i] && !t.data[4 * i + 1] && !t.data[4 * i + 2]) t.data[4 * i + 3] = 0;
    }
  }
  const w = new Writer();
  const meta = Object.entries(metadata);
  w.varint(meta.length);
  for (const [k, v] of meta) {
    w.string(k);
    w.string(v);
  }
  w.varint(tensors.length);
  for (const t of tensors) packTensor(w, t);
  const body = await deflate(new Uint8Array(w.bytes));
  const out = new Uint8Array(1 + body.length);
  out[0] = CODEC_VERSION;
  out.set(body, 1);
  return out;
}

/**
 * Reads payload bytes back into the model file's content. Throws a message starting "model in the
 * link:" for a wrong version, a payload over the link limit, damaged or bomb-sized compressed data,
 * a truncated body, impossible lengths, shapes or palette indices, or trailing bytes.
 * @param {Uint8Array} payload
 * @returns {Promise<ModelContent>}
 */
export async function unpackModel(payload) {
  if (payload.length === 0) throw new Error('model in the link: empty');
  if (payload[0] !== CODEC_VERSION) throw new Error(`model in the link: format version ${payload[0]}; this page reads version ${CODEC_VERSION}`);
  if (payload.length > MAX_LINK_BYTES) throw new Error(`model in the link: ${payload.length} bytes; a link carries at most ${MAX_LINK_BYTES}`);
  const r = new Reader(await inflate(payload.subarray(1), MAX_BODY_BYTES));
  r.what = 'the metadata';
  const metaCount = r.varint();
  if (metaCount > MAX_META) throw new Error(`model in the link: ${metaCount} metadata entries; at most ${MAX_META}`);
  /** @type {Record<string, string>} */
  const metadata = {};
  for (let i = 0; i < metaCount; i++) {
    const k = r.string();
    metadata[k] = r.string();
  }
  r.what = 'the tensor count';
  const count = r.varint();
  if (count > MAX_TENSORS) throw new Error(`model in the link: ${count} tensors; at most ${MAX_TENSORS}`);
  const budget = { elements: MAX_ELEMENTS };
  /** @type {FileTensor[]} */
  const tensors = [];
  const names = new Set();
  for (let i = 0; i < count; i++) {
    const t = unpackTensor(r, budget);
    if (names.has(t.name) || t.name === '__metadata__') throw new Error(`model in the link: tensor name \`${t.name}\` repeated or reserved`);
    names.add(t.name);
    tensors.push(t);
  }
  if (r.at !== r.bytes.length) throw new Error(`model in the link: ${r.bytes.length - r.at} bytes after the last tensor`);
  return { metadata, tensors };
}

/**
 * The `m=` text of a model file, or why it cannot travel in a link.
 * @param {Uint8Array} fileBytes
 * @returns {Promise<{ok: true, text: string, bytes: number} | {ok: false, bytes: number, reason: string}>}
 */
export async function modelLinkText(fileBytes) {
  const packed = await packModel(fileBytes);
  if (packed.length > MAX_LINK_BYTES) {
    return {
      ok: false,
      bytes: packed.length,
      reason: `the model packs to ${packed.length} bytes, over the ${MAX_LINK_BYTES} a link carries (the file is ${fileBytes.length} bytes): share the model file instead (Download model)`,
    };
  }
  return { ok: true, text: bytesToBase64Url(packed), bytes: packed.length };
}

/**
 * The model file a link's `m=` text holds, rebuilt as safetensors bytes for the engine to open.
 * @param {string} text
 * @returns {Promise<Uint8Array>}
 */
export async function modelFromLinkText(text) {
  let payload;
  try {
    payload = base64UrlToBytes(text.replace(/ /g, '+'));
  } catch {
    throw new Error('model in the link: not valid base64url');
  }
  return writeSafetensors(await unpackModel(payload));
}

/**
 * A link to `page` (the address without its fragment) holding `recipe`; with `model`, the trained
 * model too. Rejects, saying why, when there is no trained model (`trained` is the reason, null
 * when there is one) or when it packs to more than a link carries.
 * @param {{page: string, recipe: import('./state.js').Recipe | string, model: boolean, trained: string | null,
 *   exportModel: () => Promise<Uint8Array>}} p
 * @returns {Promise<string>}
 */
export async function shareLink({ page, recipe, model, trained, exportModel }) {
  if (!model) return page + encodeFragment(recipe);
  if (trained !== null) throw new Error(`no trained model to share (${trained}): train one, or let the run finish, first`);
  const packed = await modelLinkText(await exportModel());
  if (!packed.ok) throw new Error(packed.reason);
  return page + encodeFragment(recipe, { model: packed.text });
}
