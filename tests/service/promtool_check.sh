#!/bin/sh
# Lint ferry's metrics exposition with Prometheus's own promtool
# (Debian: prometheus).  Exit 77 (skipped) when promtool is missing.
# Usage: promtool_check.sh METRICS_SAMPLE_PROGRAM
set -eu
command -v promtool >/dev/null 2>&1 || { echo "promtool not installed: skipped"; exit 77; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$1" > "$out"
promtool check metrics < "$out"
echo "ok: promtool check metrics"
