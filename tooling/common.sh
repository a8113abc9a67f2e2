# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the project tooling (sourced, not run).

HD_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HD_BUILD=${HDLAB_BUILD:-$HD_REPO/build}
HD_KSRC=$HD_BUILD/linux

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

# The Debian mirror the machine's own (uncommented) apt sources name.
hd_mirror() {
	local m
	m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v '^[[:space:]]*#' |
		grep -oE 'https?://[^ ]*/debian/?( |$)' | head -n1)
	m=${m% }
	m=${m%/}
	echo "${m:-http://deb.debian.org/debian}"
}

# hd_apt_opts DIR: APT_OPTS for a private apt configuration in DIR, whose
# DIR/sources.list the caller writes; the machine's own lists stay untouched.
hd_apt_opts() {
	mkdir -p "$1/lists/partial" "$1/cache/archives/partial"
	APT_OPTS=(-o Dir::Etc::SourceList="$1/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists="$1/lists" -o Dir::Cache="$1/cache"
		-o APT::Sandbox::User=root)
}

# The base: Debian's linux-source-7.3 (trixie-backports). It is fetched
# with a private apt configuration under build/apt, so the machine's own
# sources never list trixie; apt still checks the archive's signature.
hd_fetch_base() {
	local pkg want dir list mirror deb
	pkg=$(hd_base_field package)
	want=$(hd_base_field version)
	dir=$HD_BUILD/apt
	mkdir -p "$dir/deb"
	hd_apt_opts "$dir"
	mirror=$(hd_mirror)
	list=$dir/sources.list
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $(hd_base_field suite) main" > "$list"
	deb=$(ls "$dir"/deb/"${pkg}"_*.deb 2>/dev/null | head -n1)
	if [ -z "$deb" ]; then
		hd_log "fetching $pkg from $mirror $(hd_base_field suite)"
		apt-get -q "${APT_OPTS[@]}" update > "$dir/update.log" 2>&1 ||
			{ tail "$dir/update.log"; hd_die "apt-get update (private list for $pkg) failed"; }
		(cd "$dir/deb" && apt-get -q "${APT_OPTS[@]}" download "$pkg") > "$dir/download.log" 2>&1 ||
			{ tail "$dir/download.log"; hd_die "apt-get download $pkg failed"; }
		deb=$(ls "$dir"/deb/"${pkg}"_*.deb | head -n1)
	fi
	HD_BASE_HAVE=$(dpkg-deb -f "$deb" Version)
	if [ "$HD_BASE_HAVE" != "$want" ]; then
		echo "WARNING: apt served $pkg $HD_BASE_HAVE, tooling/base-version records $want; the series may not apply" >&2
	fi
	HD_TARBALL=$dir/src/usr/src/$pkg.tar.xz
	if [ ! -r "$HD_TARBALL" ] || [ "$(cat "$dir/src.stamp" 2>/dev/null)" != "$HD_BASE_HAVE" ]; then
		rm -rf "$dir/src"
		dpkg-deb -x "$deb" "$dir/src" || hd_die "dpkg-deb -x $deb failed"
		echo "$HD_BASE_HAVE" > "$dir/src.stamp"
	fi
}

# Make $HD_KSRC a git repository holding the pristine base as one commit,
# tagged "base". Reused when it already holds the fetched version.
hd_base_tree() {
	local have
	hd_fetch_base
	have=$HD_BASE_HAVE
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
	git -C "$HD_KSRC" commit -q -m "base: Debian $(hd_base_field package) $have"
	git -C "$HD_KSRC" tag -f base >/dev/null
	echo "$have" > "$HD_BUILD/base.stamp"
}

# sparse, built from Debian's source package (sparse_suite, sparse_version
# in tooling/base-version) with a private apt list of deb-src lines; apt
# checks the archive's signature and the sources' hashes.  Sets HD_SPARSE.
hd_sparse() {
	local dir=$HD_BUILD/sparse want suite mirror src
	want=$(hd_base_field sparse_version)
	suite=$(hd_base_field sparse_suite)
	HD_SPARSE=$dir/bin/sparse
	if [ -x "$HD_SPARSE" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	rm -rf "$dir"
	mkdir -p "$dir/src" "$dir/bin"
	hd_apt_opts "$dir"
	mirror=$(hd_mirror)
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
		> "$dir/sources.list"
	apt-get -q "${APT_OPTS[@]}" update > "$dir/apt.log" 2>&1 ||
		{ tail "$dir/apt.log"; hd_die "apt-get update (deb-src $suite) failed"; }
	if ! (cd "$dir/src" && apt-get -q "${APT_OPTS[@]}" source --download-only "sparse=$want") \
		>> "$dir/apt.log" 2>&1; then
		echo "WARNING: $suite no longer has sparse $want; taking the version it has" >&2
		(cd "$dir/src" && apt-get -q "${APT_OPTS[@]}" source --download-only sparse) \
			>> "$dir/apt.log" 2>&1 ||
			{ tail "$dir/apt.log"; hd_die "apt-get source sparse failed: $dir/apt.log"; }
	fi
	src=$(ls "$dir"/src/sparse_*.orig.tar.* | head -n1)
	tar xf "$src" -C "$dir/src" || hd_die "cannot unpack $src"
	make -s -C "$dir"/src/sparse-*/ -j"$(nproc)" sparse > "$dir/build.log" 2>&1 ||
		{ tail "$dir/build.log"; hd_die "sparse build failed: $dir/build.log"; }
	cp "$dir"/src/sparse-*/sparse "$HD_SPARSE"
	echo "$want" > "$dir/stamp"
}
