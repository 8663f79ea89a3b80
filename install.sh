#!/usr/bin/env bash
# One command installs everything this project needs on Debian/Ubuntu: the system packages the harness
# drives (Apache ZooKeeper, Java, libfaketime, sshd, Chromium, iptables, Docker, debootstrap) and the
# Python packages (the project itself, editable, with its test dependencies).
# Safe to run again. Needs root (or sudo) for the system packages.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(
  zookeeper default-jre-headless   # Apache ZooKeeper 3.8, the peer every test is compared against
  libfaketime                      # clock faults without touching the host clock
  openssh-server                   # the SSH backend's tests run real sshd inside namespaces
  chromium                         # the HTML report tests open pages in a real browser
  iproute2 iptables procps         # network namespaces, partitions, pausing processes
  docker.io debootstrap            # the Docker backend and its offline node image
)

if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  missing=()
  for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
else
  echo "install.sh: no apt-get here; install these yourself: ${APT_PACKAGES[*]}" >&2
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip install -q --disable-pip-version-check -e '.[test]'
echo "installed: $("$PYTHON" -m pip show zkjepsen 2>/dev/null | sed -n 's/^Version: /zkjepsen /p'), $(command -v harness)"
