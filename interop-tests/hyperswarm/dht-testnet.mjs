// A dht-rpc 6.27 testnet on 127.0.0.1 for Rhizome's interop tests (loopback only).
// 1. Starts a bootstrapper and 4 persistent nodes; prints {"bootstrap":port,"nodes":[{port,id}]}.
// 2. Reads one line from stdin, {"rust": port}: a Node ephemeral client then PINGs the Rust
//    node, sends it a request with a bogus token and retries with the token it got back, and
//    runs a FIND_NODE query that starts only at the Rust node; prints the results as JSON.
// 3. Exits when stdin closes.
// With --hyperdht the testnet is hyperdht's `createTestnet(5, { host: '127.0.0.1' })` instead
// (its first node has no bootstrap peers and stays ephemeral).
import readline from 'node:readline'
import dgram from 'node:dgram'
import DHT from 'dht-rpc'
import createTestnet from 'hyperdht/testnet.js'

const HOST = '127.0.0.1'
const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)

function freePort () {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4')
    s.bind(0, HOST, () => { const p = s.address().port; s.close(() => resolve(p)) })
  })
}

let all
let bootPort
if (process.argv.includes('--hyperdht')) {
  const tn = await createTestnet(5, { host: HOST })
  all = tn.nodes
  bootPort = tn.bootstrap[0].port
} else {
  bootPort = await freePort()
  const boot = DHT.bootstrapper(bootPort, HOST)
  await boot.ready()
  all = [boot]
  for (let i = 0; i < 4; i++) {
    const n = new DHT({ bootstrap: [`${HOST}:${bootPort}`], host: HOST, ephemeral: false, firewalled: false })
    await n.fullyBootstrapped()
    all.push(n)
  }
}
console.log(JSON.stringify({
  bootstrap: bootPort,
  nodes: all.map((n) => ({ port: n.address().port, id: hex(n.id), ephemeral: n.ephemeral }))
}))

const rl = readline.createInterface({ input: process.stdin })
rl.on('close', async () => {
  for (const n of all) await n.destroy()
  process.exit(0)
})

rl.on('line', async (line) => {
  const { rust } = JSON.parse(line)
  const to = { host: HOST, port: rust }
  const client = new DHT({ bootstrap: [], host: HOST, ephemeral: true })
  await client.ready()
  const out = {}
  try {
    const ping = await client.ping(to)
    out.ping = { error: ping.error, id: hex(ping.from.id), to: `${ping.to.host}:${ping.to.port}` }
    const target = Buffer.alloc(32, 0x42)
    const bad = await client.request({ command: 5, target, token: Buffer.alloc(32, 9) }, to)
    out.badToken = { error: bad.error, token: hex(bad.token), closer: (bad.closerNodes || []).length }
    const good = await client.request({ command: 5, target, token: bad.token }, to)
    out.goodToken = { error: good.error }
    const q = client.findNode(target, { nodes: [to] })
    await q.finished()
    out.query = { closest: q.closestReplies.map((r) => r.from.port), successes: q.successes, errors: q.errors }
  } catch (err) {
    out.error = String(err && err.stack)
  }
  console.log(JSON.stringify(out))
  await client.destroy()
})
