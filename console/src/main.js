// The webmesh web console: nodes (live from SubscribePeers), the mesh graph
// with edge and route editing, RBAC and network ACLs with a reachability
// matrix, and the join command. Every call goes through the same gRPC API
// wmctl uses (gRPC-web), checked by RBAC as the logged-in identity.
import { call, unary, RpcError, setCredentials, clearCredentials, hasCredentials } from './api.js';
import * as S from './schema.js';
import { reachability } from './acl.js';

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k.startsWith('on')) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};

const state = { status: null, nodes: [], graph: null, view: 'nodes', stream: null, retry: 0, statusStream: null, statusRetry: 0 };
const ROLE = ['member', 'voter', 'observer'];
const PATH_COLOUR = { direct: '#2e9d4f', 'ice-host': '#e69f00', 'ice-srflx': '#e69f00', 'ice-relay': '#d1495b', relay: '#d1495b', libp2p: '#7b52ab' };

function fmtBytes(n) {
  if (!n) return '0';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

function fmtAgo(secs) {
  if (!secs) return 'never';
  const d = Math.max(0, Math.round(Date.now() / 1000 - secs));
  if (d < 60) return `${d}s ago`;
  if (d < 3600) return `${Math.floor(d / 60)}m ago`;
  if (d < 86400) return `${Math.floor(d / 3600)}h ago`;
  return new Date(secs * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

function showError(where, e) {
  const box = $(where);
  if (box) box.textContent = e ? `${e.message}${e.code ? ` (code ${e.code})` : ''}` : '';
  if (e && e.code === 16) showLogin('The server refused these credentials.');
}

// ---------------------------------------------------------------- login

function showLogin(why) {
  $('#login').hidden = false;
  $('#app').hidden = true;
  $('#login-why').textContent = why || '';
  if (state.stream) state.stream.abort();
  state.stream = null;
  if (state.statusStream) state.statusStream.abort();
  state.statusStream = null;
  // Nothing of the last session stays in the page.
  state.status = null;
  state.nodes = [];
  for (const id of ['#nodes-rows', '#roles', '#bindings', '#groups', '#acls', '#matrix']) $(id).replaceChildren();
  if (cy) { cy.destroy(); cy = null; }
}

async function login(ev) {
  ev.preventDefault();
  setCredentials($('#login-user').value, $('#login-pass').value);
  $('#login-pass').value = '';
  $('#login').hidden = true;
  $('#app').hidden = false;
  start();
}

// ---------------------------------------------------------------- data

async function refresh() {
  try {
    const [st, ln] = await Promise.all([
      unary('/webmesh.v1.Node/GetStatus', S.Empty, {}, S.Status),
      unary('/webmesh.v1.Mesh/ListNodes', S.Empty, {}, S.ListNodesResponse),
    ]);
    state.status = st;
    state.nodes = ln.nodes.sort((a, b) => a.id.localeCompare(b.id));
    showError('#error', null);
    render();
  } catch (e) {
    showError('#error', e);
  }
}

let refreshQueued = false;
function queueRefresh() {
  // Stream messages that come in a burst cost one refresh.
  if (refreshQueued) return;
  refreshQueued = true;
  setTimeout(() => { refreshQueued = false; refresh(); }, 50);
}

// The node's peer stream: every change of the mesh as this node sees it
// arrives here, so the page needs no polling loop.
function subscribe() {
  if (state.stream) state.stream.abort();
  const ac = new AbortController();
  state.stream = ac;
  call('/webmesh.v1.Membership/SubscribePeers', S.IdRequest, { id: state.status.id }, S.PeerConfigurations,
    () => { state.retry = 0; $('#live').textContent = 'live'; queueRefresh(); }, ac.signal)
    .catch((e) => {
      if (ac.signal.aborted) return;
      $('#live').textContent = `stream: ${e.message}`;
      if (e.code === 16 || e.code === 7) return showError('#error', e);
      // The server restarted or the network dropped: reconnect, backing off.
      state.retry = Math.min(state.retry + 1, 5);
      setTimeout(() => { if (state.stream === ac) subscribe(); }, 1000 * state.retry);
    });
}

// Traffic counters and handshakes change without a mesh event: the node
// streams its Status (Node.SubscribeStatus) every STATUS_MS, and each one
// redraws the nodes in view.
const STATUS_MS = 2000;
function subscribeStatus() {
  if (state.statusStream) state.statusStream.abort();
  const ac = new AbortController();
  state.statusStream = ac;
  call('/webmesh.v1.Node/SubscribeStatus', S.SubscribeStatusRequest, { interval_ms: STATUS_MS }, S.Status,
    (st) => {
      state.statusRetry = 0;
      state.status = st;
      render();
    }, ac.signal)
    .catch((e) => {
      if (ac.signal.aborted) return;
      if (e.code === 16 || e.code === 7) return showError('#error', e);
      state.statusRetry = Math.min(state.statusRetry + 1, 5);
      setTimeout(() => { if (state.statusStream === ac) subscribeStatus(); }, 1000 * state.statusRetry);
    });
}

async function start(attempt = 0) {
  try {
    state.status = await unary('/webmesh.v1.Node/GetStatus', S.Empty, {}, S.Status);
  } catch (e) {
    // 14: the server or the network is away for a moment (a browser drops
    // requests in flight when its network changes): try again, a few times.
    if (e.code === 14 && attempt < 10) {
      showError('#error', e);
      return setTimeout(() => start(attempt + 1), 1000);
    }
    // 16: wrong credentials; 8: the server backs off after failed logins.
    if (e.code === 16 || e.code === 8 || !hasCredentials()) {
      return showLogin(!hasCredentials() ? '' : e.code === 16 ? 'The server refused these credentials.' : e.message);
    }
    return showError('#error', e);
  }
  showError('#error', null);
  $('#whoami').textContent = `node ${state.status.id}`;
  await refresh();
  subscribe();
  subscribeStatus();
}

// ---------------------------------------------------------------- nodes

function peerOf(id) {
  return state.status && state.status.peers.find((p) => p.id === id);
}

function nodeRow(n) {
  const st = state.status || { peers: [], unreachable_nodes: [] };
  const self = n.id === st.id;
  const p = peerOf(n.id);
  const role = n.id === st.leader_id ? 'leader' : ROLE[n.raft_role] || 'member';
  let seen;
  if (self) seen = 'online (this node)';
  else if (st.unreachable_nodes.includes(n.id)) seen = p && p.last_handshake ? `offline, seen ${fmtAgo(p.last_handshake)}` : 'offline';
  else if (p && p.last_handshake && Date.now() / 1000 - p.last_handshake < 180) seen = 'online';
  else seen = p && p.last_handshake ? `last seen ${fmtAgo(p.last_handshake)}` : 'no handshake yet';
  return [n.id, n.private_ipv4, n.private_ipv6, role, seen, self ? 'self' : (p && p.path) || '', self ? n.endpoints.join(' ') : (p && p.endpoint) || '',
    p ? fmtBytes(p.rx_bytes) : '', p ? fmtBytes(p.tx_bytes) : '', p ? fmtAgo(p.last_handshake) : ''];
}

const ROW_H = 26;
// Only the rows in view are in the DOM: 1,000 nodes cost what 40 do.
function renderNodes() {
  const box = $('#nodes-body');
  const filter = $('#nodes-filter').value.trim().toLowerCase();
  const list = filter ? state.nodes.filter((n) => n.id.toLowerCase().includes(filter) || n.private_ipv4.includes(filter)) : state.nodes;
  $('#nodes-count').textContent = `${list.length} of ${state.nodes.length} nodes`;
  const spacer = $('#nodes-spacer');
  spacer.style.height = `${list.length * ROW_H}px`;
  const first = Math.max(0, Math.floor(box.scrollTop / ROW_H) - 5);
  const last = Math.min(list.length, first + Math.ceil((box.clientHeight || 600) / ROW_H) + 10);
  const rows = $('#nodes-rows');
  rows.style.transform = `translateY(${first * ROW_H}px)`;
  rows.replaceChildren(...list.slice(first, last).map((n) => {
    const tr = el('tr', { 'data-node': n.id });
    for (const c of nodeRow(n)) tr.append(el('td', {}, c));
    return tr;
  }));
}

// ---------------------------------------------------------------- graph

let cy = null;
async function renderGraph() {
  try {
    state.graph = await unary('/webmesh.v1.Mesh/GetMeshGraph', S.Empty, {}, S.MeshGraph);
  } catch (e) { return showError('#graph-error', e); }
  showError('#graph-error', null);
  const { default: cytoscape } = await import('cytoscape');
  const g = state.graph, self = state.status.id;
  const big = g.edges.length > 400;
  const elements = g.nodes.map((n) => ({ data: { id: n.id, label: n.id } }));
  for (const e of g.edges) {
    const other = e.source === self ? e.target : e.target === self ? e.source : null;
    const p = other && peerOf(other);
    const path = (p && p.path) || 'unknown';
    elements.push({ data: { id: `${e.source}\u2192${e.target}`, source: e.source, target: e.target, weight: e.weight, colour: PATH_COLOUR[path] || '#999', label: big ? '' : String(e.weight) } });
  }
  if (cy) cy.destroy();
  cy = cytoscape({
    container: $('#graph'),
    elements,
    minZoom: 0.05,
    maxZoom: 2,
    style: [
      { selector: 'node', style: { label: 'data(label)', 'font-size': 10, 'background-color': '#3465a4', width: 14, height: 14 } },
      { selector: 'edge', style: { 'line-color': 'data(colour)', label: 'data(label)', 'font-size': 9, width: 2, 'curve-style': big ? 'haystack' : 'bezier' } },
      { selector: ':selected', style: { 'line-color': '#000', 'background-color': '#000' } },
    ],
    layout: g.nodes.length <= 150 ? { name: 'cose', animate: false } : { name: 'grid' },
  });
  cy.on('tap', 'edge', (ev) => {
    const d = ev.target.data();
    $('#edge-source').value = d.source; $('#edge-target').value = d.target; $('#edge-weight').value = d.weight;
  });
  cy.on('tap', 'node', (ev) => { $('#route-node').value = ev.target.id(); });
  $('#graph-legend').textContent = `${g.nodes.length} nodes, ${g.edges.length} edges. Colours: green direct, orange ICE, red relay, purple libp2p, grey unknown or not via this node.`;
}

async function adminWrite(path, schema, req, msgBox) {
  $(msgBox).textContent = '…';
  try {
    const r = await unary(path, schema, req, S.AdminWriteResponse);
    $(msgBox).textContent = `done (index ${r.index})`;
    if (state.view === 'graph') renderGraph();
  } catch (e) { showError(msgBox, e); }
}

function edgeForm(op) {
  const source = $('#edge-source').value.trim(), target = $('#edge-target').value.trim();
  if (!source || !target) { $('#edge-msg').textContent = 'source and target are needed'; return; }
  if (op === 'put') {
    const weight = parseInt($('#edge-weight').value, 10);
    if (!(weight >= 1)) { $('#edge-msg').textContent = 'the weight must be a whole number >= 1'; return; }
    adminWrite('/webmesh.v1.Admin/PutEdge', S.PutEdgeRequest, { source, target, weight }, '#edge-msg');
  } else {
    adminWrite('/webmesh.v1.Admin/DeleteEdge', S.DeleteEdgeRequest, { source, target }, '#edge-msg');
  }
}

function routeForm(op) {
  const node_id = $('#route-node').value.trim(), cidr = $('#route-cidr').value.trim();
  if (!node_id || !cidr) { $('#route-msg').textContent = 'node and network are needed'; return; }
  adminWrite(op === 'put' ? '/webmesh.v1.Admin/PutRoute' : '/webmesh.v1.Admin/DeleteRoute', S.RouteRequest, { node_id, routes: [cidr] }, '#route-msg');
}

// ---------------------------------------------------------------- access

function table(head, rows) {
  return el('table', {}, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, String(c)))))));
}

