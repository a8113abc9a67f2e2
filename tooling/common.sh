# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the project tooling (sourced, not run).

HD_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HD_BUILD=${HDLAB_BUILD:-$HD_REPO/build}
HD_KSRC=$HD_BUILD/linux
HD_TARBALL=/usr/src/linux-source-6.1.tar.xz

# Identity and dates used for every generated commit, so that the
# generated series and the base commit are byte-for-byte reproducible.
export GIT_AUTHOR_NAME="hyper_dmabuf developers"
export GIT_AUTHOR_EMAIL="hyper-dmabuf@lists.linux.dev"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME"
export GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z"
export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"

hd_die() {
	echo "error: $*" >&2
	# The test command always ends with the totals line.
	if [ -n "$HD_RESULTS" ]; then
		python3 "$HD_REPO/tools/testing/selftests/hyper_dmabuf/lab/hdlab_parse.py" \
			add "$HD_RESULTS" FAIL "setup: ${HD_STAGE:-start}" "$*"
		python3 "$HD_REPO/tools/testing/selftests/hyper_dmabuf/lab/hdlab_parse.py" \
			summary "$HD_RESULTS"
	fi
	exit 1
}
hd_log() { echo "[hdlab] $*"; }

hd_base_field() { sed -n "s/^$1=//p" "$HD_REPO/tooling/base-version"; }

# Stage timing: hd_stage NAME starts a stage and ends the previous one.
HD_STAGE=
HD_STAGE_T0=0
HD_TIMES=${HD_TIMES:-}
hd_stage_end() {
	[ -n "$HD_STAGE" ] || return 0
	local dt=$(( $(date +%s%N) / 1000000 - HD_STAGE_T0 ))
	printf '[stage] %-22s %4d.%01ds\n' "$HD_STAGE" $((dt / 1000)) $((dt % 1000 / 100))
	[ -n "$HD_TIMES" ] && printf '%s\t%d\n' "$HD_STAGE" "$dt" >> "$HD_TIMES"
	HD_STAGE=
}
hd_stage() {
	hd_stage_end
	HD_STAGE=$1
	HD_STAGE_T0=$(( $(date +%s%N) / 1000000 ))
	echo "[stage] $1 ..."
}

# Make $HD_KSRC a git repository holding the pristine base as one commit,
# tagged "base". Reused when it already holds the recorded version.
hd_base_tree() {
	local want have
	want=$(hd_base_field version)
	[ -r "$HD_TARBALL" ] || hd_die "$HD_TARBALL missing: install linux-source-6.1 (tooling/hdlab deps)"
	have=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null)
	if [ "$have" != "$want" ]; then
		echo "WARNING: linux-source-6.1 is $have, tooling/base-version records $want" >&2
	fi
	if [ -d "$HD_KSRC/.git" ] && git -C "$HD_KSRC" rev-parse -q --verify base >/dev/null &&
	   [ "$(cat "$HD_BUILD/base.stamp" 2>/dev/null)" = "$have" ]; then
		return 0
	fi
	hd_log "unpacking $HD_TARBALL ($have) into $HD_KSRC"
	rm -rf "$HD_KSRC" "$HD_BUILD/applied.stamp"
	mkdir -p "$HD_KSRC"
	tar xf "$HD_TARBALL" -C "$HD_KSRC" --strip-components=1
	git -C "$HD_KSRC" init -q
	git -C "$HD_KSRC" config core.autocrlf false
	# Debian's tarball carries a .gitignore that ignores the top level.
	git -C "$HD_KSRC" add -A -f
	git -C "$HD_KSRC" commit -q -m "base: Debian linux-source-6.1 $have"
	git -C "$HD_KSRC" tag -f base >/dev/null
	echo "$have" > "$HD_BUILD/base.stamp"
}
