#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# hyper_dmabuf Xen lab: build a kernel with hyper_dmabuf, boot it as dom0
# and domUs under the real Xen hypervisor in QEMU (software emulation), run
# the kselftests in every domain and the KUnit suites, and report.
#
# Usage: vmtest.sh [-k KERNEL_TREE] [-o OUTPUT_DIR] [-r RESULTS] COMMAND
#
#   build           configure and build the kernel, the selftests, the
#                   programs of tools/hyper_dmabuf and the initramfs images
#   initramfs       rebuild only the initramfs images
#   boot PLAN NAME  boot Xen with dom0 and the domUs of PLAN, parse results
#   kunit           run the hyper_dmabuf KUnit suites (UML, KASAN)
#   test            build, kunit, then every lab boot, then the totals line
#   demo            build, then boot dom0 with one domU (the demo plan):
#                   a picture crosses from the domU to dom0 and lands as
#                   PNG files in OUTPUT_DIR/demo
#
# A PLAN is NAME:TYPE[+NAME:TYPE...], TYPE being pv or pvh, for example
# "pv1:pv" (dom0 and one PV domU) or "pv1:pv+pvh1:pvh" (two domUs). Add
# "@random" to have xl pick random domids (most of them above 255),
# "@demo" to run the demo's exchange instead of the tests (one domU), or
# "@count" to run only the single-domain uapi test in the domUs and none in
# dom0 (tooling/pvh-count: how often the emulator kills a PVH guest).
#
# Environment: HDLAB_JOBS (make -j), HDLAB_BOOT_TIMEOUT (whole boot, s),
# HDLAB_QEMU (the emulator command, default qemu-system-x86_64),
# HDLAB_XEN (Xen's gzipped image), HDLAB_XEN_BIN (Xen's tools),
# HDLAB_QEMU_EXTRA (more QEMU options), HDLAB_KCONFIG_EXTRA (more kernel
# config fragments, for example to try KASAN), HDLAB_SPARSE (the sparse
# to check with),
# HDLAB_DOMU_TIMEOUT (dom0's wait for its domUs, s), HDLAB_TEST_TIMEOUT
# (each test program, s), HDLAB_SUMMARY=0 (test: leave the totals line to
# the caller, which adds results of its own to RESULTS).
#
# Needs: qemu-system-x86, xen-hypervisor-4.17-amd64, xen-utils-4.17,
# xenstore-utils, busybox-static and a kernel build toolchain.

set -o pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KSRC=$(cd "$LAB_DIR/../../../../.." && pwd)
OUT=
RESULTS=
JOBS=${HDLAB_JOBS:-$(nproc)}
BOOT_TIMEOUT=${HDLAB_BOOT_TIMEOUT:-900}
XEN_GZ=${HDLAB_XEN:-/boot/xen-4.17-amd64.gz}
XEN_BIN=${HDLAB_XEN_BIN:-/usr/lib/xen-4.17/bin}
# The emulator, with options of its own if needed (word-split).
QEMU=${HDLAB_QEMU:-qemu-system-x86_64}
PARSE="python3 $LAB_DIR/hdlab_parse.py"
XEN_CMDLINE="console=com1 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all noreboot"
# In QEMU's -initrd, a comma separates multiboot modules and a space starts
# a module's command line: no commas in here.
DOM0_CMDLINE="console=hvc0 earlyprintk=xen"

while getopts "k:o:r:" opt; do
	case $opt in
	k) KSRC=$(cd "$OPTARG" && pwd) ;;
	o) OUT=$OPTARG ;;
	r) RESULTS=$OPTARG ;;
	*) sed -n '4,20p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
OUT=${OUT:-$KSRC/.hdlab}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
KOBJ=$OUT/obj-lab
KUOBJ=$OUT/obj-kunit-um
LAB=$OUT/lab
RESULTS=${RESULTS:-$LAB/results.tsv}
# A caller with stages of its own (apt, unpack, git am) passes their file.
STAGES=${HDLAB_STAGES:-$LAB/stages.tsv}
# sparse: the one HDLAB_SPARSE names (tooling/hdlab builds one new enough
# for this kernel), or the first in PATH.
SPARSE=${HDLAB_SPARSE:-sparse}
CC_WRAP=gcc
command -v ccache >/dev/null && CC_WRAP="ccache gcc"
export CCACHE_DIR=${CCACHE_DIR:-$OUT/ccache}

