// A hyperdht 6.34 testnet plus Node peers on 127.0.0.1, driven line by line by
// crates/hyperdht/tests/hyperdht_interop.rs (loopback only).
// 1. Starts createTestnet(5, { host: '127.0.0.1' }) and prints {"bootstrap":[ports],"nodes":[ports]}.
// 2. Reads JSON commands from stdin, one per line, and prints one JSON line per command
//    (plus {"event":...} lines for server connections):
//    {cmd:'server', seed, bytes}       a createServer() listening on the seed's key pair; each
//                                      connection: send `bytes` random bytes, end, read to the
//                                      end; event {event:'conn', remote, sent, received, receivedBytes}
//    {cmd:'connect', pk, relays?, bytes} dht.connect(pk) with the same exchange
//    {cmd:'announce', topic, seed}     dht.announce(topic, keyPair, []) then flushed
//    {cmd:'lookup', topic}             every peer public key seen by dht.lookup(topic)
//    {cmd:'swarm', topic, seed, server, client, bytes} a Hyperswarm 4.17 on its own DHT node
//                                      joins the topic; each connection runs the exchange and
//                                      prints {event:'swarm-conn', ...}; prints {ok:'swarm'} once flushed
// 3. Exits when stdin closes.
import readline from 'node:readline'
import crypto from 'node:crypto'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const DHT = require('hyperdht')
const Hyperswarm = require('hyperswarm')
const createTestnet = require('hyperdht/testnet.js')

const HOST = '127.0.0.1'
const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')

setTimeout(() => { print({ error: 'timeout in node peer' }); process.exit(2) }, 120000).unref()

const tn = await createTestnet(5, { host: HOST })
const bootstrap = tn.bootstrap
print({ bootstrap: bootstrap.map((b) => b.port), nodes: tn.nodes.map((n) => n.address().port) })

const peers = []
const swarms = []
function node () {
  const d = new DHT({ bootstrap, host: HOST })
  peers.push(d)
  return d
}

// send `bytes` random bytes, end, and read to the end
function exchange (socket, bytes) {
  return new Promise((resolve) => {
    const out = crypto.randomBytes(bytes)
    const chunks = []
    let n = 0
    socket.on('data', (d) => { chunks.push(d); n += d.length })
    socket.on('end', () => {
      socket.end()
      resolve({ remote: hex(socket.remotePublicKey), sent: sha(out), received: sha(Buffer.concat(chunks)), receivedBytes: n })
    })
    socket.on('error', (e) => resolve({ error: String(e) }))
    for (let i = 0; i < out.length; i += 65536) socket.write(out.subarray(i, i + 65536))
    socket.end()
  })
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('close', async () => {
  for (const s of swarms) await s.destroy().catch(() => {})
  for (const p of peers) await p.destroy().catch(() => {})
  await tn.destroy()
  process.exit(0)
})

rl.on('line', async (line) => {
  const m = JSON.parse(line)
  try {
    if (m.cmd === 'server') {
      const d = node()
      const keyPair = DHT.keyPair(Buffer.from(m.seed, 'hex'))
      const server = d.createServer((socket) => {
        exchange(socket, m.bytes).then((r) => print({ event: 'conn', ...r }))
      })
      await server.listen(keyPair)
      print({ ok: 'server', pk: hex(keyPair.publicKey), relays: server.relayAddresses.map((a) => a.port) })
    } else if (m.cmd === 'connect') {
      const d = node()
      await d.fullyBootstrapped()
      const relayAddresses = (m.relays || []).map((port) => ({ host: HOST, port }))
      const socket = d.connect(Buffer.from(m.pk, 'hex'), { relayAddresses })
      print({ ok: 'connect', ...(await exchange(socket, m.bytes)) })
    } else if (m.cmd === 'announce') {
      const d = node()
      await d.fullyBootstrapped()
      const keyPair = DHT.keyPair(Buffer.from(m.seed, 'hex'))
      await d.announce(Buffer.from(m.topic, 'hex'), keyPair, []).finished()
      print({ ok: 'announce', pk: hex(keyPair.publicKey) })
    } else if (m.cmd === 'lookup') {
      const d = node()
      await d.fullyBootstrapped()
      const seen = new Map()
      for await (const r of d.lookup(Buffer.from(m.topic, 'hex'))) {
        for (const p of r.peers) seen.set(hex(p.publicKey), p.relayAddresses.map((a) => `${a.host}:${a.port}`))
      }
      print({ ok: 'lookup', peers: [...seen].map(([pk, relays]) => ({ pk, relays })) })
    } else if (m.cmd === 'swarm') {
      const d = node()
      await d.fullyBootstrapped()
      const swarm = new Hyperswarm({ dht: d, keyPair: DHT.keyPair(Buffer.from(m.seed, 'hex')) })
      swarms.push(swarm)
      swarm.on('connection', (conn) => {
        exchange(conn, m.bytes).then((r) => print({ event: 'swarm-conn', ...r }))
      })
      const discovery = swarm.join(Buffer.from(m.topic, 'hex'), { server: !!m.server, client: !!m.client })
      await discovery.flushed()
      print({ ok: 'swarm', pk: hex(swarm.keyPair.publicKey) })
    } else {
      print({ error: 'unknown command ' + m.cmd })
    }
  } catch (e) {
    print({ error: String(e && e.stack || e) })
  }
})
