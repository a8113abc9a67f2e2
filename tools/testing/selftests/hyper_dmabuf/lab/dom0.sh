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
# makes xl pick random domids (up to 32751); the first domU is re-created
# until its domid is above 255, so that the cross-domain test can count on
# one (HYPER_DMABUF_XDOM_EXPECT_HIGH_DOMID).
#
# dom0's tests get the domUs as HYPER_DMABUF_XDOM_PEERS ("name:domid:type
# ...", hyper_dmabuf_xdom_test) and what hyper_dmabuf_peer_death.sh boots
# its throwaway domUs with (HYPER_DMABUF_VICTIM_KERNEL and _RAMDISK).
#
# hdlab.demo=1 (the demo boot): the domU is created paused and both domains
# run only hyper_dmabuf_demo.sh, which unpauses it once dom0 listens and
# sends the frames to the host over the second serial port (/dev/ttyS1).

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
peers=
say PLAN dom0 $(for d in $domus; do printf '%s ' "${d%%:*}"; done)

# The tool's test runs once per kind of domain: in dom0 (the PVH boot),
# in the first PV domU of the all-PV boot and in the PVH domU; the other
# PV domUs, same kernel and kind, leave it out (reported as skipped).
tool_pv=
case "$HDLAB_PLAN" in *:pvh*) tool_pv=a_PV_domU_of_the_all-PV_boot ;; esac
for d in $domus; do
	name=${d%%:*}
	type=${d#*:}
	seed=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
	args="console=hvc0 hdlab.name=$name hdlab.seed=$seed"
	paused=
	if [ -n "$HDLAB_DEMO" ]; then
		args="$args hdlab.role=demo"
		paused=-p
	fi
	[ -n "$HDLAB_TEST_TIMEOUT" ] && args="$args hdlab.test_timeout=$HDLAB_TEST_TIMEOUT"
	[ -n "$HDLAB_COUNT" ] && args="$args hdlab.count=1"
	args="$args hdlab.ioctl_iters=20000"
	if [ "$type" = pv ]; then
		if [ -n "$tool_pv" ]; then
			args="$args hdlab.skip=hyper_dmabuf_tool_test.sh"
			args="$args hdlab.skip_by=$tool_pv"
		else
			tool_pv=$name
		fi
	fi
	cat > /tmp/$name.cfg <<CFG
name = "$name"
type = "$type"
kernel = "/hdlab/bzImage"
ramdisk = "/hdlab/domU.cpio.gz"
extra = "$args"
memory = 512
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG
	t0=$(date +%s)
	if xl create $paused /tmp/$name.cfg >/tmp/$name.create 2>&1 &&
		domid=$(xl domid $name 2>/tmp/$name.domid); then
		# Random domids: 0.8 % of them are below 256; try again.
		tries=1
		while [ "$HDLAB_DOMID_POLICY" = random ] && [ -z "$peers" ] &&
			[ "$domid" -lt 256 ] && [ $tries -lt 5 ]; do
			xl destroy $name
			xl create /tmp/$name.cfg >/tmp/$name.create 2>&1 || break
			domid=$(xl domid $name)
			tries=$((tries + 1))
		done
		t0=$(( $(date +%s) - t0 ))
		say CHECK dom0 create-$name PASS "$type domid $domid in $t0 s"
		peers="$peers $name:$domid:$type"
	else
		# Created, then gone at once (the emulator may kill a guest
		# at its first instruction): say so, with what xl said.
		why=$(cat /tmp/$name.create /tmp/$name.domid 2>/dev/null | tail -n 3)
		say CHECK dom0 create-$name FAIL "$(echo "$why" | tr '\n' ' ')"
		continue
	fi
	log=/var/log/xen/console/guest-$name.log
	(tail -n +1 -F "$log" 2>/dev/null | tr -d '\r' |
		while IFS= read -r line; do echo "[$name] $line"; done) &
done

# Every two domUs of the plan may share with each other (the dom0 command
# of the userspace-api document).
ids=$(for p in $peers; do q=${p#*:}; echo ${q%%:*}; done)
for a in $ids; do
	for b in $ids; do
		[ "$a" -lt "$b" ] || continue
		if out=$(/hdlab/tests/hyper_dmabuf_allow.sh $a $b 2>&1); then
			say CHECK dom0 allow-$a-$b PASS "$out"
		else
			say CHECK dom0 allow-$a-$b FAIL "$out"
		fi
	done
done

export HYPER_DMABUF_XDOM_PEERS="${peers# }"
[ "$HDLAB_DOMID_POLICY" = random ] && export HYPER_DMABUF_XDOM_EXPECT_HIGH_DOMID=1
export HYPER_DMABUF_VICTIM_KERNEL=/hdlab/bzImage
export HYPER_DMABUF_VICTIM_RAMDISK=/hdlab/domU.cpio.gz
# dom0 is the same PV domain in both test boots, so its single-domain
# programs need not run twice; each boot's dom0 takes what keeps its
# critical path short. The all-PV boot: every destroy point, and the
# figures of dom0's side (forged messages, allocation failure, grant
# budget, stress). The boot with a PVH guest, which waits for the slower
# PVH domain anyway: the tool's test and the 100,000 random ioctls (20,000
# in every other domain). What a boot's dom0 leaves out it reports as
# skipped, naming the boot that runs it.
case "$HDLAB_PLAN" in
*:pvh*)
	export HYPER_DMABUF_XDOM_SHORT=1
	export HDLAB_SKIP="hyper_dmabuf_peer_death.sh"
	export HDLAB_SKIP_WHY="every destroy point runs in the all-PV boot"
	;;
*)
	export HDLAB_SKIP="hyper_dmabuf_tool_test.sh"
	export HDLAB_SKIP_WHY="dom0 runs it in the boot with a PVH guest"
	export HD_IOCTL_ITERS=20000
	;;
esac
if [ -n "$HDLAB_DEMO" ]; then
	peer=${peers# }
	export HYPER_DMABUF_DEMO_PEER=${peer%:*}	# NAME:DOMID
	export HYPER_DMABUF_DEMO_SERIAL=/dev/ttyS1
fi

HDLAB_BEFORE_END=/hdlab/wait-domus.sh /hdlab/run-tests.sh dom0
