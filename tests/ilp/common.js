// What connector.js, receiver.js and sender.js share: command-line options, an ILP-over-HTTP
// plugin (RFC 0035) that listens on 127.0.0.1 only, and leaving when the parent test does.
'use strict'
const { parseArgs } = require('util')
const PluginHttp = require('ilp-plugin-http')

const LOOPBACK = '127.0.0.1'

// Parses `process.argv` against `options` (util.parseArgs), or prints `usage` and exits 2.
function options (usage, options, allowPositionals = false) {
  try {
    const parsed = parseArgs({ options: { help: { type: 'boolean' }, ...options }, allowPositionals })
    if (parsed.values.help) { console.error(usage); process.exit(0) }
    return parsed
  } catch (e) {
    console.error(e.message + '\n\n' + usage)
    process.exit(2)
  }
}

// A TCP port from an option, or exit 2.
function port (text, name) {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    console.error(`--${name}: expected a TCP port, found ${JSON.stringify(text)}`)
    process.exit(2)
  }
  return n
}

// `CODE:SCALE` (`USD:2`) as { code, scale }, or exit 2.
function asset (text, name) {
  const m = /^([A-Za-z0-9]{1,32}):([0-9]{1,3})$/.exec(text || '')
  if (!m || Number(m[2]) > 255) {
    console.error(`--${name}: expected CODE:SCALE (e.g. USD:2), found ${JSON.stringify(text)}`)
    process.exit(2)
  }
  return { code: m[1], scale: Number(m[2]) }
}

// An unsigned integer as a decimal string (amounts are u64: no JS numbers), or exit 2.
function amount (text, name) {
  if (!/^(0|[1-9][0-9]{0,19})$/.test(text || '') || BigInt(text) >= 2n ** 64n) {
    console.error(`--${name}: expected an integer from 0 to 2^64-1, found ${JSON.stringify(text)}`)
    process.exit(2)
  }
  return text
}

// ilp-plugin-http, listening on 127.0.0.1:`listenPort` for packets bearing `incomingToken` and
// posting to `outgoingUrl` with `outgoingToken`. The plugin passes its `port` to Node's
// `server.listen`, which also takes { port, host }: that keeps it off other interfaces.
function loopbackPlugin ({ listenPort, incomingToken, outgoingUrl, outgoingToken, name }) {
  return new PluginHttp({
    incoming: { port: { port: listenPort, host: LOOPBACK }, staticToken: incomingToken },
    outgoing: { url: outgoingUrl, staticToken: outgoingToken, http2: false, name }
  })
}

// With `--exit-with-stdin`, the process ends when its stdin closes: a test that dies without
// killing its children still takes them down.
function exitWithStdin (enabled) {
  if (!enabled) return
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
  process.stdin.resume()
}

// Prints the one JSON line a test waits for.
function ready (what, fields) {
  process.stdout.write(JSON.stringify({ ready: what, ...fields }) + '\n')
}

// Resolves once something accepts TCP connections on 127.0.0.1:`p`, rejects after `ms`.
function waitForPort (p, ms = 10000) {
  const net = require('net')
  const deadline = Date.now() + ms
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect({ port: p, host: LOOPBACK })
      s.once('connect', () => { s.destroy(); resolve() })
      s.once('error', () => {
        s.destroy()
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${LOOPBACK}:${p}`))
        else setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}

module.exports = { LOOPBACK, options, port, asset, amount, loopbackPlugin, exitWithStdin, ready, waitForPort }
