#!/usr/bin/env bash
# Job listings at a deployment's size, on loopback, bounded in time (10 s per query).
#
# Seeds a fresh PostgreSQL database by SQL with JOBS finished jobs and their outcomes over
# PROVIDERS providers (one more pending job each), starts the release API on it, and runs each
# listing an operator pages through with wrk (16 connections): newest first, by finish, by
# duration, each for every provider and for one, and a second page by duration. Prints
# requests/s, p50 and p99 per listing.
#
#   scripts/bench-job-orders.sh                       # 2M jobs, 2,000 providers
#   JOBS=10000000 PROVIDERS=5000 scripts/bench-job-orders.sh
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS="${JOBS:-2000000}"
PROVIDERS="${PROVIDERS:-2000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
PG="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
bin="$CARGO_TARGET_DIR/release"
token="bench-viewer-token-0123456789abcdef"
port=18911
db="fever_jobs_bench"
url="$PG/$db?sslmode=disable"

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null

echo "building (release)..."
cargo build --quiet --release -p graphql-api -p ingestor --bins

work="$(mktemp -d)"
api=""
cleanup() {
    [ -z "$api" ] || kill "$api" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
    psql -q "$PG/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
}
trap cleanup EXIT

echo "seeding $JOBS jobs over $PROVIDERS providers..."
started=$(date +%s)
psql -q "$PG/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
DATABASE_URL="$url" "$bin/ingestor" migrate >/dev/null
psql -q -v ON_ERROR_STOP=1 "$url" <<SQL
-- Seeded rows are history, not changes: the change log's triggers stay out of it.
ALTER TABLE job DISABLE TRIGGER USER;
INSERT INTO provider (name, kind, url, schedule, enabled, time_zone, connect_timeout_ms,
    read_timeout_ms, total_timeout_ms, max_body_bytes, max_attempts, retry_base_delay_ms,
    created_at, updated_at)
SELECT 'p' || p, 'fever_xml', 'http://127.0.0.1:9/feed.xml', '0 * * * * *', false, 'UTC',
    5000, 15000, 60000, 268435456, 3, 2000, now(), now()
FROM generate_series(1, $PROVIDERS) p;
-- Thirty days of jobs, evenly spread, every provider in turn; one in ten failed, durations
-- from 0 to 60 s.
INSERT INTO job (provider_id, state, trigger, tick, scheduled_for, attempt, run_at, started_at,
    finished_at, worker_id, heartbeat_at, created_at)
SELECT 1 + g % $PROVIDERS, CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'completed' END, 'schedule',
    ts, ts, 1, ts, ts, ts + ((g * 7919) % 60000) * interval '1 ms', 'bench', ts, ts
FROM (SELECT g, now() - interval '30 days' + g * (interval '30 days' / $JOBS) AS ts
      FROM generate_series(1::bigint, $JOBS) g) s;
INSERT INTO job (provider_id, state, trigger, scheduled_for, attempt, run_at, created_at)
SELECT p, 'pending', 'manual', now(), 1, now(), now() FROM generate_series(1, $PROVIDERS) p;
INSERT INTO job_outcome (job_id, provider_id, status, created_at, processed_at, finished_at,
    duration_ms, error_kind, error_message, http_status, bytes, feed_unchanged, empty_feed,
    seen, inserted, updated, unchanged, rejected)
SELECT id, provider_id, state, created_at, finished_at, finished_at,
    CASE WHEN finished_at IS NOT NULL THEN (id * 7919) % 60000 END,
    CASE WHEN state = 'failed' THEN 'timeout' END,
    CASE WHEN state = 'failed' THEN 'the provider did not answer in time' END,
    200, 100000, false, false, 100, 0, 1, 99, 0
FROM job;
ALTER TABLE job ENABLE TRIGGER USER;
VACUUM ANALYZE job;
VACUUM ANALYZE job_outcome;
SQL
echo "seeded in $(( $(date +%s) - started )) s"

DATABASE_URL="$url" API_TOKENS="bench:viewer:$token" RUST_LOG=warn taskset -c 0 \
    "$bin/graphql-api" serve --listen "127.0.0.1:$port" >/dev/null 2>"$work/api.log" &
api=$!
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/livez" >/dev/null 2>&1 && break; sleep 0.1; done

graphql() { # query -> answer
    curl -sf "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' \
        -H "Authorization: Bearer $token" \
        --data-binary "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1")"
}

run() { # label query
    local label=$1 query=$2 answer
    answer="$(graphql "$query")"
    python3 -c '
import json, sys
answer = json.loads(sys.argv[1])
assert not answer.get("errors") and len(answer["data"]["jobs"]["nodes"]) == 50, answer' "$answer" ||
        { echo "wrong answer for $label" >&2; exit 1; }
    python3 - "$query" "$token" >"$work/q.lua" <<'PY'
import json, sys
body = json.dumps({"query": sys.argv[1]})
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/json"')
print(f'wrk.headers["Authorization"] = "Bearer {sys.argv[2]}"')
print("wrk.body = " + json.dumps(body))
PY
    local out
    out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/q.lua" "http://127.0.0.1:$port/graphql" 2>&1)"
    printf "%-44s %10s %10s %10s\n" "$label" \
        "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" \
        "$(awk '$1 == "99%" {print $2}' <<<"$out")"
}

nodes="nodes { databaseId state finishedAt outcome { durationMs } }"
printf "%-44s %10s %10s %10s\n" "jobs(first: 50), $JOBS jobs" "requests/s" "p50" "p99"
run "newest first" "{ jobs(first: 50) { $nodes } }"
run "by finish, latest first" "{ jobs(orderBy: {field: FINISHED_AT}, first: 50) { $nodes } }"
run "by finish, earliest first" "{ jobs(orderBy: {field: FINISHED_AT, direction: ASC}, first: 50) { $nodes } }"
run "by duration, longest first" "{ jobs(orderBy: {field: DURATION}, first: 50) { $nodes } }"
run "by duration, shortest first" "{ jobs(orderBy: {field: DURATION, direction: ASC}, first: 50) { $nodes } }"
run "one provider, newest first" "{ jobs(filter: {provider: \"p7\"}, first: 50) { $nodes } }"
run "one provider, by finish" "{ jobs(filter: {provider: \"p7\"}, orderBy: {field: FINISHED_AT}, first: 50) { $nodes } }"
run "one provider, by duration" "{ jobs(filter: {provider: \"p7\"}, orderBy: {field: DURATION}, first: 50) { $nodes } }"
run "failed, by duration" "{ jobs(filter: {state: FAILED}, orderBy: {field: DURATION}, first: 50) { $nodes } }"
cursor="$(graphql "{ jobs(orderBy: {field: DURATION}, first: 50) { pageInfo { endCursor } } }" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["jobs"]["pageInfo"]["endCursor"])')"
run "by duration, second page" "{ jobs(orderBy: {field: DURATION}, first: 50, after: \"$cursor\") { $nodes } }"
