CREATE TABLE crm_comms_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE crm_comms_mailings (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    template TEXT NOT NULL,
    sender TEXT,
    priority INTEGER NOT NULL,
    delivery_report BOOLEAN NOT NULL,
    send_at TEXT,
    send_window TEXT,
    one_per_number BOOLEAN NOT NULL,
    default_country TEXT,
    max_parts INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE crm_comms_recipients (
    id BIGSERIAL PRIMARY KEY,
    mailing BIGINT NOT NULL REFERENCES crm_comms_mailings(id),
    line BIGINT,
    number TEXT NOT NULL,
    text TEXT NOT NULL,
    encoding TEXT NOT NULL,
    parts INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempt BIGINT NOT NULL DEFAULT 0,
    resend BOOLEAN NOT NULL DEFAULT false,
    retries BIGINT NOT NULL DEFAULT 0,
    lease_until TIMESTAMPTZ,
    worker TEXT,
    gateway_ref TEXT,
    reason TEXT,
    done_at TEXT
);
CREATE INDEX crm_comms_recipients_mailing ON crm_comms_recipients (mailing);
CREATE INDEX crm_comms_recipients_pending ON crm_comms_recipients (mailing, id) WHERE state = 'pending';
CREATE INDEX crm_comms_recipients_in_flight ON crm_comms_recipients (mailing, lease_until) WHERE state IN ('claimed', 'sending');
CREATE INDEX crm_comms_recipients_gateway_ref ON crm_comms_recipients (gateway_ref) WHERE gateway_ref IS NOT NULL;
CREATE TABLE crm_comms_parked_reports (
    id BIGSERIAL PRIMARY KEY,
    client_ref TEXT,
    gateway_ref TEXT NOT NULL,
    state TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT,
    done_at TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX crm_comms_parked_client ON crm_comms_parked_reports (client_ref);
CREATE INDEX crm_comms_parked_gateway ON crm_comms_parked_reports (gateway_ref);
CREATE TABLE crm_comms_opt_out (number TEXT PRIMARY KEY, source TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE crm_comms_dedup (
    key TEXT PRIMARY KEY,
    done BOOLEAN NOT NULL,
    until TIMESTAMPTZ NOT NULL,
    claim_until TIMESTAMPTZ NOT NULL
);
CREATE INDEX crm_comms_dedup_until ON crm_comms_dedup (until);
CREATE TABLE crm_comms_sent (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL,
    provider TEXT NOT NULL,
    reference TEXT,
    client_ref TEXT,
    recipient TEXT NOT NULL
);
CREATE UNIQUE INDEX crm_comms_sent_client ON crm_comms_sent (client_ref, recipient) WHERE client_ref IS NOT NULL;
CREATE INDEX crm_comms_sent_reference ON crm_comms_sent (reference) WHERE reference IS NOT NULL;
CREATE TABLE crm_comms_rate_limits (key TEXT PRIMARY KEY, tat TIMESTAMPTZ NOT NULL);
