#!/usr/bin/env bash
# Checks what `make test` and `make demo` need and installs what is
# missing from Debian's packages. Go modules come from the module proxy.
set -euo pipefail

need_go="1.26"
if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go ${need_go} or newer is needed (https://go.dev/dl is not reachable here; install the Debian or distribution package)" >&2
  exit 1
fi
have_go=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -1)" != "$need_go" ]; then
  echo "deps: Go ${need_go} or newer is needed, found ${have_go}" >&2
  exit 1
fi

# Debian packages by the command (or file) they provide. The control plane
# is built from Go modules, so the list is short: a C compiler for cgo, git
# for `make check` (it lists the tracked Go files), and for the test
# cluster's node (test/localcluster, Config.Node) containerd, runc, the CNI
# plugins, a static busybox (the base of every image the node runs) and ip
# (to remove the pods' bridge afterwards).
declare -A packages=([gcc]=gcc [git]=git
  [containerd]=containerd [ctr]=containerd [containerd-shim-runc-v2]=containerd
  [runc]=runc [/usr/lib/cni/bridge]=containernetworking-plugins
  [ip]=iproute2)
missing=()
for cmd in "${!packages[@]}"; do
  if [[ "$cmd" == /* ]]; then
    [ -e "$cmd" ] || missing+=("${packages[$cmd]}")
  else
    PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
  fi
done
# Debian's plain busybox package has a /bin/busybox too, but dynamically
# linked: useless in an image without a libc. Ask for the static one.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  missing+=(busybox-static)
fi
# One package may provide several commands.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
fi
