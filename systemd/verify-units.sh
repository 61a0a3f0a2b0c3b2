#!/bin/sh
# Check ferry's units with systemd's own tools:
#   systemd-analyze verify          (syntax, dependencies, ExecStart exists)
#   systemd-analyze security        (exposure score at most MAX_EXPOSURE)
# The service is checked as configured for the build tree (ExecStart points
# at the ferryd just built), since verify insists the binary exists.
# Usage: verify-units.sh SERVICE_FILE SOCKET_FILE FERRYD MAX_EXPOSURE
# Exit 77 (skipped) when systemd-analyze is not installed.
set -eu
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not installed: skipped"; exit 77; }
service=$1 socket=$2 ferryd=$3 max=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s#^ExecStart=[^ ]*#ExecStart=$ferryd#" "$service" > "$dir/ferryd.service"
cp "$socket" "$dir/ferryd.socket"
cd "$dir"
# verify exits 0 on warnings: any output at all is a failure here.
out=$(systemd-analyze verify ./ferryd.socket ./ferryd.service 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
    echo "$out"
    exit 1
fi
echo "ok: systemd-analyze verify"
# --threshold takes the score in tenths (0-100): 1.3 -> 13.
tenths=$(awk -v m="$max" 'BEGIN { printf "%d", m * 10 + 0.5 }')
if ! out=$(systemd-analyze security --offline=true --threshold="$tenths" ./ferryd.service 2>&1); then
    echo "$out"
    echo "FAIL: exposure above $max"
    exit 1
fi
echo "$out" | tail -1
echo "ok: exposure at most $max"
