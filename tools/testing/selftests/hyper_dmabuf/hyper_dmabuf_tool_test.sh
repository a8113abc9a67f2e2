#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Selftest of hyper_dmabuf_tool over the loopback path of /dev/hyper_dmabuf:
# buffers are exported to the local domain ("self") and imported again in
# the same domain, which needs no hypervisor backend.
#
# Output: TAP 13.  Exit status: 0 all passed (or skipped), 1 a test failed,
# 4 everything was skipped (no /dev/hyper_dmabuf).
# Needs only busybox: sh, cat, cmp, cut, dd, grep, head, mkfifo, mktemp,
# sed, sleep, tr, wc.

ksft_pass=0
ksft_fail=1
ksft_skip=4

DIR=$(dirname "$0")
TOOL="$DIR/hyper_dmabuf_tool"
DEV=/dev/hyper_dmabuf
HEAP=/dev/dma_heap/system
UDMABUF=/dev/udmabuf
DEBUGFS=/sys/kernel/debug/hyper_dmabuf
SELF=32752	# HYPER_DMABUF_DOMID_SELF

num=0
npass=0
nfail=0
nskip=0
PIDS=
T=

# ---- helpers ---------------------------------------------------------------

cleanup() {
	exec 3>&-
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $PIDS; do
		i=0
		while alive "$p" && [ $i -lt 20 ]; do
			nap
			i=$((i + 1))
		done
		kill -KILL "$p" 2>/dev/null
	done
	PIDS=
	[ -n "$T" ] && rm -rf "$T"
}

nap() {
	sleep 0.1 2>/dev/null || sleep 1
}

# alive PID: the process exists and is not a zombie
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

track() {
	PIDS="$PIDS $1"
}

untrack() {
	PIDS=$(echo " $PIDS " | sed "s/ $1 / /")
}

diag() {
	echo "# $*"
}

# Show a file's lines as TAP diagnostics.
diag_file() {
	[ -s "$1" ] && sed "s/^/#   $(basename "$1"): /" "$1"
}

# wait_exit PID SECONDS: wait for a background process to end by itself;
# sets $rc to its exit status (124 if it had to be killed).
wait_exit() {
	i=0
	while alive "$1"; do
		if [ $i -ge $(($2 * 10)) ]; then
			diag "pid $1 still running after $2 s, killing it"
			kill -KILL "$1" 2>/dev/null
			wait "$1" 2>/dev/null
			untrack "$1"
			rc=124
			return
		fi
		nap
		i=$((i + 1))
	done
	wait "$1"
	rc=$?
	untrack "$1"
}

# stop PID: SIGTERM a holding export and wait for it; sets $rc.
stop() {
	kill -TERM "$1" 2>/dev/null
	wait_exit "$1" 20
}

# wait_for FILE PATTERN PID: wait until a line of FILE matches PATTERN
# (grep), as long as PID lives (20 s at most).
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		if ! alive "$3"; then
			# It may have written the line just before exiting.
			grep -q "$2" "$1" 2>/dev/null && return 0
			diag "pid $3 exited before printing '$2'"
			return 1
		fi
		if [ $i -ge 200 ]; then
			diag "no '$2' in $1 after 20 s"
			return 1
		fi
		nap
		i=$((i + 1))
	done
}

# export_bg NAME ARGS...: run "export ARGS" in the background with output
# in $T/NAME.out and .err, wait for its id line; sets $pid.
export_bg() {
	name=$1
	shift
	"$TOOL" export "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	pid=$!
	track $pid
	if ! wait_for "$T/$name.out" '^id=' $pid; then
		diag_file "$T/$name.err"
		return 1
	fi
}

# field NAME FILE: value of NAME=VALUE in the first line having it
field() {
	tr ' ' '\n' <"$2" | sed -n "s/^$1=//p" | head -n 1
}

# idstr FILE: "id=... domid=... key=..." of an export's output
idstr() {
	grep '^id=' "$1" | head -n 1 | cut -d' ' -f1-3
}

filesize() {
	wc -c <"$1" | tr -d ' '
}

