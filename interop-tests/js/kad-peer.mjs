#!/usr/bin/env node
// js-libp2p Kademlia peer for Rhizome's kad interop test (interop-tests/tests/kad.rs).
//
//   node kad-peer.mjs
//
// Starts a js-libp2p node on 127.0.0.1 (TCP, /noise, /yamux/1.0.0, identify, ping)
// with @libp2p/kad-dht in server mode on /ipfs/kad/1.0.0, loopback addresses kept
// (passthroughMapper) and a permissive `/rhizome/` record namespace. Prints
//   {"event":"listening","peer_id":…,"addr":…}
// then reads one JSON command per line on stdin and answers each with one JSON line
// carrying the same "id":
//   {"id":1,"cmd":"dial","addr":"/ip4/…/p2p/…"}        → {"id":1,"ok":true}
//   {"id":2,"cmd":"table"}                             → {"id":2,"peers":[…]}
//   {"id":3,"cmd":"closest","peer":"12D3…"}            → {"id":3,"peers":[…]}
//   {"id":4,"cmd":"put","key":HEX,"value":HEX}         → {"id":4,"ok":true}
//   {"id":5,"cmd":"get","key":HEX}                     → {"id":5,"value":HEX|null,"from":…}
//   {"id":6,"cmd":"provide","mh":HEX}                  → {"id":6,"ok":true}
//   {"id":7,"cmd":"providers","mh":HEX}                → {"id":7,"providers":[…]}
// Errors come back as {"id":…,"error":"…"}. It exits when stdin closes.

import './polyfill.mjs' // must stay first: Promise.withResolvers for Node 20

import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'

const QUERY_TIMEOUT_MS = 15_000

const hex = (bytes) => Buffer.from(bytes).toString('hex')
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'))
const cidOf = (mhHex) => CID.createV1(0x55, Digest.decode(unhex(mhHex)))

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({
      protocol: '/ipfs/kad/1.0.0',
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      allowQueryWithZeroPeers: true,
      validators: { rhizome: async () => {} },
      selectors: { rhizome: () => 0 }
    })
  }
})
const dht = node.services.dht

function out (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const signal = () => AbortSignal.timeout(QUERY_TIMEOUT_MS)

async function run (cmd) {
  switch (cmd.cmd) {
    case 'dial':
      await node.dial(multiaddr(cmd.addr), { signal: signal() })
      return { ok: true }
    case 'table':
      return { peers: [...dht.routingTable.kb.toIterable()].map(p => p.peerId.toString()) }
    case 'closest': {
      const peers = []
      for await (const ev of dht.getClosestPeers(peerIdFromString(cmd.peer).toMultihash().bytes, { signal: signal() })) {
        if (ev.name === 'FINAL_PEER') peers.push(ev.peer.id.toString())
      }
      return { peers }
    }
    case 'put':
      for await (const ev of dht.put(unhex(cmd.key), unhex(cmd.value), { signal: signal() })) { void ev }
      return { ok: true }
    case 'get':
      for await (const ev of dht.get(unhex(cmd.key), { signal: signal() })) {
        if (ev.name === 'VALUE') return { value: hex(ev.value), from: ev.from.toString() }
      }
      return { value: null }
    case 'provide':
      for await (const ev of dht.provide(cidOf(cmd.mh), { signal: signal() })) { void ev }
      return { ok: true }
    case 'providers': {
      const providers = new Set()
      for await (const ev of dht.findProviders(cidOf(cmd.mh), { signal: signal() })) {
        if (ev.name === 'PROVIDER') for (const p of ev.providers) providers.add(p.id.toString())
      }
      return { providers: [...providers] }
    }
    default:
      throw new Error(`unknown command ${cmd.cmd}`)
  }
}

out({ event: 'listening', peer_id: node.peerId.toString(), addr: node.getMultiaddrs()[0].toString() })

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (err) {
    out({ error: `bad command: ${err.message}` })
    return
  }
  run(cmd).then(
    (res) => out({ id: cmd.id, ...res }),
    (err) => out({ id: cmd.id, error: String(err?.message ?? err) })
  )
})
lines.on('close', () => {
  node.stop().finally(() => process.exit(0))
})
