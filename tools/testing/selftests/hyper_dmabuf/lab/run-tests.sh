#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run every test program of this domain and the lab's own checks.
# Usage: run-tests.sh NAME
#
# Output protocol (one line each, read by hdlab_parse.py on the host):
#   HDLAB BEGIN NAME
#   HDLAB CHECK NAME CHECKNAME PASS|FAIL [detail]
#   HDLAB TAP NAME PROGRAM <a line of the program's TAP output>
#   HDLAB EXIT NAME PROGRAM RC
#   HDLAB END NAME

name=$1
# Each program's timeout: the kselftest "settings" file of the collection
# (as the kernel's runner reads it), unless HDLAB_TEST_TIMEOUT is set.
timeout_s=$(sed -n 's/^timeout=//p' /hdlab/tests/settings 2>/dev/null)
timeout_s=${HDLAB_TEST_TIMEOUT:-${timeout_s:-45}}
out=/tmp/hdlab-out
mkdir -p $out

check() { echo "HDLAB CHECK $name $1 $2${3:+ $3}"; }

# check_lockdep NAME: lockdep must still be on (debug_locks 1).
check_lockdep() {
	locks=$(sed -n 's/^ *debug_locks: *//p' /proc/lockdep_stats 2>/dev/null)
	if [ "$locks" = 1 ]; then
		check "$1" PASS
	else
		check "$1" FAIL "debug_locks=$locks"
	fi
}

echo "HDLAB BEGIN $name"

check_lockdep lockdep-on-at-start

# Leaks that predate the tests (boot) are not ours to report.
echo clear > /sys/kernel/debug/kmemleak

if [ "$(cat /sys/hypervisor/type 2>/dev/null)" = xen ]; then
	check running-under-xen PASS
else
	check running-under-xen FAIL "hypervisor type '$(cat /sys/hypervisor/type 2>/dev/null)'"
fi

for mod in $(cat /hdlab/modules.list 2>/dev/null); do
	if modprobe "$mod" 2>/tmp/modprobe.err; then
		check "load-$mod" PASS
	else
		check "load-$mod" FAIL "$(cat /tmp/modprobe.err)"
	fi
done

# The programs of tools/hyper_dmabuf, which the tool's test and the demo
# run from PATH: without them those would only be skipped.
for p in hyper_dmabuf_tool hyper_dmabuf_demo; do
	if command -v $p >/dev/null; then
		check "installed-$p" PASS
	else
		check "installed-$p" FAIL "not in PATH ($PATH)"
	fi
done

# kselftest-list.txt names the tests (collection:program); helper scripts
# such as hyper_dmabuf_allow.sh sit beside them but are not run on their own.
# A domU serves the cross-domain test first: dom0 orchestrates it after its
# own single-domain tests, so no domain gets another domain's buffers (and
# their events) while its single-domain tests run.
# The demo boot (HDLAB_DEMO, in dom0 and its domU) runs only the demo's
# exchange.
if [ -n "$HDLAB_DEMO" ]; then
	list=hyper_dmabuf:hyper_dmabuf_demo.sh
elif [ -n "$HDLAB_COUNT" ]; then
	# Counting guests the emulator kills: the uapi test in each domU.
	list=
	[ "$name" = dom0 ] || list=hyper_dmabuf:hyper_dmabuf_test
else
	list=$(cat /hdlab/tests/kselftest-list.txt)
fi
if [ "$name" != dom0 ]; then
	list="$(echo "$list" | grep xdom_test) $(echo "$list" | grep -v xdom_test)"
fi
for entry in $list; do
	p=${entry#*:}
	prog=/hdlab/tests/$p
	cd /hdlab/tests
	# A program this domain leaves to another boot (HDLAB_SKIP) is
	# reported as one skipped result, with the reason.
	case " $HDLAB_SKIP " in
	*" $p "*)
		echo "HDLAB TAP $name $p 1..1"
		echo "HDLAB TAP $name $p ok 1 $p # SKIP $HDLAB_SKIP_WHY"
		echo "HDLAB EXIT $name $p 0"
		continue ;;
	esac
	timeout -s KILL "$timeout_s" "$prog" > "$out/$p" 2>&1
	rc=$?
	sed "s/^/HDLAB TAP $name $p /" "$out/$p"
	echo "HDLAB EXIT $name $p $rc"
	# A domU's single-domain tests count on the LIFO order of its free
	# ids: the ids its peers still held when the cross-domain test ended
	# must be back first (they come back as the peers release them).
	if [ "$name" != dom0 ] && [ "$p" = hyper_dmabuf_xdom_test ]; then
		ids=/sys/kernel/debug/hyper_dmabuf/exported_ids
		i=0
		while [ "$(cat $ids 2>/dev/null)" != 0 ] && [ $i -lt 60 ]; do
			sleep 1
			i=$((i + 1))
		done
		left=$(cat $ids 2>/dev/null)
		if [ "$left" = 0 ]; then
			check ids-back-after-xdom PASS
		else
			check ids-back-after-xdom FAIL "exported_ids=$left after 60 s"
		fi
	fi
done

# dom0 waits here for its domUs, so that its final checks cover them.
[ -n "$HDLAB_BEFORE_END" ] && $HDLAB_BEFORE_END

# Leak check: objects must be older than kmemleak's minimum age (5 s) and
# found unreferenced by two scans in a row to be reported.
sleep 6
echo scan > /sys/kernel/debug/kmemleak
echo scan > /sys/kernel/debug/kmemleak
if [ -s /sys/kernel/debug/kmemleak ]; then
	sed "s/^/HDLAB KMEMLEAK $name /" /sys/kernel/debug/kmemleak
	n=$(grep -c '^unreferenced object' /sys/kernel/debug/kmemleak)
	check kmemleak-clean FAIL "$n leaks"
else
	check kmemleak-clean PASS
fi

check_lockdep lockdep-on-at-end
echo "HDLAB END $name"