# pattern_file FILE SIZE OCTAL: SIZE bytes of the byte \OCTAL
pattern_file() {
	head -c "$2" /dev/zero | tr '\000' "\\$3" >"$1"
}

# expect_rc WANT GOT WHAT
expect_rc() {
	[ "$2" = "$1" ] && return 0
	diag "$3: exit status $2, expected $1"
	return 1
}

# expect_grep PATTERN FILE WHAT (fixed string)
expect_grep() {
	grep -q -F -e "$1" "$2" && return 0
	diag "$3: no '$1' in the output:"
	diag_file "$2"
	return 1
}

# Source of a new buffer: a udmabuf if possible, else the system heap.
ALLOC=
[ -c "$UDMABUF" ] && ALLOC=--alloc
[ -z "$ALLOC" ] && [ -c "$HEAP" ] && ALLOC=--heap

need_alloc() {
	[ -n "$ALLOC" ] && return 0
	skip_reason="neither $UDMABUF nor $HEAP"
	return $ksft_skip
}

# run NAME FUNCTION: one TAP test; FUNCTION returns 0, 1 or $ksft_skip
# (with $skip_reason set).
run() {
	num=$((num + 1))
	skip_reason=
	"$2"
	r=$?
	if [ $r -eq 0 ]; then
		echo "ok $num $1"
		npass=$((npass + 1))
	elif [ $r -eq $ksft_skip ]; then
		echo "ok $num $1 # SKIP $skip_reason"
		nskip=$((nskip + 1))
	else
		echo "not ok $num $1"
		nfail=$((nfail + 1))
	fi
	# Whatever a test left running is stopped before the next one.
	for p in $PIDS; do
		diag "stopping leftover pid $p"
		stop "$p"
	done
}

# ---- tests -----------------------------------------------------------------

test_help() {
	"$TOOL" --help >"$T/help.out" 2>&1
	expect_rc 0 $? "--help" || return 1
	expect_grep "Usage: hyper_dmabuf_tool" "$T/help.out" "--help" || return 1
	"$TOOL" -h >"$T/help.out" 2>&1
	expect_rc 0 $? "-h" || return 1
	for c in export import query watch unexport list stats; do
		"$TOOL" $c --help >"$T/help.out" 2>&1
		expect_rc 0 $? "$c --help" || return 1
		expect_grep "Usage: hyper_dmabuf_tool $c" "$T/help.out" \
			"$c --help" || return 1
	done
	"$TOOL" export -h >"$T/help.out" 2>&1
	expect_rc 0 $? "export -h" || return 1
	expect_grep "--oneshot" "$T/help.out" "export -h"
}

test_unknown_command() {
	"$TOOL" frobnicate >"$T/o" 2>"$T/e"
	expect_rc 2 $? "frobnicate" || return 1
	expect_grep "unknown command" "$T/e" "frobnicate" || return 1
	"$TOOL" >"$T/o" 2>"$T/e"
	expect_rc 2 $? "no command" || return 1
	"$TOOL" import --no-such-option 1:2:0123456789abcdef01234567 \
		>"$T/o" 2>"$T/e"
	expect_rc 2 $? "unknown option"
}

test_bad_domid() {
	for d in nosuchdomain 99999 0x10000 ''; do
		"$TOOL" export "$d" --alloc 4096 >"$T/o" 2>"$T/e"
		expect_rc 2 $? "export '$d'" || return 1
		expect_grep "bad DOMID" "$T/e" "export '$d'" || return 1
	done
	# Nothing may have been exported by these.
	[ -s "$T/o" ] && { diag "bad DOMID printed an id"; return 1; }
	return 0
}

test_size0() {
	"$TOOL" export self --alloc 0 >"$T/o" 2>"$T/e"
	expect_rc 2 $? "--alloc 0" || return 1
	expect_grep "at least 1 byte" "$T/e" "--alloc 0" || return 1
	"$TOOL" export self --heap 0 >"$T/o" 2>"$T/e"
	expect_rc 2 $? "--heap 0" || return 1
	: >"$T/empty"
	"$TOOL" export self --file "$T/empty" >"$T/o" 2>"$T/e"
	expect_rc 1 $? "--file of an empty file" || return 1
	expect_grep "empty" "$T/e" "--file of an empty file" || return 1
	[ -s "$T/o" ] && { diag "empty export printed an id"; return 1; }
	return 0
}

