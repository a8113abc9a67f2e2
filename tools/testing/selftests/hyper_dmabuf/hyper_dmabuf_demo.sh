#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The demo's exchange, as a test: a domU renders a picture into a udmabuf
# and shares it with dom0, twice (the second frame re-shares the same
# buffer after drawing on it); dom0 imports each frame, checks its bytes
# against the checksum the domU announced in the private data, saves it and
# answers with a buffer of its own that the domU checks (dom0 -> domU).
#
# Run it in both domains, dom0 first:
#   dom0:  HYPER_DMABUF_DEMO_PEER=NAME:DOMID hyper_dmabuf_demo.sh
#          The domU must be created paused ("xl create -p"): the script
#          unpauses it once dom0 listens, so no announcement is missed.
#   domU:  hyper_dmabuf_demo.sh   (renders and shares with dom0)
# HYPER_DMABUF_DEMO_OUT (dom0, default /tmp/hddemo) receives frame-N.raw
# and frame-N.info. With HYPER_DMABUF_DEMO_SERIAL set to a tty (the lab's
# second serial port), dom0 also sends the frames there, gzipped, for the
# host to turn into PNG files.
#
# It runs hyper_dmabuf_demo of tools/hyper_dmabuf: the one beside this
# script, else the one in PATH.
#
# Output: TAP 13. Exit status: 0 all passed, 1 a test failed, 4 skipped.

DIR=$(dirname "$0")
DEMO="$DIR/hyper_dmabuf_demo"
[ -x "$DEMO" ] || DEMO=$(command -v hyper_dmabuf_demo)
OUT=${HYPER_DMABUF_DEMO_OUT:-/tmp/hddemo}
FRAMES=2
num=0
nfail=0

ok() { # RESULT DESCRIPTION [DIAGNOSTIC]
	num=$((num + 1))
	if [ "$1" = 0 ]; then
		echo "ok $num $2"
	else
		[ -n "$3" ] && echo "# $3"
		echo "not ok $num $2"
		nfail=$((nfail + 1))
	fi
}

# field LINE KEY: the value of KEY=VALUE in LINE
field() {
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# wait_line FILE PATTERN SECONDS: until a line of FILE matches
wait_line() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $(($3 * 10)) ] || return 1
		sleep 0.1
	done
}

show() { # FILE: the programs' lines, as TAP diagnostics
	sed 's/^/# /' "$1"
}

if [ ! -e /dev/hyper_dmabuf ]; then
	echo "TAP version 13"
	echo "1..0 # SKIP /dev/hyper_dmabuf missing"
	exit 4
fi
if [ ! -x "$DEMO" ]; then
	echo "TAP version 13"
	echo "1..0 # SKIP no hyper_dmabuf_demo beside this script or in PATH"
	exit 4
fi

if ! grep -q control_d /proc/xen/capabilities 2>/dev/null; then
	# domU: render, share, check dom0's answers.
	echo "TAP version 13"
	echo "1..3"
	self=$(xenstore-read domid 2>/dev/null)
	log=/tmp/hddemo-render.log
	"$DEMO" render --to 0 --self "${self:-0}" --frames $FRAMES > $log 2>&1
	rc=$?
	show $log
	ok $rc "demo: render and share $FRAMES frames with dom0" \
		"$(grep -m1 'HDDEMO FAIL' $log)"
	n=$(grep -c "^HDDEMO REVERSE .*verdict=match" $log)
	[ "$n" = $FRAMES ]
	ok $? "demo: dom0 -> domU: $FRAMES answers read back with matching checksums" \
		"$n of $FRAMES answers matched"
	grep -q "^HDDEMO DONE frames=$FRAMES" $log
	ok $? "demo: domU finished"
	[ $nfail = 0 ]
	exit $?
fi

# dom0: listen, let the domU run, check every frame.
echo "TAP version 13"
name=${HYPER_DMABUF_DEMO_PEER%%:*}
domid=${HYPER_DMABUF_DEMO_PEER#*:}
if [ -z "$HYPER_DMABUF_DEMO_PEER" ] || [ "$name" = "$domid" ]; then
	echo "1..0 # SKIP HYPER_DMABUF_DEMO_PEER=NAME:DOMID not set"
	exit 4
fi
echo "1..7"
rm -rf "$OUT"
mkdir -p "$OUT"
log=$OUT/receive.log
guest=/var/log/xen/console/guest-$name.log

"$DEMO" receive --from "$domid" --out "$OUT" --frames $FRAMES --timeout 240 > $log 2>&1 &
pid=$!
wait_line $log "^HDDEMO READY" 30
ok $? "demo: dom0 listens for domain $domid" "$(cat $log)"
xl unpause "$name"
wait $pid
rc=$?
show $log
ok $rc "demo: dom0 received $FRAMES frames" "$(grep -m1 'HDDEMO FAIL' $log)"

f1=$(grep -m1 "^HDDEMO FRAME n=1 " $log)
f2=$(grep -m1 "^HDDEMO FRAME n=2 " $log)
[ "$(field "$f1" verdict)" = match ]
ok $? "demo: frame 1 checksum verdict: match" "frame 1: ${f1:-none}"
[ "$(field "$f2" verdict)" = match ]
ok $? "demo: frame 2 checksum verdict: match" "frame 2: ${f2:-none}"
# The re-share keeps the id and arrives as an update.
[ -n "$f2" ] && [ "$(field "$f1" id)" = "$(field "$f2" id)" ] &&
	[ "$(field "$f2" update)" = 1 ]
ok $? "demo: frame 2 re-shares the same buffer (same id, update event)" \
	"ids $(field "$f1" id) and $(field "$f2" id), update=$(field "$f2" update)"
# The id's top byte is the exporter's domid byte.
[ "$(printf '%d' "$(field "$f1" domid_byte)" 2>/dev/null)" = $((domid & 255)) ]
ok $? "demo: the id carries the domU's domid byte" \
	"id $(field "$f1" id), domid $domid"

# The domU's side of the story comes through its console log.
wait_line "$guest" "HDDEMO DONE\|HDDEMO FAIL" 60
n=$(grep -c "HDDEMO REVERSE .*verdict=match" "$guest")
[ "$n" -ge $FRAMES ]
ok $? "demo: the domU verified dom0's $FRAMES answers (dom0 -> domU)" \
	"$(grep -m1 'HDDEMO FAIL' "$guest")"

# Hand the pictures to the host over the lab's second serial port.
tty=$HYPER_DMABUF_DEMO_SERIAL
if [ -n "$tty" ] && [ -c "$tty" ] && stty -F "$tty" raw -echo 115200 2>/dev/null; then
	for info in "$OUT"/frame-*.info; do
		[ -e "$info" ] || continue
		raw=${info%.info}.raw
		gzip -c "$raw" > "$raw.gz"
		printf 'HDDEMOIMG %s %s %s\n' "$(basename "$raw" .raw)" \
			"$(wc -c < "$raw.gz" | tr -d ' ')" "$(cat "$info")" > "$tty"
		cat "$raw.gz" > "$tty"
	done
	printf 'HDDEMOEND\n' > "$tty"
	echo "# frames sent to the host over $tty"
fi
[ $nfail = 0 ]
exit $?