SUMMARY_ON_DIE=
die() {
	echo "vmtest.sh: error: $*" >&2
	# test and demo always end with the totals line, even when a stage dies.
	if [ -n "$SUMMARY_ON_DIE" ]; then
		local failed=${STAGE:-setup}

		stage_end
		$PARSE add "$RESULTS" FAIL "lab: $failed" "$*"
		[ "$HDLAB_SUMMARY" = 0 ] || $PARSE summary "$RESULTS"
	fi
	exit 1
}

STAGE=
STAGE_T0=0
stage_end() {
	[ -n "$STAGE" ] || return 0
	local dt=$(( $(date +%s%N) / 1000000 - STAGE_T0 ))
	printf '[stage] %-26s %5d.%01d s\n' "$STAGE" $((dt / 1000)) $((dt % 1000 / 100))
	printf '%s\t%d\n' "$STAGE" "$dt" >> "$STAGES"
	STAGE=
}
stage() {
	stage_end
	STAGE=$1
	STAGE_T0=$(( $(date +%s%N) / 1000000 ))
	echo "[stage] $1 ..."
}

# --- kernel -----------------------------------------------------------

kernel_config() {
	local frags="$LAB_DIR/config.xen $LAB_DIR/config.debug $LAB_DIR/../config"
	local f line new=$KOBJ/.config.new

	frags="$frags $HDLAB_KCONFIG_EXTRA"

	mkdir -p "$KOBJ"
	make -s -C "$KSRC" O="$KOBJ" KCONFIG_CONFIG=.config.new allnoconfig >/dev/null ||
		die "allnoconfig failed"
	(cd "$KSRC" && KCONFIG_CONFIG=$new scripts/kconfig/merge_config.sh -m -O "$KOBJ" \
		"$new" $frags) > "$LAB/merge_config.log" 2>&1 ||
		die "merge_config failed: $LAB/merge_config.log"
	make -s -C "$KSRC" O="$KOBJ" KCONFIG_CONFIG=.config.new olddefconfig >/dev/null ||
		die "olddefconfig failed"
	for f in $frags; do
		while read -r line; do
			case "$line" in
			CONFIG_*=*)
				grep -qx "$line" "$new" ||
					die "$line (from $f) did not stick in the kernel config"
				;;
			esac
		done < "$f"
	done
	# Keep the old .config (and its timestamp) when nothing changed, so
	# that a warm run rebuilds nothing.
	if cmp -s "$new" "$KOBJ/.config"; then
		rm -f "$new"
	else
		mv "$new" "$KOBJ/.config"
	fi
}

kernel_build() {
	make -s -C "$KSRC" O="$KOBJ" -j"$JOBS" CC="$CC_WRAP" bzImage modules \
		> "$LAB/kbuild.log" 2>&1 ||
		{ tail -n 40 "$LAB/kbuild.log"; die "kernel build failed: $LAB/kbuild.log"; }
	rm -rf "$LAB/modroot" "$LAB/hdr"
	make -s -C "$KSRC" O="$KOBJ" INSTALL_MOD_PATH="$LAB/modroot" modules_install \
		>> "$LAB/kbuild.log" 2>&1 || die "modules_install failed: $LAB/kbuild.log"
	make -s -C "$KSRC" O="$KOBJ" INSTALL_HDR_PATH="$LAB/hdr" headers_install \
		>> "$LAB/kbuild.log" 2>&1 || die "headers_install failed: $LAB/kbuild.log"
}

