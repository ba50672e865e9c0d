// A udx-native peer for Rhizome's UDX interop tests (127.0.0.1 only).
//
//   node udx-peer.mjs --rust-port P --rust-id I --node-id J --size N [--wait]
//
// Binds a UDX socket on 127.0.0.1, creates stream J and prints
// {"port":..,"id":J} on stdout. Without --wait it connects to (I, P) at once;
// with --wait it connects when a line "connect" arrives on stdin (so the Rust
// side's first packets hit an unconnected stream and must be retransmitted).
// It then sends N random bytes, ends, reads until the peer's end and prints
// {"sent":N,"sentSha":..,"recv":M,"recvSha":..,"ms":..} before exiting 0.
import { createHash, randomFillSync } from 'node:crypto'
import { createInterface } from 'node:readline'

let UDX
try {
  UDX = (await import('udx-native')).default
} catch (err) {
  console.error(
    'udx-peer.mjs: cannot load udx-native (' + err.message + ').\n' +
      'Run `npm ci` in interop-tests/hyperswarm first.'
  )
  process.exit(2)
}

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name)
  if (i === -1) return dflt
  return process.argv[i + 1]
}

const rustPort = Number(arg('rust-port'))
const rustId = Number(arg('rust-id'))
const nodeId = Number(arg('node-id', '1'))
const size = Number(arg('size', '0'))
const wait = process.argv.includes('--wait')
const limitMs = Number(arg('timeout-ms', '120000'))

setTimeout(() => {
  console.error('udx-peer.mjs: timed out')
  process.exit(3)
}, limitMs).unref()

const udx = new UDX()
const socket = udx.createSocket()
socket.bind(0, '127.0.0.1')
const stream = udx.createStream(nodeId)
stream.on('error', (err) => {
  console.error('udx-peer.mjs: stream error', err.message)
  process.exit(4)
})

console.log(JSON.stringify({ port: socket.address().port, id: nodeId }))

const started = Date.now()
const recvHash = createHash('sha256')
let recv = 0
const readDone = new Promise((resolve) => {
  stream.on('data', (d) => {
    recv += d.length
    recvHash.update(d)
  })
  stream.on('end', resolve)
})

async function send() {
  const sentHash = createHash('sha256')
  const chunk = Buffer.alloc(64 * 1024)
  let left = size
  while (left > 0) {
    const n = Math.min(left, chunk.length)
    const buf = Buffer.from(randomFillSync(chunk).subarray(0, n))
    sentHash.update(buf)
    left -= n
    if (!stream.write(buf)) await new Promise((resolve) => stream.once('drain', resolve))
  }
  const finished = new Promise((resolve) => stream.once('finish', resolve))
  stream.end()
  await finished
  return sentHash.digest('hex')
}

function connect() {
  stream.connect(socket, rustId, rustPort, '127.0.0.1')
}

if (wait) {
  const rl = createInterface({ input: process.stdin })
  await new Promise((resolve) =>
    rl.on('line', (l) => {
      if (l.trim() === 'connect') resolve()
    })
  )
  rl.close()
}
connect()

const [sentSha] = await Promise.all([send(), readDone])
const closed = new Promise((resolve) => stream.once('close', resolve))
await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))])
console.log(
  JSON.stringify({
    sent: size,
    sentSha,
    recv,
    recvSha: recvHash.digest('hex'),
    ms: Date.now() - started
  })
)
await socket.close()
process.exit(0)
