#!/bin/sh
# Entry point of the CodaLab v1.5 / Codabench scoring program bundle.
# The platforms unzip the bundle with Python's extractall, which drops the executable bit,
# so `metadata` runs this file through /bin/sh, and this file restores the bit (or, on a
# read-only program folder, runs a copy from the temporary folder).
# Usage (from metadata): /bin/sh $program/run.sh $input $output [tailboard score options]
set -e
here=$(dirname "$0")
bin="$here/tailboard"
if [ ! -x "$bin" ]; then
    chmod +x "$bin" 2>/dev/null || true
fi
if [ ! -x "$bin" ]; then
    copy="${TMPDIR:-/tmp}/tailboard.$$"
    cp "$bin" "$copy"
    chmod +x "$copy"
    bin="$copy"
fi
input=$1
output=$2
shift 2
exec "$bin" score "$input" "$output" "$@"
