// A real STREAM sender for tests: ilp-protocol-stream's client (RFC 0029) paying an SPSP URL
// (RFC 0009) through a connector account over ILP-over-HTTP (RFC 0035). Its "plugin" is a client
// only: each Prepare is one POST to the connector with a bearer token, and the answer's body is the
// Fulfill or Reject; it listens on nothing, and never announces an address (see sendOnlyConnection).
//
// Usage:
//   ILPT_ILP_TOKEN=T node sender.js --connector http://127.0.0.1:P
//        [--receipt-nonce B64 --receipt-secret B64] [--timeout-ms 20000] SPSP_URL AMOUNT
//
// The bearer token comes from the environment, as ilpt's does: a token is a secret, and a
// random one may begin with `-`, which an argument parser would take for an option.
// Without ILPT_ILP_TOKEN the connector.js default payer token is used.
//
// --receipt-nonce/--receipt-secret are sent with the SPSP query as `Receipt-Nonce` and
// `Receipt-Secret`, as a receipt verifier's SPSP proxy would: the receiver then signs receipts
// with that secret. AMOUNT is in the connector account's units.
//
// Prints one JSON line and exits 0 when AMOUNT was sent, 1 otherwise:
//   {"ok", "error" (null or why), "amount", "sent", "delivered" (in the receiver's units),
//    "source_account", "source_asset_code", "source_asset_scale",
//    "destination_asset_code", "destination_asset_scale", "receipts_enabled",
//    "receipt" (the stream's latest receipt, base64, or null),
//    "receipts" (every receipt in a reply, in order: [{"stream_id", "receipt"}]),
//    "packets" (Prepares posted, ILDCP included)}
// u64 values are decimal strings.
'use strict'
const { Connection } = require('ilp-protocol-stream')
const ILDCP = require('ilp-protocol-ildcp')
const StreamPacket = require('ilp-protocol-stream/dist/src/packet')
const StreamCrypto = require('ilp-protocol-stream/dist/src/crypto')
const common = require('./common')

const USAGE = `usage: ILPT_ILP_TOKEN=T node sender.js --connector http://127.0.0.1:P
  [--receipt-nonce B64 --receipt-secret B64] [--timeout-ms 20000] SPSP_URL AMOUNT`
const SPSP_TYPE = 'application/spsp4+json'
const MAX_SPSP_BYTES = 64 * 1024

const { values: o, positionals } = common.options(USAGE, {
  connector: { type: 'string' },
  'receipt-nonce': { type: 'string' },
  'receipt-secret': { type: 'string' },
  'timeout-ms': { type: 'string', default: '20000' }
}, true)
if (o.connector === undefined || positionals.length !== 2) { console.error(USAGE); process.exit(2) }
if ((o['receipt-nonce'] === undefined) !== (o['receipt-secret'] === undefined)) {
  console.error('--receipt-nonce and --receipt-secret go together'); process.exit(2)
}
const TOKEN = process.env.ILPT_ILP_TOKEN || 'payer-to-connector'
const [spspUrl, amountText] = positionals
const amount = common.amount(amountText, 'AMOUNT')
const timeoutMs = Number(common.amount(o['timeout-ms'], 'timeout-ms'))

const result = {
  ok: false,
  error: null,
  amount,
  sent: '0',
  delivered: '0',
  source_account: null,
  source_asset_code: null,
  source_asset_scale: null,
  destination_asset_code: null,
  destination_asset_scale: null,
  receipts_enabled: null,
  receipt: null,
  receipts: [],
  packets: 0
}
let finished = false
function finish (error) {
  if (finished) return
  finished = true
  result.ok = error === null
  result.error = error
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(result.ok ? 0 : 1)
}

// Collects the receipts of a STREAM reply: the test wants every one the sender saw, not just
// the stream's latest. Data that does not decrypt (a connector's own Reject) holds none.
async function collectReceipts (encryptionKey, reply) {
  const IlpPacket = require('ilp-packet')
  let data
  try {
    data = reply[0] === IlpPacket.Type.TYPE_ILP_FULFILL
      ? IlpPacket.deserializeIlpFulfill(reply).data
      : IlpPacket.deserializeIlpReject(reply).data
  } catch (_) { return }
  if (data.length === 0) return
  let packet
  try { packet = await StreamPacket.Packet.decryptAndDeserialize(encryptionKey, data) } catch (_) { return }
  for (const f of packet.frames) {
    if (f.type === StreamPacket.FrameType.StreamReceipt) {
      result.receipts.push({ stream_id: f.streamId.toString(), receipt: f.receipt.toString('base64') })
    }
  }
}

