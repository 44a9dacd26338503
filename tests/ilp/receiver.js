// A real STREAM receiver for tests: ilp-protocol-stream's server (RFC 0029) on the connector's
// `receiver` account over ILP-over-HTTP (RFC 0035), behind a small SPSP v4 server (RFC 0009) on
// 127.0.0.1 that honours the `Receipt-Nonce` / `Receipt-Secret` request headers (RFC 0039), so
// its STREAM replies carry receipts (frame 0x17) signed with the secret the SPSP client chose.
//
// Usage:
//   node receiver.js --plugin-port Q --connector-url http://127.0.0.1:R
//        [--incoming-token T] [--outgoing-token T] [--spsp-port 0]
//        [--receipts on|off] [--asset CODE:SCALE] [--stop-after N] [--exit-with-stdin]
//
// --plugin-port:    where the connector POSTs Prepares (its receiver account's outgoing URL)
// --connector-url:  where this receiver POSTs its packets (ILDCP), the account's incoming port
// --receipts off:   ignore the receipt headers; every SPSP answer says receipts_enabled: false
// --asset:          the asset the connector account must have (the receiver learns its asset
//                   by ILDCP, so the connector decides it); exits 1 if ILDCP says otherwise
// --stop-after:     once N has arrived, stop answering the connector (the account's plugin
//                   disconnects: a receiver gone mid-payment); /total still answers
//
// HTTP on 127.0.0.1:<spsp-port> (0: any free port):
//   GET <any path> with Accept: application/spsp4+json
//       {"destination_account", "shared_secret" (base64), "receipts_enabled"}; 400 when the
//       receipt headers are not a base64 16-byte nonce and 32-byte secret, or only one is sent.
//   GET /total
//       {"total_received": "<u64>"}: the money all connections received so far, in the
//       account's units.
// When ready it prints one JSON line:
//   {"ready":"receiver","spsp_url","total_url","address","asset_code","asset_scale","receipts"}
'use strict'
const http = require('http')
const crypto = require('crypto')
const { createServer } = require('ilp-protocol-stream')
const common = require('./common')

const USAGE = `usage: node receiver.js --plugin-port Q --connector-url http://127.0.0.1:R
  [--incoming-token T] [--outgoing-token T] [--spsp-port 0] [--receipts on|off]
  [--asset CODE:SCALE] [--stop-after N] [--exit-with-stdin]`
const SPSP_TYPE = 'application/spsp4+json'
const U64_MAX = '18446744073709551615'

const { values: o } = common.options(USAGE, {
  'plugin-port': { type: 'string' },
  'connector-url': { type: 'string' },
  'incoming-token': { type: 'string', default: 'connector-to-receiver' },
  'outgoing-token': { type: 'string', default: 'receiver-to-connector' },
  'spsp-port': { type: 'string', default: '0' },
  receipts: { type: 'string', default: 'on' },
  asset: { type: 'string' },
  'stop-after': { type: 'string' },
  'exit-with-stdin': { type: 'boolean', default: false }
})
for (const required of ['plugin-port', 'connector-url']) {
  if (o[required] === undefined) { console.error(`--${required} is required\n\n${USAGE}`); process.exit(2) }
}
if (!['on', 'off'].includes(o.receipts)) { console.error('--receipts: expected on or off'); process.exit(2) }
common.exitWithStdin(o['exit-with-stdin'])
const receiptsOn = o.receipts === 'on'
const expectedAsset = o.asset === undefined ? null : common.asset(o.asset, 'asset')
const stopAfter = o['stop-after'] === undefined ? null : BigInt(common.amount(o['stop-after'], 'stop-after'))

// The receipt nonce and secret of an SPSP query: null without headers (or with receipts off),
// { error } when they are malformed.
function receiptOptions (headers) {
  if (!receiptsOn) return null
  const nonce = headers['receipt-nonce']
  const secret = headers['receipt-secret']
  if (nonce === undefined && secret === undefined) return null
  if (nonce === undefined || secret === undefined) return { error: 'Receipt-Nonce and Receipt-Secret go together' }
  const b64 = /^[A-Za-z0-9+/]*={0,2}$/
  const n = b64.test(nonce) ? Buffer.from(nonce, 'base64') : Buffer.alloc(0)
  const s = b64.test(secret) ? Buffer.from(secret, 'base64') : Buffer.alloc(0)
  if (n.length !== 16) return { error: 'Receipt-Nonce: expected 16 bytes of base64' }
  if (s.length !== 32) return { error: 'Receipt-Secret: expected 32 bytes of base64' }
  return { receiptNonce: n, receiptSecret: s }
}

function send (res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  res.end(typeof body === 'string' ? body : JSON.stringify(body))
}

;(async () => {
  const plugin = common.loopbackPlugin({
    listenPort: common.port(o['plugin-port'], 'plugin-port'),
    incomingToken: o['incoming-token'],
    outgoingUrl: o['connector-url'],
    outgoingToken: o['outgoing-token'],
    name: 'connector'
  })
  // Runs ILDCP through the connector: the connector must be up first.
  const server = await createServer({ plugin, serverSecret: crypto.randomBytes(32) })
  if (expectedAsset && (server.assetCode !== expectedAsset.code || server.assetScale !== expectedAsset.scale)) {
    console.error(`receiver: the connector account is ${server.assetCode}:${server.assetScale}, not ${o.asset}`)
    process.exit(1)
  }
  // The account's address, as ILDCP gave it: every destination the server hands out is under it.
  const address = server.generateAddressAndSecret().destinationAccount.replace(/\.[^.]+$/, '')
  let total = 0n
  let stopped = false
  server.on('connection', conn => {
    conn.on('stream', stream => {
      stream.setReceiveMax(U64_MAX)
      stream.on('money', amount => {
        total += BigInt(amount)
        if (stopAfter !== null && total >= stopAfter && !stopped) {
          stopped = true
          plugin.disconnect().catch(e => console.error('receiver: disconnect:', e))
        }
      })
    })
  })
  const spsp = http.createServer((req, res) => {
    if (req.method !== 'GET') return send(res, 405, 'text/plain', 'GET only\n')
    const path = req.url.split('?')[0]
    if (path === '/total') {
      return send(res, 200, 'application/json', { total_received: total.toString() })
    }
    if (!(req.headers.accept || '').includes(SPSP_TYPE)) return send(res, 404, 'text/plain', `not found (send Accept: ${SPSP_TYPE})\n`)
    const receipt = receiptOptions(req.headers)
    if (receipt && receipt.error) return send(res, 400, 'text/plain', receipt.error + '\n')
    const { destinationAccount, sharedSecret, receiptsEnabled } = server.generateAddressAndSecret(receipt || undefined)
    send(res, 200, SPSP_TYPE, {
      destination_account: destinationAccount,
      shared_secret: sharedSecret.toString('base64'),
      receipts_enabled: receiptsEnabled
    })
  })
  spsp.listen(common.port(o['spsp-port'], 'spsp-port'), common.LOOPBACK, () => {
    const base = `http://127.0.0.1:${spsp.address().port}`
    common.ready('receiver', {
      spsp_url: base + '/.well-known/pay',
      total_url: base + '/total',
      address,
      asset_code: server.assetCode,
      asset_scale: server.assetScale,
      receipts: receiptsOn
    })
  })
  process.on('SIGTERM', () => process.exit(0))
})().catch(e => { console.error('receiver failed:', e); process.exit(1) })
