#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark's boots (tooling/hdlab bench runs this after the lab's
# build): hdbench built static against the lab kernel's uapi headers, the
# lab's initramfs images with hdbench and the bench scripts laid over them,
# one boot of Xen with dom0 and a PV domU, one with a PVH domU, and the
# report (tooling/bench/report.py) in build/bench.
#
# Usage: lab.sh BUILD_DIR [PLAN...]   PLAN is NAME:TYPE=BOOT (default both)
# Environment: HDBENCH_REPS, HDBENCH_WARM, HDBENCH_STREAM_S, HDBENCH_SIZES
# (bytes, space separated), HDBENCH_DIRS, HDBENCH_TIMEOUT (s per boot),
# HDLAB_QEMU, HDLAB_XEN.

set -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "$1" && pwd) || exit 2
shift
LAB=$BUILD/lab
KOBJ=$BUILD/obj-lab
B=$BUILD/bench
QEMU=${HDLAB_QEMU:-qemu-system-x86_64}
TIMEOUT=${HDBENCH_TIMEOUT:-5400}
PLANS=${*:-bench1:pv=pv bench2:pvh=pvh}
XEN_CMDLINE="console=com1 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all noreboot"

die() { echo "bench: error: $*" >&2; exit 1; }
stage_t0=0
stage() {
	[ $stage_t0 = 0 ] || printf '[stage] %-26s %5d s\n' "$stage_name" $(( $(date +%s) - stage_t0 ))
	stage_name=$1
	stage_t0=$(date +%s)
	[ -n "$1" ] && echo "[stage] $1 ..."
}

[ -d "$LAB/root-dom0" ] && [ -d "$BUILD/linux" ] ||
	die "no lab build in $BUILD: run tooling/hdlab bench (it builds first)"
mkdir -p "$B"

# The benchmark's kernel: the lab's kernel without its debug options
# (lockdep, kmemleak, DEBUG_OBJECTS, DMABUF_DEBUG and fault injection cost
# far more on some paths than on others, which would skew the ratios) and
# without hyper_dmabuf's test hooks: what users run. Its own object folder,
# so that the test command's build stays as it is.
KB=$BUILD/obj-bench
KSRC=$BUILD/linux
# HDBENCH_TRACE=1: a profile instead of the figures. The same kernel with
# the function-graph tracer, in folders of its own; dom0 traces the Xen
# backend's share, map and mmap (tooling/bench/trace.py sums the calls).
if [ -n "$HDBENCH_TRACE" ]; then
	KB=$BUILD/obj-bench-trace
	B=$BUILD/bench-trace
	mkdir -p "$B"
fi
stage "bench kernel"
mkdir -p "$KB"
cat "$KSRC/tools/testing/selftests/hyper_dmabuf/lab/config.xen" \
	"$KSRC/tools/testing/selftests/hyper_dmabuf/config" |
	sed 's/^CONFIG_HYPER_DMABUF_DEBUG=y/# CONFIG_HYPER_DMABUF_DEBUG is not set/' > "$B/config.bench"
[ -n "$HDBENCH_TRACE" ] && printf '%s\n' CONFIG_FTRACE=y CONFIG_FUNCTION_TRACER=y \
	CONFIG_FUNCTION_GRAPH_TRACER=y CONFIG_DYNAMIC_FTRACE=y >> "$B/config.bench"
make -s -C "$KSRC" O="$KB" KCONFIG_CONFIG=.config.new allnoconfig >/dev/null || die "allnoconfig"
(cd "$KSRC" && KCONFIG_CONFIG=$KB/.config.new scripts/kconfig/merge_config.sh -m -O "$KB" \
	"$KB/.config.new" "$B/config.bench") > "$B/merge_config.log" 2>&1 || die "merge_config"
make -s -C "$KSRC" O="$KB" KCONFIG_CONFIG=.config.new olddefconfig >/dev/null 2>&1 || die "olddefconfig"
grep -q '^CONFIG_PROVE_LOCKING=y\|^CONFIG_DEBUG_KMEMLEAK=y\|^CONFIG_DMABUF_DEBUG=y' "$KB/.config.new" &&
	die "the bench kernel has debug options"