async function section(id, title, path, schema, fmt) {
  const box = $(id);
  box.replaceChildren(el('h3', {}, title));
  try {
    const r = await unary(path, S.NameRequest, {}, schema);
    box.append(fmt(r));
    return r;
  } catch (e) {
    box.append(el('p', { class: 'error' }, `${e.message} (code ${e.code})`));
    if (e.code === 16) showLogin('The server refused these credentials.');
    return null;
  }
}

const subj = (ss) => ss.map((s) => `${s.type}:${s.name}`).join(', ');
async function renderAccess() {
  const [, , groups, acls] = await Promise.all([
    section('#roles', 'Roles', '/webmesh.v1.Admin/ListRoles', S.Roles, (r) => table(['name', 'rules', 'builtin'],
      r.items.map((x) => [x.name, x.rules.map((u) => `${u.verbs.join('|')} ${u.resources.join('|')}${u.resource_names.length ? ' ' + u.resource_names.join('|') : ''}`).join('; '), x.builtin ? 'yes' : '']))),
    section('#bindings', 'Role bindings', '/webmesh.v1.Admin/ListRoleBindings', S.RoleBindings, (r) => table(['name', 'role', 'subjects'],
      r.items.map((x) => [x.name, x.role, subj(x.subjects)]))),
    section('#groups', 'Groups', '/webmesh.v1.Admin/ListGroups', S.Groups, (r) => table(['name', 'subjects'], r.items.map((x) => [x.name, subj(x.subjects)]))),
    section('#acls', 'Network ACLs', '/webmesh.v1.Admin/ListNetworkACLs', S.NetworkACLs, (r) => el('div', {},
      el('p', {}, `default policy: ${r.default_policy || 'accept'}`),
      table(['name', 'priority', 'action', 'from', 'to', 'protocols', 'ports'],
        r.items.map((x) => [x.name, x.priority, x.action, [...x.source_nodes, ...x.source_cidrs].join(', ') || 'any',
          [...x.destination_nodes, ...x.destination_cidrs].join(', ') || 'any', x.protocols.join(', ') || 'any', x.ports.join(', ') || 'any'])))),
  ]);
  const box = $('#matrix');
  box.replaceChildren(el('h3', {}, 'Reachability (from row to column)'));
  if (!acls) return box.append(el('p', {}, 'needs the network ACLs'));
  const nodes = state.nodes.slice(0, 40);
  const m = reachability(nodes, groups ? groups.items : [], acls.items, acls.default_policy || 'accept');
  const head = el('tr', {}, el('th', {}, ''), ...nodes.map((n) => el('th', {}, n.id)));
  const rows = nodes.map((a, i) => el('tr', {}, el('th', {}, a.id), ...nodes.map((b, j) => el('td', { title: i === j ? '' : `${a.id} may reach ${b.id} on ${m[i][j]}` }, i === j ? '' : m[i][j]))));
  box.append(el('table', { class: 'matrix' }, el('thead', {}, head), el('tbody', {}, ...rows)));
  if (state.nodes.length > nodes.length) box.append(el('p', {}, `the first ${nodes.length} of ${state.nodes.length} nodes`));
}

