#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The benchmark's report: raw samples as CSV, medians and ratios as a
markdown table, the targets checked, and latency against size (log-log,
one line per method) drawn with gnuplot.

Usage: report.py OUTDIR RESULTS.txt...

RESULTS.txt are what dom0's hdbench wrote to the lab's second serial port
(or a boot log: only lines starting with "HDBENCH " are read).
"""
import collections
import csv
import os
import statistics
import subprocess
import sys

SHARES = ["hyper_dmabuf", "gntdev", "copy", "floor", "reshare", "release"]
STREAMS = ["stream-hyper_dmabuf-reshare", "stream-hyper_dmabuf", "stream-gntdev",
           "stream-copy"]
SIZE_NAMES = {4096: "4 KiB", 1048576: "1 MiB", 8294400: "8 MiB (1080p)",
              33177600: "33 MiB (4K)", 67108864: "64 MiB"}
BIG = 8294400


def size_name(s):
    return SIZE_NAMES.get(s, "%d B" % s)


def quartiles(v):
    v = sorted(v)
    if len(v) < 4:
        return v[0], v[-1]
    q = statistics.quantiles(v, n=4)
    return q[0], q[2]


def tagged(path, tag):
    """The lines of @path that hold @tag, each as (the line, where @tag is);
    none if @path cannot be read."""
    try:
        with open(path, errors="replace") as f:
            lines = f.read().replace("\r", "").split("\n")
    except OSError:
        return
    for line in lines:
        i = line.find(tag)
        if i >= 0:
            yield line, i


def parse(paths):
    samples = collections.defaultdict(list)   # (boot, dir, imp, method, size) -> [ns]
    streams = []
    errors = []
    bad = 0
    for path in paths:
        for line, i in tagged(path, "HDBENCH "):
            w = line[i:].split()
            try:
                if w[1] == "sample" and len(w) == 9:
                    samples[(w[2], w[3], w[4], w[5], int(w[6]))].append(int(w[8]))
                elif w[1] == "stream" and len(w) == 13:
                    streams.append(dict(boot=w[2], dir=w[3], importer=w[4], method=w[5],
                                        size=int(w[6]), frames=int(w[7]),
                                        elapsed_ns=int(w[8]), exp_cpu_ns=int(w[9]),
                                        exp_proc_us=int(w[10]), imp_cpu_ns=int(w[11]),
                                        imp_proc_us=int(w[12])))
                elif w[1] == "error":
                    errors.append(" ".join(w[2:]))
                elif w[1] not in ("start", "end"):
                    bad += 1
            except (IndexError, ValueError):
                bad += 1
    return samples, streams, errors, bad


def parse_phases(paths):
    """Phase lines of the boot logs beside the result files: where the time
    of one share goes, call by call, on each side."""
    phases = collections.defaultdict(list)   # (boot, dir, method, size, phase) -> [ns]
    for path in paths:
        d, f = os.path.split(path)
        if not f.startswith("results-"):
            continue
        boot = f[len("results-"):-len(".txt")]
        for line, i in tagged(os.path.join(d, "boot-%s.log" % boot), "HDBENCH phase "):
            domu = line.startswith("[")
            w = line[i:].split()
            if len(w) < 8 or (len(w) - 6) % 2:
                continue
            side = w[2]
            direction = "d2u" if (side == "importer") == domu else "u2d"
            try:
                size = int(w[4])
                for j in range(6, len(w), 2):
                    phases[(boot, direction, w[3], size, w[j])].append(int(w[j + 1]))
            except ValueError:
                continue
    return phases


def main():
    out = sys.argv[1]
    samples, streams, errors, bad = parse(sys.argv[2:])
    phases = parse_phases(sys.argv[2:])
    os.makedirs(out, exist_ok=True)
    if not samples:
        print("[bench] no samples came back; see the boot logs in", out)
        return 1

    with open(os.path.join(out, "samples.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["boot", "direction", "importer", "method", "size_bytes", "iteration",
                    "ns"])
        for k in sorted(samples):
            for i, ns in enumerate(samples[k]):
                w.writerow(list(k) + [i, ns])

    med = {}
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["boot", "direction", "importer", "method", "size_bytes", "n",
                    "median_ms", "p25_ms", "p75_ms", "min_ms", "max_ms"])
        for k in sorted(samples):
            v = samples[k]
            m = statistics.median(v)
            lo, hi = quartiles(v)
            med[k] = m
            w.writerow(list(k) + [len(v)] + ["%.4f" % (x / 1e6) for x in
                                              (m, lo, hi, min(v), max(v))])
    with open(os.path.join(out, "streams.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["boot", "direction", "importer", "method", "size_bytes", "frames",
                    "seconds", "fps", "exporter_cpu_ms_per_frame",
                    "importer_cpu_ms_per_frame", "exporter_process_ms_per_frame",
                    "importer_process_ms_per_frame"])
        for s in streams:
            n = max(s["frames"], 1)
            w.writerow([s["boot"], s["dir"], s["importer"], s["method"], s["size"],
                        s["frames"], "%.2f" % (s["elapsed_ns"] / 1e9),
                        "%.2f" % (s["frames"] / (s["elapsed_ns"] / 1e9)),
                        "%.2f" % (s["exp_cpu_ns"] / 1e6 / n),
                        "%.2f" % (s["imp_cpu_ns"] / 1e6 / n),
                        "%.2f" % (s["exp_proc_us"] / 1e3 / n),
                        "%.2f" % (s["imp_proc_us"] / 1e3 / n)])

    cases = sorted({k[:3] for k in samples if k[3] != "ping"},
                   key=lambda c: (c[0], c[1] != "d2u"))
    md = []
    targets = []
    md.append("Medians of %s timed iterations (after the warm-up) in milliseconds, "
              "the interquartile range in brackets; ratios of medians measured in the "
              "same boot." % ", ".join(sorted({str(len(v)) for v in samples.values()})))
    md.append("")
    for boot in sorted({k[0] for k in samples}):
        p = samples.get((boot, "both", "-", "ping", 32))
        if p:
            md.append("- boot `%s`: vchan round trip (ping) median %.3f ms, included once "
                      "in every end-to-end time (hyper_dmabuf, gntdev, copy, reshare, "
                      "release)" % (boot, statistics.median(p) / 1e6))
    md.append("")

    def cell(k):
        if k not in samples:
            return "n/a"
        lo, hi = quartiles(samples[k])
        return "%.2f [%.2f-%.2f]" % (med[k] / 1e6, lo / 1e6, hi / 1e6)

    def ratio(a, b):
        if a not in med or b not in med or not med[b]:
            return None
        return med[a] / med[b]

    def fmt(r):
        return "n/a" if r is None else "%.2f" % r

    for boot, d, imp in cases:
        exporter = {"d2u": "dom0 (PV)", "u2d": "the %s domU" % boot.upper()}.get(d, d)
        md.append("### boot `%s`, %s: exporter %s, importer %s" % (
            boot, d, exporter, imp))
        md.append("")
        md.append("| size | " + " | ".join(SHARES) +
                  " | hyper_dmabuf / floor | gntdev / hyper_dmabuf | copy / hyper_dmabuf"
                  " | first share / re-share |")
        md.append("|" + "---|" * (len(SHARES) + 5))
        for size in sorted({k[4] for k in samples if k[:3] == (boot, d, imp)}):
            key = lambda m: (boot, d, imp, m, size)
            r_floor = ratio(key("hyper_dmabuf"), key("floor"))
            r_gnt = ratio(key("gntdev"), key("hyper_dmabuf"))
            r_copy = ratio(key("copy"), key("hyper_dmabuf"))
            r_re = ratio(key("hyper_dmabuf"), key("reshare"))
            md.append("| %s | %s | %s | %s | %s | %s |" % (
                size_name(size), " | ".join(cell(key(m)) for m in SHARES),
                fmt(r_floor), fmt(r_gnt), fmt(r_copy), fmt(r_re)))
            where = "%s %s %s" % (boot, d, size_name(size))
            if size >= BIG and r_floor is not None:
                targets.append((r_floor <= 1.2, "hyper_dmabuf / floor <= 1.2", where,
                                r_floor))
            if r_gnt is not None:
                targets.append((r_gnt > 1.0, "faster than gntdev (gntdev / hd > 1)",
                                where, r_gnt))
            if size >= BIG and r_copy is not None:
                targets.append((r_copy >= 5.0, "copy / hyper_dmabuf >= 5", where, r_copy))
            if size == BIG and r_re is not None:
                targets.append((r_re >= 100.0, "first share / re-share >= 100", where,
                                r_re))
        md.append("")
        st = [s for s in streams if (s["boot"], s["dir"], s["importer"]) == (boot, d, imp)]
        if st:
            md.append("Streaming frames of %s for %.0f s each, lockstep:" % (
                size_name(st[0]["size"]), st[0]["elapsed_ns"] / 1e9))
            md.append("")
            md.append("| method | frames/s | exporter domain CPU ms/frame | importer domain "
                      "CPU ms/frame | exporter process ms/frame | importer process "
                      "ms/frame |")
            md.append("|---|---|---|---|---|---|")
            for s in sorted(st, key=lambda s: STREAMS.index(s["method"])
                            if s["method"] in STREAMS else 99):
                n = max(s["frames"], 1)
                md.append("| %s | %.1f | %.2f | %.2f | %.2f | %.2f |" % (
                    s["method"], s["frames"] / (s["elapsed_ns"] / 1e9),
                    s["exp_cpu_ns"] / 1e6 / n, s["imp_cpu_ns"] / 1e6 / n,
                    s["exp_proc_us"] / 1e3 / n, s["imp_proc_us"] / 1e3 / n))
            md.append("")
    if phases:
        md.append("### Where the time goes: median of each call, in milliseconds")
        md.append("")
        md.append("hyper_dmabuf: `export` is the exporter's EXPORT ioctl; `announce` is "
                  "what is left of the end-to-end median once the export, the importer's "
                  "IMPORT ioctl, its mmap(), its read of one byte per page (`touch`) and "
                  "half a vchan round trip (the importer's done message) are taken away: "
                  "the announcement's trip from the exporter's send queue to the "
                  "importer's NEW_IMPORT event. gntdev: the exporter's IMP_TO_REFS, then "
                  "the importer's MAP_GRANT_REF, mmap() and touch; the floor is those "
                  "three alone.")
        md.append("")
        cols = [("hyper_dmabuf", "export"), ("hyper_dmabuf", "announce"),
                ("hyper_dmabuf", "import"), ("hyper_dmabuf", "mmap"),
                ("hyper_dmabuf", "touch"), ("gntdev", "imp_to_refs"),
                ("gntdev", "map_ioctl"), ("gntdev", "mmap"), ("floor", "map_ioctl"),
                ("floor", "mmap"), ("floor", "touch")]
        md.append("| boot | direction | size | " + " | ".join("%s %s" % c for c in cols) + " |")
        md.append("|" + "---|" * (len(cols) + 3))
        for boot, d, size in sorted({(k[0], k[1], k[3]) for k in phases}):
            row = []
            total = [k for k in samples if k[0] == boot and k[1] == d and
                     k[3] == "hyper_dmabuf" and k[4] == size]
            ping = samples.get((boot, "both", "-", "ping", 32))
            parts = [phases.get((boot, d, "hyper_dmabuf", size, ph))
                     for ph in ("export", "import", "mmap", "touch")]
            if total and ping and all(parts):
                rest = med[total[0]] - sum(statistics.median(v) for v in parts) - \
                    statistics.median(ping) / 2
                phases[(boot, d, "hyper_dmabuf", size, "announce")] = [rest]
            for m, ph in cols:
                v = phases.get((boot, d, m, size, ph))
                row.append("%.2f" % (statistics.median(v) / 1e6) if v else "n/a")
            md.append("| %s | %s | %s | %s |" % (boot, d, size_name(size), " | ".join(row)))
        md.append("")
    md.append("### Targets")
    md.append("")
    for ok, what, where, val in targets:
        md.append("- %s: %s at %s (%.2f)" % ("holds" if ok else "**missed**", what, where,
                                              val))
    if errors:
        md.append("")
        md.append("### Errors")
        md.append("")
        for e in errors:
            md.append("- `%s`" % e)
    if bad:
        md.append("")
        md.append("%d result lines were garbled and dropped." % bad)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")

    plot(out, samples, med, cases)
    print("\n".join(md))
    print("[bench] %s: results.md, results.csv, samples.csv, streams.csv, latency.png" % out)
    held = sum(1 for t in targets if t[0])
    print("[bench] targets: %d held, %d missed; %d errors" % (held, len(targets) - held,
                                                             len(errors)))
    return 0


def plot(out, samples, med, cases):
    data = os.path.join(out, "latency.dat")
    blocks = []
    with open(data, "w") as f:
        for boot, d, imp in cases:
            for m in SHARES:
                rows = sorted((k[4], med[k]) for k in med if k[:4] == (boot, d, imp, m))
                if not rows:
                    continue
                f.write("# %s %s %s %s\n" % (boot, d, imp, m))
                for size, ns in rows:
                    f.write("%d %.6f\n" % (size, ns / 1e6))
                f.write("\n\n")
                blocks.append((boot, d, imp, m))
    cols = 2
    rows = (len(cases) + cols - 1) // cols
    g = ["set terminal pngcairo size %d,%d font ',9'" % (640 * cols, 440 * rows),
         "set output '%s'" % os.path.join(out, "latency.png"),
         "set multiplot layout %d,%d title 'hyper_dmabuf benchmark: median latency "
         "against buffer size (Xen 4.17 in QEMU TCG)'" % (rows, cols),
         "set termoption noenhanced",
         "set logscale xy", "set grid", "set key top left",
         "set xlabel 'buffer size (bytes)'", "set ylabel 'median latency (ms)'",
         "set format x '%.0s%cB'"]
    for boot, d, imp in cases:
        idx = [i for i, b in enumerate(blocks) if b[:3] == (boot, d, imp)]
        g.append("set title 'boot %s, %s, importer %s'" % (boot, d, imp))
        g.append("plot " + ", ".join(
            "'%s' index %d using 1:2 with linespoints linetype %d title '%s'"
            % (data, i, SHARES.index(blocks[i][3]) + 1, blocks[i][3]) for i in idx))
    g.append("unset multiplot")
    try:
        subprocess.run(["gnuplot"], input="\n".join(g), text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("[bench] gnuplot failed:", e)


if __name__ == "__main__":
    sys.exit(main())
