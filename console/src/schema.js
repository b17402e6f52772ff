// The webmesh.v1 messages the console uses (proto/webmesh/v1/*.proto).
export const Empty = {};
export const MeshNode = {
  1: ['id', 'string'], 2: ['public_key', 'string'], 3: ['endpoints', 'string', true],
  4: ['listen_port', 'uint32'], 5: ['private_ipv4', 'string'], 6: ['private_ipv6', 'string'],
  7: ['raft_role', 'enum'], 8: ['zone', 'string'], 9: ['joined_at', 'int64'],
  10: ['routes', 'string', true],
};
const MapEntry = { 1: ['key', 'string'], 2: ['value', 'string'] };
export const MeshEdge = {
  1: ['source', 'string'], 2: ['target', 'string'], 3: ['weight', 'int32'],
  4: ['attributes', MapEntry, true],
};
export const WireGuardPeer = {
  1: ['node', MeshNode], 2: ['allowed_ips', 'string', true], 3: ['endpoint', 'string'], 4: ['ice', 'bool'],
};
export const PeerConfigurations = { 1: ['peers', WireGuardPeer, true], 2: ['index', 'uint64'] };
export const IdRequest = { 1: ['id', 'string'] };
export const SubscribeStatusRequest = { 1: ['interval_ms', 'uint32'] };
export const ListNodesResponse = { 1: ['nodes', MeshNode, true] };
export const MeshGraph = { 1: ['nodes', MeshNode, true], 2: ['edges', MeshEdge, true] };
export const PeerStatus = {
  1: ['id', 'string'], 2: ['public_key', 'string'], 3: ['endpoint', 'string'],
  4: ['allowed_ips', 'string', true], 5: ['last_handshake', 'int64'], 6: ['rx_bytes', 'uint64'],
  7: ['tx_bytes', 'uint64'], 8: ['path', 'string'],
};
export const Status = {
  1: ['id', 'string'], 2: ['version', 'string'], 5: ['address_ipv4', 'string'],
  6: ['address_ipv6', 'string'], 7: ['network_ipv4', 'string'], 9: ['mesh_domain', 'string'],
  13: ['endpoints', 'string', true], 14: ['raft_role', 'enum'], 15: ['raft_state', 'string'],
  16: ['leader_id', 'string'], 21: ['peers', PeerStatus, true],
  25: ['unreachable_nodes', 'string', true], 26: ['auth_methods', 'string'],
  27: ['default_network_policy', 'string'], 1020: ['tls_fingerprint', 'string'],
};
export const PutEdgeRequest = {
  1: ['source', 'string'], 2: ['target', 'string'], 3: ['weight', 'int32'],
  4: ['attributes', MapEntry, true],
};
export const DeleteEdgeRequest = { 1: ['source', 'string'], 2: ['target', 'string'] };
export const RouteRequest = { 1: ['node_id', 'string'], 2: ['routes', 'string', true] };
export const ListRoutesResponse = { 1: ['nodes', RouteRequest, true] };
export const AdminWriteResponse = { 1: ['index', 'uint64'] };
const Rule = { 1: ['verbs', 'string', true], 2: ['resources', 'string', true], 3: ['resource_names', 'string', true] };
const Subject = { 1: ['type', 'string'], 2: ['name', 'string'] };
const Role = { 1: ['name', 'string'], 2: ['rules', Rule, true], 3: ['builtin', 'bool'] };
const RoleBinding = { 1: ['name', 'string'], 2: ['role', 'string'], 3: ['subjects', Subject, true], 4: ['builtin', 'bool'] };
const Group = { 1: ['name', 'string'], 2: ['subjects', Subject, true] };
export const NetworkACL = {
  1: ['name', 'string'], 2: ['priority', 'int32'], 3: ['action', 'string'],
  4: ['source_nodes', 'string', true], 5: ['destination_nodes', 'string', true],
  6: ['source_cidrs', 'string', true], 7: ['destination_cidrs', 'string', true],
  8: ['protocols', 'string', true], 9: ['ports', 'string', true],
};
export const Roles = { 1: ['items', Role, true] };
export const RoleBindings = { 1: ['items', RoleBinding, true] };
export const Groups = { 1: ['items', Group, true] };
export const NetworkACLs = { 1: ['items', NetworkACL, true], 2: ['default_policy', 'string'] };
export const NameRequest = { 1: ['name', 'string'] };
