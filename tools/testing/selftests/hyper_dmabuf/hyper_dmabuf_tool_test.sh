#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Selftest of hyper_dmabuf_tool over the loopback path of /dev/hyper_dmabuf:
# buffers are exported to the local domain ("self") and imported, queried,
# listed and unexported again in the same domain, which needs no
# hypervisor backend.  Runs as root (unexport needs CAP_SYS_ADMIN).
# The tool is built from tools/hyper_dmabuf ("make -C tools hyper_dmabuf"):
# this script runs the one beside it, else the one in PATH.
#
# Output: TAP 13.  Exit status: 0 all passed (or skipped), 1 a test failed,
# 4 everything was skipped (no /dev/hyper_dmabuf, no hyper_dmabuf_tool).
# Needs only busybox: sh, cat, cmp, cut, dd, grep, head, mkfifo, mktemp,
# printf, sed, sleep, tr, wc (and unshare for the EPERM case, when the
# kernel has user namespaces).

ksft_pass=0
ksft_fail=1
ksft_skip=4

DIR=$(dirname "$0")
TOOL="$DIR/hyper_dmabuf_tool"
[ -x "$TOOL" ] || TOOL=$(command -v hyper_dmabuf_tool)
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

# expect_nogrep PATTERN FILE WHAT (fixed string)
expect_nogrep() {
	grep -q -F -e "$1" "$2" || return 0
	diag "$3: unexpected '$1' in the output:"
	diag_file "$2"
	return 1
}

# list_ok FILE ARGS...: run "list ARGS" into FILE (stderr in FILE.err),
# expect exit 0 and, for each kind, a header that counts the lines below it.
list_ok() {
	lf=$1
	shift
	"$TOOL" list "$@" >"$lf" 2>"$lf.err"
	if ! expect_rc 0 $? "list $*"; then
		diag_file "$lf.err"
		return 1
	fi
	for k in exported imported; do
		h=$(grep "^$k: " "$lf")
		[ -z "$h" ] && continue
		n=$(grep -c "^type=$k " "$lf")
		if [ "$n" = 0 ]; then
			want="$k: no buffers"
		elif [ "$n" = 1 ]; then
			want="$k: 1 buffer"
		else
			want="$k: $n buffers"
		fi
		[ "$h" = "$want" ] && continue
		diag "list $*: header '$h' but $n '$k' lines"
		diag_file "$lf"
		return 1
	done
}

# list_line FILE IDSTR: the list line of the buffer IDSTR (empty if none)
list_line() {
	grep -F -e " $2 " "$1" | head -n 1
}

# import_gone IDSTR WHAT: the import of IDSTR fails with ENOENT.
import_gone() {
	"$TOOL" import "$1" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 1 $? "$2" || return 1
	expect_grep "(ENOENT)" "$T/e" "$2"
}

# export_ends NAME OPTION: "export self ... OPTION 1" (--keep or --for),
# output in $T/NAME.out and .err, must end by itself, status 0, after its
# id line.
export_ends() {
	"$TOOL" export self $ALLOC 4096 "$2" 1 >"$T/$1.out" 2>"$T/$1.err" &
	pid=$!
	track $pid
	wait_exit $pid 30
	expect_rc 0 $rc "export $2 1" || { diag_file "$T/$1.err"; return 1; }
	grep -q '^id=' "$T/$1.out" || { diag "no id line"; return 1; }
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
	expect_grep "--oneshot" "$T/help.out" "export -h" || return 1
	expect_grep "--for SECONDS" "$T/help.out" "export -h" || return 1
	expect_grep "unexported elsewhere" "$T/help.out" "export -h" || return 1
	"$TOOL" help unexport >"$T/help.out" 2>&1
	expect_rc 0 $? "help unexport" || return 1
	expect_grep "HYPER_DMABUF_UNEXPORT_ANY_FILE" "$T/help.out" "help unexport" ||
		return 1
	"$TOOL" list -h >"$T/help.out" 2>&1
	expect_rc 0 $? "list -h" || return 1
	expect_grep "--imported" "$T/help.out" "list -h" || return 1
	# list and unexport work now: the usage must not say otherwise.
	"$TOOL" --help >"$T/help.out" 2>&1
	expect_grep "list      list the buffers" "$T/help.out" "--help" || return 1
	expect_nogrep "Not supported" "$T/help.out" "--help" || return 1
	expect_nogrep "not supported by this driver" "$T/help.out" "--help"
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
	export_bg e8 self $ALLOC 4096 --unexport-after 6000 || return 1
	id=$(idstr "$T/e8.out")
	"$TOOL" import "$id" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 0 $? "import before the unexport" || { diag_file "$T/e"; return 1; }
	wait_exit $pid 30
	expect_rc 0 $rc "export --unexport-after" || { diag_file "$T/e8.err"; return 1; }
	expect_grep "unexported $id" "$T/e8.out" "export --unexport-after" || return 1
	import_gone "$id" "import after the unexport"
}

