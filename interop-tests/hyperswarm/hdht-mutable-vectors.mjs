// Mutable/immutable record vectors from the real hyperdht 6.34 (persistent.js + messages.js):
// deterministic (Ed25519 signatures are), printed as one JSON object. Loopback-free.
import c from 'compact-encoding'
import sodium from 'sodium-universal'
import m from 'hyperdht/lib/messages.js'
import Persistent from 'hyperdht/lib/persistent.js'
import { NS } from 'hyperdht/lib/constants.js'

const hex = (b) => Buffer.from(b).toString('hex')
const hash = (b) => { const o = Buffer.alloc(32); sodium.crypto_generichash(o, b); return o }
const keyPair = (fill) => {
  const publicKey = Buffer.alloc(32); const secretKey = Buffer.alloc(64)
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, Buffer.alloc(32, fill))
  return { publicKey, secretKey }
}

const kp = keyPair(0xaa)
const cases = []
for (const [seq, value] of [[0, 'hello'], [1, ''], [300, 'x'.repeat(300)], [70000, 'seventy thousand']]) {
  const v = Buffer.from(value)
  const signature = Persistent.signMutable(seq, v, kp)
  cases.push({
    seq,
    value: hex(v),
    signable_inner: hex(c.encode(m.mutableSignable, { seq, value: v })),
    signature: hex(signature),
    put_request: hex(c.encode(m.mutablePutRequest, { publicKey: kp.publicKey, seq, value: v, signature })),
    get_response: hex(c.encode(m.mutableGetResponse, { seq, value: v, signature })),
    get_request: hex(c.encode(c.uint, seq))
  })
}
const imm = Buffer.from('an immutable value')
console.log(JSON.stringify({
  ns_mutable_put: hex(NS.MUTABLE_PUT),
  public_key: hex(kp.publicKey),
  target: hex(hash(kp.publicKey)),
  mutable: cases,
  immutable: { value: hex(imm), target: hex(hash(imm)) }
}, null, 1))
