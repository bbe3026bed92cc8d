#!/usr/bin/env bash
# Compares the benchmark between an earlier commit and this checkout, side by side:
#   scripts/bench-compare.sh <commit> [steps] [rounds]
# builds <commit> in a temporary worktree (sharing this checkout's node_modules), gives it this
# checkout's bench/ (so both measure the same code), builds this checkout, and runs
# bench/compare.ts over the given step numbers of bench/index.ts (default: every step; a step
# that needs what the earlier commit lacks is left out and said so). Set WAYMARK_BENCH_PG_URL
# for the PostgreSQL steps.
set -euo pipefail
ref="${1:?usage: scripts/bench-compare.sh <commit> [steps, e.g. 0,1,2] [rounds]}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
steps="${2:-$(cd "$repo" && node --import tsx bench/index.ts --list | cut -f1 | paste -sd,)}"
rounds="${3:-3}"
before="$(mktemp -d)"
cleanup() { git -C "$repo" worktree remove --force "$before" >/dev/null 2>&1 || rm -rf "$before"; }
trap cleanup EXIT
git -C "$repo" worktree add --detach -q "$before" "$ref"
ln -s "$repo/node_modules" "$before/node_modules"
echo "building $(git -C "$before" log -1 --format='%h %s' | cut -c1-72)" >&2
(cd "$before" && node_modules/.bin/tsc -p tsconfig.build.json)
rm -rf "$before/bench"
cp -r "$repo/bench" "$before/bench"
echo "building this checkout" >&2
(cd "$repo" && npm run build >/dev/null)
cd "$repo"
node --import tsx bench/compare.ts --before "$before" --steps "$steps" --rounds "$rounds" ${QUICK:+--quick}
