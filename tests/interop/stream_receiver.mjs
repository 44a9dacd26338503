// A stand-in Interledger SPSP receiver whose STREAM receipts (RFC 0039) come from the
// reference JavaScript implementation (ilp-protocol-stream's `createReceipt`), so ilpt's
// Rust receipt verifier can be tested against receipts made by code that is not ours.
// It moves no money: it only answers SPSP queries and mints receipts on request.
//
// Usage: node stream_receiver.mjs   (after `npm ci --prefix tests/interop`)
// Listens on 127.0.0.1, port chosen by the OS, and prints one line `listening <port>`.
//
//   GET <any path>, Accept: application/spsp4+json
//       SPSP query. With valid Receipt-Nonce (base64, 16 bytes) and Receipt-Secret
//       (base64, 32 bytes) headers and no `receipts=off` in the query, that pair
//       becomes the current connection and receipts_enabled is true; otherwise false.
//   GET /made-receipts?totals=100,250&stream=1
//       One reference receipt per total for the current connection:
//       {"nonce": "<base64>", "receipts": ["<base64>", ...]}; 404 if there is none.
//   GET /seen-headers
//       {"receipt_nonce": ..., "receipt_secret": ...}: the raw header values of the
//       latest SPSP query (null when absent, or before any query).
import http from 'node:http'
import { randomBytes } from 'node:crypto'
import { createReceipt } from 'ilp-protocol-stream'

const SPSP_TYPE = 'application/spsp4+json'
const U64_MAX = 2n ** 64n - 1n
let current = null // { nonce: Buffer, secret: Buffer }
let seen = { receipt_nonce: null, receipt_secret: null }

function send (res, status, body, type = 'application/json') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}

// Strict-ish base64 -> Buffer of exactly `len` bytes, else null.
function b64 (value, len) {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(value.trim())) return null
  const buf = Buffer.from(value.trim(), 'base64')
  return buf.length === len ? buf : null
}

function spsp (req, res, url) {
  const nonceHeader = req.headers['receipt-nonce'] ?? null
  const secretHeader = req.headers['receipt-secret'] ?? null
  seen = { receipt_nonce: nonceHeader, receipt_secret: secretHeader }
  const nonce = b64(nonceHeader, 16)
  const secret = b64(secretHeader, 32)
  const enabled = url.searchParams.get('receipts') !== 'off' && nonce !== null && secret !== null
  if (enabled) current = { nonce, secret }
  send(res, 200, {
    destination_account: 'test.interop.receiver',
    shared_secret: randomBytes(32).toString('base64'),
    receipts_enabled: enabled
  }, SPSP_TYPE)
}

function madeReceipts (res, url) {
  if (!current) return send(res, 404, { error: 'no SPSP query with receipt headers yet' })
  const stream = url.searchParams.get('stream') ?? '1'
  const totals = (url.searchParams.get('totals') ?? '').split(',').filter((t) => t !== '')
  // The reference encodes the stream ID as a single byte.
  if (!/^\d{1,3}$/.test(stream) || Number(stream) > 255) {
    return send(res, 400, { error: 'stream must be an integer 0..255' })
  }
  if (totals.length === 0 || !totals.every((t) => /^\d{1,20}$/.test(t) && BigInt(t) <= U64_MAX)) {
    return send(res, 400, { error: 'totals must be comma-separated u64 decimals' })
  }
  const receipts = totals.map((total) => createReceipt({
    nonce: current.nonce,
    streamId: Number(stream),
    totalReceived: total, // decimal string: the reference parses it as an unsigned Long
    secret: current.secret
  }).toString('base64'))
  send(res, 200, { nonce: current.nonce.toString('base64'), receipts })
}

const server = http.createServer((req, res) => {
  try {
    const url = new URL(req.url, 'http://127.0.0.1')
    if (req.method !== 'GET') return send(res, 405, { error: 'GET only' })
    if (url.pathname === '/made-receipts') return madeReceipts(res, url)
    if (url.pathname === '/seen-headers') return send(res, 200, seen)
    if ((req.headers.accept ?? '').includes(SPSP_TYPE)) return spsp(req, res, url)
    send(res, 404, { error: 'not found' })
  } catch (err) {
    send(res, 500, { error: String(err && err.message) })
  }
})

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`)
})

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0))
    server.closeAllConnections()
  })
}
