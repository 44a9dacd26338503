// Golden vectors for ilpt-interledger, made with the JavaScript reference implementations
// (so our Rust codec is checked against code that is not ours): `interledger/tests/vectors.json`,
// read by `interledger/tests/vectors.rs`.
//
// How the committed file was made (Node v20.20.2, packages as pinned in package-lock.json):
//
//     npm ci --prefix tests/ilp && node tests/ilp/vectors.js
//
// `node tests/ilp/vectors.js --check` regenerates in memory and exits 1 if the committed file
// differs. The libraries, and what each vector comes from:
// - ilp-packet 3.1.3 (the version ilp-connector 23.0.2 and ilp-plugin-http 1.6.1 use):
//   Prepare, Fulfill and Reject bytes, `Errors.AmountTooLargeError` (F08 data) and
//   `Errors.InsufficientLiquidityError` (T04, the connector's "exceeded maximum balance.").
//   Every packet is also serialized with ilp-packet 3.1.4-alpha.2 (the copy nested under
//   ilp-protocol-stream) and must come out the same.
// - ilp-protocol-ildcp 2.2.3: the ILDCP request and response.
// - ilp-protocol-stream 2.7.2-alpha.3: the STREAM packet (its `Packet` and frame classes), its
//   encryption (`Packet#serializeAndEncrypt`), keys, fulfillment and condition (`crypto.js`),
//   and the RFC 0039 receipt (`createReceipt`).
//
// Determinism: the shared secret, receipt nonce and receipt secret are fixed below. The library
// draws the AES-GCM IV from `crypto.randomBytes(12)` inside `encrypt`; for that one call this
// script replaces `require('crypto').randomBytes` with a stub that returns the fixed IV (and
// checks it was called exactly once, for 12 bytes, and that the output starts with that IV).
// Everything else is the library's own code, unmodified. Expiry times are fixed dates.
'use strict'
const fs = require('fs')
const path = require('path')
const nodeCrypto = require('crypto')
const IlpPacket = require('ilp-packet')
const ILDCP = require('ilp-protocol-ildcp')
const stream = require('ilp-protocol-stream')
const StreamPacket = require('ilp-protocol-stream/dist/src/packet')
const StreamCrypto = require('ilp-protocol-stream/dist/src/crypto')

const streamDir = path.dirname(require.resolve('ilp-protocol-stream/package.json'))
const NestedIlpPacket = require(require.resolve('ilp-packet', { paths: [streamDir] }))
const OUT = path.join(__dirname, '..', '..', 'interledger', 'tests', 'vectors.json')

const SHARED_SECRET = Buffer.from('ilpt-vectors-stream-secret-00032', 'ascii')
const IV = Buffer.from('ilpt-vec-iv1', 'ascii')
const RECEIPT_NONCE = Buffer.from('ilpt-vec-nonce16', 'ascii')
const RECEIPT_SECRET = Buffer.from('ilpt-vectors-receipt-secret-032!', 'ascii')
const EXPIRES_AT = new Date('2026-12-31T23:59:59.999Z')
const U64_MAX = '18446744073709551615'
const sha256 = b => nodeCrypto.createHash('sha256').update(b).digest()
const hex = b => Buffer.from(b).toString('hex')

function check (ok, what) { if (!ok) throw new Error('vectors: ' + what) }

function versionOf (dir) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version
}

// Serializes with both ilp-packet copies and insists they agree.
function serialize (kind, json) {
  const a = IlpPacket[kind](json)
  const b = NestedIlpPacket[kind](json)
  check(a.equals(b), `${kind}: ilp-packet ${versionOf(path.dirname(require.resolve('ilp-packet/package.json')))} and the nested copy disagree`)
  return a
}

// Runs `fn` with `crypto.randomBytes(12)` returning the fixed IV, once.
async function withFixedIv (fn) {
  const real = nodeCrypto.randomBytes
  let calls = 0
  nodeCrypto.randomBytes = (n, cb) => {
    check(n === 12 && cb === undefined, `unexpected randomBytes(${n}) during encryption`)
    calls++
    return Buffer.from(IV)
  }
  try {
    const out = await fn()
    check(calls === 1, `expected one IV draw, saw ${calls}`)
    check(out.subarray(0, 12).equals(IV), 'the sealed packet does not start with the fixed IV')
    return out
  } finally {
    nodeCrypto.randomBytes = real
  }
}

// ilp-protocol-stream's u64 values are `long` objects (a package we do not depend on directly).
const isLong = v => v !== null && typeof v === 'object' && v.__isLong__ === true

