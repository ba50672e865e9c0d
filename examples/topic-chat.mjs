// The Node.js side of examples/topic-chat.rs: `node examples/topic-chat.mjs HOST:PORT NAME`.
// Uses the hyperswarm installed in interop-tests/hyperswarm (`npm ci` there first).
import { createRequire } from 'node:module'
import crypto from 'node:crypto'

const require = createRequire(new URL('../interop-tests/hyperswarm/package.json', import.meta.url))
const Hyperswarm = require('hyperswarm')
const DHT = require('hyperdht')

const [boot, name] = process.argv.slice(2)
const [host, port] = boot.split(':')
const swarm = new Hyperswarm({ dht: new DHT({ bootstrap: [{ host, port: Number(port) }], host: '127.0.0.1' }) })
const short = (k) => k.toString('hex').slice(0, 8)
const conns = new Set()

swarm.on('connection', (conn) => {
  const id = short(conn.remotePublicKey)
  conns.add(conn)
  console.log(`* ${id} joined`)
  let buf = ''
  conn.on('data', (d) => {
    buf += d
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) console.log(`[${id}] ${buf.slice(0, i)}`)
  })
  conn.on('error', () => {})
  conn.on('close', () => { conns.delete(conn); console.log(`* ${id} left`) })
})

const discovery = swarm.join(crypto.createHash('sha256').update(name).digest())
await discovery.flushed()
console.log(`topic-chat: joined ${JSON.stringify(name)} as ${short(swarm.keyPair.publicKey)}`)
process.stdin.on('data', (d) => { for (const c of conns) c.write(d) })
process.stdin.on('end', async () => { await swarm.destroy(); process.exit(0) })
