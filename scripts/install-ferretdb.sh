#!/usr/bin/env bash
# Builds FerretDB (a MongoDB-wire-protocol server on SQLite) once per machine and caches it.
# Prints the binary's path. `go install …@v1.24.2` is refused by the module proxy's listing,
# so the module is downloaded and built from a copy with its version file filled in.
set -euo pipefail
version=v1.24.2
cache="${RESTITCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/restitch}"
bin="$cache/bin/ferretdb-$version"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "install-ferretdb: Go is required to build FerretDB" >&2; exit 1; }
mkdir -p "$cache/bin"
src=$(go mod download -json "github.com/FerretDB/FerretDB@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$src" ] || { echo "install-ferretdb: could not download FerretDB $version" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
echo "$version" > "$work/build/version/version.txt"
(cd "$work" && go build -trimpath -o "$bin.tmp" ./cmd/ferretdb) >&2
mv "$bin.tmp" "$bin"
echo "$bin"
