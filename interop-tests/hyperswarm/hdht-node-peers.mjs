// Real Node hyperswarm/hyperdht peers against a DHT given by bootstrap port (loopback only),
// for the tests of Rhizome's storing/relaying DHT nodes (crates/hyperdht/tests/node_storing.rs).
//   node hdht-node-peers.mjs swarm <port>     two Hyperswarm peers (server, client) on one topic
//   node hdht-node-peers.mjs connect <port>   dht.createServer().listen() + dht.connect(pk)
//   node hdht-node-peers.mjs records <port>   mutable/immutable put+get, and a forged put
//   node hdht-node-peers.mjs flood <port> <node port> <n>   n signed ANNOUNCEs from one socket
//   node hdht-node-peers.mjs testnet          createTestnet(5); then JSON commands on stdin
//   node hdht-node-peers.mjs echo-server <port>   listen (seed 0xef), print {pk}, echo until stdin closes
//   node hdht-node-peers.mjs dial <port> <pk>     connect to pk, send 'ping', print the answer
// Each prints one JSON line (results or {"error": ...}) and exits; everything has a deadline.
import dgram from 'node:dgram'
import readline from 'node:readline'
import c from 'compact-encoding'
import sodium from 'sodium-universal'
import DHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'
import createTestnet from 'hyperdht/testnet.js'
import m from 'hyperdht/lib/messages.js'
import Persistent from 'hyperdht/lib/persistent.js'

const HOST = '127.0.0.1'
const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)
const unhex = (s) => Buffer.from(s, 'hex')
const hash = (b) => { const o = Buffer.alloc(32); sodium.crypto_generichash(o, b); return o }
const [mode, portArg] = process.argv.slice(2)
const bootstrap = portArg ? [{ host: HOST, port: Number(portArg) }] : []
const dhts = []
const newDht = () => { const d = new DHT({ bootstrap, host: HOST }); dhts.push(d); return d }

const deadline = setTimeout(() => finish({ error: 'node script deadline' }), 50_000)
async function finish (out) {
  clearTimeout(deadline)
  console.log(JSON.stringify(out))
  for (const d of dhts) await d.destroy().catch(() => {})
  process.exit(0)
}

function firstData (socket) {
  return new Promise((resolve, reject) => {
    socket.once('data', (d) => resolve(d.toString()))
    socket.once('error', reject)
  })
}

async function swarm () {
  const topic = hash(Buffer.from('rhizome-storing-node-topic-' + Math.random()))
  const a = new Hyperswarm({ dht: newDht() })
  const b = new Hyperswarm({ dht: newDht() })
  const gotA = new Promise((resolve) => a.on('connection', (s) => { s.on('error', () => {}); s.write('hello from server'); firstData(s).then(resolve, () => {}) }))
  const gotB = new Promise((resolve) => b.on('connection', (s) => { s.on('error', () => {}); s.write('hello from client'); firstData(s).then(resolve, () => {}) }))
  await a.join(topic, { server: true, client: false }).flushed()
  b.join(topic, { server: false, client: true })
  const [sa, sb] = await Promise.all([gotA, gotB])
  // Tell the test we are connected, and stay joined until it has looked at its stores.
  console.log(JSON.stringify({ server_got: sa, client_got: sb }))
  const rl = readline.createInterface({ input: process.stdin })
  await new Promise((resolve) => { rl.once('line', resolve); rl.once('close', resolve) })
  await a.destroy(); await b.destroy()
  return { left: true }
}

