#!/usr/bin/env bash
# Load test of the search path, on loopback, bounded in time (10 s per run by default).
#
# In one run it measures:
#   1. the baseline: a plain axum server answering a fixed JSON body the size of a real
#      20-event /search answer (graphql-api/examples/baseline.rs);
#   2. for each catalogue size (default 10k, 100k, 1M events, seeded straight into a fresh
#      PostgreSQL database): the API's index build time at start-up and resident memory, then
#      REST GET /search and GraphQL events(first: 20) returning about 20 events;
#   3. at 100k: /search while the ingestor (niced) stores a 100k-event feed that the index
#      then takes in (p99 against idle);
#   4. GraphQL against REST on the same window, as issue 13 states it: the query
#      `events(startsAt, endsAt, first: 20) { edges { node { id title startsAt endsAt minPrice
#      maxPrice } } }` against GET /search, run REST, GraphQL, GraphQL, REST (so drift on this
#      noisy machine falls on both), then the same GraphQL with the compiled plans off
#      (GRAPHQL_COMPILED_PLANS=false: every request through the general executor). The ratios
#      are printed last.
# The server runs on CPU 0 and wrk on CPU 1 (taskset), 64 connections, one wrk thread.
#
#   scripts/loadtest.sh                 # all of it (about 4 minutes)
#   SIZES="100000" DURATION=10s scripts/loadtest.sh
#   NO_BUILD=1 SIZES="100000" scripts/loadtest.sh    # with the release binaries already built
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${SIZES:-10000 100000 1000000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
PG="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
bin="$CARGO_TARGET_DIR/release"

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v taskset >/dev/null || apt-get install -y -qq util-linux >/dev/null

if [ "${NO_BUILD:-}" = 1 ]; then
    echo "using the binaries already in $bin (NO_BUILD=1)"
else
    echo "building (release)..."
    cargo build --quiet --release -p graphql-api -p ingestor -p test-support --bins
    cargo build --quiet --release -p graphql-api --example baseline
fi

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

results="$work/results.txt"
: >"$results"

# wrk's "Requests/sec" and its 50% and 99% latencies, as "rps p50 p99".
run_wrk() {
    local out
    out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" 2>&1)"
    local rps p50 p99
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    local errors
    errors="$(awk '/Non-2xx|Socket errors/' <<<"$out")"
    [ -z "$errors" ] || echo "wrk reported: $errors" >&2
    echo "$rps $p50 $p99"
}

wait_http() {
    for _ in $(seq 1 600); do
        curl -sf "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    return 1
}

seed() { # size database
    local size=$1 db=$2
    psql -q "$PG/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    DATABASE_URL="$PG/$db?sslmode=disable" "$bin/ingestor" migrate >/dev/null
    psql -q "$PG/$db?sslmode=disable" <<SQL
INSERT INTO provider (name, kind, url, schedule, enabled, time_zone, connect_timeout_ms,
    read_timeout_ms, total_timeout_ms, max_body_bytes, max_attempts, retry_base_delay_ms,
    created_at, updated_at)
VALUES ('load', 'fever_xml', 'http://127.0.0.1:9/none.xml', '0 0 3 * * *', false, 'UTC',
    5000, 15000, 60000, 268435456, 3, 2000, now(), now());
INSERT INTO event (id, provider_id, base_event_id, event_id, title, title_folded, sell_mode,
    organizer_company_id, ever_online, starts_local, ends_local, starts_at, ends_at,
    sell_from, sell_to, sold_out, min_price_cents, max_price_cents, content_hash,
    first_seen_at, last_seen_at, updated_at, catalog_version, zones)
SELECT md5('load' || g)::uuid, 1, (g / 10)::text, g::text,
    'Concierto ' || g || ' ' || left(md5(g::text), 12),
    'concierto ' || g || ' ' || left(md5(g::text), 12), 'online', '1', true,
    ts::timestamp, (ts + interval '90 minutes')::timestamp, ts, ts + interval '90 minutes',
    ts - interval '30 days', ts, false, 1500, 6500, g, now(), now(), now(), 1,
    '[{"zone_id":"1","name":"Platea","capacity":100,"price_cents":1500,"numbered":true},{"zone_id":"2","name":"Palco","capacity":10,"price_cents":6500,"numbered":true}]'
FROM (SELECT g, timestamptz '2021-01-01 00:00:00+00' + g * (interval '730 days' / $size) AS ts
      FROM generate_series(1, $size) g) s;
UPDATE catalog_version SET version = 1;
ANALYZE event;
SQL
}

# A window holding about 20 events: events are evenly spaced and last 90 minutes.
window() { # size -> "from to"
    python3 - "$1" <<'PY'
import datetime, sys
n = int(sys.argv[1])
spacing = 730 * 86400 / n
start = datetime.datetime(2022, 1, 1, tzinfo=datetime.timezone.utc)
end = start + datetime.timedelta(seconds=20 * spacing + 5400)
fmt = "%Y-%m-%dT%H:%M:%SZ"
print(start.strftime(fmt), end.strftime(fmt))
PY
}

api_port=18901
baseline_port=18900
printf "%-40s %12s %10s %10s\n" "run" "requests/s" "p50" "p99" | tee -a "$results"

# wrk's latency ("850.00us", "3.40ms", "1.20s") in milliseconds.
ms() {
    python3 -c '
import sys
t = sys.argv[1]
for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
    if t.endswith(unit):
        print(float(t[: -len(unit)]) * factor)
        break' "$1"
}

# A wrk script posting one GraphQL query.
graphql_lua() { # query file
    local body
    body="$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1")"
    python3 - "$body" >"$2" <<'PY'
import json, sys
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/json"')
print("wrk.body = " + json.dumps(sys.argv[1]))
PY
}

