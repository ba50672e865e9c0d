#!/usr/bin/env node
// js-libp2p interop peer for Rhizome's interop tests.
// Implements the contract in ../PEERS.md:
//
//   node peer.mjs listen [--seed N] [--port P] [--max-seconds S]
//   node peer.mjs dial MULTIADDR [--seed N] [--timeout SECS] [--pings N] [--echo]
//                         [--perf UPLOAD_BYTES DOWNLOAD_BYTES]
//
// stdout carries JSON lines only (one object per line); diagnostics go to stderr.
// Transport: TCP on 127.0.0.1 only, /noise, /yamux/1.0.0. No discovery, relay,
// autonat, upnp or any other service that would touch the network.
//
// /perf/1.0.0 (libp2p/specs perf/perf.md) is implemented here on the stream API:
// @libp2p/perf cannot be installed from the registry this project uses, so the
// server and client below follow the spec and @libp2p/perf's behaviour (64 KiB
// blocks, the 8-byte big-endian length first, half-close, read to EOF).

import './polyfill.mjs' // must stay first: Promise.withResolvers for Node 20

import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { byteStream } from '@libp2p/utils'
import { multiaddr, CODE_P2P } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const IMPL = 'js-libp2p'
const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const ECHO_PROTOCOL = '/rhizome-test/echo/1.0.0'
const PING_LENGTH = 32
const ECHO_BYTES = 100_000
const PERF_PROTOCOL = '/perf/1.0.0'
const PERF_BLOCK = 64 * 1024
const IDENTIFY_WAIT_MS = 10_000
const STOP_GRACE_MS = 2_000

const USAGE = `usage:
  node peer.mjs listen [--seed N] [--port P] [--max-seconds S]
  node peer.mjs dial MULTIADDR [--seed N] [--timeout SECS] [--pings N] [--echo] [--perf UPLOAD_BYTES DOWNLOAD_BYTES]`

// ---------------------------------------------------------------- output

process.stdout.on('error', () => {}) // harness went away: nothing to do
process.stderr.on('error', () => {})

function emit (event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, impl: IMPL, ...fields }) + '\n')
}

function diag (...args) {
  const msg = args.map(a => (a instanceof Error ? (a.stack ?? String(a)) : String(a))).join(' ')
  process.stderr.write(`[js-peer] ${msg}\n`)
}

function errMessage (err) {
  if (err == null) return 'unknown error'
  if (err instanceof Error) {
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : ''
    return `${name}${err.message}`
  }
  return String(err)
}

// write '' with a callback so everything queued on stdout is flushed first
function flushAndExit (code) {
  let done = false
  const finish = () => {
    if (done) return
    done = true
    process.exit(code)
  }
  process.stdout.write('', finish)
  setTimeout(finish, 500).unref()
}

// ---------------------------------------------------------------- arguments

class UsageError extends Error {}

function parseIntArg (name, value, min, max) {
  if (value == null || !/^\d+$/.test(value)) throw new UsageError(`${name} needs an integer, got ${JSON.stringify(value)}`)
  const n = Number(value)
  if (n < min || n > max) throw new UsageError(`${name} must be in ${min}..${max}, got ${n}`)
  return n
}

function parseSecondsArg (name, value) {
  if (value == null || !/^\d+(\.\d+)?$/.test(value)) throw new UsageError(`${name} needs a number of seconds, got ${JSON.stringify(value)}`)
  const n = Number(value)
  if (!(n > 0)) throw new UsageError(`${name} must be > 0`)
  return n
}

