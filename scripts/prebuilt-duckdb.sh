#!/usr/bin/env bash
# Fetches the official prebuilt DuckDB 1.5.5 shared library (parquet, json and icu built in) from the
# npm registry with npm's own client, checks the package's SHA-256 and the library's version, and
# installs it where the `prebuilt` feature links it and where the binaries find it at run time
# (the build scripts add an rpath; no LD_LIBRARY_PATH needed):
#
#   ${PLUGINLAKE_DUCKDB_DIR:-$HOME/.cache/pluginlake/duckdb/v1.5.5}/libduckdb.{so,dylib}
#
# Then: cargo test --release --workspace --no-default-features --features prebuilt
# Idempotent: an installed library of the right version is kept (nothing is downloaded).
set -euo pipefail

VERSION=1.5.5
PACKAGE_VERSION=1.5.5-r.5
DIR="${PLUGINLAKE_DUCKDB_DIR:-${HOME:?HOME must be set}/.cache/pluginlake/duckdb/v$VERSION}"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64)   PLATFORM=linux-x64;    LIB=libduckdb.so;    SHA256=86d2bda909785550e8a14a57a8a4584827aff0e268d8f1a58c3fd48559f7020e ;;
  Linux-aarch64)  PLATFORM=linux-arm64;  LIB=libduckdb.so;    SHA256=3b85f3ea438f7dc3691d7b5e6e4222ffe9127fd17885f96ca72e0c99925c348e ;;
  Darwin-arm64)   PLATFORM=darwin-arm64; LIB=libduckdb.dylib; SHA256=08b3cfd7d4d620a5fb67ef49db28551b767107266af3a8e2600e49d99ee59456 ;;
  Darwin-x86_64)  PLATFORM=darwin-x64;   LIB=libduckdb.dylib; SHA256=1266f62ac7c02f7971554a2b0b2c4c19923a97258bfdf1b203873e174e7a28c4 ;;
  *) echo "prebuilt-duckdb: no prebuilt DuckDB for $(uname -s)-$(uname -m); build with the default 'bundled' feature" >&2; exit 1 ;;
esac

# Prints the version the library reports (duckdb_library_version), through Python's ctypes.
library_version() {
  "${PLUGINLAKE_PYTHON:-python3}" -c '
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.duckdb_library_version.restype = ctypes.c_char_p
print(lib.duckdb_library_version().decode())' "$1"
}

if [[ -f "$DIR/$LIB" ]] && [[ "$(library_version "$DIR/$LIB" 2>/dev/null || true)" == "v$VERSION" ]]; then
  echo "prebuilt-duckdb: DuckDB v$VERSION already in $DIR"
  exit 0
fi

command -v npm >/dev/null || { echo "prebuilt-duckdb: npm is needed to fetch @duckdb/node-bindings-$PLATFORM (or use the default 'bundled' feature)" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "prebuilt-duckdb: fetching @duckdb/node-bindings-$PLATFORM@$PACKAGE_VERSION"
(cd "$WORK" && npm pack --silent "@duckdb/node-bindings-$PLATFORM@$PACKAGE_VERSION" >/dev/null)
TGZ="$WORK/duckdb-node-bindings-$PLATFORM-$PACKAGE_VERSION.tgz"
if command -v sha256sum >/dev/null; then GOT="$(sha256sum "$TGZ" | cut -d' ' -f1)"; else GOT="$(shasum -a 256 "$TGZ" | cut -d' ' -f1)"; fi
if [[ "$GOT" != "$SHA256" ]]; then
  echo "prebuilt-duckdb: SHA-256 mismatch for $TGZ: expected $SHA256, got $GOT; nothing installed" >&2
  exit 1
fi
tar -xzf "$TGZ" -C "$WORK" "package/$LIB"
GOT_VERSION="$(library_version "$WORK/package/$LIB")"
if [[ "$GOT_VERSION" != "v$VERSION" ]]; then
  echo "prebuilt-duckdb: $LIB reports $GOT_VERSION, expected v$VERSION; nothing installed" >&2
  exit 1
fi
mkdir -p "$DIR"
# Into place atomically: a concurrent build sees the old file or the new one, never half of one.
cp "$WORK/package/$LIB" "$DIR/.$LIB.tmp"
mv -f "$DIR/.$LIB.tmp" "$DIR/$LIB"
echo "prebuilt-duckdb: DuckDB v$VERSION installed in $DIR"