# W=1 and sparse over the driver, in the lab kernel's configuration.
driver_checks() {
	local log=$LAB/driver-checks.log

	# The kernel's Makefile drops C=2 with a one-line note when sparse is
	# missing or too old for it: that note fails the check too.
	make -s -C "$KSRC" O="$KOBJ" C=2 W=1 CC="$CC_WRAP" CHECK="$SPARSE" \
		drivers/dma-buf/hyper_dmabuf/ > "$log" 2>&1
	if [ $? -eq 0 ] && ! grep -qE 'warning:|error:|specified, but' "$log"; then
		$PARSE add "$RESULTS" PASS "build: hyper_dmabuf is W=1 and sparse clean"
	else
		$PARSE add "$RESULTS" FAIL "build: hyper_dmabuf is W=1 and sparse clean" \
			"$(grep -m1 -E 'warning:|error:|specified, but' "$log"), log $log"
	fi
}

# install_static NAME DIR ARGS...: a fresh $LAB/NAME build of DIR, static
# (the initramfs has no libc) against the lab kernel's uapi headers, then
# "make install" with ARGS; the log is $LAB/NAME.log.
install_static() {
	local name=$1 dir=$2

	shift 2
	rm -rf "$LAB/$name" "$LAB/$name-install"
	mkdir -p "$LAB/$name"
	make -s -C "$dir" OUTPUT="$LAB/$name/" KHDR_INCLUDES="-isystem $LAB/hdr/include" \
		LDFLAGS=-static "$@" install > "$LAB/$name.log" 2>&1 ||
		{ cat "$LAB/$name.log"; die "$name build failed: $LAB/$name.log"; }
}

selftests_build() {
	local dir=$KSRC/tools/testing/selftests/hyper_dmabuf

	install_static kselftest "$dir" INSTALL_PATH="$LAB/kselftest-install"
	# The programs to run, in the kselftest-list format (collection:test).
	make -s -C "$dir" OUTPUT="$LAB/kselftest" COLLECTION=hyper_dmabuf emit_tests \
		> "$LAB/kselftest-install/kselftest-list.txt" || die "selftests emit_tests failed"
}

# The tool and the demo, with tools/hyper_dmabuf's own Makefile; every
# domain has them in /usr/bin (in its PATH), where the tool's test and the
# demo's script find them.
tools_build() {
	install_static tools "$KSRC/tools/hyper_dmabuf" DESTDIR="$LAB/tools-install"
}

# --- initramfs --------------------------------------------------------

# copy_bin ROOT FILE...: copy programs and the shared libraries they need.
copy_bin() {
	local root=$1 f lib
	shift
	for f in "$@"; do
		cp -L --parents "$f" "$root"
		for lib in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
			[ -e "$root$lib" ] || cp -L --parents "$lib" "$root"
		done
	done
}

make_root() { # ROOT ROLE
	local root=$1 role=$2 a
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,etc/xen,var,hdlab/tests}
	cp /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list-full); do
		[ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
	done
	mknod -m 600 "$root/dev/console" c 5 1
	mknod -m 666 "$root/dev/null" c 1 3
	cp "$LAB_DIR/init.sh" "$root/init"
	cp "$LAB_DIR/run-tests.sh" "$LAB/hdlab-seed" "$root/hdlab/"
	cp -a "$LAB/kselftest-install/." "$root/hdlab/tests/"
	cp -a "$LAB/tools-install/." "$root/"
	# All modules (with modules.dep), so that modprobe pulls dependencies;
	# modules.list names those the runner loads.
	[ -d "$LAB/modroot/lib/modules" ] && cp -a "$LAB/modroot/lib" "$root/"
	find "$LAB/modroot" -name 'hyper_dmabuf*.ko' -printf '%f\n' | sed 's/\.ko$//' | sort \
		> "$root/hdlab/modules.list"
	copy_bin "$root" /usr/bin/xenstore
	for a in read write ls list rm exists watch chmod; do
		ln -sf xenstore "$root/usr/bin/xenstore-$a"
	done
	cp -L --parents /lib/x86_64-linux-gnu/libgcc_s.so.1 /lib64/ld-linux-x86-64.so.2 "$root"
	if [ "$role" = dom0 ]; then
		copy_bin "$root" $XEN_BIN/xl $XEN_BIN/xenstored $XEN_BIN/xenconsoled \
			$XEN_BIN/xenconsole $XEN_BIN/xen-init-dom0
		cp "$LAB_DIR/dom0.sh" "$LAB_DIR/wait-domus.sh" "$root/hdlab/"
		cp "$KOBJ/arch/x86/boot/bzImage" "$root/hdlab/bzImage"
		cp "$LAB/domU.cpio.gz" "$root/hdlab/domU.cpio.gz"
	fi
}

