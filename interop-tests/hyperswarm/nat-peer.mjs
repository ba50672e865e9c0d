// One Node hyperdht 6.34 process of the NAT lab (crates/fault-tests/tests/nat.rs), run
// inside a network namespace with `ip netns exec`. Prints JSON lines on stdout.
//   node nat-peer.mjs testnet HOST                 createTestnet(5, {host}) in the public
//                                                  namespace; prints {"bootstrap":"HOST:PORT"}
//   node nat-peer.mjs server BOOT SEED BYTES       createServer on DHT.keyPair(SEED) behind a NAT;
//                                                  prints {"listening":pk}, then per connection
//                                                  {"event":"conn", remote, sent, received, ...}
//   node nat-peer.mjs client BOOT PK BYTES         dht.connect(PK); prints the same line plus
//                                                  "ms" (connect time) and "punch" stats
// Each exchange: send BYTES random bytes, end, read to the end; sha256 of both directions.
// The remote UDX address and the dht's punch stats show whether the path is direct.
import crypto from 'node:crypto'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const DHT = require('hyperdht')
const createTestnet = require('hyperdht/testnet.js')

const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')
const [mode, ...args] = process.argv.slice(2)

setTimeout(() => { print({ error: 'timeout in nat-peer ' + mode }); process.exit(2) }, 120000).unref()

function parseBoot (s) {
  const [host, port] = s.split(':')
  return [{ host, port: Number(port) }]
}

function exchange (socket, bytes) {
  return new Promise((resolve) => {
    const out = crypto.randomBytes(bytes)
    let remoteAddress = null
    const where = () => {
      const raw = socket.rawStream
      if (raw && raw.remoteHost && !remoteAddress) remoteAddress = `${raw.remoteHost}:${raw.remotePort}`
    }
    socket.on('open', where)
    socket.on('data', where)
    const chunks = []
    let n = 0
    socket.on('data', (d) => { chunks.push(d); n += d.length })
    let ended = false
    socket.on('end', () => { ended = true; where(); socket.end() })
    // resolve once both directions finished (our data acknowledged), so an exit cannot reset it
    socket.on('close', () => {
      if (!ended) return resolve({ error: 'closed before the end' })
      resolve({
        remote: hex(socket.remotePublicKey),
        sent: sha(out),
        received: sha(Buffer.concat(chunks)),
        receivedBytes: n,
        remoteAddress
      })
    })
    socket.on('error', (e) => resolve({ error: String(e) }))
    for (let i = 0; i < out.length; i += 65536) socket.write(out.subarray(i, i + 65536))
    socket.end()
  })
}

if (mode === 'testnet') {
  const tn = await createTestnet(5, { host: args[0] })
  print({ bootstrap: `${args[0]}:${tn.bootstrap[0].port}`, nodes: tn.nodes.map((n) => n.address().port) })
  process.stdin.resume()
  process.stdin.on('end', async () => { await tn.destroy(); process.exit(0) })
} else if (mode === 'server') {
  const d = new DHT({ bootstrap: parseBoot(args[0]) })
  await d.fullyBootstrapped()
  const keyPair = DHT.keyPair(Buffer.from(args[1], 'hex'))
  const server = d.createServer((socket) => {
    exchange(socket, Number(args[2])).then((r) => print({ event: 'conn', ...r, punches: d.stats.punches }))
  })
  await server.listen(keyPair)
  print({ listening: hex(keyPair.publicKey), firewalled: d.firewalled, relays: server.relayAddresses.map((a) => `${a.host}:${a.port}`) })
} else if (mode === 'client') {
  const d = new DHT({ bootstrap: parseBoot(args[0]) })
  await d.fullyBootstrapped()
  const start = Date.now()
  const socket = d.connect(Buffer.from(args[1], 'hex'))
  socket.on('open', () => {
    const raw = socket.rawStream
    print({ event: 'open', ms: Date.now() - start, remoteAddress: raw ? `${raw.remoteHost}:${raw.remotePort}` : null })
  })
  const r = await exchange(socket, Number(args[2]))
  print({ event: 'conn', ...r, ms: Date.now() - start, firewalled: d.firewalled, punches: d.stats.punches })
  await d.destroy()
  process.exit(0)
} else {
  print({ error: 'unknown mode ' + mode })
  process.exit(2)
}
