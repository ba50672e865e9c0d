// A Node hyperswarm 4.17 peer for Rhizome's Hyperswarm tests (loopback only: every DHT
// binds host 127.0.0.1). One JSON argument; prints JSON lines ({"event":...,"impl":"node"}).
//   {role:'testnet'}                       createTestnet(5, {host}); prints {event:'testnet',bootstrap:[ports]}
//   {role:'serve', bootstrap, topic, seed, mode, bytes, dropFirst}
//        join(topic, {server:true, client:false}); prints {event:'listening',public_key} once
//        flushed, {event:'connection',remote_public_key} per connection (the first
//        `dropFirst` are destroyed at once), then serves it:
//        mode 'echo'     echo (a connection starting with PERF + u64 N + u64 U runs perf:
//                        read U bytes, send N), 'exchange' see below.
//   {role:'join', bootstrap, topic, seed, mode, bytes}
//        join(topic, {server:false, client:true}); on the first connection runs the mode,
//        prints its result and {event:'done',ok}, exits 0 (1 if not ok).
//        mode 'echo'     send `bytes` random bytes, expect them back (sha256 compared)
//        mode 'exchange' send `bytes` random bytes and end; read to the end; report hashes
//   serve/testnet run until stdin closes. bootstrap: ports or 'host:port' strings.
import crypto from 'node:crypto'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const Hyperswarm = require('hyperswarm')
const DHT = require('hyperdht')
const createTestnet = require('hyperdht/testnet.js')

const HOST = '127.0.0.1'
const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)
const print = (o) => process.stdout.write(JSON.stringify({ ...o, impl: 'node' }) + '\n')
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')
const opts = JSON.parse(process.argv[2] || '{}')

setTimeout(() => { print({ event: 'error', error: 'timeout in node peer' }); process.exit(2) }, 120000).unref()

const closers = []
if (opts.role !== 'join') {
  process.stdin.on('end', async () => {
    for (const c of closers.reverse()) await c().catch(() => {})
    process.exit(0)
  })
  process.stdin.resume()
}

function bootstrapList (list) {
  return (list || []).map((b) => (typeof b === 'number' ? { host: HOST, port: b } : { host: b.split(':')[0], port: Number(b.split(':')[1]) }))
}

function swarmFor (o) {
  const dht = new DHT({ bootstrap: bootstrapList(o.bootstrap), host: HOST })
  const keyPair = o.seed ? DHT.keyPair(Buffer.from(o.seed, 'hex')) : DHT.keyPair()
  const swarm = new Hyperswarm({ dht, keyPair })
  closers.push(() => swarm.destroy())
  return swarm
}

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

function echoClient (socket, bytes) {
  return new Promise((resolve) => {
    const out = crypto.randomBytes(bytes)
    const chunks = []
    let n = 0
    socket.on('data', (d) => {
      chunks.push(d)
      n += d.length
      if (n >= bytes) {
        const back = Buffer.concat(chunks)
        resolve({ ok: n === bytes && sha(back) === sha(out), bytes: n, sent: sha(out), received: sha(back) })
        socket.end()
      }
    })
    socket.on('error', (e) => resolve({ ok: false, error: String(e) }))
    for (let i = 0; i < out.length; i += 65536) socket.write(out.subarray(i, i + 65536))
  })
}

// echo, or perf when the connection starts with PERF + u64 BE N (down) + u64 BE U (up)
function echoServer (socket) {
  let head = Buffer.alloc(0)
  let state = 'head'
  let left = 0n
  let down = 0n
  socket.on('error', () => {})
  socket.on('end', () => socket.end())
  socket.on('data', (d) => {
    if (state === 'echo') return socket.write(d)
    if (state === 'perf') return perfData(d)
    head = Buffer.concat([head, d])
    const k = Math.min(head.length, 4)
    if (!head.subarray(0, k).equals(Buffer.from('PERF').subarray(0, k))) {
      state = 'echo'
      return socket.write(head)
    }
    if (head.length < 20) return
    state = 'perf'
    down = head.readBigUInt64BE(4)
    left = head.readBigUInt64BE(12)
    perfData(head.subarray(20))
  })
  function perfData (d) {
    left -= BigInt(d.length)
    if (left > 0n || down < 0n) return
    const total = Number(down)
    down = -1n
    const chunk = Buffer.alloc(65536)
    for (let sent = 0; sent < total; sent += chunk.length) {
      const n = Math.min(chunk.length, total - sent)
      for (let j = 0; j < n; j++) chunk[j] = (sent + j) % 251
      socket.write(Buffer.from(chunk.subarray(0, n)))
    }
  }
}

if (opts.role === 'testnet') {
  const tn = await createTestnet(5, { host: HOST })
  closers.push(() => tn.destroy())
  print({ event: 'testnet', bootstrap: tn.bootstrap.map((b) => b.port) })
} else if (opts.role === 'serve') {
  const swarm = swarmFor(opts)
  let dropped = 0
  swarm.on('connection', async (socket) => {
    print({ event: 'connection', remote_public_key: hex(socket.remotePublicKey) })
    if (dropped < (opts.dropFirst || 0)) {
      dropped++
      socket.on('error', () => {})
      return socket.destroy()
    }
    if (opts.mode === 'exchange') print({ event: 'exchange', ...(await exchange(socket, opts.bytes || 0)) })
    else echoServer(socket)
  })
  const discovery = swarm.join(Buffer.from(opts.topic, 'hex'), { server: true, client: false })
  await discovery.flushed()
  print({ event: 'listening', public_key: hex(swarm.keyPair.publicKey) })
} else if (opts.role === 'join') {
  const swarm = swarmFor(opts)
  const started = Date.now()
  swarm.once('connection', async (socket) => {
    print({ event: 'connected', remote_public_key: hex(socket.remotePublicKey), connect_ms: Date.now() - started })
    let r
    if (opts.mode === 'exchange') {
      r = await exchange(socket, opts.bytes || 0)
      r.ok = !r.error && r.receivedBytes === (opts.expectBytes ?? opts.bytes)
    } else {
      r = await echoClient(socket, opts.bytes || 5)
    }
    print({ event: opts.mode || 'echo', ...r })
    print({ event: 'done', ok: !!r.ok })
    // Let the streams finish closing (the remote may still wait for our FIN's ack).
    if (!socket.destroyed) await new Promise((resolve) => { socket.once('close', resolve); setTimeout(resolve, 5000) })
    await swarm.destroy().catch(() => {})
    process.exit(r.ok ? 0 : 1)
  })
  swarm.join(Buffer.from(opts.topic, 'hex'), { server: false, client: true })
} else {
  print({ event: 'error', error: 'unknown role' })
  process.exit(2)
}