// A frame as the JSON carries it: what the JS library read back, u64s as decimal strings.
function frameJson (f) {
  const out = { type: f.type, name: f.name }
  const names = {
    errorCode: 'error_code', errorMessage: 'message', sourceAccount: 'source_account',
    sourceAssetCode: 'source_asset_code', sourceAssetScale: 'source_asset_scale',
    maxOffset: 'max_offset', maxStreamId: 'max_stream_id', streamId: 'stream_id', shares: 'shares',
    receiveMax: 'receive_max', totalReceived: 'total_received', sendMax: 'send_max',
    totalSent: 'total_sent', offset: 'offset', data: 'data', receipt: 'receipt'
  }
  for (const [k, v] of Object.entries(f)) {
    if (k === 'type' || k === 'name') continue
    check(names[k], 'unknown frame field ' + k)
    out[names[k]] = isLong(v) ? v.toString() : Buffer.isBuffer(v) ? hex(v) : v
  }
  return out
}

async function build () {
  const packages = {}
  for (const name of ['ilp-connector', 'ilp-plugin-http', 'ilp-packet', 'ilp-protocol-ildcp', 'ilp-protocol-stream']) {
    packages[name] = versionOf(path.dirname(require.resolve(name + '/package.json')))
  }
  packages['ilp-packet (nested under ilp-protocol-stream)'] = versionOf(path.dirname(require.resolve('ilp-packet/package.json', { paths: [streamDir] })))

  // --- RFC 0039 receipt
  const totalReceived = '1099511627781' // 2^40 + 5: all eight bytes matter
  const receipt = stream.createReceipt({ nonce: RECEIPT_NONCE, streamId: 1, totalReceived, secret: RECEIPT_SECRET })
  stream.verifyReceipt(receipt, RECEIPT_SECRET)

  // --- STREAM packet with every frame type (RFC 0029 §5.3, RFC 0039 for 0x17)
  const streamData = Buffer.alloc(200)
  for (let i = 0; i < streamData.length; i++) streamData[i] = i
  const P = StreamPacket
  const frames = [
    new P.ConnectionCloseFrame(P.ErrorCode.NoError, 'bye'),
    new P.ConnectionNewAddressFrame('test.conn.payer'),
    new P.ConnectionMaxDataFrame('65536'),
    new P.ConnectionDataBlockedFrame('70000'),
    new P.ConnectionMaxStreamIdFrame('20'),
    new P.ConnectionStreamIdBlockedFrame('21'),
    new P.ConnectionAssetDetailsFrame('USD', 9),
    new P.StreamCloseFrame('1', P.ErrorCode.ApplicationError, 'done ✓'),
    new P.StreamMoneyFrame('1', '3'),
    new P.StreamMaxMoneyFrame('1', Infinity, totalReceived),
    new P.StreamMoneyBlockedFrame('1', '5000', '4000'),
    new P.StreamDataFrame('1', '0', streamData),
    new P.StreamMaxDataFrame('1', '1000000'),
    new P.StreamDataBlockedFrame('1', '2000000'),
    new P.StreamReceiptFrame('1', receipt)
  ]
  const types = frames.map(f => f.type)
  check(new Set(types).size === 15 && types.includes(0x17), 'every frame type once')
  const sequence = '4294967301' // 2^32 + 5
  const prepareAmount = '1000000000000'
  const packet = new P.Packet(sequence, P.IlpPacketType.Prepare, prepareAmount, frames)
  const plaintext = packet._serialize()
  const encryptionKey = await StreamCrypto.generatePskEncryptionKey(SHARED_SECRET)
  const fulfillmentKey = await StreamCrypto.generateFulfillmentKey(SHARED_SECRET)
  const sealed = await withFixedIv(() => packet.serializeAndEncrypt(encryptionKey))
  const fulfillment = await StreamCrypto.generateFulfillment(fulfillmentKey, sealed)
  const condition = await StreamCrypto.hash(fulfillment)
  check(condition.equals(sha256(fulfillment)), 'condition is SHA-256 of the fulfillment')
  const readBack = await P.Packet.decryptAndDeserialize(encryptionKey, sealed)
  check(readBack._serialize().equals(plaintext), 'the JS library reads back what it wrote')

  // --- ILPv4 packets (RFC 0027)
  const prepareJson = {
    amount: '107',
    expiresAt: EXPIRES_AT,
    executionCondition: sha256(Buffer.from('ilpt vectors prepare')),
    destination: 'example.alice',
    data: Buffer.from('hello, ILP', 'ascii')
  }
  const streamPrepareJson = {
    amount: '1000000000000',
    expiresAt: EXPIRES_AT,
    executionCondition: condition,
    destination: 'test.conn.receiver.ilpt-vector-tag',
    data: sealed
  }
  const fulfillJson = { fulfillment, data: Buffer.from('ilpt fulfill data', 'ascii') }
  const f08 = IlpPacket.errorToIlpReject('test.conn', new IlpPacket.Errors.AmountTooLargeError(
    'packet size too large. maxAmount=100 actualAmount=107', { receivedAmount: '107', maximumAmount: '100' }))
  const t04 = IlpPacket.errorToIlpReject('test.conn', new IlpPacket.Errors.InsufficientLiquidityError('exceeded maximum balance.'))
  const f99 = { code: 'F99', triggeredBy: '', message: 'naïve ✓', data: Buffer.from([0, 1, 2, 255]) }
  const reject = r => ({ code: r.code, triggered_by: r.triggeredBy, message: r.message, data: hex(r.data), bytes: hex(serialize('serializeIlpReject', r)) })

  // --- ILDCP (RFC 0031)
  const ildcpRequest = ILDCP.serializeIldcpRequest({ expiresAt: EXPIRES_AT })
  const ildcpConfig = { clientAddress: 'test.conn.payer', assetScale: 9, assetCode: 'USD' }
  const ildcpResponse = ILDCP.serializeIldcpResponse(ildcpConfig)
  check(JSON.stringify(ILDCP.deserializeIldcpResponse(ildcpResponse)) === JSON.stringify(ildcpConfig), 'ILDCP round trip')

  const prepareVector = p => ({
    amount: p.amount,
    expires_at: p.expiresAt.toISOString(),
    expires_at_ms: p.expiresAt.getTime(),
    condition: hex(p.executionCondition),
    destination: p.destination,
    data: hex(p.data),
    bytes: hex(serialize('serializeIlpPrepare', p))
  })

  return {
    about: 'Golden vectors made by tests/ilp/vectors.js with the JavaScript Interledger reference libraries; read by interledger/tests/vectors.rs. Bytes are lowercase hex, u64 values decimal strings. The STREAM IV was fixed by stubbing crypto.randomBytes for the one encryption (see vectors.js).',
    command: 'npm ci --prefix tests/ilp && node tests/ilp/vectors.js',
    packages,
    prepare: prepareVector(prepareJson),
    fulfill: { fulfillment: hex(fulfillJson.fulfillment), data: hex(fulfillJson.data), bytes: hex(serialize('serializeIlpFulfill', fulfillJson)) },
    reject_f08: Object.assign(reject(f08), { received_amount: '107', maximum_amount: '100' }),
    reject_t04: reject(t04),
    reject_f99: reject(f99),
    ildcp_request: prepareVector(IlpPacket.deserializeIlpPrepare(ildcpRequest)),
    ildcp_response: {
      client_address: ildcpConfig.clientAddress,
      asset_scale: ildcpConfig.assetScale,
      asset_code: ildcpConfig.assetCode,
      fulfillment: hex(Buffer.alloc(32)),
      data: hex(IlpPacket.deserializeIlpFulfill(ildcpResponse).data),
      bytes: hex(ildcpResponse)
    },
    stream: {
      shared_secret: hex(SHARED_SECRET),
      encryption_key: hex(encryptionKey),
      fulfillment_key: hex(fulfillmentKey),
      iv: hex(IV),
      version: 1,
      ilp_packet_type: packet.ilpPacketType,
      sequence,
      prepare_amount: prepareAmount,
      frames: readBack.frames.map(frameJson),
      plaintext: hex(plaintext),
      encrypted: hex(sealed),
      fulfillment: hex(fulfillment),
      condition: hex(condition),
      prepare: prepareVector(streamPrepareJson)
    },
    receipt: {
      nonce: hex(RECEIPT_NONCE),
      stream_id: 1,
      total_received: totalReceived,
      secret: hex(RECEIPT_SECRET),
      bytes: hex(receipt),
      base64: receipt.toString('base64')
    }
  }
}

build().then(vectors => {
  check(vectors.stream.frames.some(f => f.receive_max === U64_MAX), 'receive_max saturates to 2^64-1')
  const text = JSON.stringify(vectors, null, 2) + '\n'
  if (process.argv.includes('--check')) {
    const committed = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : ''
    if (committed !== text) {
      console.error(`${OUT} differs from what the JS libraries make now; run: node tests/ilp/vectors.js`)
      process.exit(1)
    }
    console.log(`${OUT} is what the JS libraries make`)
  } else if (process.argv.includes('--stdout')) {
    process.stdout.write(text)
  } else {
    fs.writeFileSync(OUT, text)
    console.log('wrote ' + OUT)
  }
}).catch(e => { console.error('vectors failed:', e); process.exit(1) })
