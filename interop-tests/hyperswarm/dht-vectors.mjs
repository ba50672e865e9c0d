// Captures dht-rpc 6.27 wire vectors from the real Node module, loopback only.
// Prints one JSON array: [{ name, hex, note }]. Requests from "raw" are hand-built
// (the replies to them are the real module's); "node-*" requests are the real module's.
// Usage: node dht-vectors.mjs > ../../crates/hyperdht/tests/vectors/dht-rpc.json
import dgram from 'node:dgram'
import DHT from 'dht-rpc'

const HOST = '127.0.0.1'
const out = []
const hex = (b) => Buffer.from(b).toString('hex')

function freePort () {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4')
    s.bind(0, HOST, () => { const p = s.address().port; s.close(() => resolve(p)) })
  })
}

function ipv4 (host, port) {
  const b = Buffer.alloc(6)
  host.split('.').forEach((x, i) => { b[i] = Number(x) })
  b.writeUInt16LE(port, 4)
  return b
}

const port = await freePort()
const boot = DHT.bootstrapper(port, HOST)
await boot.ready()
const peer = new DHT({ bootstrap: [`${HOST}:${port}`], host: HOST, ephemeral: false, firewalled: false })
await peer.fullyBootstrapped()

const raw = dgram.createSocket('udp4')
await new Promise((resolve) => raw.bind(0, HOST, resolve))
const rawPort = raw.address().port
let waiter = null
raw.on('message', (msg) => { if (waiter) { const w = waiter; waiter = null; w(msg) } })
const next = () => new Promise((resolve, reject) => {
  waiter = resolve
  setTimeout(() => reject(new Error('timeout')), 3000)
})

async function exchange (name, note, req) {
  const p = next()
  raw.send(req, port, HOST)
  const res = await p
  out.push({ name: `${name}-request`, hex: hex(req), note, from: `${HOST}:${rawPort}` })
  out.push({ name: `${name}-response`, hex: hex(res), note: `boot answering ${name}`, from: `${HOST}:${port}` })
}

const to = ipv4(HOST, port)
const target = Buffer.alloc(32, 0x42)
const tid = (n) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b }
const u16 = (n) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b }

await exchange('ping', 'PING internal', Buffer.concat([Buffer.from([0x03, 0x04]), tid(1), to, Buffer.from([0])]))
await exchange('find-node', 'FIND_NODE internal with target 42..',
  Buffer.concat([Buffer.from([0x03, 0x0c]), tid(2), to, Buffer.from([2]), target]))
await exchange('ping-nat', 'PING_NAT to our own port',
  Buffer.concat([Buffer.from([0x03, 0x14]), tid(3), to, Buffer.from([1, 2]), u16(rawPort)]))
await exchange('unknown-internal', 'internal command 9 with target: error 1 + closer',
  Buffer.concat([Buffer.from([0x03, 0x0c]), tid(4), to, Buffer.from([9]), target]))
await exchange('bad-token', 'user command 5 with a wrong token: error 2 + fresh token',
  Buffer.concat([Buffer.from([0x03, 0x0a]), tid(5), to, Buffer.alloc(32, 7), Buffer.from([5]), target]))
await exchange('down-hint', 'DOWN_HINT for an unknown node',
  Buffer.concat([Buffer.from([0x03, 0x14]), tid(6), to, Buffer.from([3, 6]), ipv4(HOST, 1)]))

// Requests as the real module encodes them: a persistent node sending from its server socket
// (id flag) and an ephemeral client.
async function capture (name, note, dht, fn, from) {
  const p = next()
  fn(dht).catch(() => {})
  const req = await p
  out.push({ name, hex: hex(req), note, from })
  // answer with an empty response so the request resolves
  raw.send(Buffer.concat([Buffer.from([0x13, 0x00]), req.subarray(2, 4), ipv4(HOST, 1)]), 1, HOST)
}
const client = new DHT({ bootstrap: [], host: HOST, ephemeral: true })
await client.ready()
await capture('node-ephemeral-ping', 'ephemeral dht-rpc ping', client, (d) => d.ping({ host: HOST, port: rawPort }, { retry: false }), null)
await capture('node-ephemeral-request', 'ephemeral request with token, target, value, command 7', client,
  (d) => d.request({ token: Buffer.alloc(32, 0x11), command: 7, target, value: Buffer.from('hello') }, { host: HOST, port: rawPort }, { retry: false }), null)
await capture('node-persistent-ping', 'persistent dht-rpc ping (id flag)', peer,
  (d) => d.ping({ host: HOST, port: rawPort }, { retry: false }), `${HOST}:${peer.address().port}`)

console.log(JSON.stringify(out, null, 1))
raw.close()
await client.destroy()
await peer.destroy()
await boot.destroy()
