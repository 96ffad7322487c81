# Shared by the job benchmarks (bench-job-orders.sh, bench-monitoring.sh): seeding a job
# history by SQL, and timing a GraphQL query with wrk. Source it; it defines functions only.

# Seeds the migrated PostgreSQL database at $1 with $2 finished jobs and their outcomes over $3
# providers (one more pending job each): thirty days, evenly spread, every provider in turn,
# one in ten failed (one error group per provider), durations from 0 to 60 s; and 20 workers.
seed_jobs() { # url jobs providers
    local url=$1 JOBS=$2 PROVIDERS=$3
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
-- Every failure is one problem per provider ('timeout', one message): one error group each,
-- counted by the hour as the store counts them. 1234 stands for the message's fingerprint.
UPDATE job_outcome SET error_group = 1234 WHERE status = 'failed';
INSERT INTO error_group (provider_id, fingerprint, hour, error_kind, message, failures,
    first_seen, last_seen, last_job_id)
SELECT provider_id, 1234, date_trunc('hour', finished_at), 'timeout',
    'the provider did not answer in time', count(*), min(finished_at), max(finished_at),
    max(job_id)
FROM job_outcome WHERE status = 'failed'
GROUP BY provider_id, date_trunc('hour', finished_at);
-- Twenty workers: sixteen live, two stopped, two lost.
INSERT INTO worker (id, host, pid, version, concurrency, schedules, heartbeat_every_ms,
    started_at, heartbeat_at, stopped_at)
SELECT 'bench-' || w, 'host-' || w, 1000 + w, '0.1.0', 16, w <= 2, 10000,
    now() - interval '1 day', CASE WHEN w > 18 THEN now() - interval '10 minutes' ELSE now() END,
    CASE WHEN w IN (17, 18) THEN now() - interval '20 minutes' END
FROM generate_series(1, 20) w;
-- The triggers that keep the job counts were off too: count them as their migration does.
DELETE FROM job_count;
INSERT INTO job_count (provider_id, state, n)
SELECT provider_id, state, count(*) FROM job GROUP BY provider_id, state;
ALTER TABLE job ENABLE TRIGGER USER;
VACUUM ANALYZE job;
VACUUM ANALYZE job_outcome;
SQL
}

# POSTs a GraphQL query to the API at $1 with the bearer token $2; prints the answer.
graphql_at() { # base-url token query
    curl -sf "$1/graphql" -H 'Content-Type: application/json' -H "Authorization: Bearer $2" \
        --data-binary "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$3")"
}

# Runs wrk on wrk's CPU (1) against the API at $1 posting the GraphQL query $3 with the token
# $2, $CONNECTIONS connections for $DURATION; prints "requests/s p50 p99".
wrk_graphql() { # base-url token query
    local lua
    lua="$(mktemp)"
    python3 - "$3" "$2" >"$lua" <<'PY'
import json, sys
body = json.dumps({"query": sys.argv[1]})
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/json"')
print(f'wrk.headers["Authorization"] = "Bearer {sys.argv[2]}"')
print("wrk.body = " + json.dumps(body))
PY
    local out
    out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency --timeout 30s -s "$lua" "$1/graphql" 2>&1)"
    rm -f "$lua"
    echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "50%" {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")"
}
