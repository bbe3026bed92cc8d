#!/usr/bin/env bash
# What a user of the published package gets. Packs the tarball, installs it into an empty ESM
# project without any optional peer (pg, prom-client, @opentelemetry/api, pg-boss), type-checks
# a consumer with strict settings and skipLibCheck false, runs it, and runs the bin.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
npm run build >/dev/null
tarball="$work/$(npm pack --silent --ignore-scripts --pack-destination "$work" | tail -n 1)"
echo "packed $(basename "$tarball"): $(du -k "$tarball" | cut -f1) kB"
if tar -tzf "$tarball" | grep -E '\.map$|^package/src/'; then
  echo "the package ships source maps or src/" >&2
  exit 1
fi

app="$work/consumer"
mkdir -p "$app"
cp scripts/consumer/consumer.ts scripts/consumer/tsconfig.json "$app/"
cd "$app"
printf '{ "name": "consumer", "private": true, "type": "module" }\n' >package.json
# @types/node is what any TypeScript project on Node has; TypeScript is the repository's own.
npm install --no-audit --no-fund --prefer-offline --loglevel=error --ignore-scripts \
  "$tarball" "@types/node@^20.19.0"
# The native SQLite addon: the one `npm ci` built for this machine when the versions match (a
# build from source takes minutes where no prebuilt binary can be downloaded), else a rebuild.
addon_version() { node -p "require('./$1/better-sqlite3/package.json').version"; }
if [ "$(addon_version node_modules)" = "$(cd "$root" && addon_version node_modules)" ]; then
  cp -r "$root/node_modules/better-sqlite3/build" node_modules/better-sqlite3/
else
  npm rebuild better-sqlite3
fi
for peer in pg prom-client @opentelemetry/api pg-boss @types/better-sqlite3; do
  if [ -e "node_modules/$peer" ]; then
    echo "node_modules/$peer is installed: the check must run without it" >&2
    exit 1
  fi
done
node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json
node out/consumer.js
node --input-type=commonjs -e 'require("waymark"); console.log("require(\"waymark\") works")'

npx --no-install waymark --help >/dev/null
npx --no-install waymark demo --batch-ms 0 --json >/dev/null
# `demo train` needs the repository's example: not offered here, and it says where it runs.
if npx --no-install waymark demo --help | grep -qE "^  train"; then
  echo "demo train is offered by the installed package, which cannot run it" >&2
  exit 1
fi
npx --no-install waymark demo --help | grep -q "runs from a clone of the repository"
if npx --no-install waymark demo train 2>"$work/train.err"; then
  echo "demo train succeeded without the example" >&2
  exit 1
fi
grep -q "git clone" "$work/train.err"
echo "the packed package installs, type-checks and runs in an empty ESM project"
