// The independent Kademlia peer of tests/integration/test_libp2p_dht.py:
// js-libp2p with @libp2p/kad-dht as a DHT server (clientMode false,
// /ipfs/kad/1.0.0, loopback addresses kept). It listens on --listen, dials
// --dial, announces --provide HEX once its routing table holds a peer, looks
// up --find HEX (again each second until found), and prints one JSON
// object per line: ready, table, provided, provider, error.
// js-libp2p 3.x wants Node >= 22 for this one function; Debian has 20.
Promise.withResolvers ??= () => { let resolve, reject; const promise = new Promise((a, b) => { resolve = a; reject = b }); return { promise, resolve, reject } }

const { createLibp2p } = await import('libp2p')
const { tcp } = await import('@libp2p/tcp')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { identify } = await import('@libp2p/identify')
const { ping } = await import('@libp2p/ping')
const { kadDHT, passthroughMapper } = await import('@libp2p/kad-dht')
const { multiaddr } = await import('@multiformats/multiaddr')
const { CID } = await import('multiformats/cid')
const Digest = await import('multiformats/hashes/digest')

const args = { listen: [], dial: null, provide: null, find: null, seconds: 60 }
for (let i = 2; i < process.argv.length; i += 2) {
  const [k, v] = [process.argv[i], process.argv[i + 1]]
  if (k === '--listen') args.listen.push(v)
  else if (k === '--dial') args.dial = v
  else if (k === '--provide') args.provide = v
  else if (k === '--find') args.find = v
  else if (k === '--seconds') args.seconds = Number(v)
  else throw new Error(`unknown argument ${k}`)
}

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
// A key is a multihash; js-libp2p's content routing takes it as a raw CID.
const cidOf = (hex) => CID.createV1(0x55, Digest.decode(Uint8Array.from(Buffer.from(hex, 'hex'))))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const node = await createLibp2p({
  addresses: { listen: args.listen },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({ protocol: '/ipfs/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper })
  }
})

out({ event: 'ready', peer_id: node.peerId.toString(), addrs: node.getMultiaddrs().map((a) => a.toString()) })

const deadline = Date.now() + args.seconds * 1000
const stop = async () => { await node.stop(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
setTimeout(stop, args.seconds * 1000)

try {
  if (args.dial) await node.dial(multiaddr(args.dial))
  while (node.services.dht.routingTable.size === 0 && Date.now() < deadline) await sleep(100)
  out({ event: 'table', size: node.services.dht.routingTable.size })
  if (args.provide) {
    await node.contentRouting.provide(cidOf(args.provide), { signal: AbortSignal.timeout(20000) })
    out({ event: 'provided', key: args.provide })
  }
  if (args.find) {
    const cid = cidOf(args.find)
    let found = false
    while (!found && Date.now() < deadline) {
      try {
        for await (const p of node.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(5000) })) {
          out({ event: 'provider', key: args.find, peer_id: p.id.toString(), addrs: p.multiaddrs.map((a) => a.toString()) })
          found = true
          break
        }
      } catch (err) {
        out({ event: 'find_error', message: String(err) })
      }
      if (!found) await sleep(1000)
    }
  }
} catch (err) {
  out({ event: 'error', message: String(err && err.stack ? err.stack : err) })
}
