#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run by dom0's run-tests.sh before its final leak and lockdep checks: wait
# for every domU of the plan to finish, at most HDLAB_DOMU_TIMEOUT seconds
# in all, and report how each ended.

timeout_s=${HDLAB_DOMU_TIMEOUT:-600}
deadline=$(( $(date +%s) + timeout_s ))

for d in $(echo "$HDLAB_PLAN" | tr '+' ' '); do
	name=${d%%:*}
	log=/var/log/xen/console/guest-$name.log
	how=vanished
	while xl domid "$name" >/dev/null 2>&1; do
		# A domU that printed its END line but cannot power off itself
		# (PVH without ACPI) is destroyed after a grace period.
		if grep -q "^HDLAB END $name" "$log" 2>/dev/null; then
			sleep 3
			xl destroy "$name" 2>/dev/null
			break
		fi
		if [ "$(date +%s)" -ge $deadline ]; then
			xl destroy "$name"
			how=timeout
			break
		fi
		sleep 1
	done
	grep -q "^HDLAB END $name" "$log" 2>/dev/null && how=finished
	lines=$(wc -l < "$log" 2>/dev/null || echo 0)
	case $how in
	finished)
		echo "HDLAB CHECK dom0 finished-$name PASS $lines console lines" ;;
	timeout)
		echo "HDLAB CHECK dom0 finished-$name FAIL timeout:" \
			"destroyed after $timeout_s s, $lines console lines" ;;
	*)
		echo "HDLAB CHECK dom0 finished-$name FAIL" \
			"the domain died before its END line, $lines console lines" ;;
	esac
done
sleep 2
