#!/usr/bin/env bash
# Install everything the tests need (apt as root, pip) and run the whole suite:
# lint, types and layering checks, unit tests, integration tests with real peers.
set -euo pipefail
cd "$(dirname "$0")/.."

# gcc: the compiled hot path; ip, iptables, setpriv, conntrack: up --netns
apt_packages=(curl gcc nghttp2-client iproute2 iptables util-linux conntrack)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing system packages (install as root): ${missing[*]}" >&2
    exit 1
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
# sslyze checks the mesh TLS from outside (tests/integration/test_mtls_security.py). It pins an
# older cryptography than lightmesh uses, so it lives in its own virtualenv.
sslyze="${LIGHTMESH_TEST_SSLYZE:-/opt/sslyze/bin/sslyze}"
if [ ! -x "$sslyze" ]; then
  python3 -m venv "$(dirname "$(dirname "$sslyze")")"
  "$(dirname "$sslyze")/pip" install -q --disable-pip-version-check sslyze
fi
# The proxy's hot path compiled with mypyc (src/lightmesh/native.py), as it runs in production: the
# whole suite runs against it (and fails if it is not in use); the unit tests also run interpreted.
python3 -m lightmesh.nativebuild build
if (($# == 0)); then
  LIGHTMESH_PURE_PYTHON=1 python3 -m pytest -p no:cacheprovider -q tests/unit
fi
LIGHTMESH_EXPECT_COMPILED=1 python3 -m pytest -p no:cacheprovider "$@"
