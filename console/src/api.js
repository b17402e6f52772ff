// gRPC-web over fetch (application/grpc-web+proto): unary calls and server
// streams, with the mesh's basic credentials as "authorization" metadata.
import { encode, decode } from './pb.js';

export class RpcError extends Error {
  constructor(code, message) {
    super(message || `gRPC status ${code}`);
    this.code = code;
  }
}

let authHeader = sessionStorage.getItem('wm-auth') || '';

export function setCredentials(user, pass) {
  const bytes = new TextEncoder().encode(`${user}:${pass}`);
  authHeader = 'Basic ' + btoa(String.fromCharCode(...bytes));
  sessionStorage.setItem('wm-auth', authHeader);
}

export function clearCredentials() {
  authHeader = '';
  sessionStorage.removeItem('wm-auth');
}

export function hasCredentials() {
  return authHeader !== '';
}

function frame(msg) {
  const f = new Uint8Array(5 + msg.length);
  new DataView(f.buffer).setUint32(1, msg.length);
  f.set(msg, 5);
  return f;
}

function parseTrailer(u8) {
  const t = {};
  for (const line of new TextDecoder().decode(u8).split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) t[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let msg = t['grpc-message'] || '';
  try { msg = decodeURIComponent(msg); } catch { /* kept as sent */ }
  return { code: parseInt(t['grpc-status'] ?? '2', 10), message: msg };
}

// Calls path with req (a schema and an object); onMessage gets each decoded
// response. Resolves with the number of messages, rejects with RpcError.
export async function call(path, reqSchema, req, respSchema, onMessage, signal) {
  const headers = { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' };
  if (authHeader) headers.authorization = authHeader;
  let resp;
  try {
    resp = await fetch(path, { method: 'POST', headers, body: frame(encode(reqSchema, req)), signal });
  } catch (e) {
    if (e.name === 'AbortError') throw new RpcError(1, 'cancelled');
    throw new RpcError(14, 'the server is unreachable: ' + e.message);
  }
  if (!resp.ok) throw new RpcError(resp.status === 404 ? 12 : 14, `HTTP ${resp.status}`);
  const reader = resp.body.getReader();
  let buf = new Uint8Array(0), n = 0, status = null;
  for (;;) {
    let r;
    try { r = await reader.read(); } catch (e) {
      if (signal && signal.aborted) throw new RpcError(1, 'cancelled');
      throw new RpcError(14, 'connection lost');
    }
    if (r.done) break;
    const nb = new Uint8Array(buf.length + r.value.length);
    nb.set(buf); nb.set(r.value, buf.length);
    buf = nb;
    while (buf.length >= 5) {
      const len = new DataView(buf.buffer, buf.byteOffset).getUint32(1);
      if (buf.length < 5 + len) break;
      const flag = buf[0], body = buf.subarray(5, 5 + len);
      if (flag & 0x80) status = parseTrailer(body);
      else { n++; onMessage(decode(respSchema, body)); }
      buf = buf.slice(5 + len);
    }
  }
  if (!status) throw new RpcError(13, 'the response ended without a status');
  if (status.code !== 0) throw new RpcError(status.code, status.message);
  return n;
}

export async function unary(path, reqSchema, req, respSchema) {
  let out = null;
  await call(path, reqSchema, req, respSchema, (m) => { out = m; });
  if (!out) throw new RpcError(13, 'no response message');
  return out;
}