async function connect () {
  const a = newDht(); const b = newDht()
  const server = a.createServer((s) => { s.on('error', () => {}); s.on('data', (d) => s.write('echo:' + d)) })
  const keyPair = DHT.keyPair(Buffer.alloc(32, 0xee))
  await server.listen(keyPair)
  const relays = server.relayAddresses.map((r) => r.port)
  let found = null
  for await (const r of b.findPeer(keyPair.publicKey)) { if (r.peer) { found = r; break } }
  const s = b.connect(keyPair.publicKey)
  s.on('error', () => {})
  await new Promise((resolve, reject) => { s.once('open', resolve); s.once('error', reject) })
  s.write('ping')
  const got = await firstData(s)
  s.destroy()
  await server.close()
  return { got, relays, find_peer_from: found ? found.from.port : null, remote: hex(s.remotePublicKey) }
}

async function records () {
  const d = newDht()
  await d.fullyBootstrapped()
  const kp = DHT.keyPair(Buffer.alloc(32, 0xcc))
  const put = await d.mutablePut(kp, Buffer.from('node mutable'), { seq: 3 })
  const got = await d.mutableGet(kp.publicKey, { latest: true })
  const value = Buffer.from('node immutable ' + Math.random())
  const ip = await d.immutablePut(value)
  const ig = await d.immutableGet(ip.hash)
  // A forged put (valid signature of other bytes) sent straight to every storing node.
  const target = hash(kp.publicKey)
  const forgedSig = Persistent.signMutable(4, Buffer.from('honest'), kp)
  const forged = c.encode(m.mutablePutRequest, { publicKey: kp.publicKey, seq: 4, value: Buffer.from('forged'), signature: forgedSig })
  let forgedAnswered = 0; let forgedTried = 0
  for (const node of put.closestNodes) {
    const q = await d.request({ command: 7, target, value: c.encode(c.uint, 0) }, node).catch(() => null)
    if (!q || !q.token) continue
    forgedTried++
    const r = await d.request({ command: 6, target, token: q.token, value: forged }, node, { retry: false }).catch(() => null)
    if (r) forgedAnswered++
  }
  const after = await d.mutableGet(kp.publicKey, { latest: true })
  return {
    mutable_put_nodes: put.closestNodes.length,
    mutable_get: got && { seq: got.seq, value: got.value.toString(), from: got.from.port },
    immutable_put_nodes: ip.closestNodes.length,
    immutable_get: ig && ig.value.toString() === value.toString(),
    forged_tried: forgedTried,
    forged_answered: forgedAnswered,
    after_forged: after && { seq: after.seq, value: after.value.toString() }
  }
}

// Raw dht-rpc ANNOUNCEs from one UDP socket: LOOKUP for a token, then n signed announces of
// fresh keys on fresh topics; counts the acknowledgements.
async function flood (nodePort, n) {
  const sock = dgram.createSocket('udp4')
  await new Promise((resolve) => sock.bind(0, HOST, resolve))
  const to = { host: HOST, port: nodePort }
  let tid = 1
  const replies = new Map()
  sock.on('message', (buf) => {
    if (buf[0] !== 0x13) return
    replies.set(buf.readUInt16LE(2), buf)
  })
  const encodeReq = (t, token, command, target, value) => {
    const flags = (token ? 2 : 0) | 8 | (value ? 16 : 0)
    const parts = [Buffer.from([0x03, flags]), Buffer.from([t & 255, t >> 8]), Buffer.from([127, 0, 0, 1]), Buffer.from([nodePort & 255, nodePort >> 8])]
    if (token) parts.push(token)
    parts.push(Buffer.from([command]), target)
    if (value) parts.push(Buffer.from(c.encode(c.buffer, value)))
    return Buffer.concat(parts)
  }
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  async function tokenOf () {
    for (let i = 0; i < 5; i++) {
      const t = tid++
      sock.send(encodeReq(t, null, 3, Buffer.alloc(32, 1), null), nodePort, HOST)
      await sleep(200)
      const r = replies.get(t)
      if (r && (r[1] & 3) === 3) return { id: r.subarray(10, 42), token: r.subarray(42, 74) }
    }
    throw new Error('no token from the node')
  }
  let sent = 0; let acked = 0
  while (sent < n) {
    const { id, token } = await tokenOf()
    const first = tid
    for (let i = 0; i < 250 && sent < n; i++, sent++) {
      const kp = DHT.keyPair()
      const target = hash(Buffer.from('flood topic ' + sent + ' ' + Math.random()))
      const peer = { publicKey: kp.publicKey, relayAddresses: [to] }
      const ann = { peer, refresh: null, signature: null, bump: 0 }
      ann.signature = Persistent.signAnnounce(target, token, id, ann, kp)
      sock.send(encodeReq(tid++, token, 4, target, c.encode(m.announce, ann)), nodePort, HOST)
      if (i % 50 === 49) await sleep(5)
    }
    await sleep(300)
    for (let t = first; t < tid; t++) if (replies.has(t) && replies.get(t)[1] === 1) acked++
  }
  sock.close()
  return { sent, acked, port: to.port }
}