test_pattern_roundtrip() {
	need_alloc || return
	# Hold the export with a fifo on stdin (--oneshot): it ends when the
	# last writer, fd 3 of this shell, is closed.
	rm -f "$T/hold"
	mkfifo "$T/hold" || return 1
	exec 3<>"$T/hold"
	"$TOOL" export --oneshot self $ALLOC 8192 --pattern 0x5a \
		<"$T/hold" >"$T/e1.out" 2>"$T/e1.err" 3>&- &
	pid=$!
	track $pid
	if ! wait_for "$T/e1.out" '^id=' $pid; then
		diag_file "$T/e1.err"
		exec 3>&-
		return 1
	fi
	size=$(field size "$T/e1.out")
	sum=$(field checksum "$T/e1.out")
	"$TOOL" import "$(idstr "$T/e1.out")" --out "$T/i1.bin" \
		>"$T/i1.out" 2>"$T/i1.err"
	rc=$?
	exec 3>&-
	if ! expect_rc 0 $rc "import"; then
		diag_file "$T/i1.err"
		return 1
	fi
	wait_exit $pid 20
	expect_rc 0 $rc "export --oneshot after stdin closed" || return 1

	# 8192 bytes, or a whole page if pages are larger.
	if [ "$size" -lt 8192 ] || [ $((size % 8192)) -ne 0 ]; then
		diag "export reported size=$size for --alloc 8192"
		return 1
	fi
	got=$(filesize "$T/i1.bin")
	[ "$got" = "$size" ] || { diag "imported $got bytes, export size=$size"; return 1; }
	pattern_file "$T/ref1" "$size" 132	# 0x5a
	cmp "$T/ref1" "$T/i1.bin" || { diag "imported bytes are not all 0x5a"; return 1; }
	isum=$(field checksum "$T/i1.out")
	[ -n "$sum" ] && [ "$sum" = "$isum" ] ||
		{ diag "checksum: export '$sum', import '$isum'"; return 1; }
	[ "$(field size "$T/i1.out")" = "$size" ] ||
		{ diag "import reported size $(field size "$T/i1.out")"; return 1; }
}

test_file_roundtrip() {
	[ -c "$UDMABUF" ] || { skip_reason="no $UDMABUF"; return $ksft_skip; }
	head -c 5000 /dev/urandom >"$T/data5000"
	[ "$(filesize "$T/data5000")" = 5000 ] || return 1
	export_bg e2 self --file "$T/data5000" || return 1
	size=$(field size "$T/e2.out")
	"$TOOL" import "$(idstr "$T/e2.out")" --out "$T/i2.bin" \
		>"$T/i2.out" 2>"$T/i2.err"
	rc=$?
	stop $pid
	expect_rc 0 $rc "import" || { diag_file "$T/i2.err"; return 1; }
	# The size is rounded up to a page; the tail must be zero.
	if [ "$size" -lt 5000 ] || [ "$size" -gt $((5000 + 65535)) ]; then
		diag "export of 5000 bytes reported size=$size"
		return 1
	fi
	[ "$(filesize "$T/i2.bin")" = "$size" ] ||
		{ diag "imported $(filesize "$T/i2.bin") bytes, export size=$size"; return 1; }
	head -c 5000 "$T/i2.bin" >"$T/i2.head"
	cmp "$T/data5000" "$T/i2.head" || { diag "first 5000 bytes differ"; return 1; }
	dd if="$T/i2.bin" of="$T/i2.tail" bs=1000 skip=5 2>/dev/null
	[ "$(filesize "$T/i2.tail")" = $((size - 5000)) ] ||
		{ diag "tail has $(filesize "$T/i2.tail") bytes"; return 1; }
	nz=$(tr -d '\000' <"$T/i2.tail" | wc -c | tr -d ' ')
	[ "$nz" = 0 ] || { diag "$nz non-zero bytes after the file's end"; return 1; }
	[ "$(field checksum "$T/e2.out")" = "$(field checksum "$T/i2.out")" ] ||
		{ diag "checksums differ"; return 1; }
	expect_rc 0 $rc "export after SIGTERM"
}

