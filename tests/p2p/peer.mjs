// The independent libp2p peer of tests/integration/test_libp2p.py: js-libp2p
// with TCP, Noise, yamux, identify and ping. It listens on --listen, dials
// --dial (pinging it --pings times), and prints one JSON object per line on
// stdout for what happened: ready, connected, identify, ping, error.
// js-libp2p 3.x wants Node >= 22 for this one function; Debian has 20.
Promise.withResolvers ??= () => { let resolve, reject; const promise = new Promise((a, b) => { resolve = a; reject = b }); return { promise, resolve, reject } }

const { createLibp2p } = await import('libp2p')
const { tcp } = await import('@libp2p/tcp')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { identify } = await import('@libp2p/identify')
const { ping } = await import('@libp2p/ping')
const { multiaddr } = await import('@multiformats/multiaddr')

const args = { listen: [], dial: null, pings: 0 }
for (let i = 2; i < process.argv.length; i += 2) {
  const [k, v] = [process.argv[i], process.argv[i + 1]]
  if (k === '--listen') args.listen.push(v)
  else if (k === '--dial') args.dial = v
  else if (k === '--pings') args.pings = Number(v)
  else throw new Error(`unknown argument ${k}`)
}

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

const node = await createLibp2p({
  addresses: { listen: args.listen },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), ping: ping() }
})

node.addEventListener('peer:connect', (e) => out({ event: 'connected', peer_id: e.detail.toString() }))
node.addEventListener('peer:identify', (e) => {
  const d = e.detail
  out({
    event: 'identify',
    peer_id: d.peerId.toString(),
    agent: d.agentVersion,
    protocols: d.protocols,
    listen_addrs: d.listenAddrs.map((a) => a.toString()),
    observed_addr: d.observedAddr ? d.observedAddr.toString() : null
  })
})

out({ event: 'ready', peer_id: node.peerId.toString(), addrs: node.getMultiaddrs().map((a) => a.toString()) })

if (args.dial) {
  try {
    const ma = multiaddr(args.dial)
    for (let i = 0; i < args.pings; i++) {
      const t0 = process.hrtime.bigint()
      const rtt = await node.services.ping.ping(ma)
      out({ event: 'ping', rtt_ms: rtt, wall_us: Number((process.hrtime.bigint() - t0) / 1000n) })
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  } catch (err) {
    out({ event: 'error', message: String(err && err.stack ? err.stack : err) })
  }
}

const stop = async () => { await node.stop(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