pack_root() { # ROOT CPIO.GZ
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) > "$2"
}

initramfs_build() {
	[ -r "$XEN_GZ" ] || die "$XEN_GZ missing: install xen-hypervisor-4.17-amd64"
	zcat "$XEN_GZ" > "$LAB/xen"
	gcc -Wall -O2 -static -o "$LAB/hdlab-seed" "$LAB_DIR/hdlab-seed.c" ||
		die "cannot build hdlab-seed"
	make_root "$LAB/root-domU" domU
	pack_root "$LAB/root-domU" "$LAB/domU.cpio.gz"
	make_root "$LAB/root-dom0" dom0
	pack_root "$LAB/root-dom0" "$LAB/dom0.cpio.gz"
}

cmd_build() {
	mkdir -p "$LAB"
	stage "kernel config"
	kernel_config
	stage "kernel build"
	kernel_build
	if [ -n "$WITH_CHECKS" ] && [ -d "$KSRC/drivers/dma-buf/hyper_dmabuf" ]; then
		stage "W=1 + sparse"
		driver_checks
	fi
	stage "selftests build"
	selftests_build
	stage "tools build"
	tools_build
	stage "initramfs"
	initramfs_build
	stage_end
}

# --- boots ------------------------------------------------------------

# stamp_lines LOG TIMES: copy standard input to LOG, and each line with the
# seconds since the start to TIMES (where a boot spends its time).
stamp_lines() {
	perl -MTime::HiRes=time -e '
		open(my $log, ">", $ARGV[0]) or die; open(my $t, ">", $ARGV[1]) or die;
		$log->autoflush(1); my $t0 = time;
		while (<STDIN>) { print $log $_; printf $t "%7.1f %s", time - $t0, $_; }' "$1" "$2"
}

# boot PLAN NAME: one QEMU run of Xen, dom0 and the plan's domUs.
cmd_boot() {
	local plan=$1 name=$2 log=$LAB/boot-$2.log extra="" cpu=qemu64 rc modules
	local demo= serial2=$LAB/demo-serial.bin
	[ -n "$plan" ] && [ -n "$name" ] || die "usage: boot PLAN NAME"
	case "$plan" in
	*@random) extra=" hdlab.domid=random"; plan=${plan%@random} ;;
	*@demo) extra=" hdlab.demo=1"; plan=${plan%@demo}; demo=1 ;;
	*@count) extra=" hdlab.count=1"; plan=${plan%@count} ;;
	esac
	rm -f "$serial2"
	[ -n "$HDLAB_DOMU_TIMEOUT" ] && extra="$extra hdlab.domu_timeout=$HDLAB_DOMU_TIMEOUT"
	[ -n "$HDLAB_TEST_TIMEOUT" ] && extra="$extra hdlab.test_timeout=$HDLAB_TEST_TIMEOUT"
	# PVH guests need HAP, which TCG offers through an emulated AMD NPT.
	case "$plan" in *:pvh*) cpu=qemu64,+svm,+npt ;; esac
	stage "boot $name"
	echo "[boot] $name: plan $plan, log $log"
	# dom0 credits this seed to its entropy pool and derives the domUs'.
	extra="$extra hdlab.seed=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
	modules="$KOBJ/arch/x86/boot/bzImage $DOM0_CMDLINE hdlab.plan=$plan$extra"
	modules="$modules,$LAB/dom0.cpio.gz"
	timeout -k 10 "$BOOT_TIMEOUT" $QEMU -nographic -no-reboot $HDLAB_QEMU_EXTRA \
		-m 4096 -smp 2 -cpu "$cpu" -monitor none -serial stdio \
		${demo:+-serial file:$serial2} \
		-kernel "$LAB/xen" \
		-append "$XEN_CMDLINE" \
		-initrd "$modules" \
		< /dev/null 2>&1 | stamp_lines "$log" "$log.times"
	rc=${PIPESTATUS[0]}
	stage_end
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		$PARSE add "$RESULTS" FAIL "$name: lab: boot finished in time" \
			"killed after $BOOT_TIMEOUT s; log kept: $log"
	fi
	$PARSE boot "$log" "$name" "$RESULTS" || die "cannot parse $log"
	if [ -n "$demo" ]; then
		python3 "$LAB_DIR/hdlab_demo.py" "$serial2" "$log" "$OUT/demo" "$RESULTS" ||
			echo "[demo] the demo failed: the step is named above; logs: $log"
	fi
	if grep -q "^FAIL	$name" "$RESULTS"; then
		echo "[boot] $name: failures; the log is $log"
	fi
}