// ---------------------------------------------------------------- join

function renderJoin() {
  const st = state.status;
  const cmd = `webmeshd --join ${location.host} --join-fingerprint ${st.tls_fingerprint || '(ask the administrator)'}`;
  $('#join-cmd').textContent = cmd;
  $('#join-fp').textContent = st.tls_fingerprint || 'unknown';
}

// ---------------------------------------------------------------- shell

function render() {
  for (const v of ['nodes', 'graph', 'access', 'join']) {
    $(`#view-${v}`).hidden = v !== state.view;
    $(`#tab-${v}`).classList.toggle('active', v === state.view);
  }
  if (!state.status) return;
  $('#summary').textContent = `${state.status.id}: ${state.status.raft_state || ''} ${ROLE[state.status.raft_role]}, leader ${state.status.leader_id || '?'}, ${state.nodes.length} nodes`;
  if (state.view === 'nodes') renderNodes();
}

function show(view) {
  state.view = view;
  render();
  if (view === 'graph') renderGraph();
  if (view === 'access') renderAccess();
  if (view === 'join') renderJoin();
}

window.addEventListener('DOMContentLoaded', () => {
  for (const v of ['nodes', 'graph', 'access', 'join']) $(`#tab-${v}`).addEventListener('click', () => show(v));
  $('#nodes-body').addEventListener('scroll', () => requestAnimationFrame(renderNodes));
  $('#nodes-filter').addEventListener('input', renderNodes);
  $('#login-form').addEventListener('submit', login);
  $('#logout').addEventListener('click', () => { clearCredentials(); showLogin(''); });
  $('#edge-put').addEventListener('click', () => edgeForm('put'));
  $('#edge-delete').addEventListener('click', () => edgeForm('delete'));
  $('#route-put').addEventListener('click', () => routeForm('put'));
  $('#route-delete').addEventListener('click', () => routeForm('delete'));
  $('#join-copy').addEventListener('click', () => navigator.clipboard.writeText($('#join-cmd').textContent).then(() => { $('#join-msg').textContent = 'copied'; }, () => { $('#join-msg').textContent = 'select and copy the command'; }));
  render();
  start();
});