function parseArgs (argv) {
  const [command, ...rest] = argv
  if (command !== 'listen' && command !== 'dial') throw new UsageError(`unknown command ${JSON.stringify(command ?? '')}`)
  const opts = { command, seed: null, port: 0, maxSeconds: 120, timeout: 30, pings: 1, echo: false, perf: null, addr: null }
  const allowed = command === 'listen'
    ? new Set(['--seed', '--port', '--max-seconds'])
    : new Set(['--seed', '--timeout', '--pings', '--echo', '--perf'])
  for (let i = 0; i < rest.length; i++) {
    let arg = rest[i]
    let inline = null
    if (arg.startsWith('--') && arg.includes('=')) {
      inline = arg.slice(arg.indexOf('=') + 1)
      arg = arg.slice(0, arg.indexOf('='))
    }
    if (!arg.startsWith('--')) {
      if (command === 'dial' && opts.addr == null) {
        opts.addr = arg
        continue
      }
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`)
    }
    if (!allowed.has(arg)) throw new UsageError(`unknown option ${arg} for ${command}`)
    if (arg === '--echo') {
      if (inline != null) throw new UsageError('--echo takes no value')
      opts.echo = true
      continue
    }
    if (arg === '--perf') {
      if (inline != null) throw new UsageError('--perf takes two values: UPLOAD_BYTES DOWNLOAD_BYTES')
      const up = parseIntArg('--perf UPLOAD_BYTES', rest[++i], 0, Number.MAX_SAFE_INTEGER)
      const down = parseIntArg('--perf DOWNLOAD_BYTES', rest[++i], 0, Number.MAX_SAFE_INTEGER)
      opts.perf = { upload: up, download: down }
      continue
    }
    const value = inline ?? rest[++i]
    switch (arg) {
      case '--seed': opts.seed = parseIntArg(arg, value, 0, 255); break
      case '--port': opts.port = parseIntArg(arg, value, 0, 65535); break
      case '--max-seconds': opts.maxSeconds = parseSecondsArg(arg, value); break
      case '--timeout': opts.timeout = parseSecondsArg(arg, value); break
      case '--pings': opts.pings = parseIntArg(arg, value, 0, 1_000_000); break
    }
  }
  if (command === 'dial') {
    if (opts.addr == null) throw new UsageError('dial needs a MULTIADDR')
    let ma
    try {
      ma = multiaddr(opts.addr)
    } catch (err) {
      throw new UsageError(`bad multiaddr ${JSON.stringify(opts.addr)}: ${errMessage(err)}`)
    }
    const components = ma.getComponents()
    const last = components[components.length - 1]
    if (last == null || last.code !== CODE_P2P || last.value == null) {
      throw new UsageError(`multiaddr must end in /p2p/<peer id>: ${opts.addr}`)
    }
    try {
      opts.expectedPeer = peerIdFromString(last.value)
    } catch (err) {
      throw new UsageError(`bad peer id ${JSON.stringify(last.value)}: ${errMessage(err)}`)
    }
    opts.ma = ma
  }
  return opts
}

// ---------------------------------------------------------------- node

async function makeKey (seed) {
  if (seed == null) return generateKeyPair('Ed25519')
  return generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
}

function stripP2p (ma) {
  return ma.decapsulateCode(CODE_P2P).toString()
}

async function makeNode ({ seed, listen }) {
  const privateKey = await makeKey(seed)
  const node = await createLibp2p({
    privateKey,
    start: false,
    addresses: {
      listen, // [] for the dialer, ['/ip4/127.0.0.1/tcp/P'] for the listener
      announce: [],
      appendAnnounce: [],
      noAnnounce: []
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // The background ping-every-10s monitor adds streams the tests did not ask
    // for; off unless RHIZOME_JS_CONNECTION_MONITOR=1.
    connectionMonitor: { enabled: process.env.RHIZOME_JS_CONNECTION_MONITOR === '1' },
    services: {
      // identify is run explicitly on every new connection below (same thing
      // runOnConnectionOpen does, but we get to see failures).
      identify: identify({ runOnConnectionOpen: false }),
      ping: ping()
    }
  })
  await node.handle(ECHO_PROTOCOL, (stream, connection) => {
    serveEcho(stream).catch(err => {
      diag(`echo stream from ${connection.remotePeer} failed:`, errMessage(err))
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }, { runOnLimitedConnection: true })
  await node.handle(PERF_PROTOCOL, (stream, connection) => {
    servePerf(stream).then(({ received, sent }) => {
      emit('perf_served', { peer_id: connection.remotePeer.toString(), received_bytes: received, sent_bytes: sent })
    }).catch(err => {
      diag(`perf stream from ${connection.remotePeer} failed:`, errMessage(err))
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }, { runOnLimitedConnection: true })
  await node.start()
  return node
}

async function serveEcho (stream) {
  let total = 0
  for await (const chunk of stream) {
    total += chunk.byteLength
    if (!stream.send(chunk)) {
      await stream.onDrain()
    }
  }
  // remote half-closed and everything was read: close our side
  await stream.close()
  diag(`echo stream done, ${total} bytes echoed`)
}

// ---------------------------------------------------------------- perf

// Queues `buf`; waits while the stream's send buffer is full.
async function sendAll (stream, buf, signal) {
  if (!stream.send(buf)) await stream.onDrain({ signal })
}

// `count` zero bytes in PERF_BLOCK pieces.
async function sendZeros (stream, count, signal) {
  const block = new Uint8Array(PERF_BLOCK)
  let left = count
  while (left > 0) {
    const n = Math.min(left, PERF_BLOCK)
    await sendAll(stream, block.subarray(0, n), signal)
    left -= n
  }
}

// Server: the 8-byte big-endian length (which may arrive split), the upload until
// the client half-closes, then that many bytes back and close.
async function servePerf (stream) {
  const header = new Uint8Array(8)
  let headerLen = 0
  let received = 0
  for await (const chunk of stream) {
    let bytes = chunk.subarray()
    if (headerLen < 8) {
      const take = Math.min(8 - headerLen, bytes.byteLength)
      header.set(bytes.subarray(0, take), headerLen)
      headerLen += take
      bytes = bytes.subarray(take)
    }
    received += bytes.byteLength
  }
  if (headerLen < 8) throw new Error(`perf: stream ended after ${headerLen} of the 8 length bytes`)
  const toSend = new DataView(header.buffer).getBigUint64(0, false)
  if (toSend > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`perf: asked for ${toSend} bytes`)
  await sendZeros(stream, Number(toSend))
  await stream.close()
  return { received, sent: Number(toSend) }
}

// Client: one stream; the reader runs from the start so no byte can be missed.
async function doPerf (conn, upload, download, signal) {
  const start = performance.now()
  const stream = await conn.newStream(PERF_PROTOCOL, { signal })
  try {
    const reader = (async () => {
      let n = 0
      for await (const chunk of stream) {
        n += chunk.byteLength
        if (n > download) throw new Error(`perf: received more than the ${download} bytes asked for`)
      }
      return n
    })()
    reader.catch(() => {}) // awaited below; no unhandled rejection meanwhile
    const header = new Uint8Array(8)
    new DataView(header.buffer).setBigUint64(0, BigInt(download), false)
    await sendAll(stream, header, signal)
    await sendZeros(stream, upload, signal)
    await stream.close({ signal })
    const uploadSeconds = (performance.now() - start) / 1000
    const received = await reader
    if (received !== download) throw new Error(`perf: asked for ${download} bytes, received ${received}`)
    const totalSeconds = (performance.now() - start) / 1000
    return { upload_bytes: upload, download_bytes: received, total_seconds: totalSeconds, upload_seconds: uploadSeconds, download_seconds: totalSeconds - uploadSeconds }
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

function identifyFields (result) {
  return {
    peer_id: result.peerId.toString(),
    agent_version: result.agentVersion ?? null,
    protocol_version: result.protocolVersion ?? null,
    protocols: [...(result.protocols ?? [])],
    listen_addrs: (result.listenAddrs ?? []).map(a => a.toString()),
    observed_addr: result.observedAddr == null ? null : result.observedAddr.toString()
  }
}

async function stopNode (node) {
  if (node == null) return
  try {
    await Promise.race([
      node.stop(),
      new Promise(resolve => setTimeout(resolve, STOP_GRACE_MS).unref())
    ])
  } catch (err) {
    diag('error stopping node:', errMessage(err))
  }
}

// ---------------------------------------------------------------- listen

async function runListen (opts) {
  const node = await makeNode({ seed: opts.seed, listen: [`/ip4/127.0.0.1/tcp/${opts.port}`] })
  let exiting = false
  const exit = async (why, code = 0) => {
    if (exiting) return
    exiting = true
    diag(`exiting: ${why}`)
    await stopNode(node)
    flushAndExit(code)
  }

  node.addEventListener('connection:open', (evt) => {
    const conn = evt.detail
    if (conn.direction !== 'inbound') return
    emit('connection', { peer_id: conn.remotePeer.toString(), remote_addr: stripP2p(conn.remoteAddr) })
    node.services.identify.identify(conn, { signal: AbortSignal.timeout(IDENTIFY_WAIT_MS) })
      .then(result => emit('identify', identifyFields(result)))
      .catch(err => diag(`identify of ${conn.remotePeer} failed:`, errMessage(err)))
  })

  const addrs = node.getMultiaddrs().map(a => a.toString())
  const tcpAddr = addrs.find(a => a.startsWith('/ip4/127.0.0.1/tcp/'))
  if (tcpAddr == null) {
    diag(`no 127.0.0.1 listen address, got ${JSON.stringify(addrs)}`)
    await exit('no listen address', 1)
    return
  }
  emit('listening', { peer_id: node.peerId.toString(), addr: tcpAddr })

  process.on('SIGTERM', () => { exit('SIGTERM') })
  process.on('SIGINT', () => { exit('SIGINT') })
  process.stdin.on('end', () => { exit('stdin closed') })
  process.stdin.on('close', () => { exit('stdin closed') })
  process.stdin.on('error', () => { exit('stdin error') })
  process.stdin.resume()
  setTimeout(() => { exit(`--max-seconds ${opts.maxSeconds} reached`) }, opts.maxSeconds * 1000)
}

// ---------------------------------------------------------------- dial

function abortError (signal) {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'))
}

async function doPings (conn, count, signal) {
  const stream = await conn.newStream(PING_PROTOCOL, { signal })
  try {
    const bs = byteStream(stream)
    const peerId = conn.remotePeer.toString()
    for (let seq = 0; seq < count; seq++) {
      const data = randomBytes(PING_LENGTH)
      const start = performance.now()
      await bs.write(data, { signal })
      const got = (await bs.read({ bytes: PING_LENGTH, signal })).subarray()
      const rtt = performance.now() - start
      if (!Buffer.from(got).equals(data)) {
        throw new Error(`ping ${seq}: echoed bytes differ from the sent ones`)
      }
      emit('ping', { peer_id: peerId, rtt_ms: Math.round(rtt * 1000) / 1000, seq })
    }
    // half-close; the responder then ends its side. Waiting for its EOF is
    // polite but not part of the check.
    await stream.close({ signal })
    try {
      const extra = await bs.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(2000)]) })
      if (extra != null) diag(`ping stream: ${extra.byteLength} unexpected bytes after the last ping`)
    } catch (err) {
      diag('ping stream: no clean EOF after close:', errMessage(err))
    }
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

async function doEcho (conn, signal) {
  const stream = await conn.newStream(ECHO_PROTOCOL, { signal })
  try {
    const bs = byteStream(stream, { maxBufferSize: 4 * ECHO_BYTES })
    const data = randomBytes(ECHO_BYTES)
    const writer = (async () => {
      await bs.write(data, { signal })
      await stream.close({ signal })
    })()
    const reader = (async () => {
      const chunks = []
      let n = 0
      while (true) {
        const buf = await bs.read({ signal })
        if (buf == null) break
        chunks.push(buf.subarray())
        n += buf.byteLength
        if (n > ECHO_BYTES) throw new Error(`echo: received more bytes (${n}) than sent (${ECHO_BYTES})`)
      }
      return Buffer.concat(chunks)
    })()
    const [, got] = await Promise.all([writer, reader])
    if (got.length !== ECHO_BYTES) throw new Error(`echo: got ${got.length} bytes back, sent ${ECHO_BYTES}`)
    if (!got.equals(data)) throw new Error('echo: bytes differ from the sent ones')
    return got.length
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

async function runDial (opts) {
  let node = null
  let finished = false
  const overall = new AbortController()

  const finish = async (ok, error) => {
    if (finished) return
    finished = true
    emit('done', ok ? { ok: true } : { ok: false, error })
    overall.abort(new Error(error ?? 'finished'))
    await stopNode(node)
    flushAndExit(ok ? 0 : 1)
  }

  const timer = setTimeout(() => { finish(false, `timeout: run exceeded --timeout ${opts.timeout}s`) }, opts.timeout * 1000)
  process.on('SIGTERM', () => { finish(false, 'interrupted by SIGTERM') })
  process.on('SIGINT', () => { finish(false, 'interrupted by SIGINT') })

  let step = 'start'
  try {
    const signal = overall.signal
    node = await makeNode({ seed: opts.seed, listen: [] })
    if (finished) return

    step = 'connect'
    const conn = await node.dial(opts.ma, { signal })
    if (!conn.remotePeer.equals(opts.expectedPeer)) {
      throw new Error(`remote peer id ${conn.remotePeer} != expected ${opts.expectedPeer}`)
    }
    const peerId = conn.remotePeer.toString()
    emit('connected', { peer_id: peerId, remote_addr: stripP2p(conn.remoteAddr) })

    step = 'identify'
    const idSignal = AbortSignal.any([signal, AbortSignal.timeout(IDENTIFY_WAIT_MS)])
    const result = await node.services.identify.identify(conn, { signal: idSignal })
    if (signal.aborted) throw abortError(signal)
    emit('identify', identifyFields(result))

    if (opts.pings > 0) {
      step = 'ping'
      await doPings(conn, opts.pings, signal)
    }

    if (opts.echo) {
      step = 'echo'
      const bytes = await doEcho(conn, signal)
      emit('echo', { peer_id: peerId, bytes, ok: true })
    }

    if (opts.perf != null) {
      step = 'perf'
      const report = await doPerf(conn, opts.perf.upload, opts.perf.download, signal)
      emit('perf', { ok: true, peer_id: peerId, ...report })
    }

    clearTimeout(timer)
    await finish(true)
  } catch (err) {
    clearTimeout(timer)
    if (finished) return
    diag(`${step} failed:`, err)
    await finish(false, `${step}: ${errMessage(err)}`)
  }
}

// ---------------------------------------------------------------- main

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n${USAGE}\n`)
    process.exit(2)
  }
  throw err
}

process.on('unhandledRejection', (err) => {
  diag('unhandled rejection:', err)
})

if (opts.command === 'listen') {
  runListen(opts).catch(err => {
    diag('listen failed:', err)
    flushAndExit(1)
  })
} else {
  runDial(opts)
}
