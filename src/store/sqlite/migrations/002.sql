-- Version 2: a report changes only the row its client reference names;
-- by gateway reference only without one, among mailings sent through the
-- report's gateway (issue 30). Kept reports know their row and mailing,
-- and expire.
ALTER TABLE mailings ADD COLUMN gateway TEXT;
ALTER TABLE parked_reports ADD COLUMN mailing INTEGER;
ALTER TABLE parked_reports ADD COLUMN recipient INTEGER;
ALTER TABLE parked_reports ADD COLUMN provider TEXT;
CREATE INDEX parked_row ON parked_reports (mailing, recipient);
CREATE INDEX parked_received ON parked_reports (received_at);
-- Rows queued for a resend, found without scanning the pending ones: a
-- resend waiting past the gateway's duplicate window is given up.
CREATE INDEX recipients_resend ON recipients (mailing, lease_until) WHERE state = 'pending' AND resend = 1;
