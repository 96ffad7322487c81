#!/usr/bin/env bash
# Peak resident memory of one `ingestor collect`, against the provider simulator on loopback:
# a generated large feed, and a gzip bomb that decompresses far past the body cap.
#
#   scripts/collect-memory.sh [BIN_DIR] [EVENTS]
#
# BIN_DIR holds release builds of `ingestor`, `provider-simulator` and `feedgen` (default:
# $CARGO_TARGET_DIR/release, built first). EVENTS sizes the generated feed (default 300000
# events with 5 zones each, about 200 MB). Each run gets a fresh PostgreSQL database on
# 127.0.0.1:5432 (user postgres, trust auth), dropped afterwards. Prints one line per case
# with the peak RSS that `/usr/bin/time -v` reports.
set -euo pipefail

target_dir=${CARGO_TARGET_DIR:-target}
bin=${1:-}
events=${2:-300000}
if [ -z "$bin" ]; then
    cargo build --quiet --release --locked -p ingestor --bin ingestor -p test-support --bins
    bin=$target_dir/release
fi
pg=${PG:-postgres://postgres@127.0.0.1:5432}
work=$(mktemp -d)
sim_pid=
cleanup() {
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/feedgen" --events "$events" --zones 5 >"$work/feed.xml"
feed_mb=$(( $(stat -c %s "$work/feed.xml") / 1000000 ))

"$bin/provider-simulator" "$work/feed.xml" >"$work/sim.out" &
sim_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
sim=$(sed -n 's/^listening on //p' "$work/sim.out" | head -1)

# Newer ingestors refuse loopback providers unless allowed; older ones ignore the variable.
export ALLOW_PRIVATE_PROVIDERS=true RUST_LOG=warn

peak() { # name, then the command
    local name=$1; shift
    local db="fever_mem_$$_$RANDOM"
    psql -q "$pg/postgres" -c "CREATE DATABASE $db" >/dev/null
    local url="$pg/$db?sslmode=disable"
    DATABASE_URL=$url "$bin/ingestor" migrate >/dev/null
    DATABASE_URL=$url "$bin/ingestor" provider add p --url "$sim/feed.xml" >/dev/null
    DATABASE_URL=$url /usr/bin/time -v "$bin/ingestor" collect p >"$work/out.json" 2>"$work/time.txt" || true
    local rss_kb
    rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
    echo "$name: peak RSS $((rss_kb / 1024)) MiB; outcome $(head -c 200 "$work/out.json")"
    psql -q "$pg/postgres" -c "DROP DATABASE $db" >/dev/null
}

curl -fsS -X PUT -H 'content-type: application/json' -d '{"fault":"none"}' "$sim/_sim/fault" >/dev/null
peak "feed of $feed_mb MB ($events events)"
curl -fsS -X PUT -H 'content-type: application/json' \
    -d '{"fault":"gzip_bomb","bytes":1073741824}' "$sim/_sim/fault" >/dev/null
peak "gzip bomb (1 GiB decompressed, 256 MiB cap)"
