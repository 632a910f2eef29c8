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

# Debian packages by the command they provide. The control plane is built
# from Go modules, so the list is short: a C compiler for cgo, and git for
# `make check` (it lists the tracked Go files).
declare -A packages=([gcc]=gcc [git]=git)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
fi
