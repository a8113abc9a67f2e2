#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run in a domU whose dom0 runs hyper_dmabuf: unload this domain's Xen
# backend and load it again; the channel to dom0 must come back (dom0 sees
# the offer withdrawn, resets its side and answers the new one).
# Shares with hyper_dmabuf_tool of tools/hyper_dmabuf: the one beside this
# script, else the one in PATH.

DIR=$(dirname "$0")
TOOL=$DIR/hyper_dmabuf_tool
[ -x "$TOOL" ] || TOOL=$(command -v hyper_dmabuf_tool)
CHANNELS=/sys/kernel/debug/hyper_dmabuf_xen/channels
ksft_skip=4

echo "TAP version 13"
echo "1..1"

skip() {
	echo "ok 1 driver_reload_reconnects # SKIP $1"
	exit $ksft_skip
}

fail() {
	echo "# $1"
	echo "not ok 1 driver_reload_reconnects"
	exit 1
}

[ -r /proc/xen/capabilities ] || skip "not a Xen domain"
grep -q control_d /proc/xen/capabilities && skip "dom0 (no dom0 to reconnect to)"
[ -d /sys/module/hyper_dmabuf_xen ] || skip "hyper_dmabuf_xen not loaded"
[ -x "$TOOL" ] || skip "no hyper_dmabuf_tool beside this script or in PATH"

"$TOOL" export 0 --alloc 4096 --keep 1 >/tmp/reconnect.1 2>&1 ||
	fail "first export to dom0: $(cat /tmp/reconnect.1)"

# Exports and imports hold the module; they go when their files close.
n=0
until rmmod hyper_dmabuf_xen 2>/tmp/reconnect.rmmod; do
	n=$((n + 1))
	refs=$(cat /sys/module/hyper_dmabuf_xen/refcnt)
	[ $n -lt 10 ] || fail "rmmod: $(cat /tmp/reconnect.rmmod), refcnt $refs"
	sleep 1
done
modprobe hyper_dmabuf_xen || fail "modprobe hyper_dmabuf_xen failed"

t0=$(date +%s)
"$TOOL" export 0 --alloc 4096 --keep 1 >/tmp/reconnect.2 2>&1 ||
	fail "export after the reload: $(cat /tmp/reconnect.2)"
echo "# reconnected in $(( $(date +%s) - t0 )) s (export held 1 s)"
grep -q "^peer 0 connected" "$CHANNELS" ||
	fail "channel to dom0 not connected: $(cat "$CHANNELS" | tr '\n' ';')"
echo "ok 1 driver_reload_reconnects"