summary="$work/summary.txt"
: >"$summary"

baseline_rps=""
for size in $SIZES; do
    db="fever_load_$size"
    echo "seeding $size events..." >&2
    seed "$size" "$db"
    url="$PG/$db?sslmode=disable"
    log="$work/api-$size.log"
    DATABASE_URL="$url" LOG_FORMAT=json RUST_LOG=info taskset -c 0 \
        "$bin/graphql-api" serve --listen "127.0.0.1:$api_port" >/dev/null 2>"$log" &
    api=$!
    pids+=("$api")
    wait_http "http://127.0.0.1:$api_port/livez"
    load_ms="$(grep -o '"load_ms":[0-9]*' "$log" | head -1 | cut -d: -f2)"
    rss_mb=$(( $(ps -o rss= -p "$api") / 1024 ))
    read -r from to <<<"$(window "$size")"
    search="http://127.0.0.1:$api_port/search?starts_at=$from&ends_at=$to"
    curl -sf "$search" >"$work/body-$size.json"
    count="$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['data']['events']))" "$work/body-$size.json")"
    echo "$size events: index built in ${load_ms} ms, API resident ${rss_mb} MiB; the window holds $count events" | tee -a "$results"

    if [ -z "$baseline_rps" ] && [ ! -x "$bin/examples/baseline" ]; then
        echo "no baseline server built: ratios against it are left out" >&2
        baseline_rps=0
    fi
    if [ -z "$baseline_rps" ]; then
        # The baseline, in the same run, with a body the size of a real 20-event answer.
        taskset -c 0 "$bin/examples/baseline" "127.0.0.1:$baseline_port" "$work/body-$size.json" &
        pids+=("$!")
        wait_http "http://127.0.0.1:$baseline_port/"
        read -r baseline_rps b50 b99 <<<"$(run_wrk "http://127.0.0.1:$baseline_port/search")"
        printf "%-40s %12s %10s %10s\n" "baseline (fixed $(wc -c <"$work/body-$size.json") B body)" "$baseline_rps" "$b50" "$b99" | tee -a "$results"
    fi

    read -r rps p50 p99 <<<"$(run_wrk "$search")"
    printf "%-40s %12s %10s %10s   (%.2f x baseline)\n" "REST /search, $size events" "$rps" "$p50" "$p99" \
        "$(python3 -c "print($rps / $baseline_rps if $baseline_rps else 0)")" | tee -a "$results"

    # The same page through GraphQL, as a Relay client asks for it (edges) and through the
    # shorter `nodes` list; then ordered pages: the window by price, highest first (its events
    # sorted on the spot), and the whole catalogue by title (the index's kept order walked).
    for shape in edges nodes price title; do
        node="id title startDate startTime endDate endTime minPrice maxPrice"
        args="startsAt: \"$from\", endsAt: \"$to\", first: 20"
        case "$shape" in
            edges) fields="edges { node { $node } }" ;;
            nodes) fields="nodes { $node }" ;;
            price) fields="nodes { $node }"
                   args="filter: { startsAt: \"$from\", endsAt: \"$to\" }, orderBy: { field: PRICE, direction: DESC }, first: 20" ;;
            title) fields="nodes { $node }"; args="orderBy: { field: TITLE }, first: 20" ;;
        esac
        query="{ events($args) { $fields } }"
        body="$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$query")"
        graphql_lua "$query" "$work/graphql.lua"
        # GraphQL errors come with 200: check the answer once before timing it.
        curl -sf "http://127.0.0.1:$api_port/graphql" -H 'Content-Type: application/json' \
            --data-binary "$body" |
            python3 -c '
