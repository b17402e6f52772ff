// Who may reach whom under the network ACLs (the rules of src/core/acl.h):
// ACLs by priority, highest first (ties by name); the first that matches a
// packet decides; none matching, the default policy does. For a pair of
// nodes the answer is the traffic the ACLs let through, as text.
function ip4(s) {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)/.exec(s || '');
  return m ? ((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0 : null;
}

function inCidrs(addr, cidrs) {
  if (!cidrs.length) return true;
  const a = ip4(addr);
  return cidrs.some((c) => {
    const [net, bits] = c.split('/');
    const n = ip4(net), b = bits === undefined ? 32 : +bits;
    if (a === null || n === null) return false;
    const mask = b === 0 ? 0 : (~0 << (32 - b)) >>> 0;
    return ((a & mask) >>> 0) === ((n & mask) >>> 0);
  });
}

function inNodes(id, list, groups) {
  if (!list.length) return true;
  return list.some((x) => x === '*' || x === id ||
    (x.startsWith('group:') && (groups.get(x.slice(6)) || []).some((s) => s.name === id && (s.type === 'node' || s.type === ''))));
}

function traffic(acl) {
  const protos = acl.protocols.length ? acl.protocols : acl.ports.length ? ['tcp', 'udp'] : [];
  if (!protos.length) return null; // everything
  return protos.flatMap((p) => (acl.ports.length && p !== 'icmp' ? acl.ports.map((port) => `${p}/${port}`) : [p]));
}

// nodes: MeshNode[]; groups: Group[]; acls: NetworkACL[]. Returns m[i][j].
export function reachability(nodes, groups, acls, defaultPolicy) {
  const g = new Map(groups.map((x) => [x.name, x.subjects]));
  const sorted = [...acls].sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name));
  return nodes.map((a) => nodes.map((b) => {
    if (a === b) return '';
    const allowed = [], denied = [];
    for (const acl of sorted) {
      if (!inNodes(a.id, acl.source_nodes, g) || !inNodes(b.id, acl.destination_nodes, g) ||
          !inCidrs(a.private_ipv4, acl.source_cidrs) || !inCidrs(b.private_ipv4, acl.destination_cidrs)) continue;
      const t = traffic(acl);
      if (t === null) {
        if (acl.action === 'accept') return denied.length ? `all except ${denied.join(', ')}` : 'all';
        return allowed.length ? allowed.join(', ') : 'nothing';
      }
      for (const x of t) {
        if (allowed.includes(x) || denied.includes(x)) continue;
        (acl.action === 'accept' ? allowed : denied).push(x);
      }
    }
    if (defaultPolicy === 'accept') return denied.length ? `all except ${denied.join(', ')}` : 'all';
    return allowed.length ? allowed.join(', ') : 'nothing';
  }));
}