test_sigterm_unexports() {
	need_alloc || return
	export_bg e9 self $ALLOC 4096 || return 1
	id=$(idstr "$T/e9.out")
	stop $pid
	expect_rc 0 $rc "export after SIGTERM" || return 1
	import_gone "$id" "import after the exporter ended"
}

test_keep() {
	need_alloc || return
	export_ends e10 --keep || return 1
	import_gone "$(idstr "$T/e10.out")" "import after --keep ended"
}

test_for() {
	need_alloc || return
	export_ends e14 --for || return 1
	[ "$(grep -c . "$T/e14.out")" = 1 ] || {
		diag "export --for printed more than its id line"
		diag_file "$T/e14.out"
		return 1
	}
	import_gone "$(idstr "$T/e14.out")" "import after --for ended"
}

# export, then find the buffer with list, query, import and watch.
test_lifecycle() {
	[ -c "$UDMABUF" ] || { skip_reason="no $UDMABUF"; return $ksft_skip; }
	head -c 6000 /dev/urandom >"$T/data6000"
	"$TOOL" watch --count 1 --timeout 20000 >"$T/w15.out" 2>"$T/w15.err" &
	wpid=$!
	track $wpid
	wait_for "$T/w15.err" '^watch: ready' $wpid || { diag_file "$T/w15.err"; return 1; }
	export_bg e15 self --file "$T/data6000" --for 120 --priv lifecycle || return 1
	epid=$pid
	id=$(idstr "$T/e15.out")
	size=$(field size "$T/e15.out")
	hexid=$(field id "$T/e15.out")
	domid=$(field domid "$T/e15.out")

	# list: one line, with the id decoded.
	list_ok "$T/l15" --exported || return 1
	expect_nogrep "imported:" "$T/l15" "list --exported" || return 1
	line=$(list_line "$T/l15" "$id")
	[ -n "$line" ] || { diag "list --exported lacks $id"; diag_file "$T/l15"; return 1; }
	slot=$((hexid & 0xffffff))
	byte=$(printf '0x%02x' $((hexid >> 24)))
	for f in "type=exported $id " " slot=$slot " " id_domid_byte=$byte " \
		 " exporter_domid=$domid " " importer_domid=$SELF " " size=$size " \
		 " access=rdonly " " busy=0 " " priv_size=9 " " state=ready "; do
		case "$line " in
		*"$f"*) ;;
		*) diag "list line lacks '$f': $line"; return 1 ;;
		esac
	done
	[ $((domid & 0xff)) = $((hexid >> 24)) ] ||
		{ diag "id $hexid does not carry the low byte of domid $domid"; return 1; }

	# query agrees.
	"$TOOL" query "$id" >"$T/q15.out" 2>"$T/q15.err"
	expect_rc 0 $? "query" || { diag_file "$T/q15.err"; return 1; }
	for l in type=exported "slot=$slot" "id_domid_byte=$byte" "size=$size" \
		 busy=0 unexport_pending=0 'priv="lifecycle"'; do
		grep -q -x -F -e "$l" "$T/q15.out" ||
			{ diag "query: no line '$l'"; diag_file "$T/q15.out"; return 1; }
	done

	# import of the list line itself: the file's bytes, then zeros.
	"$TOOL" import "$line" --out "$T/i15.bin" >"$T/i15.out" 2>"$T/i15.err"
	expect_rc 0 $? "import of the list line" || { diag_file "$T/i15.err"; return 1; }
	[ "$(filesize "$T/i15.bin")" = "$size" ] ||
		{ diag "imported $(filesize "$T/i15.bin") bytes, export size=$size"; return 1; }
	head -c 6000 "$T/i15.bin" >"$T/i15.head"
	cmp "$T/data6000" "$T/i15.head" || { diag "imported bytes differ from the file"; return 1; }
	nz=$(dd if="$T/i15.bin" bs=1000 skip=6 2>/dev/null | tr -d '\000' | wc -c | tr -d ' ')
	[ "$nz" = 0 ] || { diag "$nz non-zero bytes after the file's end"; return 1; }
	[ "$(field checksum "$T/e15.out")" = "$(field checksum "$T/i15.out")" ] ||
		{ diag "checksums differ"; return 1; }

	# watch saw the announcement.
	wait_exit $wpid 30
	expect_rc 0 $rc "watch --count 1" || { diag_file "$T/w15.err"; return 1; }
	expect_grep "event=new_import $id " "$T/w15.out" "watch" || return 1

	# The export is still held (--for 120) until SIGTERM.
	alive $epid || { diag "export ended early"; diag_file "$T/e15.err"; return 1; }
	stop $epid
	expect_rc 0 $rc "export after SIGTERM" || return 1
	list_ok "$T/l15b" --exported || return 1
	[ -z "$(list_line "$T/l15b" "$id")" ] ||
		{ diag "list still shows $id after its exporter ended"; return 1; }
}

