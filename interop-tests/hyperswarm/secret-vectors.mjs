// Deterministic vectors for crates/secret-stream, from the real noise-handshake 4.2.0,
// noise-curve-ed 2.1.0, sodium-secretstream and @hyperswarm/secret-stream 6.9.2.
// Run: node secret-vectors.mjs <out-dir> [--force]
// Writes noise-ik.json and noise-xx.json (deterministic), and secret-stream.json and
// datagram.json, which are captures: libsodium draws the secretstream header and the
// datagram counter at random, so those two are written only when missing (or with
// --force; then specs/secret-stream.md must be updated to the new bytes).
import fs from 'fs'
import path from 'path'
import Noise from 'noise-handshake'
import curve from 'noise-curve-ed'
import sodium from 'sodium-universal'
import SecretStream from '@hyperswarm/secret-stream'
import secretstream from 'sodium-secretstream'
import { Duplex } from 'streamx'
import { createRequire } from 'module'

const require = createRequire(import.meta.url)
const { NS } = require('hyperdht/lib/constants.js')
const hex = (b) => Buffer.from(b).toString('hex')
const out = process.argv[2] || '.'
const kp = (byte) => curve.generateKeyPair(Buffer.alloc(32, byte))
const force = process.argv.includes('--force')
const write = (name, obj) => fs.writeFileSync(path.join(out, name), JSON.stringify(obj, null, 2) + '\n')
const capture = (name, obj) => { if (force || !fs.existsSync(path.join(out, name))) write(name, obj) }

function run (pattern, prologue, payloads) {
  const si = kp(0xbb); const sr = kp(0xaa)
  const ini = new Noise(pattern, true, si, { curve }); ini.initialise(prologue, sr.publicKey)
  const res = new Noise(pattern, false, sr, { curve }); res.initialise(prologue, null)
  ini.e = kp(0x01); res.e = kp(0x02)
  const v = { pattern, prologue: hex(prologue), initiatorStatic: hex(si.publicKey), responderStatic: hex(sr.publicKey), initialHash: hex(ini.digest) }
  let a = ini; let b = res; let n = 1
  while (!(ini.complete && res.complete)) {
    const m = a.send(payloads[n - 1] || Buffer.alloc(0))
    v['msg' + n] = hex(m)
    b.recv(m)
    n++; [a, b] = [b, a]
  }
  Object.assign(v, { hash: hex(ini.hash), initiatorTx: hex(ini.tx), initiatorRx: hex(ini.rx), responderTx: hex(res.tx), responderRx: hex(res.rx) })
  return { v, ini, res }
}

const ik = run('IK', NS.PEER_HANDSHAKE, [Buffer.from('011a0001017f000001409c0100010001', 'hex'), Buffer.from('011a0001017f00000150c30100020001', 'hex')])
write('noise-ik.json', ik.v)
const xx = run('XX', Buffer.alloc(0), [])
write('noise-xx.json', xx.v)

// What a real NoiseSecretStream (initiator, given the XX handshake) writes to its raw stream.
const chunks = []
const raw = new Duplex({ write (data, cb) { chunks.push(Buffer.from(data)); cb(null) } })
const s = new SecretStream(true, raw, {
  handshake: { tx: xx.ini.tx, rx: xx.ini.rx, hash: xx.ini.hash, publicKey: xx.v.initiatorStatic, remotePublicKey: xx.v.responderStatic }
})
const big = Buffer.alloc(1000); for (let i = 0; i < big.length; i++) big[i] = i & 0xff
const plaintexts = [Buffer.from('hello'), big, Buffer.from('world')]
s.write(plaintexts[0]); s.sendKeepAlive(); s.write(plaintexts[1]); s.write(plaintexts[2])
await new Promise((resolve) => setTimeout(resolve, 50))

// A REKEY-tagged message (secret-stream never sends one; libsodium's pull must rekey on it).
const key = Buffer.from(xx.ini.tx).subarray(0, 32)
const push = new secretstream.Push(key)
const TAG_REKEY = sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY
const rekeyFrames = ['before', 'rekey', 'after'].map((t, i) => {
  const m = Buffer.from(t); const c = Buffer.alloc(m.length + 17)
  sodium.crypto_secretstream_xchacha20poly1305_push(push.state, c, m, null, i === 1 ? TAG_REKEY : 0)
  return hex(c)
})

capture('secret-stream.json', {
  note: 'raw writes of NoiseSecretStream(true, raw, { handshake: noise-xx.json }): header frame, "hello", keep-alive, 1000 bytes i&255, "world"',
  handshakeHash: xx.v.hash,
  initiatorTx: xx.v.initiatorTx,
  streamIdInitiator: hex(SecretStream.id(xx.ini.hash, true)),
  streamIdResponder: hex(SecretStream.id(xx.ini.hash, false)),
  writes: chunks.map(hex),
  plaintexts: ['hello', '', hex(big), 'world'].map((p, i) => i === 2 ? p : hex(Buffer.from(p))),
  rekey: { key: hex(key), header: hex(push.header), frames: rekeyFrames, plaintexts: ['before', 'rekey', 'after'] }
})
s.destroy()

// Unordered datagrams (send/trySend): what NoiseSecretStream hands to a UDX-like raw stream.
const sent = []
const raw2 = new Duplex({ write (data, cb) { cb(null) } })
raw2.send = (m) => { sent.push(Buffer.from(m)); return true }
const s2 = new SecretStream(true, raw2, {
  handshake: { tx: xx.ini.tx, rx: xx.ini.rx, hash: xx.ini.hash, publicKey: xx.v.initiatorStatic, remotePublicKey: xx.v.responderStatic }
})
s2.send(Buffer.from('datagram one'))
s2.send(Buffer.from(''))
s2.send(Buffer.from('datagram three'))
capture('datagram.json', {
  note: 'NoiseSecretStream(true, raw, { handshake: noise-xx.json }).send(...) envelopes: counter(8) || crypto_secretbox_easy',
  handshakeHash: xx.v.hash,
  envelopes: sent.map(hex),
  plaintexts: ['datagram one', '', 'datagram three'].map((p) => hex(Buffer.from(p)))
})
s2.destroy()
console.log('wrote', out)