test_priv_query() {
	need_alloc || return
	export_bg e3 self $ALLOC 4096 --priv 'hello "hyper" dmabuf' || return 1
	"$TOOL" query "$(idstr "$T/e3.out")" >"$T/q3.out" 2>"$T/q3.err"
	rc=$?
	expect_rc 0 $rc "query" || { diag_file "$T/q3.err"; return 1; }
	for l in 'priv="hello \"hyper\" dmabuf"' priv_size=20 type=exported \
		 access=rdonly "importer_domid=$SELF" busy=0 unexport_pending=0 \
		 "size=$(field size "$T/e3.out")" \
		 "exporter_domid=$(field domid "$T/e3.out")" \
		 "$(field id "$T/e3.out" | sed 's/^/id=/')"; do
		grep -q -x -F -e "$l" "$T/q3.out" ||
			{ diag "query: no line '$l'"; diag_file "$T/q3.out"; return 1; }
	done
	stop $pid
	expect_rc 0 $rc "export after SIGTERM"
}

test_watch() {
	need_alloc || return
	"$TOOL" watch --count 1 --timeout 20000 >"$T/w.out" 2>"$T/w.err" &
	wpid=$!
	track $wpid
	wait_for "$T/w.err" '^watch: ready' $wpid || { diag_file "$T/w.err"; return 1; }
	export_bg e4 self $ALLOC 4096 --priv "watch me" || return 1
	epid=$pid
	wait_exit $wpid 30
	expect_rc 0 $rc "watch --count 1" || { diag_file "$T/w.err"; return 1; }
	[ "$(grep -c . "$T/w.out")" = 1 ] ||
		{ diag "watch printed other than 1 line"; diag_file "$T/w.out"; return 1; }
	expect_grep "event=new_import $(idstr "$T/e4.out") " "$T/w.out" \
		"watch (an event of another exporter would fail this)" || return 1
	expect_grep 'priv="watch me"' "$T/w.out" "watch" || return 1
	expect_grep "size=$(field size "$T/e4.out") " "$T/w.out" "watch" || return 1
	# The event line names the buffer for import.
	"$TOOL" import "$(cat "$T/w.out")" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 0 $? "import of the watch line" || { diag_file "$T/e"; return 1; }
	stop $epid
	expect_rc 0 $rc "export after SIGTERM"
}

test_wrong_key() {
	need_alloc || return
	export_bg e5 self $ALLOC 4096 || return 1
	good=$(idstr "$T/e5.out")
	key=$(field key "$T/e5.out")
	bad=000000000000000000000000
	[ "$key" = $bad ] && bad=111111111111111111111111
	badid=$(echo "$good" | sed "s/key=[0-9a-f]*/key=$bad/")
	"$TOOL" import "$badid" --out "$T/i5.bin" >"$T/o" 2>"$T/e"
	expect_rc 1 $? "import with a wrong key" || return 1
	expect_grep "import: no such buffer (ENOENT): wrong id, key or exporter domain" \
		"$T/e" "import with a wrong key" || return 1
	"$TOOL" query "$badid" >"$T/o" 2>"$T/e"
	expect_rc 1 $? "query with a wrong key" || return 1
	expect_grep "(ENOENT)" "$T/e" "query with a wrong key" || return 1
	# The right key still works.
	"$TOOL" import "$good" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 0 $? "import with the right key" || { diag_file "$T/e"; return 1; }
	stop $pid
	expect_rc 0 $rc "export after SIGTERM"
}

test_rdonly() {
	need_alloc || return
	export_bg e6 self $ALLOC 4096 || return 1
	"$TOOL" import --rdwr "$(idstr "$T/e6.out")" --out /dev/null \
		>"$T/o" 2>"$T/e"
	expect_rc 1 $? "import --rdwr of a read-only export" || return 1
	expect_grep "import: the export is read-only (EACCES)" "$T/e" \
		"import --rdwr of a read-only export" || return 1
	"$TOOL" import "$(idstr "$T/e6.out")" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 0 $? "read-only import" || { diag_file "$T/e"; return 1; }
	stop $pid
	expect_rc 0 $rc "export after SIGTERM"
}

