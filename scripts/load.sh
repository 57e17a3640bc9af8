#!/usr/bin/env bash
# Server under load: 200 concurrent leaderboard readers while 50 teams upload a Task-1-size
# file (78,946 x 40, ~70 MB) each at the same moment, against a release `tailboard serve` on
# loopback with a fresh data folder; prints a summary ready to paste into BENCHMARKS.md.
# Bounded: the load generator (examples/load.rs) stops after --time-cap seconds or
# --max-requests requests; the server and the temp folder are removed at the end, whatever
# happens. Needs ~4 GB free in TMPDIR (the server stores every upload; TMPDIR=/dev/shm keeps
# it in memory when the disk is short) and ~4 GB of RAM for the generator, which holds the 50
# files in memory.
# Usage: scripts/load.sh [load generator options, e.g. --readers 200 --think-ms 100]
# Environment: TEAMS (50), PORT (18282), BOOTSTRAP (1000), TMPDIR, SERVER_LOG (a file that
# receives the server's log at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
TEAMS=${TEAMS:-50}
PORT=${PORT:-18282}
BOOTSTRAP=${BOOTSTRAP:-1000}
BASE="http://127.0.0.1:$PORT"

cargo build --release --quiet --bin tailboard --example load
BIN=$PWD/target/release/tailboard
LOAD=$PWD/target/release/examples/load

need_mb=$((TEAMS * 75 + 300))
free_mb=$(df -Pm "${TMPDIR:-/tmp}" | awk 'NR == 2 {print $4}')
if [ "$free_mb" -lt "$need_mb" ]; then
    echo "only $free_mb MB free in ${TMPDIR:-/tmp}, $need_mb MB needed; set TMPDIR elsewhere" >&2
    exit 1
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tailboard-load.XXXXXX")
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    if [ -n "${SERVER_LOG:-}" ] && [ -f "$WORK/serve.err" ]; then
        cp "$WORK/serve.err" "$SERVER_LOG"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN" demo-data --task 1 --rows 78946 --out "$WORK/t1" --decimals 17 --seed 1 >/dev/null
cat >"$WORK/competition.toml" <<TOML
[competition]
id = "load-test"
title = "Load test"
description = "Synthetic Task-1 competition for scripts/load.sh."

[[tasks]]
id = "task1"
name = "Task 1: long-tailed classification (40 labels)"
builtin = 1

[[tasks.phases]]
id = "task1-dev"
name = "Development"
start = "2020-01-01T00:00:00Z"
end = "2099-12-31T23:59:59Z"
visibility = "public"
rule = "best"
quota_per_day = 1000
quota_total = 1000
refused_per_day = 1000
bootstrap = $BOOTSTRAP
TOML

"$BIN" serve --data "$WORK/data" --bind "127.0.0.1:$PORT" --config "$WORK/competition.toml" \
    >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER=$!
for _ in $(seq 1 200); do
    curl -sf "$BASE/api/v1/competition" >/dev/null && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.err" >&2; exit 1; }
    sleep 0.05
done
"$BIN" admin load-reference --data "$WORK/data" --phase task1-dev "$WORK/t1/labels.csv" >/dev/null
for k in $(seq 1 "$TEAMS"); do
    "$BIN" admin create-team --data "$WORK/data" "Load team $k"
done >"$WORK/tokens.txt"

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)," \
    "$(free -g | awk '/^Mem:/ {print $2}') GiB RAM; $(date -u '+%Y-%m-%d %H:%M UTC');" \
    "load average before: $(cut -d' ' -f1-3 /proc/loadavg); data folder on" \
    "$(df -P "$WORK" | awk 'NR == 2 {print $1}')"
status=0
"$LOAD" --base "$BASE" --phase task1-dev --tokens "$WORK/tokens.txt" \
    --submission "$WORK/t1/submission.csv" --server-pid "$SERVER" --bootstrap "$BOOTSTRAP" "$@" || status=$?
if grep -qiE 'panick|error' "$WORK/serve.err"; then
    echo "server log (errors):" >&2
    grep -iE 'panick|error' "$WORK/serve.err" | head -20 >&2
fi
exit "$status"