async function testnet () {
  const tn = await createTestnet(5, { host: HOST })
  const d = new DHT({ bootstrap: tn.bootstrap, host: HOST })
  dhts.push(d)
  await d.fullyBootstrapped()
  clearTimeout(deadline)
  console.log(JSON.stringify({ bootstrap: tn.bootstrap[0].port }))
  const rl = readline.createInterface({ input: process.stdin })
  rl.on('close', async () => { await tn.destroy(); await finish({ closed: true }) })
  rl.on('line', async (line) => {
    const cmd = JSON.parse(line)
    let out = {}
    try {
      if (cmd.op === 'put-mutable') {
        const kp = DHT.keyPair(unhex(cmd.seed))
        const r = await d.mutablePut(kp, unhex(cmd.value), { seq: cmd.seq })
        out = { nodes: r.closestNodes.length }
      } else if (cmd.op === 'get-mutable') {
        const r = await d.mutableGet(unhex(cmd.pk), { latest: true })
        out = r ? { seq: r.seq, value: hex(r.value) } : { none: true }
      } else if (cmd.op === 'put-immutable') {
        const r = await d.immutablePut(unhex(cmd.value))
        out = { hash: hex(r.hash), nodes: r.closestNodes.length }
      } else if (cmd.op === 'get-immutable') {
        const r = await d.immutableGet(unhex(cmd.hash))
        out = r ? { value: hex(r.value) } : { none: true }
      }
    } catch (e) { out = { error: String(e) } }
    console.log(JSON.stringify(out))
  })
}

async function echoServer () {
  const a = newDht()
  const server = a.createServer((s) => { s.on('error', () => {}); s.on('data', (d) => s.write('echo:' + d)) })
  const keyPair = DHT.keyPair(Buffer.alloc(32, 0xef))
  await server.listen(keyPair)
  clearTimeout(deadline)
  console.log(JSON.stringify({ pk: hex(keyPair.publicKey), relays: server.relayAddresses.map((r) => r.port) }))
  const rl = readline.createInterface({ input: process.stdin })
  rl.on('close', async () => { await server.close(); await finish({ closed: true }) })
}

async function dial (pk) {
  const b = newDht()
  const s = b.connect(unhex(pk))
  s.on('error', () => {})
  await new Promise((resolve, reject) => { s.once('open', resolve); s.once('error', reject) })
  s.write('ping from node')
  const got = await firstData(s)
  s.destroy()
  return { got }
}

try {
  if (mode === 'echo-server') await echoServer()
  else if (mode === 'dial') await finish(await dial(process.argv[4]))
  else if (mode === 'swarm') await finish(await swarm())
  else if (mode === 'connect') await finish(await connect())
  else if (mode === 'records') await finish(await records())
  else if (mode === 'flood') await finish(await flood(Number(process.argv[4]), Number(process.argv[5])))
  else if (mode === 'testnet') await testnet()
  else await finish({ error: 'unknown mode ' + mode })
} catch (e) {
  await finish({ error: String(e && e.stack) })
}