test_rdwr() {
	need_alloc || return
	export_bg e7 self --rdwr $ALLOC 4096 --pattern 0 || return 1
	id=$(idstr "$T/e7.out")
	size=$(field size "$T/e7.out")
	"$TOOL" import --rdwr --fill 0xa5 "$id" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 0 $? "import --rdwr --fill" || { diag_file "$T/e"; return 1; }
	"$TOOL" import "$id" --out "$T/i7.bin" >"$T/o" 2>"$T/e"
	expect_rc 0 $? "import after the fill" || { diag_file "$T/e"; return 1; }
	pattern_file "$T/ref7" "$size" 245	# 0xa5
	if ! cmp "$T/ref7" "$T/i7.bin"; then
		diag "the write through an import is not visible"
		return 1
	fi
	stop $pid
	expect_rc 0 $rc "export after SIGTERM"
}

test_unexport_after() {
	need_alloc || return
	export_bg e8 self $ALLOC 4096 --unexport-after 3000 || return 1
	id=$(idstr "$T/e8.out")
	"$TOOL" import "$id" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 0 $? "import before the unexport" || { diag_file "$T/e"; return 1; }
	wait_exit $pid 30
	expect_rc 0 $rc "export --unexport-after" || { diag_file "$T/e8.err"; return 1; }
	expect_grep "unexported $id" "$T/e8.out" "export --unexport-after" || return 1
	"$TOOL" import "$id" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 1 $? "import after the unexport" || return 1
	expect_grep "(ENOENT)" "$T/e" "import after the unexport"
}

test_sigterm_unexports() {
	need_alloc || return
	export_bg e9 self $ALLOC 4096 || return 1
	id=$(idstr "$T/e9.out")
	stop $pid
	expect_rc 0 $rc "export after SIGTERM" || return 1
	"$TOOL" import "$id" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 1 $? "import after the exporter ended" || return 1
	expect_grep "(ENOENT)" "$T/e" "import after the exporter ended"
}

test_keep() {
	need_alloc || return
	"$TOOL" export self $ALLOC 4096 --keep 1 >"$T/e10.out" 2>"$T/e10.err" &
	pid=$!
	track $pid
	wait_exit $pid 30
	expect_rc 0 $rc "export --keep 1" || { diag_file "$T/e10.err"; return 1; }
	grep -q '^id=' "$T/e10.out" || { diag "no id line"; return 1; }
	"$TOOL" import "$(idstr "$T/e10.out")" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 1 $? "import after --keep ended" || return 1
	expect_grep "(ENOENT)" "$T/e" "import after --keep ended"
}

test_unexport_cmd() {
	need_alloc || return
	export_bg e11 self $ALLOC 4096 || return 1
	id=$(idstr "$T/e11.out")
	"$TOOL" unexport "$id" >"$T/o" 2>"$T/e"
	expect_rc 3 $? "unexport" || return 1
	expect_grep "--unexport-after" "$T/e" "unexport" || return 1
	# It did not unexport anything.
	"$TOOL" import "$id" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 0 $? "import after 'unexport'" || { diag_file "$T/e"; return 1; }
	"$TOOL" unexport "$id" --delay 99999 >"$T/o" 2>"$T/e"
	expect_rc 2 $? "unexport --delay 99999" || return 1
	stop $pid
	expect_rc 0 $rc "export after SIGTERM"
}

test_list() {
	"$TOOL" list >"$T/o" 2>"$T/e"
	expect_rc 3 $? "list" || return 1
	expect_grep "not supported" "$T/e" "list"
}

