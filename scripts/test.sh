#!/usr/bin/env bash
# Runs every check Sightline's CI runs: installs the peers the integration
# tests talk to (Debian's Prometheus, Alertmanager, node_exporter and
# VictoriaMetrics packages; the aiosmtpd SMTP server), then formatting, clippy,
# the whole test suite (nextest, plus doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Real peers the integration tests talk to: Prometheus (and promtool),
# node_exporter and VictoriaMetrics, from Debian's packages.
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
command -v victoria-metrics >/dev/null 2>&1 || missing+=(victoria-metrics)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing test peers: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# A real SMTP server for the email notification tests.
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> tests"
cargo test --workspace --locked --doc
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked
else
    cargo test --workspace --locked --lib --bins --tests
fi
