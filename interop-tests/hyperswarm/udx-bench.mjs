// One side of a udx-native single-stream throughput benchmark on 127.0.0.1,
// driven by `cargo run -p rhizome-udx --release --example bench`.
//
//   node udx-bench.mjs --role recv --id 2 --peer-id 1
//       prints {"port":P}; reads the sender's port from stdin; connects; prints
//       {"ready":true}; counts bytes until END; prints {"bytes":N,"ms":T}
//   node udx-bench.mjs --role send --id 1 --peer-id 2 --peer-port P --size N
//       prints {"port":S}; waits for "go" on stdin; sends N bytes; ends
//   --secret (both roles): run @hyperswarm/secret-stream (XX, sender initiates) over the
//       UDX stream and move the bytes through it, as a Hyperswarm connection does
import { createInterface } from 'node:readline'

let UDX
try {
  UDX = (await import('udx-native')).default
} catch (err) {
  console.error('udx-bench.mjs: cannot load udx-native (' + err.message + '); run `npm ci` in interop-tests/hyperswarm first.')
  process.exit(2)
}

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name)
  return i === -1 ? dflt : process.argv[i + 1]
}
setTimeout(() => process.exit(3), Number(arg('timeout-ms', '300000'))).unref()

const role = arg('role')
const id = Number(arg('id'))
const peerId = Number(arg('peer-id'))
const udx = new UDX()
const socket = udx.createSocket()
socket.bind(0, '127.0.0.1')
const raw = udx.createStream(id)
const secret = process.argv.includes('--secret')
let stream = raw
if (secret) {
  const SecretStream = (await import('@hyperswarm/secret-stream')).default
  stream = new SecretStream(role === 'send', raw, { keyPair: SecretStream.keyPair() })
}
stream.on('error', (e) => {
  console.error('udx-bench.mjs:', e.message)
  process.exit(4)
})
console.log(JSON.stringify({ port: socket.address().port }))
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

if (role === 'recv') {
  const peerPort = Number((await lines.next()).value)
  raw.connect(socket, peerId, peerPort, '127.0.0.1')
  let bytes = 0
  let start = 0
  stream.on('data', (d) => {
    if (bytes === 0) start = performance.now()
    bytes += d.length
  })
  console.log(JSON.stringify({ ready: true }))
  await new Promise((resolve) => stream.on('end', resolve))
  console.log(JSON.stringify({ bytes, ms: performance.now() - start }))
  stream.end()
} else {
  const size = Number(arg('size'))
  raw.connect(socket, peerId, Number(arg('peer-port')), '127.0.0.1')
  stream.on('data', () => {})
  await lines.next() // "go"
  const chunk = Buffer.alloc(64 * 1024, 7)
  let left = size
  while (left > 0) {
    const n = Math.min(left, chunk.length)
    left -= n
    if (!stream.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
      await new Promise((resolve) => stream.once('drain', resolve))
    }
  }
  stream.end()
  await new Promise((resolve) => stream.once('end', resolve))
}
await new Promise((resolve) => setTimeout(resolve, 100))
await socket.close()
process.exit(0)
