// A real Interledger connector on 127.0.0.1 for tests: ilp-connector 23.0.2, rate 1:1 (scaled
// between asset scales), no spread, in-memory store, with two ILP-over-HTTP (RFC 0035) accounts:
//
// - `payer`: a send-only child. It POSTs Prepares to http://127.0.0.1:<payer-port> with
//   `Authorization: Bearer <payer-token>` and reads the Fulfill or Reject in the answer. The
//   connector keeps its balance and rejects with T04 a Prepare that would take it over
//   `--payer-balance-max`; with `--payer-max-packet` it rejects larger Prepares with F08.
// - `receiver`: a child that receives. The connector POSTs Prepares for test.conn.receiver.* to
//   `--receiver-url` with `Bearer <connector-token>`; the receiver POSTs its own packets (ILDCP)
//   to http://127.0.0.1:<receiver-port> with `Bearer <receiver-token>`.
// - `--extra-receiver NAME:PORT:URL` (repeatable): more accounts like `receiver`, named NAME
//   (address test.conn.NAME, in the receiver asset), listening on PORT with the token
//   `NAME-to-connector` and POSTing to URL with `connector-to-NAME`: one per STREAM receiver
//   when a test pays several parties.
//
// Usage:
//   node connector.js --payer-port P --receiver-port R --receiver-url http://127.0.0.1:Q
//        [--payer-token T] [--receiver-token T] [--connector-token T]
//        [--payer-asset USD:9] [--receiver-asset USD:9] [--extra-receiver NAME:PORT:URL ...]
//        [--payer-balance-max N] [--payer-max-packet N] [--exit-with-stdin]
//
// When both accounts listen it prints one JSON line:
//   {"ready":"connector","address":"test.conn","payer":{...},"receiver":{...}}
// Logs go to stderr (ilp-connector's own go to stdout unless told otherwise); DEBUG (e.g.
// DEBUG='connector*,ilp*') selects more.
'use strict'
const { createApp } = require('ilp-connector')
const common = require('./common')

require('ilp-connector/dist/common/log').setOutputStream(process.stderr)

const USAGE = `usage: node connector.js --payer-port P --receiver-port R --receiver-url URL
  [--payer-token T] [--receiver-token T] [--connector-token T] [--payer-asset CODE:SCALE]
  [--receiver-asset CODE:SCALE] [--extra-receiver NAME:PORT:URL ...] [--payer-balance-max N]
  [--payer-max-packet N] [--exit-with-stdin]`
const ADDRESS = 'test.conn'

const { values: o } = common.options(USAGE, {
  'payer-port': { type: 'string' },
  'receiver-port': { type: 'string' },
  'receiver-url': { type: 'string' },
  'payer-token': { type: 'string', default: 'payer-to-connector' },
  'receiver-token': { type: 'string', default: 'receiver-to-connector' },
  'connector-token': { type: 'string', default: 'connector-to-receiver' },
  'payer-asset': { type: 'string', default: 'USD:9' },
  'receiver-asset': { type: 'string' },
  'payer-balance-max': { type: 'string', default: '1000000000000' },
  'payer-max-packet': { type: 'string' },
  'extra-receiver': { type: 'string', multiple: true, default: [] },
  'exit-with-stdin': { type: 'boolean', default: false }
})
for (const required of ['payer-port', 'receiver-port', 'receiver-url']) {
  if (o[required] === undefined) { console.error(`--${required} is required\n\n${USAGE}`); process.exit(2) }
}
common.exitWithStdin(o['exit-with-stdin'])
const payerPort = common.port(o['payer-port'], 'payer-port')
const receiverPort = common.port(o['receiver-port'], 'receiver-port')
const payerAsset = common.asset(o['payer-asset'], 'payer-asset')
const receiverAsset = common.asset(o['receiver-asset'] || o['payer-asset'], 'receiver-asset')
const balanceMax = common.amount(o['payer-balance-max'], 'payer-balance-max')
const maxPacket = o['payer-max-packet'] === undefined ? undefined : common.amount(o['payer-max-packet'], 'payer-max-packet')
const LOOPBACK_URL = /^http:\/\/127\.0\.0\.1:[0-9]+(\/.*)?$/
if (!LOOPBACK_URL.test(o['receiver-url'])) {
  console.error('--receiver-url: expected http://127.0.0.1:PORT[/path], found ' + JSON.stringify(o['receiver-url']))
  process.exit(2)
}
const extras = o['extra-receiver'].map(spec => {
  const m = /^([a-z][a-z0-9]{0,31}):([0-9]+):(.*)$/.exec(spec)
  if (!m || !LOOPBACK_URL.test(m[3]) || ['payer', 'receiver'].includes(m[1])) {
    console.error('--extra-receiver: expected NAME:PORT:http://127.0.0.1:PORT, found ' + JSON.stringify(spec))
    process.exit(2)
  }
  return { name: m[1], port: common.port(m[2], 'extra-receiver'), url: m[3] }
})

