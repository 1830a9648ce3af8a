CREATE TABLE crm_comms_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE mailings (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    template TEXT NOT NULL,
    sender TEXT,
    priority INTEGER NOT NULL,
    delivery_report INTEGER NOT NULL,
    send_at TEXT,
    send_window TEXT,
    one_per_number INTEGER NOT NULL,
    default_country TEXT,
    max_parts INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE recipients (
    id INTEGER PRIMARY KEY,
    mailing INTEGER NOT NULL REFERENCES mailings(id),
    line INTEGER,
    number TEXT NOT NULL,
    text TEXT NOT NULL,
    encoding TEXT NOT NULL,
    parts INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    resend INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,
    worker TEXT,
    gateway_ref TEXT,
    reason TEXT,
    done_at TEXT
);
CREATE INDEX recipients_mailing ON recipients (mailing);
CREATE INDEX recipients_pending ON recipients (mailing, id) WHERE state = 'pending';
CREATE INDEX recipients_in_flight ON recipients (mailing, lease_until) WHERE state IN ('claimed', 'sending');
CREATE INDEX recipients_gateway_ref ON recipients (gateway_ref) WHERE gateway_ref IS NOT NULL;
CREATE TABLE parked_reports (
    id INTEGER PRIMARY KEY,
    client_ref TEXT,
    gateway_ref TEXT NOT NULL,
    state TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT,
    done_at TEXT,
    received_at INTEGER NOT NULL
);
CREATE INDEX parked_client ON parked_reports (client_ref);
CREATE INDEX parked_gateway ON parked_reports (gateway_ref);
CREATE TABLE opt_out (number TEXT PRIMARY KEY, source TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE dedup (key TEXT PRIMARY KEY, done INTEGER NOT NULL, until INTEGER NOT NULL, claim_until INTEGER NOT NULL);
CREATE TABLE sent (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    provider TEXT NOT NULL,
    reference TEXT,
    client_ref TEXT,
    recipient TEXT NOT NULL
);
CREATE UNIQUE INDEX sent_client ON sent (client_ref, recipient) WHERE client_ref IS NOT NULL;
CREATE INDEX sent_reference ON sent (reference) WHERE reference IS NOT NULL;
