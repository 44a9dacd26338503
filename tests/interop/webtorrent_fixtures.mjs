// What the webtorrent-fixtures package records about each of its .torrent files, as
// JSON on stdout (for ilpt's interop tests): file name -> { infoHash, contentPath }.
//
// Usage: node webtorrent_fixtures.mjs FIXTURES_PACKAGE_DIR
//
// The package's index.js parses every fixture with parse-torrent (an independent
// implementation); `infoHash` is null for a fixture it does not parse (corrupt.torrent).
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const dir = process.argv[2]
const index = pathToFileURL(path.resolve(dir, 'index.js')).href
const fixtures = (await import(index)).default
const out = {}
for (const fixture of Object.values(fixtures)) {
  if (!fixture.torrentPath) continue
  out[path.basename(fixture.torrentPath)] = {
    infoHash: fixture.parsedTorrent ? fixture.parsedTorrent.infoHash : null,
    contentPath: fixture.contentPath ?? null
  }
}
console.log(JSON.stringify(out))
