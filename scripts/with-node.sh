#!/usr/bin/env bash
# Runs a command with another major version of Node.js on the PATH:
#
#   bash scripts/with-node.sh 24 npx vitest run
#
# The binary comes from the npm registry (the `node-<os>-<arch>` package
# that the `node` package itself installs), cached in .cache/node/<major>
# (NODE_CACHE overrides the folder); nothing is fetched from elsewhere.
# Child processes the command starts (vitest's workers, forked test
# processes) get the same Node.js through the PATH and process.execPath.
set -euo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 <node major version> <command> [args...]" >&2
  exit 2
fi
major=$1
shift

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "with-node: no Node.js package for $(uname -m)" >&2; exit 2 ;;
esac
os=$(uname -s | tr '[:upper:]' '[:lower:]')
package="node-$os-$arch"

root="${NODE_CACHE:-$(pwd)/.cache/node}/$major"
bin="$root/node_modules/$package/bin"
if [ ! -x "$bin/node" ]; then
  mkdir -p "$root"
  npm install --no-save --no-audit --no-fund --no-package-lock --prefix "$root" "$package@$major" >&2
fi
export PATH="$bin:$PATH"
echo "with-node: $(node --version) from $bin" >&2
"$@"
