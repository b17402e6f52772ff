// Protocol Buffers wire format (proto3) from small schemas: a message schema
// maps a field number to [name, type, repeated?]; a type is a scalar name or
// another schema. Enough for the webmesh API, and a few hundred bytes.
const te = new TextEncoder();
const td = new TextDecoder();

class Writer {
  constructor() { this.b = []; }
  varint(v) {
    v = BigInt.asUintN(64, BigInt(v));
    while (v > 127n) { this.b.push(Number(v & 127n) | 128); v >>= 7n; }
    this.b.push(Number(v));
  }
  tag(no, wt) { this.varint((no << 3) | wt); }
  bytes(u8) { this.varint(u8.length); for (const x of u8) this.b.push(x); }
  done() { return Uint8Array.from(this.b); }
}

function encodeInto(w, schema, obj) {
  for (const [no, [name, type, rep]] of Object.entries(schema)) {
    const v = obj[name];
    if (v === undefined || v === null) continue;
    const vals = rep ? v : [v];
    for (const x of vals) {
      if (typeof type === 'object') {
        const inner = new Writer();
        encodeInto(inner, type, x);
        w.tag(+no, 2); w.bytes(inner.done());
      } else if (type === 'string') {
        if (!rep && x === '') continue;
        w.tag(+no, 2); w.bytes(te.encode(x));
      } else if (type === 'bool') {
        if (!rep && !x) continue;
        w.tag(+no, 0); w.varint(x ? 1 : 0);
      } else {
        if (!rep && (x === 0 || x === 0n)) continue;
        w.tag(+no, 0); w.varint(x);
      }
    }
  }
}

export function encode(schema, obj) {
  const w = new Writer();
  encodeInto(w, schema, obj || {});
  return w.done();
}

function defaults(schema) {
  const o = {};
  for (const [name, type, rep] of Object.values(schema)) {
    if (rep) o[name] = [];
    else if (typeof type === 'object') o[name] = null;
    else if (type === 'string') o[name] = '';
    else if (type === 'bool') o[name] = false;
    else o[name] = 0;
  }
  return o;
}

export function decode(schema, u8) {
  const o = defaults(schema);
  let p = 0;
  const varint = () => {
    let v = 0n, s = 0n;
    for (;;) {
      if (p >= u8.length || s > 63n) throw new Error('truncated varint');
      const b = u8[p++];
      v |= BigInt(b & 127) << s;
      if (!(b & 128)) return v;
      s += 7n;
    }
  };
  while (p < u8.length) {
    const key = Number(varint());
    const no = key >>> 3, wt = key & 7;
    const f = schema[no];
    if (wt === 0) {
      const v = varint();
      if (!f) continue;
      const [name, type, rep] = f;
      let x;
      if (type === 'bool') x = v !== 0n;
      else if (type === 'int32' || type === 'enum') x = Number(BigInt.asIntN(32, v));
      else if (type === 'int64') x = Number(BigInt.asIntN(64, v));
      else x = Number(v);
      if (rep) o[name].push(x); else o[name] = x;
    } else if (wt === 2) {
      const n = Number(varint());
      if (p + n > u8.length) throw new Error('truncated field');
      const sub = u8.subarray(p, p + n);
      p += n;
      if (!f) continue;
      const [name, type, rep] = f;
      let x;
      if (typeof type === 'object') x = decode(type, sub);
      else if (type === 'string') x = td.decode(sub);
      else if (type === 'bytes') x = sub.slice();
      else { // packed scalars
        const save = [u8, p];
        u8 = sub; p = 0;
        while (p < u8.length) { const v = varint(); o[name].push(type === 'bool' ? v !== 0n : Number(v)); }
        [u8, p] = save;
        continue;
      }
      if (rep) o[name].push(x); else o[name] = x;
    } else if (wt === 1) { p += 8; } else if (wt === 5) { p += 4; } else {
      throw new Error('unsupported wire type ' + wt);
    }
  }
  return o;
}
