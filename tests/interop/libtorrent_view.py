"""What libtorrent sees in a .torrent, as JSON on stdout (for ilpt's interop tests).

Usage: /usr/bin/python3 -I libtorrent_view.py TORRENT [SAVE_PATH]

Prints the v1 info-hash, name, sizes, trackers and files, with paths relative to the
torrent's root as `ilpt inspect --json` gives them. With SAVE_PATH (the directory that
holds the torrent's file or folder), also reads the data in libtorrent's file order and
reports whether it matches every piece hash ("data_matches_piece_hashes").
"""
import hashlib
import json
import sys

import libtorrent as lt

ti = lt.torrent_info(sys.argv[1])
fs = ti.files()
multi = b"files" in lt.bdecode(ti.info_section())


def rel(i):
    path = fs.file_path(i)
    return path[len(ti.name()) + 1:] if multi else path


def pad(i):
    return bool(fs.file_flags(i) & fs.flag_pad_file)


view = {
    "info_hash": str(ti.info_hashes().v1),
    "name": ti.name(),
    "total_length": ti.total_size(),
    "piece_length": ti.piece_length(),
    "piece_count": ti.num_pieces(),
    "trackers": [t.url for t in ti.trackers()],
    "files": [
        {"path": rel(i), "length": fs.file_size(i), "pad": pad(i)}
        for i in range(fs.num_files())
    ],
}
if len(sys.argv) > 2:
    data = b"".join(
        bytes(fs.file_size(i)) if pad(i) else open(fs.file_path(i, sys.argv[2]), "rb").read()
        for i in range(fs.num_files())
    )
    n = ti.piece_length()
    view["data_matches_piece_hashes"] = len(data) == ti.total_size() and all(
        hashlib.sha1(data[k * n:(k + 1) * n]).digest() == ti.hash_for_piece(k)
        for k in range(ti.num_pieces())
    )
print(json.dumps(view))