const payer = {
  relation: 'child',
  assetCode: payerAsset.code,
  assetScale: payerAsset.scale,
  balance: { maximum: balanceMax },
  // Send-only: the connector never routes to it (nothing is addressed to test.conn.payer but
  // STREAM replies, which ride in Fulfills and Rejects). Its outgoing URL is a closed port.
  plugin: common.loopbackPlugin({
    listenPort: payerPort,
    incomingToken: o['payer-token'],
    outgoingUrl: 'http://127.0.0.1:9/send-only',
    outgoingToken: 'unused',
    name: 'payer'
  })
}
if (maxPacket !== undefined) payer.maxPacketAmount = maxPacket
const receiverAccount = ({ port, incomingToken, url, outgoingToken, name }) => ({
  relation: 'child',
  assetCode: receiverAsset.code,
  assetScale: receiverAsset.scale,
  plugin: common.loopbackPlugin({ listenPort: port, incomingToken, outgoingUrl: url, outgoingToken, name })
})
const receiver = receiverAccount({
  port: receiverPort, incomingToken: o['receiver-token'], url: o['receiver-url'], outgoingToken: o['connector-token'], name: 'receiver'
})
const accounts = { payer, receiver }
for (const x of extras) {
  accounts[x.name] = receiverAccount({
    port: x.port, incomingToken: `${x.name}-to-connector`, url: x.url, outgoingToken: `connector-to-${x.name}`, name: x.name
  })
}

;(async () => {
  const app = createApp({
    ilpAddress: ADDRESS,
    backend: 'one-to-one',
    spread: 0,
    store: 'memory',
    adminApi: false,
    initialConnectTimeout: 10000,
    accounts
  })
  await app.listen()
  await common.waitForPort(payerPort)
  await common.waitForPort(receiverPort)
  for (const x of extras) await common.waitForPort(x.port)
  const account = (port, asset) => ({ url: `http://127.0.0.1:${port}`, asset_code: asset.code, asset_scale: asset.scale })
  common.ready('connector', {
    address: ADDRESS,
    payer: {
      ...account(payerPort, payerAsset),
      address: ADDRESS + '.payer',
      token: o['payer-token'],
      balance_maximum: balanceMax,
      max_packet_amount: maxPacket === undefined ? null : maxPacket
    },
    receiver: {
      ...account(receiverPort, receiverAsset),
      address: ADDRESS + '.receiver',
      token: o['receiver-token'],
      listen_url: o['receiver-url'],
      connector_token: o['connector-token']
    },
    extra_receivers: extras.map(x => ({
      ...account(x.port, receiverAsset),
      address: `${ADDRESS}.${x.name}`,
      token: `${x.name}-to-connector`,
      listen_url: x.url,
      connector_token: `connector-to-${x.name}`
    }))
  })
  const stop = async () => { try { await app.shutdown() } finally { process.exit(0) } }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
})().catch(e => { console.error('connector failed:', e); process.exit(1) })
