"""Makes a .torrent with libtorrent's create_torrent (for ilpt's interop tests).

Usage: /usr/bin/python3 -I libtorrent_create.py SOURCE OUT v1|hybrid PIECE_LENGTH [TRACKER...]

`v1` makes a BitTorrent v1-only torrent; `hybrid` makes libtorrent's default v1+v2
torrent, whose info dictionary also holds `file tree` and `meta version` and whose v1
file list has BEP 47 pad files.
"""
import os
import sys

import libtorrent as lt

source, out, mode, piece_length = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
flags = {"v1": lt.create_torrent.v1_only, "hybrid": 0}[mode]
fs = lt.file_storage()
lt.add_files(fs, source)
ct = lt.create_torrent(fs, piece_length, flags=flags)
for tracker in sys.argv[5:]:
    ct.add_tracker(tracker)
ct.set_comment("made by libtorrent for ilpt interop — ✓")
lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(source)))
with open(out, "wb") as f:
    f.write(lt.bencode(ct.generate()))
