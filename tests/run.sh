#!/usr/bin/env bash
# Runs Hookline's whole test suite: unit tests of the core, the ports' conformance suite on the
# embedded adapters, the HTTP API, end-to-end delivery against loopback receivers, and restarts
# of the real `hookline` binary. Needs only a Rust toolchain; uses cargo-nextest when present.
set -euo pipefail
cd "$(dirname "$0")/.."

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