# unexport from another process ends the holding export.
test_unexport_elsewhere() {
	need_alloc || return
	export_bg e16 self $ALLOC 4096 || return 1
	id=$(idstr "$T/e16.out")
	"$TOOL" unexport "$id" >"$T/u16.out" 2>"$T/u16.err"
	expect_rc 0 $? "unexport" || { diag_file "$T/u16.err"; return 1; }
	expect_grep "unexported $id delay_ms=0" "$T/u16.out" "unexport" || return 1
	wait_exit $pid 10
	expect_rc 0 $rc "export after the unexport elsewhere" ||
		{ diag_file "$T/e16.err"; return 1; }
	expect_grep "unexported elsewhere $id" "$T/e16.out" "export" || return 1
	list_ok "$T/l16" --exported || return 1
	[ -z "$(list_line "$T/l16" "$id")" ] ||
		{ diag "list still shows $id"; diag_file "$T/l16"; return 1; }
	import_gone "$id" "import after the unexport" || return 1
	"$TOOL" query "$id" >"$T/o" 2>"$T/e"
	expect_rc 1 $? "query after the unexport" || return 1
	expect_grep "(ENOENT)" "$T/e" "query after the unexport"
}

test_unexport_enoent() {
	need_alloc || return
	export_bg e17 self $ALLOC 4096 || return 1
	id=$(idstr "$T/e17.out")
	key=$(field key "$T/e17.out")
	bad=000000000000000000000000
	[ "$key" = $bad ] && bad=111111111111111111111111
	badid=$(echo "$id" | sed "s/key=[0-9a-f]*/key=$bad/")
	msg="unexport: no such export in this domain (ENOENT):"
	msg="$msg wrong id or key, or already unexported"

	"$TOOL" unexport "$badid" >"$T/o" 2>"$T/e"
	expect_rc 1 $? "unexport with a wrong key" || return 1
	expect_grep "$msg" "$T/e" "unexport with a wrong key" || return 1
	[ -s "$T/o" ] && { diag "a failed unexport printed on stdout"; return 1; }
	# Nothing was unexported.
	nap
	alive $pid || { diag "the export ended after a wrong-key unexport"; return 1; }
	"$TOOL" query "$id" >"$T/q17.out" 2>"$T/e"
	expect_rc 0 $? "query after a wrong-key unexport" || { diag_file "$T/e"; return 1; }
	expect_grep "unexport_pending=0" "$T/q17.out" "query" || return 1

	"$TOOL" unexport "$id" >"$T/o" 2>"$T/e"
	expect_rc 0 $? "unexport" || { diag_file "$T/e"; return 1; }
	"$TOOL" unexport "$id" >"$T/o" 2>"$T/e"
	expect_rc 1 $? "second unexport" || return 1
	expect_grep "$msg" "$T/e" "second unexport" || return 1
	wait_exit $pid 10
	expect_rc 0 $rc "export after the unexport elsewhere"
}

# unexport --delay: listed as unexport-pending until the delay is over;
# the exporter notices the unexport at once, not at the end of the delay.
test_unexport_delay() {
	need_alloc || return
	export_bg e18 self $ALLOC 4096 || return 1
	id=$(idstr "$T/e18.out")
	"$TOOL" unexport "$id" --delay 10000 >"$T/u18.out" 2>"$T/u18.err"
	expect_rc 0 $? "unexport --delay 10000" || { diag_file "$T/u18.err"; return 1; }
	expect_grep "unexported $id delay_ms=10000" "$T/u18.out" "unexport --delay" ||
		return 1
	# Within the delay: no longer importable.
	import_gone "$id" "import during the unexport delay" || return 1
	# The exporter sees unexport_pending and ends by itself ...
	wait_exit $pid 8
	expect_rc 0 $rc "export after the delayed unexport" || return 1
	expect_grep "unexported elsewhere $id" "$T/e18.out" "export" || return 1
	# ... while the buffer is still listed, pending.
	list_ok "$T/l18" --exported || return 1
	line=$(list_line "$T/l18" "$id")
	case "$line " in
	*" state=unexport-pending "*) ;;
	*) diag "list during the delay: '$line'"; diag_file "$T/l18"; return 1 ;;
	esac
	# After the delay the buffer is gone (30 s at most).
	i=0
	while :; do
		list_ok "$T/l18" --exported || return 1
		[ -z "$(list_line "$T/l18" "$id")" ] && break
		if [ $i -ge 300 ]; then
			diag "$id still listed 30 s after a 10 s unexport delay"
			diag_file "$T/l18"
			return 1
		fi
		nap
		i=$((i + 1))
	done
}

