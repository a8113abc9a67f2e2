#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# dom0's part of a benchmark boot (it replaces the lab's /hdlab/dom0.sh in
# the bench initramfs): start the Xen daemons, load the driver, create the
# one domU of the plan (hdlab.plan=NAME:TYPE), which serves hdbench, and
# run hdbench against it. Results go to the console and, as the lab's
# result channel, to the second serial port (/dev/ttyS1), which the host
# reads (tooling/bench/report.py).
#
# Knobs from the command line: hdbench.reps=N hdbench.warm=N
# hdbench.stream=SECONDS hdbench.sizes=BYTES:BYTES:... hdbench.dirs=d2u:u2d

say() { echo "HDLAB $*"; }

for w in $(cat /proc/cmdline); do
	case "$w" in
	hdbench.reps=*) export HDBENCH_REPS=${w#*=} ;;
	hdbench.warm=*) export HDBENCH_WARM=${w#*=} ;;
	hdbench.stream=*) export HDBENCH_STREAM_S=${w#*=} ;;
	hdbench.sizes=*) export HDBENCH_SIZES=$(echo "${w#*=}" | tr : ' ') ;;
	hdbench.dirs=*) export HDBENCH_DIRS=$(echo "${w#*=}" | tr : ' ') ;;
	hdbench.boot=*) export HDBENCH_BOOT=${w#*=} ;;
	hdbench.trace=1) trace=1 ;;
	esac
done

xenstored --pid-file /run/xenstored.pid
n=30
while ! xenstore-read -s / >/dev/null 2>&1; do
	n=$((n - 1))
	[ $n -gt 0 ] || { say BENCH dom0 FAIL "xenstored did not answer"; exit 1; }
	sleep 1
done
xen-init-dom0 >/tmp/xen-init-dom0.log 2>&1 || cat /tmp/xen-init-dom0.log
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest \
	--log-dir=/var/log/xen/console --replace-escape
for mod in $(cat /hdlab/modules.list); do
	modprobe "$mod" || say BENCH dom0 FAIL "modprobe $mod"
done

# The floor maps pages granted with gntalloc: allow 64 MiB of them.
for l in /sys/module/*gntalloc/parameters/limit; do
	[ -w "$l" ] && echo 65536 > "$l"
done

name=${HDLAB_PLAN%%:*}
type=${HDLAB_PLAN#*:}
cat > /tmp/$name.cfg <<CFG
name = "$name"
type = "$type"
kernel = "/hdlab/bzImage"
ramdisk = "/hdlab/domU.cpio.gz"
extra = "console=hvc0 hdlab.name=$name hdlab.seed=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
memory = 768
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG
if ! xl create /tmp/$name.cfg >/tmp/create.log 2>&1; then
	say BENCH dom0 FAIL "xl create: $(tail -n 2 /tmp/create.log | tr '\n' ' ')"
	exit 1
fi
domid=$(xl domid "$name")
(tail -n +1 -F /var/log/xen/console/guest-$name.log 2>/dev/null | tr -d '\r' |
	while IFS= read -r line; do echo "[$name] $line"; done) &

out=/dev/null
tty=/dev/ttyS1
[ -c $tty ] && stty -F $tty raw -echo 115200 2>/dev/null && out=$tty
# A domU that dies (the emulator can kill a PVH guest) would leave hdbench
# waiting on the channel for ever: stop it then.
(while xl domid "$name" >/dev/null 2>&1; do sleep 2; done
 sleep 2
 if killall hdbench 2>/dev/null; then
	echo "HDBENCH error $HDBENCH_BOOT - - - 0 -1 the domU is gone / - -" | tee "$out"
 fi) &
# The profile (HDBENCH_TRACE): the function graph of the Xen backend's
# share, map and mmap in dom0, three levels deep.
t=/sys/kernel/tracing
if [ -n "$trace" ]; then
	mount -t tracefs none $t
	echo 0 > $t/tracing_on
	echo 65536 > $t/buffer_size_kb
	echo 3 > $t/max_graph_depth
	echo 1 > $t/options/funcgraph-tail
	for f in hyper_dmabuf_xen_share hyper_dmabuf_xen_map hyper_dmabuf_xen_mmap \
		hyper_dmabuf_xen_unshare hyper_dmabuf_xen_unmap; do
		echo $f >> $t/set_graph_function || say BENCH dom0 FAIL "cannot trace $f"
	done
	# Calls made once per page would swamp the console (and cost the
	# tracer more than themselves): their time stays in their caller's.
	for f in arbitrary_virt_to_machine hyper_dmabuf_xen_frame_to_gfn \
		gnttab_grant_foreign_access_ref hyper_dmabuf_xen_refs_take \
		gnttab_claim_grant_reference; do
		echo $f >> $t/set_graph_notrace 2>/dev/null
	done
	echo function_graph > $t/current_tracer
	echo 1 > $t/tracing_on
fi
/usr/bin/hdbench run "$domid" "$type" | tee "$out"
say BENCH dom0 EXIT $?
if [ -n "$trace" ]; then
	echo 0 > $t/tracing_on
	sed 's/^/HDTRACE /' $t/trace > "$out"
	echo "HDTRACE end" > "$out"
fi
# The domU powers off when dom0 says it is done; give it 30 s.
n=30
while xl domid "$name" >/dev/null 2>&1 && [ $n -gt 0 ]; do
	sleep 1
	n=$((n - 1))
done
xl destroy "$name" 2>/dev/null
sync