// `createConnection` of ilp-protocol-stream, minus one thing: the library's client always tells
// the server its address (ConnectionNewAddress, optional in RFC 0029 §4.3.1), and a JS server
// that knows it starts sending to it; through a send-only account those packets fail (F02) and
// the server destroys the connection mid-payment. So the connection is told the remote already
// knows its account, and sends neither ConnectionNewAddress nor ConnectionAssetDetails.
async function sendOnlyConnection (plugin, destinationAccount, sharedSecret) {
  await plugin.connect()
  const { clientAddress, assetCode, assetScale } = await ILDCP.fetch(plugin.sendData.bind(plugin))
  const conn = await Connection.build({
    plugin, destinationAccount, sharedSecret, sourceAccount: clientAddress, assetCode, assetScale, isServer: false
  })
  if (conn.remoteKnowsOurAccount !== false) throw new Error('ilp-protocol-stream changed: no remoteKnowsOurAccount')
  conn.remoteKnowsOurAccount = true
  await conn.connect()
  return conn
}

;(async () => {
  const headers = { accept: SPSP_TYPE }
  if (o['receipt-nonce'] !== undefined) {
    headers['receipt-nonce'] = o['receipt-nonce']
    headers['receipt-secret'] = o['receipt-secret']
  }
  const r = await fetch(spspUrl, { headers })
  const text = await r.text()
  if (!r.ok) throw new Error(`SPSP query answered ${r.status}: ${text.slice(0, 200)}`)
  if (text.length > MAX_SPSP_BYTES) throw new Error('SPSP answer too long')
  const spsp = JSON.parse(text)
  if (typeof spsp.destination_account !== 'string' || typeof spsp.shared_secret !== 'string') {
    throw new Error('SPSP answer lacks destination_account or shared_secret')
  }
  result.receipts_enabled = spsp.receipts_enabled === true
  const sharedSecret = Buffer.from(spsp.shared_secret, 'base64')
  const encryptionKey = await StreamCrypto.generatePskEncryptionKey(sharedSecret)

  const plugin = {
    connected: false,
    async connect () { this.connected = true },
    async disconnect () { this.connected = false },
    isConnected () { return this.connected },
    async sendData (prepare) {
      result.packets++
      const res = await fetch(o.connector, {
        method: 'POST',
        body: prepare,
        headers: { 'content-type': 'application/octet-stream', authorization: 'Bearer ' + TOKEN }
      })
      if (!res.ok) throw new Error(`connector answered HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`)
      const reply = Buffer.from(await res.arrayBuffer())
      await collectReceipts(encryptionKey, reply)
      return reply
    },
    async sendMoney () {},
    registerDataHandler () {},
    deregisterDataHandler () {},
    registerMoneyHandler () {},
    deregisterMoneyHandler () {}
  }
  const conn = await sendOnlyConnection(plugin, spsp.destination_account, sharedSecret)
  result.source_account = conn.sourceAccount
  result.source_asset_code = conn.sourceAssetCode
  result.source_asset_scale = conn.sourceAssetScale
  const stream = conn.createStream()
  let error = null
  try {
    await stream.sendTotal(amount, { timeout: timeoutMs })
  } catch (e) {
    error = String(e && e.message ? e.message : e)
  }
  result.sent = stream.totalSent
  result.delivered = conn.totalDelivered
  result.destination_asset_code = conn.destinationAssetCode || null
  result.destination_asset_scale = conn.destinationAssetScale === undefined ? null : conn.destinationAssetScale
  result.receipt = stream.receipt ? stream.receipt.toString('base64') : null
  if (error === null) {
    // The money moved; closing is a courtesy, and not worth waiting long for.
    const courtesy = new Promise(resolve => setTimeout(resolve, 5000).unref())
    try { await Promise.race([conn.end(), courtesy]) } catch (_) { }
  } else {
    conn.destroy()
  }
  finish(error)
})().catch(e => finish(String(e && e.message ? e.message : e)))

// A hard stop in case the library waits forever.
setTimeout(() => finish(`no result after ${timeoutMs + 10000} ms`), timeoutMs + 10000).unref()