test_heap_roundtrip() {
	[ -c "$HEAP" ] || { skip_reason="no $HEAP"; return $ksft_skip; }
	export_bg e12 self --heap 4096 --pattern 0x33 || return 1
	size=$(field size "$T/e12.out")
	"$TOOL" import "$(idstr "$T/e12.out")" --out "$T/i12.bin" \
		>"$T/i12.out" 2>"$T/i12.err"
	rc=$?
	stop $pid
	expect_rc 0 $rc "import" || { diag_file "$T/i12.err"; return 1; }
	pattern_file "$T/ref12" "$size" 063	# 0x33
	cmp "$T/ref12" "$T/i12.bin" || { diag "heap bytes are not all 0x33"; return 1; }
	[ "$(field checksum "$T/e12.out")" = "$(field checksum "$T/i12.out")" ] ||
		{ diag "checksums differ"; return 1; }
}

test_priv_too_long() {
	long=$(head -c 193 /dev/zero | tr '\000' a)
	"$TOOL" export self --alloc 4096 --priv "$long" >"$T/o" 2>"$T/e"
	expect_rc 2 $? "--priv of 193 bytes" || return 1
	expect_grep "longer than 192" "$T/e" "--priv of 193 bytes"
}

test_bad_id_string() {
	for s in '' 'id=1 domid=2' 'id=1 domid=2 key=123' '1:2' \
		 'id=x domid=2 key=0123456789abcdef01234567'; do
		"$TOOL" import "$s" >"$T/o" 2>"$T/e"
		expect_rc 2 $? "import '$s'" || return 1
		expect_grep "bad ID-STRING" "$T/e" "import '$s'" || return 1
	done
}

test_stats() {
	[ -d "$DEBUGFS" ] || { skip_reason="no $DEBUGFS"; return $ksft_skip; }
	need_alloc || return
	export_bg e13 self $ALLOC 4096 || return 1
	"$TOOL" stats >"$T/s.out" 2>"$T/s.err"
	rc=$?
	stop $pid
	expect_rc 0 $rc "stats" || { diag_file "$T/s.err"; return 1; }
	n=$(sed -n 's/^exported_ids=//p' "$T/s.out")
	if [ -z "$n" ] || [ "$n" -lt 1 ]; then
		diag "exported_ids='$n' while an export is held"
		diag_file "$T/s.out"
		return 1
	fi
}

# ---- main ------------------------------------------------------------------

TESTS="
	help_exits_0:test_help
	unknown_command_exits_2:test_unknown_command
	bad_domid_exits_2:test_bad_domid
	export_size_0_refused:test_size0
	export_alloc_pattern_import_roundtrip:test_pattern_roundtrip
	export_file_odd_size_import_roundtrip:test_file_roundtrip
	priv_shows_in_query:test_priv_query
	watch_sees_new_export_with_priv:test_watch
	import_wrong_key_enoent:test_wrong_key
	rdonly_export_refuses_rdwr_import:test_rdonly
	rdwr_import_write_visible:test_rdwr
	export_unexport_after:test_unexport_after
	sigterm_ends_export_and_unexports:test_sigterm_unexports
	export_keep_seconds:test_keep
	standalone_unexport_unsupported:test_unexport_cmd
	list_unsupported_exits_3:test_list
	heap_export_import_roundtrip:test_heap_roundtrip
	priv_too_long_exits_2:test_priv_too_long
	bad_id_string_exits_2:test_bad_id_string
	stats_counts_exports:test_stats
"
NTESTS=$(echo $TESTS | wc -w | tr -d ' ')


echo "TAP version 13"
echo "1..$NTESTS"

if [ ! -c "$DEV" ]; then
	for t in $TESTS; do
		num=$((num + 1))
		echo "ok $num ${t%%:*} # SKIP no $DEV"
	done
	exit $ksft_skip
fi

trap cleanup EXIT
trap 'exit $ksft_fail' INT TERM HUP
T=$(mktemp -d /tmp/hyper_dmabuf_tool_test.XXXXXX) || exit $ksft_fail

if [ ! -x "$TOOL" ]; then
	diag "$TOOL is missing"
fi

for t in $TESTS; do
	run "${t%%:*}" "${t#*:}"
done

if [ $num -ne $NTESTS ]; then
	diag "ran $num tests, planned $NTESTS"
	nfail=$((nfail + 1))
fi
diag "pass $npass fail $nfail skip $nskip"
[ $nfail -gt 0 ] && exit $ksft_fail
[ $npass -eq 0 ] && exit $ksft_skip
exit $ksft_pass
