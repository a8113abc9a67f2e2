#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# A domain that dies while it shares buffers with dom0 (run in dom0 only).
#
# Boots throwaway PV domUs with xl (hdlab.role=serve on their command line:
# their init runs only the hyper_dmabuf_xdom_test servant), destroys each
# with "xl destroy" at one point of sharing (hyper_dmabuf_xdom_test victim)
# and checks that dom0's exported_ids, imported, grants_in_use and
# mapped_pages come back to their baseline.  The points: imported and
# mapped on both sides, with an export waiting for its fence and one
# unexported while imported (victim 1); in the middle of an export
# (victim 2); right after the announcements, both ways (victim 3); in the
# middle of mapping its buffer (victim 4).  The last domU, booted after the
# others died (each with a new domain id), proves that dom0 still shares.
#
# Environment: HYPER_DMABUF_VICTIM_KERNEL, HYPER_DMABUF_VICTIM_RAMDISK
# (kernel and initramfs of the throwaway domUs; skip if unset),
# HYPER_DMABUF_VICTIM_TYPE (pv, default, or pvh), HYPER_DMABUF_XDOM_WAIT
# (seconds for a domU to answer, default 240), HYPER_DMABUF_VICTIM_POINTS
# (all, default, or short: victims 1 and 5 only, the others skipped, for a
# second boot of the same dom0).
#
# Output: TAP 13.  Exit status: 0 passed, 1 failed, 4 skipped.

ksft_pass=0
ksft_fail=1
ksft_skip=4

DIR=$(dirname "$0")
PROG="$DIR/hyper_dmabuf_xdom_test"
CONSOLE=/var/log/xen/console
TESTS="victim1_dies_while_sharing victim2_dies_while_exporting
victim3_dies_after_the_announcements victim4_dies_while_mapped
victim5_shares_after_the_deaths"
VICTIMS=
num=0
nfail=0

echo "TAP version 13"
echo "1..5"

skip_all() {
	for t in $TESTS; do
		num=$((num + 1))
		echo "ok $num $t # SKIP $1"
	done
	exit $ksft_skip
}

cleanup() {
	for v in $VICTIMS; do
		xl destroy "$v" 2>/dev/null
	done
}

diag() {
	echo "# $*"
}

grep -q control_d /proc/xen/capabilities 2>/dev/null ||
	skip_all "not dom0 of a Xen host"
[ -n "$HYPER_DMABUF_VICTIM_KERNEL" ] && [ -n "$HYPER_DMABUF_VICTIM_RAMDISK" ] ||
	skip_all "HYPER_DMABUF_VICTIM_KERNEL and HYPER_DMABUF_VICTIM_RAMDISK not set"
[ -r "$HYPER_DMABUF_VICTIM_KERNEL" ] && [ -r "$HYPER_DMABUF_VICTIM_RAMDISK" ] ||
	skip_all "cannot read $HYPER_DMABUF_VICTIM_KERNEL or $HYPER_DMABUF_VICTIM_RAMDISK"
command -v xl >/dev/null || skip_all "no xl"
[ -x "$PROG" ] || skip_all "$PROG missing"

trap cleanup EXIT
trap 'exit $ksft_fail' INT TERM HUP

# victim NAME TEST POINT: boot domain NAME, let it die at POINT.
victim() {
	name=$1
	cfg=/tmp/$name.cfg
	if [ "${HYPER_DMABUF_VICTIM_POINTS:-all}" = short ] &&
	   [ "$3" != shares ]; then
		num=$((num + 1))
		echo "ok $num $2 # SKIP HYPER_DMABUF_VICTIM_POINTS=short"
		return
	fi
	seed=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
	num=$((num + 1))
	cat > "$cfg" <<CFG
name = "$name"
type = "${HYPER_DMABUF_VICTIM_TYPE:-pv}"
kernel = "$HYPER_DMABUF_VICTIM_KERNEL"
ramdisk = "$HYPER_DMABUF_VICTIM_RAMDISK"
extra = "console=hvc0 hdlab.name=$name hdlab.role=serve hdlab.seed=$seed"
memory = 256
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG
	if ! xl create "$cfg" > "/tmp/$name.create" 2>&1; then
		sed 's/^/# xl create: /' "/tmp/$name.create"
		echo "not ok $num $2"
		nfail=$((nfail + 1))
		return
	fi
	VICTIMS="$VICTIMS $name"
	domid=$(xl domid "$name")
	diag "$name is domain $domid"
	t0=$(date +%s)
	"$PROG" victim "$name" "$domid" "$3"
	rc=$?
	diag "$name: $(( $(date +%s) - t0 )) s"
	if xl domid "$name" >/dev/null 2>&1; then
		xl destroy "$name"
		[ $rc -eq 0 ] && rc=1 && diag "$name still exists"
	fi
	case $rc in
	0)
		echo "ok $num $2" ;;
	4)
		echo "ok $num $2 # SKIP see above" ;;
	*)
		nfail=$((nfail + 1))
		[ -r "$CONSOLE/guest-$name.log" ] &&
			tail -n 30 "$CONSOLE/guest-$name.log" | tr -d '\r' |
			sed "s/^/#   console: /"
		echo "not ok $num $2" ;;
	esac
}

victim hdvictim1 victim1_dies_while_sharing shares
victim hdvictim2 victim2_dies_while_exporting exporting
victim hdvictim3 victim3_dies_after_the_announcements announced
victim hdvictim4 victim4_dies_while_mapped mapping
victim hdvictim5 victim5_shares_after_the_deaths shares

[ $nfail -gt 0 ] && exit $ksft_fail
exit $ksft_pass