import json, sys
answer = json.load(sys.stdin)
events = answer["data"]["events"]
page = events.get("edges") or events.get("nodes")
assert not answer.get("errors") and len(page) == 20, answer' || { echo "GraphQL answer is wrong" >&2; exit 1; }
        read -r rps p50 p99 <<<"$(run_wrk -s "$work/graphql.lua" "http://127.0.0.1:$api_port/graphql")"
        printf "%-40s %12s %10s %10s   (%.2f x baseline)\n" "GraphQL events(first: 20) $shape, $size" "$rps" "$p50" "$p99" \
            "$(python3 -c "print($rps / $baseline_rps if $baseline_rps else 0)")" | tee -a "$results"
    done

    if [ "$size" = "100000" ]; then
        # /search while the ingestor stores a new 100k-event feed (and the index takes it in).
        "$bin/feedgen" --events 100000 --zones 5 --seed 9 >"$work/feed.xml"
        "$bin/provider-simulator" "$work/feed.xml" >"$work/sim.out" &
        pids+=("$!")
        for _ in $(seq 1 50); do grep -q listening "$work/sim.out" && break; sleep 0.1; done
        sim="$(sed -n 's/listening on //p' "$work/sim.out")"
        DATABASE_URL="$url" ALLOW_PRIVATE_PROVIDERS=true "$bin/ingestor" provider add reingest --url "$sim/feed.xml" >/dev/null
        # The ingestor is background work: it runs niced, as it would on a shared host.
        (sleep 1; DATABASE_URL="$url" ALLOW_PRIVATE_PROVIDERS=true RUST_LOG=warn nice -n 19 "$bin/ingestor" collect reingest >"$work/collect.json") &
        collect=$!
        read -r rps p50 p99 <<<"$(run_wrk "$search")"
        wait "$collect" || true
        inserted="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['inserted'])" "$work/collect.json" 2>/dev/null || echo '?')"
        printf "%-40s %12s %10s %10s   (%s events inserted meanwhile)\n" "REST /search during a 100k ingest" "$rps" "$p50" "$p99" "$inserted" | tee -a "$results"
    fi

    # GraphQL against REST, the same window, interleaved: REST, GraphQL, GraphQL, REST.
    issue_query="{ events(startsAt: \"$from\", endsAt: \"$to\", first: 20) { edges { node { id title startsAt endsAt minPrice maxPrice } } } }"
    graphql_lua "$issue_query" "$work/issue.lua"
    read -r r1 _ r1p99 <<<"$(run_wrk "$search")"
    read -r g1 _ g1p99 <<<"$(run_wrk -s "$work/issue.lua" "http://127.0.0.1:$api_port/graphql")"
    read -r g2 _ g2p99 <<<"$(run_wrk -s "$work/issue.lua" "http://127.0.0.1:$api_port/graphql")"
    read -r r2 _ r2p99 <<<"$(run_wrk "$search")"
    kill "$api"
    wait "$api" 2>/dev/null || true
    # The same query through the general executor alone.
    DATABASE_URL="$url" GRAPHQL_COMPILED_PLANS=false LOG_FORMAT=json RUST_LOG=warn taskset -c 0 \
        "$bin/graphql-api" serve --listen "127.0.0.1:$api_port" >/dev/null 2>>"$log" &
    api=$!
    pids+=("$api")
    wait_http "http://127.0.0.1:$api_port/livez"
    read -r e1 _ e1p99 <<<"$(run_wrk -s "$work/issue.lua" "http://127.0.0.1:$api_port/graphql")"
    python3 - "$size" "$r1" "$r2" "$g1" "$g2" "$e1" "$(ms "$r1p99")" "$(ms "$r2p99")" \
        "$(ms "$g1p99")" "$(ms "$g2p99")" "$(ms "$e1p99")" >>"$summary" <<'PY'
import sys
size = sys.argv[1]
r1, r2, g1, g2, e1, r1p, r2p, g1p, g2p, e1p = map(float, sys.argv[2:])
rest, graphql = (r1 + r2) / 2, (g1 + g2) / 2
rest_p99, graphql_p99 = (r1p + r2p) / 2, (g1p + g2p) / 2
print(f"{size} events: REST {rest:,.0f} req/s (p99 {rest_p99:.2f} ms); GraphQL by plan "
      f"{graphql:,.0f} req/s (p99 {graphql_p99:.2f} ms); GraphQL by the executor {e1:,.0f} req/s "
      f"(p99 {e1p:.2f} ms)")
print(f"  GraphQL / REST = {graphql / rest:.2f} (target >= 0.80); p99 GraphQL / REST = "
      f"{graphql_p99 / rest_p99:.2f} (target <= 1.5); plan / executor = {graphql / e1:.2f}")
PY
    kill "$api"
    wait "$api" 2>/dev/null || true
    psql -q "$PG/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done

echo
cat "$results"
echo
echo "GraphQL against REST (issue 13's query, the same window, same run):"
cat "$summary"
