#!/usr/bin/env bash
# The mailing crash test at full size: `crm-comms mailing send` killed
# with SIGKILL at random points of a 10,000-recipient mailing, KILLS times
# (default 50) while it sends at RATE messages/s (default 50) in claims of BATCH (default 20), then run to the end — once with Puzzel's duplicate check
# off, once on. Prints the figures docs/reliability.md quotes. CI runs the same
# test with 5 kills (tests/cli/kill_harness.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
export CRM_COMMS_CRASH_KILLS="${KILLS:-50}"
export CRM_COMMS_CRASH_RECIPIENTS="${RECIPIENTS:-10000}"
# Paced so that the mailing lasts long enough for every kill (unpaced, a
# release build sends 10,000 in under a second).
export CRM_COMMS_CRASH_RATE="${RATE:-50}"
# Small claims, so 50 kills leave recipients to send.
export CRM_COMMS_CRASH_BATCH="${BATCH:-20}"
cargo test --release --locked --all-features --test cli mailing_send_killed \
  -- --nocapture --test-threads=1 2>&1 | grep -E "crash figures|test result|panicked|FAILED"
