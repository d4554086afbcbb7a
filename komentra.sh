#!/usr/bin/env bash
# Komentra's two set-up commands (and a few more). Each installs the Debian packages it
# needs (only when missing), configures and builds, then runs.
#   ./komentra.sh run     the demo: Komentra + the Instagram simulator + simulated users
#   ./komentra.sh serve   start Komentra alone (embedded PostgreSQL; http://127.0.0.1:8080)
#   ./komentra.sh test    build and run every test
#   ./komentra.sh build   build only
#   ./komentra.sh deps    install missing Debian packages only
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

BUILD_DIR=${KOMENTRA_BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

PACKAGES=(
  g++ cmake make pkg-config ccache ca-certificates
  libcaf-dev libboost-dev libsimdjson-dev libpqxx-dev libssl-dev libspdlog-dev libfmt-dev
  libargon2-dev libtomlplusplus-dev libcli11-dev libutf8proc-dev prometheus-cpp-dev libjemalloc-dev
  postgresql-15 acl curl
)
# Only the tests need these: promtool checks /metrics and a real Prometheus scrapes it.
TEST_PACKAGES=(prometheus)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "komentra.sh: need root (or sudo) to install: $*" >&2; exit 2; fi
}

deps() {
  local missing=()
  for p in "${PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "komentra.sh: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build [CMAKE_BUILD_ARGS...]: everything, or e.g. --target komentra komentra-sim.
build() {
  deps "${EXTRA_PACKAGES[@]}"
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$BUILD_DIR" -j "$JOBS" "$@"
}
EXTRA_PACKAGES=()
# What the demo and serve run (not the tests and benchmarks).
PROGRAMS=(--target komentra komentra-sim)

case "${1:-}" in
  run)
    build "${PROGRAMS[@]}"
    shift
    exec "$BUILD_DIR/komentra" demo "$@"
    ;;
  serve)
    build "${PROGRAMS[@]}"
    shift
    exec "$BUILD_DIR/komentra" serve "$@"
    ;;
  test)
    EXTRA_PACKAGES=("${TEST_PACKAGES[@]}")
    build
    cd "$BUILD_DIR"
    ctest --output-on-failure -j "$JOBS" --timeout 600
    ;;
  build) build ;;
  deps) shift; deps "$@" ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
