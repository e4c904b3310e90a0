#!/usr/bin/env bash
# Rewrites a clone's tests into the layout before issue 10 (one integration-test binary per file, the
# release profile not incremental), to measure edit -> test build times against it (BENCHMARKS.md).
# Usage: scripts/before-layout.sh <a throwaway clone>
set -euo pipefail
cd "$1"
for d in it collected; do
  for f in tests/$d/*.rs; do
    n=$(basename "$f")
    [[ $n == main.rs ]] && continue
    { grep -v '^use crate::common;$' "$f"; printf '\n#[path = "common/mod.rs"]\n#[allow(dead_code)]\nmod common;\n'; } >"tests/$n"
  done
  rm -r "tests/$d"
done
sed -i 's/^incremental = true/incremental = false/' Cargo.toml
