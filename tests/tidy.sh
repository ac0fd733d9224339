#!/usr/bin/env bash
# tidy.sh - clang-tidy finds nothing in the project's C code (issue 9), with
# the checks chosen in the checked-in .clang-tidy. Each file is its own
# translation unit, so they are checked in parallel, one clang-tidy per CPU;
# each writes its findings to its own log so the output is not interleaved.
# autoconf.h comes from the build tree ($BERTH_BUILDDIR), the library include
# flags from pkg-config, as configure finds them.
set -euo pipefail
src=${BERTH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${BERTH_BUILDDIR:-$src}
cd "$src"
command -v clang-tidy >/dev/null || { echo "FAIL clang-tidy is not installed (scripts/install-deps)"; exit 1; }
[[ -f $build/autoconf.h ]] || { echo "FAIL $build/autoconf.h is missing: run configure first"; exit 1; }
pc=$(pkg-config --cflags libpq json-c yaml-0.1 libcurl openssl fcgi) ||
	{ echo "FAIL pkg-config does not know every library (scripts/install-deps)"; exit 1; }
# libsecret is optional (cli/tokenstore.c): its flags when configure found it.
if grep -q '^#define HAVE_LIBSECRET 1' "$build/autoconf.h"; then
	pc="$pc $(pkg-config --cflags libsecret-1)"
fi
# shellcheck disable=SC2206 # pkg-config output is split into words on purpose
flags=(-I"$build" -I"$build/proto" -Ishared -Ifcgi -Icli $pc
	-DBERTH_SYSCONFDIR='"/etc"' -DBERTH_PKGDATADIR='"/usr/share/berth"' -std=gnu11)

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
mapfile -t files < <(find shared fcgi cli daemon bench -name '*.c' | sort)
# One log per file; a clang-tidy that fails without printing a finding (a
# crash, a config error) still leaves a line in its log.
export logs
# shellcheck disable=SC2016 # $1, $@ and $logs belong to the inner sh
printf '%s\0' "${files[@]}" | xargs -0 -P "$(nproc)" -I{} sh -c '
	f=$1; shift
	log="$logs/$(echo "$f" | tr / _).log"
	clang-tidy --quiet "$f" -- "$@" >"$log" 2>&1 || echo "clang-tidy exited $? on $f" >>"$log"
' sh {} "${flags[@]}" || { echo "FAIL clang-tidy could not be run"; exit 1; }

out=$(cat "$logs"/*.log)
# "N warnings generated." counts diagnostics that --quiet then suppresses
# (checks that are off, system headers); it is not a finding on its own.
out=$(grep -v '^[0-9]* warnings\? generated\.$' <<<"$out" || true)
if [[ -n $out ]]; then
	echo "$out"
	echo "FAIL clang-tidy: $(grep -cE ': (warning|error): ' <<<"$out" || true) finding(s)"
	exit 1
fi
echo "PASS clang-tidy: ${#files[@]} files, 0 findings"
