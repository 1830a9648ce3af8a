-- Version 3: a report changes only the row its client reference names;
-- by gateway reference only without one, among mailings sent through the
-- report's gateway (issue 30). Kept reports know their row and mailing,
-- and expire.
ALTER TABLE crm_comms_mailings ADD COLUMN gateway TEXT;
ALTER TABLE crm_comms_parked_reports ADD COLUMN mailing BIGINT,
    ADD COLUMN recipient BIGINT, ADD COLUMN provider TEXT;
CREATE INDEX crm_comms_parked_row ON crm_comms_parked_reports (mailing, recipient);
CREATE INDEX crm_comms_parked_received ON crm_comms_parked_reports (received_at);
-- Rows queued for a resend, found without scanning the pending ones: a
-- resend waiting past the gateway's duplicate window is given up.
CREATE INDEX crm_comms_recipients_resend ON crm_comms_recipients (mailing, lease_until) WHERE state = 'pending' AND resend;
