// Node side of the `compare` benchmark's HyperDHT rows (crates/bench/src/hdht.rs), loopback
// only: a createTestnet(5, { host: '127.0.0.1' }), a server on it, then `dials` sequential
// dht.connect()s from a second DHT node, each timed from connect() to the first byte the
// server sends; then one connection moves `mib` MiB server → client.
// Prints one JSON line: {"connect_ms":[...],"mbps":N}.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const DHT = require('hyperdht')
const createTestnet = require('hyperdht/testnet.js')

const HOST = '127.0.0.1'
const dials = Number(process.argv[2] || 20)
const mib = Number(process.argv[3] || 16)
setTimeout(() => { process.stdout.write(JSON.stringify({ error: 'timeout' }) + '\n'); process.exit(2) }, 300000).unref()

const tn = await createTestnet(5, { host: HOST })
const a = new DHT({ bootstrap: tn.bootstrap, host: HOST })
const b = new DHT({ bootstrap: tn.bootstrap, host: HOST })
await a.ready()
await b.ready()
const kp = DHT.keyPair()
let bulk = 0
const server = a.createServer((socket) => {
  socket.on('error', () => {})
  if (bulk > 0) {
    const chunk = Buffer.alloc(65536, 7)
    const total = bulk * 1024 * 1024
    let sent = 0
    const pump = () => {
      while (sent < total) {
        sent += chunk.length
        if (!socket.write(chunk)) return socket.once('drain', pump)
      }
      socket.end()
    }
    pump()
  } else {
    socket.end(Buffer.from('x'))
  }
  socket.resume()
})
await server.listen(kp)

const connectMs = []
for (let i = 0; i < dials; i++) {
  const t0 = process.hrtime.bigint()
  const s = b.connect(kp.publicKey)
  s.on('error', () => {})
  await new Promise((resolve) => s.once('data', resolve))
  connectMs.push(Number(process.hrtime.bigint() - t0) / 1e6)
  s.destroy()
}

bulk = mib
const s = b.connect(kp.publicKey)
s.on('error', () => {})
let got = 0
let first = null
await new Promise((resolve) => {
  s.on('data', (d) => { if (first === null) first = process.hrtime.bigint(); got += d.length })
  s.on('end', resolve)
})
const secs = Number(process.hrtime.bigint() - first) / 1e9
process.stdout.write(JSON.stringify({ connect_ms: connectMs, mbps: got / secs / 1e6, bytes: got }) + '\n')
await b.destroy()
await a.destroy()
await tn.destroy()
process.exit(0)