# After an unexport the slot comes back (LIFO id stack) with a new key.
test_slot_reuse() {
	need_alloc || return
	export_bg e19 self $ALLOC 4096 || return 1
	a=$(idstr "$T/e19.out")
	"$TOOL" unexport "$a" >"$T/o" 2>"$T/e"
	expect_rc 0 $? "unexport" || { diag_file "$T/e"; return 1; }
	wait_exit $pid 10
	expect_rc 0 $rc "first export after the unexport" || return 1
	export_bg e20 self $ALLOC 4096 || return 1
	b=$(idstr "$T/e20.out")
	[ "$(field id "$T/e19.out")" = "$(field id "$T/e20.out")" ] ||
		{ diag "id not reused: '$a' then '$b'"; return 1; }
	[ "$(field key "$T/e19.out")" != "$(field key "$T/e20.out")" ] ||
		{ diag "reused id got the same key: $b"; return 1; }
	# The stale name opens nothing; the new one is listed.
	import_gone "$a" "import of the stale id and key" || return 1
	"$TOOL" unexport "$a" >"$T/o" 2>"$T/e"
	expect_rc 1 $? "unexport of the stale id and key" || return 1
	expect_grep "(ENOENT)" "$T/e" "unexport of the stale id and key" || return 1
	list_ok "$T/l20" --exported || return 1
	[ -n "$(list_line "$T/l20" "$b")" ] || { diag "list lacks $b"; return 1; }
	[ -z "$(list_line "$T/l20" "$a")" ] || { diag "list shows stale $a"; return 1; }
	alive $pid || { diag "the new export ended early"; return 1; }
	stop $pid
	expect_rc 0 $rc "export after SIGTERM"
}

# Without CAP_SYS_ADMIN (root of a user namespace) unexport is refused.
test_unexport_eperm() {
	need_alloc || return
	if ! unshare -r true 2>/dev/null; then
		skip_reason="no user namespaces (unshare -r) to drop CAP_SYS_ADMIN"
		return $ksft_skip
	fi
	export_bg e21 self $ALLOC 4096 || return 1
	id=$(idstr "$T/e21.out")
	unshare -r "$TOOL" unexport "$id" >"$T/o" 2>"$T/e"
	rc=$?
	if grep -q "open $DEV" "$T/e"; then
		stop $pid
		skip_reason="$DEV cannot be opened in a user namespace"
		return $ksft_skip
	fi
	expect_rc 1 $rc "unexport without CAP_SYS_ADMIN" || { diag_file "$T/e"; return 1; }
	expect_grep "unexport: permission denied (EPERM): needs CAP_SYS_ADMIN" "$T/e" \
		"unexport without CAP_SYS_ADMIN" || return 1
	nap
	alive $pid || { diag "the export ended after a refused unexport"; return 1; }
	"$TOOL" import "$id" --out /dev/null >"$T/o" 2>"$T/e"
	expect_rc 0 $? "import after a refused unexport" || { diag_file "$T/e"; return 1; }
	stop $pid
	expect_rc 0 $rc "export after SIGTERM"
}

# Bad arguments: exit 2 with a usage message, before the device is used.
# Each case is "WHAT|ARGS|MESSAGE"; ARGS are split at spaces.
K=0123456789abcdef01234567
BAD_ARGS="
unknown command|frobnicate|unknown command 'frobnicate'
unknown option|list --frobnicate|unrecognized option
unexport without ID-STRING|unexport|missing ID-STRING
unexport with a malformed ID-STRING|unexport id=0x1 domid=self|needs id=, domid= and key=
unexport with a short key|unexport 1:self:0123|not ID:DOMID:KEY
unexport with a bad domid|unexport 1:99999:$K|not ID:DOMID:KEY
unexport --delay 10001|unexport 1:self:$K --delay 10001|bad --delay MS '10001' (0..10000)
unexport --delay non-numeric|unexport 1:self:$K --delay soon|bad --delay MS 'soon'
unexport --delay negative|unexport --delay -1 1:self:$K|bad --delay MS '-1'
unexport unknown option|unexport --force 1:self:$K|unrecognized option
list extra argument|list everything|unexpected argument 'everything'
import without ID-STRING|import|missing ID-STRING
query without ID-STRING|query|missing ID-STRING
query with a bad id|query id=zz domid=1 key=$K|bad id= value
export without DOMID|export|missing DOMID
export without SOURCE|export self|missing --file PATH
export --for non-numeric|export self --alloc 4096 --for ever|bad --for SECONDS 'ever'
watch extra argument|watch now|unexpected argument 'now'
"

