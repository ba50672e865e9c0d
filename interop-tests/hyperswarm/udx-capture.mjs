// Captures the exact datagrams udx-native 1.21.3 sends in a scripted exchange,
// for specs/udx.md and crates/udx/tests/vectors.rs (127.0.0.1 only).
//
//   node udx-capture.mjs        # prints one JSON object: { name: hex, ... }
//
// udx-native stream id 1 talks to a plain node:dgram socket playing stream 2.
import dgram from 'node:dgram'

let UDX
try {
  UDX = (await import('udx-native')).default
} catch (err) {
  console.error('udx-capture.mjs: cannot load udx-native (' + err.message + '); run `npm ci` in interop-tests/hyperswarm first.')
  process.exit(2)
}

setTimeout(() => {
  console.error('udx-capture.mjs: timed out')
  process.exit(3)
}, 10000).unref()

const peer = dgram.createSocket('udp4')
await new Promise((resolve) => peer.bind(0, '127.0.0.1', resolve))
const inbox = []
let waiter = null
peer.on('message', (m) => {
  inbox.push(m)
  if (waiter) waiter()
})
async function next() {
  while (inbox.length === 0) await new Promise((resolve) => (waiter = resolve))
  waiter = null
  return inbox.shift()
}

const udx = new UDX()
const socket = udx.createSocket()
socket.bind(0, '127.0.0.1')
const port = socket.address().port
const stream = udx.createStream(1)
stream.on('data', () => {})
stream.on('error', () => {})
stream.connect(socket, 2, peer.address().port, '127.0.0.1')

// header: type, seq, ack; rwnd 4 MiB; to stream 1
function pkt(type, seq, ack, payload = Buffer.alloc(0), rwnd = 4194304) {
  const h = Buffer.alloc(20)
  h[0] = 0xff
  h[1] = 1
  h[2] = type
  h[3] = 0
  h.writeUInt32LE(1, 4)
  h.writeUInt32LE(rwnd, 8)
  h.writeUInt32LE(seq, 12)
  h.writeUInt32LE(ack, 16)
  return Buffer.concat([h, payload])
}
const send = (b) => new Promise((resolve) => peer.send(b, port, '127.0.0.1', resolve))

const out = {}
stream.write(Buffer.from('hello'))
out.data_hello = (await next()).toString('hex')
await send(pkt(0x00, 0, 1)) // ack it
await send(pkt(0x01, 0, 1, Buffer.from('hi')))
out.ack_after_data = (await next()).toString('hex')
await send(pkt(0x01, 2, 1, Buffer.from('later'))) // seq 1 missing
out.sack_after_gap = (await next()).toString('hex')
await send(pkt(0x01, 4, 1, Buffer.from('more'))) // seq 3 missing too
out.sack_two_blocks = (await next()).toString('hex')
await send(pkt(0x01, 1, 1, Buffer.from('gap'))) // fills seq 1
out.ack_gap_filled = (await next()).toString('hex')
await send(pkt(0x20, 5, 1)) // heartbeat
out.ack_for_heartbeat = (await next()).toString('hex')
stream.end()
out.end = (await next()).toString('hex')
await send(pkt(0x00, 5, 2)) // ack the END
stream.destroy()
out.destroy = (await next()).toString('hex')

console.log(JSON.stringify(out, null, 2))
await socket.close()
peer.close()
process.exit(0)
