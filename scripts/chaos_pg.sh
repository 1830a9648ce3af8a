#!/usr/bin/env bash
# Chaos across processes on PostgreSQL: 4 `crm-comms mailing send` workers
# on one 100,000-recipient mailing sharing one rate limit, one of them
# killed with SIGKILL and restarted KILLS times (default 50), and the
# server restarted once mid-run (the workers reconnect and carry on).
# Runs on a throwaway cluster (Debian's initdb/pg_ctl, in
# $TMPDIR/crm-comms-test-postgres) so that it may be restarted; CI runs
# the same test with 5 kills of 10,000 and no restart (tests/cli/kill_harness.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
unset CRM_COMMS_POSTGRES_URL
export CRM_COMMS_CHAOS_KILLS="${KILLS:-50}"
export CRM_COMMS_CHAOS_RECIPIENTS="${RECIPIENTS:-100000}"
export CRM_COMMS_CHAOS_RATE="${RATE:-2000}"
bin=$(ls -d /usr/lib/postgresql/*/bin | tail -n1)
data="${TMPDIR:-/tmp}/crm-comms-test-postgres/data"
as_pg=""
[ "$(id -u)" = 0 ] && as_pg="runuser -u postgres --"
export CRM_COMMS_CHAOS_RESTART_PG="$as_pg $bin/pg_ctl -D $data -m fast -w restart >/dev/null"
cargo test --release --locked --all-features --test cli four_workers_on_postgres \
  -- --nocapture --test-threads=1 2>&1 | grep -E "chaos figures|test result|panicked|FAILED"
