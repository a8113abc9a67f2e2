#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# dom0's part of a lab run: start xenstored and xenconsoled, create the
# domUs of the plan, stream their consoles (prefixed "[name] ") onto dom0's
# console, and run dom0's tests; wait-domus.sh then waits, bounded, for
# every domU to finish before dom0's final checks.
#
# The plan comes from dom0's command line: hdlab.plan=NAME:TYPE[+NAME:TYPE...]
# with TYPE pv or pvh, e.g. hdlab.plan=pv1:pv+pvh1:pvh. hdlab.domid=random
# makes xl pick random domids (up to 32751, so most are above 255).

say() { echo "HDLAB $*"; }

wait_for() { # SECONDS COMMAND...: poll COMMAND until it succeeds
	n=$1
	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 1
	done
}

xenstored --pid-file /run/xenstored.pid
if ! wait_for 30 xenstore-read -s /; then
	say CHECK dom0 xenstored-up FAIL "no answer within 30 s"
	exit 1
fi
xen-init-dom0 >/tmp/xen-init-dom0.log 2>&1 || cat /tmp/xen-init-dom0.log
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest \
	--log-dir=/var/log/xen/console --replace-escape
[ "$HDLAB_DOMID_POLICY" = random ] && echo 'domid_policy="random"' > /etc/xen/xl.conf

domus=$(echo "$HDLAB_PLAN" | tr '+' ' ')
say PLAN dom0 $(for d in $domus; do printf '%s ' "${d%%:*}"; done)

for d in $domus; do
	name=${d%%:*}
	type=${d#*:}
	seed=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
	args="console=hvc0 hdlab.name=$name hdlab.seed=$seed"
	[ -n "$HDLAB_TEST_TIMEOUT" ] && args="$args hdlab.test_timeout=$HDLAB_TEST_TIMEOUT"
	cat > /tmp/$name.cfg <<CFG
name = "$name"
type = "$type"
kernel = "/hdlab/bzImage"
ramdisk = "/hdlab/domU.cpio.gz"
extra = "$args"
memory = 256
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG
	t0=$(date +%s)
	if xl create /tmp/$name.cfg >/tmp/$name.create 2>&1; then
		t0=$(( $(date +%s) - t0 ))
		say CHECK dom0 create-$name PASS "$type domid $(xl domid $name) in $t0 s"
	else
		say CHECK dom0 create-$name FAIL "$(tail -n 3 /tmp/$name.create | tr '\n' ' ')"
		continue
	fi
	log=/var/log/xen/console/guest-$name.log
	(tail -n +1 -F "$log" 2>/dev/null | tr -d '\r' |
		while IFS= read -r line; do echo "[$name] $line"; done) &
done

HDLAB_BEFORE_END=/hdlab/wait-domus.sh /hdlab/run-tests.sh dom0
