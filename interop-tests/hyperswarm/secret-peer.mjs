// A Node @hyperswarm/secret-stream 6.9.2 peer over TCP on 127.0.0.1, driven by
// crates/secret-stream/tests/interop_tcp.rs. One JSON argument:
//   role: 'initiator' | 'responder'
//   listen: true (print {"port":N} and accept one connection) | connect: port
//   | udx: { rustPort, rustId, nodeId } (a udx-native stream instead of TCP)
//   mode: 'xx'    - secret-stream runs its default XX handshake over the pipe
//         'ik'    - secret-stream with pattern 'IK' (+ remotePublicKey on the initiator)
//         'given' - an IK handshake with hyperdht's prologue (NS_PEER_HANDSHAKE) done here
//                   with noise-handshake, uint24-framed over the pipe, then
//                   new NoiseSecretStream(isInitiator, socket, { handshake }) as hyperdht does
//   seed: hex (our Ed25519 seed), remotePublicKey: hex (optional)
//   bytes: how many random bytes to send (in writes of `chunk` bytes, default 64 KiB), then end()
//   tamper: flip the last byte of the first data frame we write
//   keepAlive: ms (secret-stream's keepAlive option); delay: ms to wait before sending
// Prints one JSON result line: { sent, received (sha256 hex), receivedBytes, rawBytesRead,
// remotePublicKey, handshakeHash } or { error }.
import net from 'net'
import crypto from 'crypto'
import { createRequire } from 'module'
import SecretStream from '@hyperswarm/secret-stream'
import Noise from 'noise-handshake'
import curve from 'noise-curve-ed'

const require = createRequire(import.meta.url)
const { NS } = require('hyperdht/lib/constants.js')
const opts = JSON.parse(process.argv[2] || '{}')
const isInitiator = opts.role === 'initiator'
const keyPair = SecretStream.keyPair(Buffer.from(opts.seed, 'hex'))
const remotePublicKey = opts.remotePublicKey ? Buffer.from(opts.remotePublicKey, 'hex') : null
const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n')

setTimeout(() => { print({ error: 'timeout in node peer' }); process.exit(2) }, opts.timeout || 30000).unref()

function uint24 (n) { return Buffer.from([n & 255, (n >> 8) & 255, (n >> 16) & 255]) }

// hyperdht-style: IK handshake outside secret-stream, then hand over the keys.
function givenHandshake (socket) {
  return new Promise((resolve, reject) => {
    const noise = new Noise('IK', isInitiator, keyPair, { curve })
    noise.initialise(NS.PEER_HANDSHAKE, isInitiator ? remotePublicKey : null)
    let buf = Buffer.alloc(0)
    const send = () => { const m = noise.send(Buffer.from('payload')); socket.write(Buffer.concat([uint24(m.length), m])) }
    const ondata = (data) => {
      buf = Buffer.concat([buf, data])
      if (buf.length < 3) return
      const len = buf[0] | buf[1] << 8 | buf[2] << 16
      if (buf.length < 3 + len) return
      socket.removeListener('data', ondata)
      socket.pause()
      try {
        noise.recv(buf.subarray(3, 3 + len))
        if (!isInitiator) send()
      } catch (err) { return reject(err) }
      resolve({ noise, rest: buf.subarray(3 + len) })
    }
    socket.on('data', ondata)
    if (isInitiator) send()
  })
}

async function run (socket) {
  if (socket.setNoDelay) socket.setNoDelay(true) // TCP only
  const streamOpts = { keyPair, keepAlive: opts.keepAlive || 0 }
  if (opts.mode === 'given') {
    const { noise, rest } = await givenHandshake(socket)
    streamOpts.handshake = { tx: noise.tx, rx: noise.rx, hash: noise.hash, publicKey: keyPair.publicKey, remotePublicKey: noise.rs }
    if (rest.length) streamOpts.data = rest
  } else {
    if (opts.mode === 'ik') streamOpts.pattern = 'IK'
    if (remotePublicKey) streamOpts.remotePublicKey = remotePublicKey
  }
  if (opts.tamper) {
    const write = socket.write.bind(socket)
    let done = false
    socket.write = (chunk, ...args) => {
      if (!done && chunk.length > 200) { done = true; chunk = Buffer.from(chunk); chunk[chunk.length - 1] ^= 0x01 }
      return write(chunk, ...args)
    }
  }
  const s = new SecretStream(isInitiator, socket, streamOpts)
  const recvHash = crypto.createHash('sha256')
  const sentHash = crypto.createHash('sha256')
  let receivedBytes = 0
  s.on('data', (d) => { recvHash.update(d); receivedBytes += d.length })
  const ended = new Promise((resolve, reject) => { s.on('end', resolve); s.on('error', reject); s.on('close', () => reject(new Error('closed before end'))) })
  ended.catch(() => {}) // observed below; avoid an unhandled rejection while writing
  if (!(await s.opened)) throw new Error('secret-stream did not open')
  if (opts.delay) await new Promise((resolve) => setTimeout(resolve, opts.delay))
  let left = opts.bytes || 0
  while (left > 0) {
    const chunk = crypto.randomBytes(Math.min(left, opts.chunk || 65536))
    left -= chunk.length
    sentHash.update(chunk)
    if (!s.write(chunk)) {
      let ondrain
      await Promise.race([new Promise((resolve) => { ondrain = resolve; s.once('drain', resolve) }), ended])
      s.removeListener('drain', ondrain)
    }
  }
  s.end()
  await ended
  // Let the socket flush and close by itself (both halves ended) before reporting:
  // destroying it now would drop bytes still queued for the peer.
  if (!socket.destroyed) await new Promise((resolve) => socket.once('close', resolve))
  print({ sent: sentHash.digest('hex'), received: recvHash.digest('hex'), receivedBytes, rawBytesRead: s.rawBytesRead, remotePublicKey: hex(s.remotePublicKey), handshakeHash: hex(s.handshakeHash) })
  s.destroy()
}

function main (socket) {
  run(socket).then(() => process.exit(0), (err) => { print({ error: err.message }); process.exit(1) })
}

if (opts.udx) {
  // Over a udx-native stream instead of TCP: bind 127.0.0.1, print {"port","id"},
  // connect stream `udx.nodeId` to the Rust side's (`udx.rustId`, `udx.rustPort`).
  const UDX = (await import('udx-native')).default
  const udx = new UDX()
  const sock = udx.createSocket()
  sock.bind(0, '127.0.0.1')
  const stream = udx.createStream(opts.udx.nodeId)
  print({ port: sock.address().port, id: opts.udx.nodeId, publicKey: hex(keyPair.publicKey) })
  stream.connect(sock, opts.udx.rustId, opts.udx.rustPort, '127.0.0.1')
  stream.on('error', (err) => { print({ error: err.message }); process.exit(1) })
  stream.on('close', () => sock.close())
  // A UDX stream is usable at once (no 'connect' event to wait for).
  main(stream)
} else if (opts.listen) {
  // allowHalfOpen: our end() must not end the other direction (UDX streams are half-open too).
  const server = net.createServer({ allowHalfOpen: true }, (socket) => { server.close(); main(socket) })
  server.listen(0, '127.0.0.1', () => print({ port: server.address().port, publicKey: hex(keyPair.publicKey) }))
} else {
  const socket = net.connect({ port: opts.connect, host: '127.0.0.1', allowHalfOpen: true })
  socket.on('connect', () => main(socket))
  socket.on('error', (err) => { print({ error: err.message }); process.exit(1) })
}