grep -q '^CONFIG_HYPER_DMABUF_XEN=m' "$KB/.config.new" || die "no Xen backend in the bench kernel"
cmp -s "$KB/.config.new" "$KB/.config" && rm -f "$KB/.config.new" || mv "$KB/.config.new" "$KB/.config"
CC_WRAP=gcc
command -v ccache >/dev/null && CC_WRAP="ccache gcc"
make -s -C "$KSRC" O="$KB" -j"$(nproc)" CC="$CC_WRAP" bzImage modules > "$B/kbuild.log" 2>&1 ||
	{ tail -n 30 "$B/kbuild.log"; die "bench kernel build failed: $B/kbuild.log"; }
rm -rf "$B/modroot"
make -s -C "$KSRC" O="$KB" INSTALL_MOD_PATH="$B/modroot" modules_install >> "$B/kbuild.log" 2>&1 ||
	die "modules_install failed"

stage "bench build"
gcc -Wall -Wextra -Werror -O2 -static -isystem "$LAB/hdr/include" -o "$B/hdbench" \
	"$HERE/hdbench.c" -lxenvchan -lxengnttab -lxenevtchn -lxenstore -lxentoolcore \
	-lxentoollog -lpthread || die "hdbench does not build (libxen-dev?)"

pack() { (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) > "$2"; }
rm -rf "$B/root-domU" "$B/root-dom0"
cp -a "$LAB/root-domU" "$B/root-domU"
rm -rf "$B/root-domU/lib/modules"
cp -a "$B/modroot/lib/modules" "$B/root-domU/lib/"
install -m 755 "$B/hdbench" "$B/root-domU/usr/bin/hdbench"
install -m 755 "$HERE/domU.sh" "$B/root-domU/hdlab/run-tests.sh"
pack "$B/root-domU" "$B/domU.cpio.gz"
cp -a "$LAB/root-dom0" "$B/root-dom0"
rm -rf "$B/root-dom0/lib/modules"
cp -a "$B/modroot/lib/modules" "$B/root-dom0/lib/"
cp "$KB/arch/x86/boot/bzImage" "$B/root-dom0/hdlab/bzImage"
install -m 755 "$B/hdbench" "$B/root-dom0/usr/bin/hdbench"
install -m 755 "$HERE/dom0.sh" "$B/root-dom0/hdlab/dom0.sh"
cp "$B/domU.cpio.gz" "$B/root-dom0/hdlab/domU.cpio.gz"
pack "$B/root-dom0" "$B/dom0.cpio.gz"

knobs=
[ -n "$HDBENCH_REPS" ] && knobs="$knobs hdbench.reps=$HDBENCH_REPS"
[ -n "$HDBENCH_WARM" ] && knobs="$knobs hdbench.warm=$HDBENCH_WARM"
[ -n "$HDBENCH_STREAM_S" ] && knobs="$knobs hdbench.stream=$HDBENCH_STREAM_S"
[ -n "$HDBENCH_SIZES" ] && knobs="$knobs hdbench.sizes=$(echo $HDBENCH_SIZES | tr ' ' :)"
[ -n "$HDBENCH_DIRS" ] && knobs="$knobs hdbench.dirs=$(echo $HDBENCH_DIRS | tr ' ' :)"
[ -n "$HDBENCH_TRACE" ] && knobs="$knobs hdbench.trace=1"

serials=
for p in $PLANS; do
	plan=${p%%=*}
	name=${p#*=}
	cpu=qemu64
	case "$plan" in *:pvh) cpu=qemu64,+svm,+npt ;; esac
	log=$B/boot-$name.log
	serial=$B/results-$name.txt
	rm -f "$serial"
	stage "bench boot $name"
	seed=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
	timeout -k 10 "$TIMEOUT" $QEMU -nographic -no-reboot -m 4096 -smp 2 -cpu "$cpu" \
		-monitor none -serial stdio -serial "file:$serial" \
		-kernel "$LAB/xen" -append "$XEN_CMDLINE" \
		-initrd "$KB/arch/x86/boot/bzImage console=hvc0 earlyprintk=xen hdlab.plan=$plan hdlab.seed=$seed hdbench.boot=$name$knobs,$B/dom0.cpio.gz" \
		< /dev/null 2>&1 | tee "$log" | grep --line-buffered -E 'HDBENCH (start|end|error)|HDLAB BENCH|hdbench:|BUG:|WARNING:|Oops|Triple fault'
	rc=${PIPESTATUS[0]}
	[ $rc = 0 ] || echo "[bench] $name: QEMU exit status $rc (124: timeout), log $log"
	serials="$serials $serial"
done
stage "bench report"
python3 "$HERE/report.py" "$B" $serials
[ -n "$HDBENCH_TRACE" ] && python3 "$HERE/trace.py" "$B" $serials
stage ""
