// The independent circuit relay v2 peer of tests/integration/test_libp2p_relay.py:
// js-libp2p with TCP, Noise, yamux, identify, ping and circuit relay v2.
//   --listen ADDR      listen (repeatable); a .../p2p/RELAY/p2p-circuit address
//                      reserves on that relay
//   --relay            serve as a relay (hop), without default limits
//   --dcutr            run DCUtR (@libp2p/dcutr) on relayed connections
//   --announce ADDR    tell peers this address too (a public one, for DCUtR)
//   --dial ADDR        dial ADDR (a circuit address too) and ping it --pings
//                      times, retrying a failed one up to --dial-tries times
// One JSON object per line on stdout: ready, addrs, connected, ping, error.
// js-libp2p 3.x wants Node >= 22 for this one function; Debian has 20.
Promise.withResolvers ??= () => { let resolve, reject; const promise = new Promise((a, b) => { resolve = a; reject = b }); return { promise, resolve, reject } }

const { createLibp2p } = await import('libp2p')
const { tcp } = await import('@libp2p/tcp')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { identify } = await import('@libp2p/identify')
const { ping } = await import('@libp2p/ping')
const { circuitRelayServer, circuitRelayTransport } = await import('@libp2p/circuit-relay-v2')
const { dcutr } = await import('@libp2p/dcutr')
const { multiaddr } = await import('@multiformats/multiaddr')

const args = { listen: [], announce: [], dial: null, pings: 0, relay: false, dcutr: false, tries: 30 }
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i]
  if (k === '--relay') { args.relay = true; continue }
  if (k === '--dcutr') { args.dcutr = true; continue }
  const v = process.argv[++i]
  if (k === '--listen') args.listen.push(v)
  else if (k === '--announce') args.announce.push(v)
  else if (k === '--dial') args.dial = v
  else if (k === '--pings') args.pings = Number(v)
  else if (k === '--dial-tries') args.tries = Number(v)
  else throw new Error(`unknown argument ${k}`)
}

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const services = { identify: identify(), ping: ping() }
if (args.relay) services.relay = circuitRelayServer({ reservations: { applyDefaultLimit: false } })
if (args.dcutr) services.dcutr = dcutr()

const node = await createLibp2p({
  addresses: { listen: args.listen, appendAnnounce: args.announce },
  transports: [tcp(), circuitRelayTransport()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services
})

node.addEventListener('peer:connect', (e) => out({ event: 'connected', peer_id: e.detail.toString() }))
node.addEventListener('connection:open', (e) => out({ event: 'conn', peer_id: e.detail.remotePeer.toString(), addr: e.detail.remoteAddr.toString(), direction: e.detail.direction }))
node.addEventListener('peer:disconnect', (e) => out({ event: 'disconnected', peer_id: e.detail.toString() }))
node.addEventListener('self:peer:update', () => out({ event: 'addrs', addrs: node.getMultiaddrs().map((a) => a.toString()) }))

out({ event: 'ready', peer_id: node.peerId.toString(), addrs: node.getMultiaddrs().map((a) => a.toString()) })

if (args.dial) {
  const ma = multiaddr(args.dial)
  let done = 0
  let failed = 0
  let lastErr = null
  // The target may not hold its reservation yet: retry, bounded in count.
  while (done < args.pings && failed < args.tries) {
    try {
      const rtt = await node.services.ping.ping(ma, { signal: AbortSignal.timeout(5000) })
      const conns = node.getConnections().filter((c) => c.remoteAddr.toString().includes('/p2p-circuit'))
      out({ event: 'ping', rtt_ms: rtt, relayed: conns.length > 0, limited: conns.some((c) => c.limits != null) })
      done++
      await new Promise((resolve) => setTimeout(resolve, 100))
    } catch (err) {
      lastErr = err
      failed++
      out({ event: 'dial_failed', message: String(err && err.message ? err.message : err) })
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  }
  if (done < args.pings) out({ event: 'error', message: String(lastErr && lastErr.stack ? lastErr.stack : lastErr) })
}

const stop = async () => { await node.stop(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
