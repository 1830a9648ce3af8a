#!/usr/bin/env bash
# Resident memory of `crm-comms mailing send` over a 1,000,000-recipient
# mailing on the embedded store, against the loopback Intelecom emulator
# in its own process: the mailing is streamed from the store in claims,
# never loaded whole, so the peak stays flat. Prints the peak RSS of
# `create` and of `send` (from /usr/bin/time) and the time each took.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${RECIPIENTS:-1000000}"
cargo build --release --locked --features cli
bin=target/release/crm-comms
dir=$(mktemp -d)
trap 'kill "${emu:-0}" 2>/dev/null || true; rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))
"$bin" emulate intelecom --listen "127.0.0.1:$port" > /dev/null 2>&1 &
emu=$!
sleep 1
cat > "$dir/sms.toml" <<TOML
provider = "intelecom"
service_id = "1000"
user_name = "crm"
password = "secret"
default_country = "NO"
base_url = "http://127.0.0.1:$port"
allow_insecure_http = true
TOML
python3 - "$N" > "$dir/r.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("number,firstname")
for i in range(n):
    print(f"4{i % 10000000:07d},Kari{i}")
PY
measure() { /usr/bin/time -f "%M KB peak RSS, %e s" "$@" 2>&1 >/dev/null | tail -1; }
echo "create ($N recipients): $(measure "$bin" mailing create --store "$dir/crm.db" --settings "$dir/sms.toml" --recipients "$dir/r.csv" --text 'Hei {firstname}, velkommen!')"
echo "send   ($N recipients): $(measure "$bin" mailing send --store "$dir/crm.db" --settings "$dir/sms.toml" --id 1)"
"$bin" mailing status --store "$dir/crm.db" --id 1