cmd_kunit() {
	local log=$LAB/kunit.log rc
	mkdir -p "$LAB"
	stage "kunit (UML, KASAN)"
	# UML: the suites need no hardware, and its kernel builds in a
	# fraction of the time of an x86_64 one.
	(cd "$KSRC" && python3 tools/testing/kunit/kunit.py run --arch=um \
		--kunitconfig=drivers/dma-buf/hyper_dmabuf --build_dir="$KUOBJ" \
		--jobs="$JOBS" --timeout=600 --make_options="CC=$CC_WRAP") > "$log" 2>&1
	rc=$?
	stage_end
	grep -E '^\[..:..:..\] (Testing complete|=+|\[)' "$log" | tail -n 40 | sed 's/^/[kunit] /'
	$PARSE kunit "$log" "$RESULTS"
	[ $rc -eq 0 ] || $PARSE add "$RESULTS" FAIL "kunit: kunit.py exit status" "$rc, log $log"
}

# The boots of the test command: dom0 with two PV domUs at random domids
# (most above 255), and dom0 with a PVH and a PV domU (domU to domU from
# PVH, where vgem's CPU path works).  dom0 shares with every domU of a
# plan, so these two cover dom0 <-> PV, dom0 <-> PVH and domU <-> domU; the
# boots with a single domU ran the same programs in the same kinds of
# domains and were dropped to keep a warm run near 15 minutes.  (A PVH
# guest can be killed by QEMU's emulation of nested SVM; hdlab_parse.py
# reports what such a guest could not finish as skipped, never as passed.)
# Last, the demo's boot: its exchange and the pictures that reach the host
# are checked like a test.
TEST_PLANS="pv2:pv+pv3:pv@random=pv-pv pvh2:pvh+pv4:pv=pvh-pv"
TEST_PLANS="$TEST_PLANS demo1:pv@demo=demo"
DEMO_PLAN="demo1:pv@demo=demo"

case "$1" in
build)
	cmd_build ;;
initramfs)
	mkdir -p "$LAB"
	stage "initramfs"
	initramfs_build
	stage_end ;;
boot)
	mkdir -p "$LAB"
	cmd_boot "$2" "$3" ;;
kunit)
	cmd_kunit ;;
test)
	SUMMARY_ON_DIE=1
	WITH_CHECKS=1
	[ -n "$HDLAB_STAGES" ] || : > "$STAGES"
	[ "$RESULTS" != "$LAB/results.tsv" ] || : > "$RESULTS"
	cmd_build
	[ -d "$KSRC/drivers/dma-buf/hyper_dmabuf" ] && cmd_kunit
	for p in $TEST_PLANS; do
		cmd_boot "${p%%=*}" "${p#*=}"
	done
	echo "[stage] durations:"
	awk -F'\t' '{ printf "  %-28s %7.1f s\n", $1, $2 / 1000; t += $2 }
		END { printf "  %-28s %7.1f s\n", "sum of stages", t / 1000 }' "$STAGES"
	echo "[lab] logs: $LAB"
	[ "$HDLAB_SUMMARY" = 0 ] || $PARSE summary "$RESULTS" ;;
demo)
	SUMMARY_ON_DIE=1
	cmd_build
	cmd_boot "${DEMO_PLAN%%=*}" "${DEMO_PLAN#*=}"
	$PARSE summary "$RESULTS" ;;
*)
	sed -n '4,20p' "$0"
	exit 2 ;;
esac
