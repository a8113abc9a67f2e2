#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn a hyper_dmabuf lab serial log into test results.

  hdlab_parse.py boot LOG BOOTNAME RESULTS   parse one lab boot
  hdlab_parse.py kunit LOG RESULTS           parse a kunit.py run
  hdlab_parse.py add RESULTS STATUS NAME [DETAIL]
  hdlab_parse.py summary RESULTS             print the totals line

RESULTS is a tab-separated file of "STATUS<TAB>NAME<TAB>DETAIL" lines with
STATUS one of PASS, FAIL, SKIP. summary exits 1 if any line is FAIL or if
nothing ran.

The log mixes Xen's lines ("(XEN) ..."), dom0's console (kernel messages and
the runner's "HDLAB ..." lines) and every domU's console, which dom0 streams
with a "[name] " prefix.
"""
import re
import sys

SPLATS = [
    (re.compile(r'WARNING:'), 'WARNING'),
    (re.compile(r'\bBUG:'), 'BUG'),
    (re.compile(r'kernel BUG at'), 'BUG'),
    (re.compile(r'possible (circular|recursive) locking|inconsistent lock state|'
                r'suspicious RCU usage|lock held when returning'), 'lockdep'),
    (re.compile(r'KASAN:'), 'KASAN'),
    (re.compile(r'UBSAN:'), 'UBSAN'),
    (re.compile(r'\bOops\b|general protection fault'), 'Oops'),
    (re.compile(r'Kernel panic'), 'panic'),
    (re.compile(r'kmemleak: \d+ new suspected memory leaks|^unreferenced object 0x'), 'kmemleak'),
    (re.compile(r'ODEBUG:'), 'debugobjects'),
    (re.compile(r'list_(add|del) corruption'), 'list corruption'),
]
XEN_SPLATS = re.compile(r'Xen BUG|Panic on CPU|FATAL PAGE FAULT|Assertion .* failed')
TRIPLE = re.compile(r'\bd(\d+)v\d+ Triple fault')
EMU_FAULT = re.compile(r'ENTRY_TRAMPOLINE stack guard page was hit')
EMU_REASON = 'QEMU 7.2 TCG nested-SVM, PVH guests; see README'
TAP = re.compile(r'^(not ok|ok)\s+(\d+)\s*-?\s*(.*?)\s*(#\s*(SKIP|TODO)\b.*)?$')
PREFIX = re.compile(r'^\[([A-Za-z0-9_.-]+)\] (.*)$')
ANSI = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')


def add(results, *rows):
    """Append (status, name, detail) rows to RESULTS and print them."""
    with open(results, 'a') as f:
        for status, name, detail in rows:
            f.write(f"{status}\t{name}\t{detail.replace(chr(9), ' ')}\n")
            print(f'{status:4} {name}' + (f'  ({detail})' if detail else ''))


def split_domain(line):
    if line.startswith('(XEN)'):
        return 'xen', line
    m = PREFIX.match(line)
    if m:
        return m.group(1), m.group(2)
    return 'dom0', line


def parse_boot(log, boot, results):
    with open(log, 'rb') as f:
        raw = f.read().decode('utf-8', 'replace')
    expected, begun, ended = {'dom0'}, set(), set()
    tap = {}  # (domain, prog) -> dict(plan, results)
    splats = {}
    out = []          # (status, name, detail, cut_short_domain)
    domids = {}       # xen domid -> domain name
    fault = {}        # domain -> emulator fault seen (line number)
    first_splat = {}  # domain -> line number of its first splat

    def emit(status, dom, name, detail='', cut_short=None):
        """cut_short: the domain whose dying early would explain a FAIL."""
        out.append((status, f'{boot}/{dom}: {name}', detail, cut_short))

    for lineno, line in enumerate(raw.split('\n')):
        line = ANSI.sub('', line.replace('\r', ''))
        dom, text = split_domain(line)
        # Xen's report may land in the middle of a guest's console line
        # (the serial port interleaves them): look for it anywhere.
        m = TRIPLE.search(line)
        if m:
            fault.setdefault(domids.get(m.group(1), 'd' + m.group(1)), lineno)
        if dom == 'xen':
            if not m and XEN_SPLATS.search(text):
                splats.setdefault('xen', []).append(text.strip())
            continue
        if not text.startswith('HDLAB '):
            if EMU_FAULT.search(text):
                fault.setdefault(dom, lineno)
            for rx, kind in SPLATS:
                if rx.search(text):
                    splats.setdefault(dom, []).append(text.strip()[:200])
                    first_splat.setdefault(dom, lineno)
                    break
            continue
        f = text.split(' ', 4)
        kind = f[1] if len(f) > 1 else ''
        if kind == 'PLAN':
            expected.update(text.split()[3:])
        elif kind == 'BEGIN' and len(f) > 2:
            begun.add(f[2])
        elif kind == 'END' and len(f) > 2:
            ended.add(f[2])
        elif kind == 'CHECK' and len(f) > 4:
            st, _, detail = f[4].partition(' ')
            check, _, about = f[3].partition('-')
            m = re.search(r'domid (\d+)', detail)
            if check == 'create' and m:
                domids[m.group(1)] = about
            victim = None
            if check in ('finished', 'create'):
                victim = about
            elif check == 'allow':
                # dom0 allowing a pair fails if the emulator killed one
                # of the two domains first.
                victim = [domids.get(d, 'd' + d) for d in about.split('-')]
            emit('PASS' if st == 'PASS' else 'FAIL', f[2], f'lab: {f[3]}', detail, victim)
        elif kind == 'TAP' and len(f) > 4:
            t = tap.setdefault((f[2], f[3]), {'plan': None, 'seen': [], 'rc': None})
            tl = f[4]
            m = re.match(r'^1\.\.(\d+)', tl)
            if m:
                t['plan'] = int(m.group(1))
                continue
            m = TAP.match(tl)
            if m:
                g = m.groups()
                # 6.1's harness names no skipped test: take its RUN line's.
                if not g[2] and t.get('run'):
                    g = g[:2] + (t['run'],) + g[3:]
                t['seen'].append(g + (t.get('diag', ''), t.get('said', '')))
                t['diag'] = ''
                t['said'] = ''
                t['run'] = ''
            elif re.match(r'^#\s+RUN\s', tl):
                t['diag'] = ''
                t['said'] = ''
                t['run'] = tl.split()[2] if len(tl.split()) > 2 else ''
            elif tl.startswith('# ') and not re.match(r'^#\s+(OK|FAIL|SKIP)\s', tl):
                # The harness's assertion messages explain a failure.
                if 'Expected' not in t.get('diag', ''):
                    t['diag'] = tl[2:].strip()[:200]
                t['said'] = t.get('said', '') + ' ' + tl[2:].strip()
        elif kind == 'EXIT' and len(f) > 4:
            t = tap.setdefault((f[2], f[3]), {'plan': None, 'seen': [], 'rc': None})
            t['rc'] = int(f[4]) if f[4].strip().lstrip('-').isdigit() else -1
    for (dom, prog), t in sorted(tap.items()):
        for res, num, desc, directive, dkind, diag, said in t['seen']:
            if dkind == 'SKIP':
                emit('SKIP', dom, f'{prog}: {desc or num}', directive.lstrip('# ').strip())
            elif res == 'ok':
                emit('PASS', dom, f'{prog}: {desc or num}')
            else:
                # A cross-domain test that failed while talking to a
                # domain of the plan: that domain dying explains it.
                peers = [d for d in sorted(expected) if d != dom and
                         re.search(r'(?<![\w-])' + re.escape(d) + r'(?![\w-])', said)]
                emit('FAIL', dom, f'{prog}: {desc or num}', diag,
                     peers[0] if peers else None)
        problems = []
        if t['rc'] is None:
            problems.append('no exit status (domain died?)')
        elif t['rc'] == 137:
            problems.append('killed by the per-program timeout')
        elif t['rc'] not in (0, 4) and not any(r[0] == 'not ok' for r in t['seen']):
            problems.append(f'exit status {t["rc"]} without a failed test')
        if t['plan'] is not None and t['plan'] != len(t['seen']):
            problems.append(f'planned {t["plan"]} tests, reported {len(t["seen"])}')
        if problems:
            emit('FAIL', dom, f'{prog}: completed', '; '.join(problems), dom)
    for dom in sorted(expected):
        if dom not in begun:
            emit('FAIL', dom, 'lab: domain ran its tests', 'no BEGIN line: it never started',
                 dom)
        elif dom not in ended:
            emit('FAIL', dom, 'lab: domain ran its tests', 'no END line: it hung or died', dom)
        else:
            emit('PASS', dom, 'lab: domain ran its tests')
    for dom in sorted(set(splats) | expected | {'xen'}):
        found = splats.get(dom, [])
        if found:
            emit('FAIL', dom, 'lab: no kernel splat', f'{len(found)} found, first: {found[0]}',
                 dom)
        elif dom != 'xen' or 'xen' in splats:
            emit('PASS', dom, 'lab: no kernel splat')
    # A guest killed by the emulator (QEMU's TCG emulation of nested SVM
    # faults inside a PVH guest's exception entry, or Xen reports a triple
    # fault) did not fail a test of ours: what it reported before counts,
    # what it could not finish is skipped, with the reason. A splat before
    # the fault still fails.
    rows = []
    for status, name, detail, victim in out:
        victims = victim if isinstance(victim, list) else [victim]
        if status == 'FAIL' and any(v in fault and first_splat.get(v, 1 << 60) >= fault[v]
                                    for v in victims):
            status, detail = 'SKIP', f'emulator fault killed the guest ({EMU_REASON}); was: {detail}'
        rows.append((status, name, detail))
    add(results, *rows)
    return 0


def parse_kunit(log, results):
    with open(log, 'rb') as f:
        text = ANSI.sub('', f.read().decode('utf-8', 'replace'))
    rows = []
    suite = None
    for line in text.split('\n'):
        m = re.search(r'={3,} (\S+) \(\d+ subtests?\) ={3,}', line)
        if m:
            suite = m.group(1)
        m = re.search(r'\[(PASSED|FAILED|SKIPPED|CRASHED)\] (\S+)', line)
        if m and suite and m.group(2) != suite:
            st = {'PASSED': 'PASS', 'SKIPPED': 'SKIP'}.get(m.group(1), 'FAIL')
            rows.append((st, f'kunit/{suite}: {m.group(2)}',
                         m.group(1).lower() if st == 'FAIL' else ''))
    add(results, *(rows or [('FAIL', 'kunit: ran', f'no test results in {log}')]))
    return 0


def summary(results):
    counts = {'PASS': 0, 'FAIL': 0, 'SKIP': 0}
    fails = []
    try:
        with open(results) as f:
            rows = [l.rstrip('\n').split('\t') for l in f]
    except FileNotFoundError:
        rows = []
    for row in rows:
        if row[0] in counts:
            counts[row[0]] += 1
        if row[0] == 'FAIL':
            fails.append(row)
    if fails:
        print('\nFailures:')
        for f in fails:
            print(f'  {f[1]}' + (f': {f[2]}' if len(f) > 2 and f[2] else ''))
    line = f"{counts['PASS']} passed, {counts['FAIL']} failed"
    if counts['SKIP']:
        line += f", {counts['SKIP']} skipped"
    print(line)
    return 1 if counts['FAIL'] or not counts['PASS'] else 0


def main(argv):
    if len(argv) >= 5 and argv[1] == 'boot':
        return parse_boot(argv[2], argv[3], argv[4])
    if len(argv) >= 4 and argv[1] == 'kunit':
        return parse_kunit(argv[2], argv[3])
    if len(argv) >= 5 and argv[1] == 'add':
        add(argv[2], (argv[3], argv[4], ' '.join(argv[5:])))
        return 0
    if len(argv) >= 3 and argv[1] == 'summary':
        return summary(argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
