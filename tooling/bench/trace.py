#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sum a function-graph trace of the Xen backend (HDBENCH_TRACE=1): for each
traced entry point (share, map, mmap, unshare, unmap), the mean time per
call of each function it calls, two levels down.

Usage: trace.py OUTDIR RESULTS.txt...  (writes OUTDIR/trace.md)
"""
import collections
import os
import re
import sys

from report import tagged

LINE = re.compile(r"^\s*(\d+)\)\s*([+!#*@$]?)\s*([\d.]+) us\s*\|(\s*)(.*)$")
OPEN = re.compile(r"^\s*(\d+)\)\s*\|(\s*)(\S.*)\(\) \{$")


def name_of(text):
    text = text.strip()
    m = re.match(r"\} /\* (\S+)", text)
    if m:
        return m.group(1)
    m = re.match(r"(\S+?)(?: \[\S+\])?\(\);", text)
    return m.group(1) if m else None


def main():
    out = sys.argv[1]
    calls = collections.Counter()               # top -> calls
    total = collections.Counter()               # top -> us
    child = collections.defaultdict(collections.Counter)   # top -> name -> us
    nchild = collections.defaultdict(collections.Counter)
    grand = collections.defaultdict(collections.Counter)   # (top, child) -> name -> us
    lines = 0
    for path in sys.argv[2:]:
        stacks = collections.defaultdict(list)   # per CPU: the open calls
        for raw, i in tagged(path, "HDTRACE "):
            line = raw[i + 8:]
            lines += 1
            m = OPEN.match(line)
            if m:
                stack = stacks[m.group(1)]
                depth = len(m.group(2)) // 2
                stack[:] = stack[:depth - 1] + [m.group(3).split(" ")[0]]
                continue
            m = LINE.match(line)
            if not m:
                continue
            stack = stacks[m.group(1)]
            us = float(m.group(3))
            depth = len(m.group(4)) // 2
            text = m.group(5).strip()
            if text == "}" and len(stack) >= depth:
                name = stack[depth - 1]
            else:
                name = name_of(text)
            if not name:
                continue
            path_ = stack[:depth - 1] + [name]
            if depth == 1:
                calls[name] += 1
                total[name] += us
            elif depth == 2 and path_:
                child[path_[0]][name] += us
                nchild[path_[0]][name] += 1
            elif depth == 3 and len(path_) >= 2:
                grand[(path_[0], path_[1])][name] += us
            stack[:] = stack[:depth - 1]
    md = ["Function-graph trace of dom0's Xen backend (three levels), mean time per "
          "call of the entry point, in microseconds.", ""]
    for top in sorted(calls):
        n = calls[top]
        md.append("### %s: %d calls, %.0f us each" % (top, n, total[top] / n))
        md.append("")
        md.append("| callee | calls per call | us per call | share |")
        md.append("|---|---|---|---|")
        for name, us in child[top].most_common(12):
            md.append("| %s | %.1f | %.0f | %.0f %% |" % (
                name, nchild[top][name] / n, us / n, 100 * us / max(total[top], 1)))
            for gname, gus in grand[(top, name)].most_common(4):
                md.append("| &nbsp;&nbsp;%s | | %.0f | %.0f %% |" % (
                    gname, gus / n, 100 * gus / max(total[top], 1)))
        md.append("")
    if not calls:
        md.append("No trace came back (%d trace lines)." % lines)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "trace.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
