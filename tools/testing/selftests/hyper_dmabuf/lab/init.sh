#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# PID 1 of every hyper_dmabuf lab domain (dom0 and domUs share it).
# dom0 starts the Xen daemons and runs the plan; a domU runs its tests and
# powers off, or with hdlab.role=serve (the throwaway domUs of
# hyper_dmabuf_peer_death.sh) only runs the cross-domain servant, again and
# again, until dom0 destroys it; with hdlab.role=demo (the demo boot) it
# runs only the demo's exchange. Lines starting with "HDLAB " are read by
# hdlab_parse.py.

export PATH=/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin

mount -t proc none /proc
mount -t sysfs none /sys
mount -t devtmpfs none /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts none /dev/pts
mount -t tmpfs none /dev/shm
mount -t tmpfs none /run
mount -t tmpfs none /tmp
mount -t debugfs none /sys/kernel/debug
mount -t xenfs none /proc/xen
mkdir -p /run/xenstored /var/run/xen /var/lib/xen /var/log/xen/console /var/lock

HDLAB_NAME=
HDLAB_PLAN=
HDLAB_ROLE=
for w in $(cat /proc/cmdline); do
	case "$w" in
	hdlab.name=*) HDLAB_NAME=${w#*=} ;;
	hdlab.plan=*) HDLAB_PLAN=${w#*=} ;;
	hdlab.role=*) HDLAB_ROLE=${w#*=} ;;
	hdlab.domu_timeout=*) export HDLAB_DOMU_TIMEOUT=${w#*=} ;;
	hdlab.test_timeout=*) export HDLAB_TEST_TIMEOUT=${w#*=} ;;
	hdlab.domid=*) export HDLAB_DOMID_POLICY=${w#*=} ;;
	hdlab.demo=1) export HDLAB_DEMO=1 ;;
	hdlab.count=1) export HDLAB_COUNT=1 ;;
	hdlab.ioctl_iters=*) export HD_IOCTL_ITERS=${w#*=} ;;
	hdlab.skip=*) export HDLAB_SKIP=${w#*=} ;;
	hdlab.skip_by=*)
		by=$(echo "${w#*=}" | tr _ ' ')
		export HDLAB_SKIP_WHY="$by runs it (same kind of domain)" ;;
	hdlab.seed=*) /hdlab/hdlab-seed "${w#*=}" ;;
	esac
done
export HDLAB_NAME HDLAB_PLAN

hdlab_halt() {
	sync
	poweroff -f
	# A PVH domU may not have a way to power off; dom0 destroys it.
	sleep 3600
}

if grep -q control_d /proc/xen/capabilities 2>/dev/null; then
	HDLAB_NAME=dom0
	/hdlab/dom0.sh
elif [ "$HDLAB_ROLE" = serve ]; then
	for mod in $(cat /hdlab/modules.list 2>/dev/null); do
		modprobe "$mod"
	done
	while :; do
		HYPER_DMABUF_XDOM_WAIT=3600 /hdlab/tests/hyper_dmabuf_xdom_test serve
		sleep 1
	done
else
	[ -n "$HDLAB_NAME" ] || HDLAB_NAME=domU
	[ "$HDLAB_ROLE" = demo ] && export HDLAB_DEMO=1
	/hdlab/run-tests.sh "$HDLAB_NAME"
fi
hdlab_halt
