#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Usage: [-r] DOMID_A DOMID_B
#
# Run in dom0: let two domUs share dma-bufs with each other through
# hyper_dmabuf (-r: take the permission back).  dom0 and a domU need
# nothing: their channel comes up on the first export.
#
# Two domUs cannot see each other's xenstore nodes.  This creates the pair
# directory in the home of the lower domid,
#   /local/domain/LO/data/hyper_dmabuf/pair/HI
# owned by LO and writable by HI, with HI's offer node already in it (a
# node HI created itself would be owned by HI and unreadable to LO), and
# marks the pair as allowed in both homes:
#   /local/domain/{LO,HI}/data/hyper_dmabuf/allow/{HI,LO}
# It needs xenstore-write, xenstore-chmod, xenstore-rm and xenstore-exists.

usage() {
	echo "usage: $0 [-r] DOMID_A DOMID_B" >&2
	exit 2
}

revoke=
[ "$1" = -r ] && { revoke=1; shift; }
[ $# -eq 2 ] || usage
case "$1$2" in *[!0-9]*|'') usage ;; esac
a=$1
b=$2
if [ "$a" -eq 0 ] || [ "$b" -eq 0 ] || [ "$a" -eq "$b" ]; then
	echo "$0: two different domUs are needed (dom0 needs no permission)" >&2
	exit 2
fi
if [ "$a" -lt "$b" ]; then lo=$a; hi=$b; else lo=$b; hi=$a; fi
for d in $lo $hi; do
	if ! xenstore-exists /local/domain/$d; then
		echo "$0: no domain $d" >&2
		exit 1
	fi
done

pair=/local/domain/$lo/data/hyper_dmabuf/pair/$hi
if [ -n "$revoke" ]; then
	xenstore-rm /local/domain/$lo/data/hyper_dmabuf/allow/$hi \
		/local/domain/$hi/data/hyper_dmabuf/allow/$lo 2>/dev/null
	xenstore-rm $pair 2>/dev/null
	echo "domains $lo and $hi may no longer share dma-bufs"
	exit 0
fi
set -e
xenstore-exists $pair/$hi || xenstore-write $pair/$hi ""
xenstore-chmod -r $pair n$lo b$hi
xenstore-write /local/domain/$lo/data/hyper_dmabuf/allow/$hi "" \
	/local/domain/$hi/data/hyper_dmabuf/allow/$lo ""
echo "domains $lo and $hi may share dma-bufs"
