#!/usr/bin/env bash
# Times the embedded demo's first start and one Task-1-size upload from the end of the
# upload to the point score on the leaderboard and to the bootstrap intervals.
# Loopback only; bounded (one upload, at most 10 minutes of polling).
# Usage: scripts/time_task1_upload.sh [path/to/tailboard]  (default: target/release/tailboard)
set -euo pipefail
BIN=$(realpath "${1:-target/release/tailboard}")
WORK=$(mktemp -d)
PORT=${PORT:-18181}
BASE="http://127.0.0.1:$PORT"
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
now() { date +%s.%N; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

"$BIN" demo-data --task 1 --rows 78946 --out t1 --decimals 17 >/dev/null
echo "Task-1 files: labels $(du -h t1/labels.csv | cut -f1), submission $(du -h t1/submission.csv | cut -f1)"

t0=$(now)
"$BIN" serve --data data --bind "127.0.0.1:$PORT" >serve.out 2>serve.err &
SERVER=$!
until curl -sf "$BASE/api/v1/competition" >/dev/null; do sleep 0.05; done
t1=$(now)
echo "demo from scratch to first answer: $(echo "$t1 - $t0" | bc) s"

"$BIN" admin load-reference --data data --phase task1-dev t1/labels.csv
TEAM=$("$BIN" admin create-team --data data "Timing team")
ORG=$("$BIN" admin create-organizer --data data timer)
# Let the demo baselines and the re-score of the new labels finish first.
until [ "$(curl -sf -H "Authorization: Bearer $ORG" "$BASE/api/v1/queue" | json 'len(d)')" = 0 ]; do sleep 0.2; done

u0=$(now)
ID=$(curl -sf -H "Authorization: Bearer $TEAM" -F "file=@t1/submission.csv" \
    "$BASE/api/v1/phases/task1-dev/submissions" | json 'd["id"]')
u1=$(now)
echo "upload + validation answered 202 after: $(echo "$u1 - $u0" | bc) s"
for _ in $(seq 1 3000); do
    ROW=$(curl -sf "$BASE/api/v1/phases/task1-dev/leaderboard" | json "[r for r in d['rows'] if r['submission']=='$ID']")
    [ "$ROW" != "[]" ] && break
    sleep 0.05
done
u2=$(now)
echo "202 -> on the leaderboard (point scores): $(echo "$u2 - $u1" | bc) s"
for _ in $(seq 1 3000); do
    CI=$(curl -sf "$BASE/api/v1/phases/task1-dev/leaderboard" | json "[r['mAP_ci_low'] for r in d['rows'] if r['submission']=='$ID'][0]")
    [ "$CI" != "None" ] && break
    sleep 0.05
done
u3=$(now)
echo "202 -> 95 % CI shown (1000 bootstrap replicates): $(echo "$u3 - $u1" | bc) s"
echo "upload start -> leaderboard: $(echo "$u2 - $u0" | bc) s"