test_bad_args() {
	echo "$BAD_ARGS" >"$T/badargs"
	n=0
	while IFS='|' read -r what args want; do
		[ -n "$what" ] || continue
		n=$((n + 1))
		# $args is split on purpose.
		"$TOOL" $args >"$T/o" 2>"$T/e" </dev/null
		if ! expect_rc 2 $? "$what"; then
			diag_file "$T/e"
			return 1
		fi
		expect_grep "$want" "$T/e" "$what" || return 1
		expect_grep "Usage: hyper_dmabuf_tool" "$T/e" "$what" || return 1
		if [ -s "$T/o" ]; then
			diag "$what printed on stdout"
			diag_file "$T/o"
			return 1
		fi
	done <"$T/badargs"
	[ $n -ge 18 ] || { diag "ran $n bad-argument cases"; return 1; }
}

# In a single domain nothing is imported from other domains; loopback
# exports are listed as exported only.
test_list_imported() {
	need_alloc || return
	export_bg e22 self $ALLOC 4096 || return 1
	id=$(idstr "$T/e22.out")
	list_ok "$T/l22" --imported || return 1
	expect_nogrep "exported:" "$T/l22" "list --imported" || return 1
	expect_nogrep "type=exported" "$T/l22" "list --imported" || return 1
	expect_nogrep "$id" "$T/l22" "list --imported (a loopback export)" || return 1
	# No other domain exports to this one while the single-domain tests
	# run (and without a backend none can).
	if [ "$(cat "$T/l22")" != "imported: no buffers" ]; then
		diag "list --imported in a single domain:"
		diag_file "$T/l22"
		return 1
	fi
	# Without an option: both kinds, exported first.
	list_ok "$T/l22b" || return 1
	[ "$(grep -n '^exported: ' "$T/l22b" | cut -d: -f1)" = 1 ] || {
		diag "list does not start with the exported header"
		diag_file "$T/l22b"
		return 1
	}
	grep -q '^imported: no buffers$' "$T/l22b" ||
		{ diag "list has no 'imported: no buffers'"; diag_file "$T/l22b"; return 1; }
	[ -n "$(list_line "$T/l22b" "$id")" ] || { diag "list lacks $id"; return 1; }
	stop $pid
	expect_rc 0 $rc "export after SIGTERM"
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
	export_for_seconds:test_for
	export_list_query_import_watch:test_lifecycle
	unexport_from_another_process:test_unexport_elsewhere
	unexport_wrong_key_or_twice_enoent:test_unexport_enoent
	unexport_delay_listed_pending:test_unexport_delay
	unexport_slot_reused_new_key:test_slot_reuse
	unexport_needs_cap_sys_admin:test_unexport_eperm
	bad_arguments_exit_2:test_bad_args
	list_imported_no_loopback:test_list_imported
	heap_export_import_roundtrip:test_heap_roundtrip
	priv_too_long_exits_2:test_priv_too_long
	bad_id_string_exits_2:test_bad_id_string
	stats_counts_exports:test_stats
"
NTESTS=$(echo $TESTS | wc -w | tr -d ' ')


echo "TAP version 13"
echo "1..$NTESTS"

skip_all=
if [ ! -c "$DEV" ]; then
	skip_all="no $DEV"
elif [ ! -x "$TOOL" ]; then
	skip_all="no hyper_dmabuf_tool beside this script or in PATH (tools/hyper_dmabuf)"
fi
if [ -n "$skip_all" ]; then
	for t in $TESTS; do
		num=$((num + 1))
		echo "ok $num ${t%%:*} # SKIP $skip_all"
	done
	exit $ksft_skip
fi

trap cleanup EXIT
trap 'exit $ksft_fail' INT TERM HUP
T=$(mktemp -d /tmp/hyper_dmabuf_tool_test.XXXXXX) || exit $ksft_fail

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
