-- Version 6: a frequency cap across mailings (issue 34): when each
-- recipient was written down as sending (`sent_at`, milliseconds since the
-- epoch, by the database's clock), found by number; and the mailing's cap
-- (`2/7d`).
ALTER TABLE crm_comms_mailings ADD COLUMN frequency_cap TEXT;
ALTER TABLE crm_comms_recipients ADD COLUMN sent_at BIGINT;
CREATE INDEX crm_comms_recipients_number_sent ON crm_comms_recipients (number, sent_at);
-- Consent and personal data (issue 34): the consent log (who opted out or
-- in, when, by which message), the suppression list (keyed hashes of
-- erased, opted-out numbers).
CREATE TABLE crm_comms_consent_log (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL,
    action TEXT NOT NULL,
    via TEXT NOT NULL,
    message TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX crm_comms_consent_log_number ON crm_comms_consent_log (number);
CREATE TABLE crm_comms_suppression (hash TEXT PRIMARY KEY, at BIGINT NOT NULL);
