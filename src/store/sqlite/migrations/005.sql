-- Version 5: a frequency cap across mailings (issue 34): when each
-- recipient was written down as sending (`sent_at`, milliseconds since the
-- epoch), found by number; and the mailing's cap (`2/7d`).
ALTER TABLE mailings ADD COLUMN frequency_cap TEXT;
ALTER TABLE recipients ADD COLUMN sent_at INTEGER;
CREATE INDEX recipients_number_sent ON recipients (number, sent_at);
-- Consent and personal data (issue 34): the consent log (who opted out or
-- in, when, by which message), the suppression list (keyed hashes of
-- erased, opted-out numbers), and every row of a number found at once.
CREATE TABLE consent_log (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL,
    action TEXT NOT NULL,
    via TEXT NOT NULL,
    message TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX consent_log_number ON consent_log (number);
CREATE TABLE suppression (hash TEXT PRIMARY KEY, at INTEGER NOT NULL);
