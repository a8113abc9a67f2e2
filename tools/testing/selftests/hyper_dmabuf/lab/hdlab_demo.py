#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The host's half of the lab's demo boot.

  hdlab_demo.py SERIAL LOG OUTDIR RESULTS

SERIAL is what dom0 wrote to its second serial port: for each frame a line
"HDDEMOIMG NAME GZBYTES key=value..." followed by GZBYTES of gzipped
XRGB8888 pixels, then "HDDEMOEND". LOG is the boot's console log, with the
"HDDEMO ..." lines of the demo programs in dom0 and the domU.

Writes OUTDIR/NAME.png for every frame, checks that the pixels that reached
the host still have the checksum the domU announced, prints what crossed
between the domains (ids, sizes, checksums, the time of every step) and
appends PASS/FAIL rows to RESULTS. Exits 1 if the demo did not work.
"""
import gzip
import os
import re
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hdlab_parse  # noqa: E402

DEMO_LINE = re.compile(r'HDDEMO (\w+)((?: \S+)*)\s*$')
FNV_OFFSET = 0xcbf29ce484222325
FNV_PRIME = 0x100000001b3


def fnv1a64(data):
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xffffffffffffffff
    return h


def kv(text):
    return dict(w.split('=', 1) for w in text.split() if '=' in w)


def png(path, w, h, xrgb):
    """An 8-bit RGB PNG of little-endian XRGB8888 pixels (B, G, R, X)."""
    rows = bytearray()
    stride = w * 4
    for y in range(h):
        line = xrgb[y * stride:(y + 1) * stride]
        rgb = bytearray(w * 3)
        rgb[0::3] = line[2::4]
        rgb[1::3] = line[1::4]
        rgb[2::3] = line[0::4]
        rows += b'\0' + rgb

    def chunk(kind, data):
        c = kind + data
        return struct.pack('>I', len(data)) + c + struct.pack('>I', zlib.crc32(c))

    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n')
        f.write(chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b'IDAT', zlib.compress(bytes(rows), 6)))
        f.write(chunk(b'IEND', b''))


def read_frames(serial):
    """[(name, info dict, pixels)] from the second serial port's bytes."""
    frames = []
    try:
        with open(serial, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        return None, f'{serial} missing: dom0 sent nothing'
    pos = 0
    while True:
        start = data.find(b'HDDEMO', pos)
        if start < 0:
            return frames, 'no HDDEMOEND: the transfer was cut short'
        end = data.find(b'\n', start)
        if end < 0:
            return frames, 'truncated header'
        head = data[start:end].decode('ascii', 'replace').split()
        if head[0] == 'HDDEMOEND':
            return frames, None
        if head[0] != 'HDDEMOIMG' or len(head) < 3 or not head[2].isdigit():
            return frames, f'bad header {head[:3]}'
        n = int(head[2])
        blob = data[end + 1:end + 1 + n]
        if len(blob) != n:
            return frames, f'{head[1]}: {len(blob)} of {n} bytes'
        try:
            pixels = gzip.decompress(blob)
        except (OSError, EOFError) as e:
            return frames, f'{head[1]}: {e}'
        frames.append((head[1], kv(' '.join(head[3:])), pixels))
        pos = end + 1 + n


def demo_lines(log):
    """{kind: [dict]} of the HDDEMO lines in the boot log, by domain role."""
    found = {}
    with open(log, 'rb') as f:
        for line in f.read().decode('utf-8', 'replace').split('\n'):
            i = line.find('HDDEMO ')
            if i < 0:
                continue
            m = DEMO_LINE.match(line[i:].rstrip('\r'))
            if m:
                found.setdefault(m.group(1), []).append(kv(m.group(2)))
    return found


def ms(d, key):
    v = d.get(key)
    return f'{v} ms' if v is not None else '?'


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    serial, log, outdir, results = argv[1:]
    os.makedirs(outdir, exist_ok=True)
    rows = []
    lines = demo_lines(log)
    sent = {d.get('frame'): d for d in lines.get('SENT', [])}
    got = {d.get('n'): d for d in lines.get('FRAME', [])}
    reverse = lines.get('REVERSE', [])
    fails = lines.get('FAIL', [])

    for n in sorted(got):
        d = got[n]
        s = sent.get(n, {})
        print(f"[demo] frame {n}: domU -> dom0, id {d.get('id')} "
              f"(slot {d.get('slot')}, domid byte {d.get('domid_byte')}, "
              f"exporter domain {d.get('exporter')}), {d.get('size')} bytes, "
              f"{d.get('w')}x{d.get('h')} XRGB8888"
              + (', re-shared (update event, same id)' if d.get('update') == '1' else ''))
        print(f"[demo]   checksum (FNV-1a 64) announced {d.get('fnv_announced')}, "
              f"read in dom0 {d.get('fnv_read')}: {d.get('verdict', '?').upper()}")
        print(f"[demo]   times: render {ms(s, 't_render_ms')}, export {ms(s, 't_export_ms')}"
              f" (domU); event {ms(d, 't_event_ms')}, import {ms(d, 't_import_ms')}, "
              f"mmap {ms(d, 't_map_ms')}, verify {ms(d, 't_verify_ms')}, "
              f"save {ms(d, 't_save_ms')}, answer {ms(d, 't_ack_ms')} (dom0)")
    for r in reverse:
        print(f"[demo] dom0 -> domU: answer {r.get('frame')} id {r.get('id')}, "
              f"{r.get('bytes')} bytes, checksum {r.get('fnv')}: "
              f"{r.get('verdict', '?').upper()} in the domU")
    for f in fails:
        print(f"[demo] FAILED at step {f.get('step', '?')} (see {log})")

    frames, err = read_frames(serial)
    pictures = []
    for name, info, pixels in frames or []:
        try:
            w, h = int(info['w']), int(info['h'])
            want = int(info['fnv'], 16)
        except (KeyError, ValueError):
            rows.append(('FAIL', f'demo: host: {name} received', f'bad info {info}'))
            continue
        path = os.path.join(outdir, name + '.png')
        if len(pixels) != w * h * 4:
            rows.append(('FAIL', f'demo: host: {name} received',
                         f'{len(pixels)} bytes for {w}x{h}'))
            continue
        got = fnv1a64(pixels)
        png(path, w, h, pixels)
        pictures.append(path)
        rows.append(('PASS' if got == want else 'FAIL',
                     f'demo: host: {name}.png has the pixels the domU announced',
                     path if got == want else f'checksum differs: {got:016x}'))
    if err or not frames:
        rows.append(('FAIL', 'demo: host: frames received over the second serial port',
                     f'{err or "no frame"}; file {serial}'))
    for p in pictures:
        print(f'[demo] picture: {p}')
    hdlab_parse.add(results, *rows)
    return 1 if any(r[0] == 'FAIL' for r in rows) or fails else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
