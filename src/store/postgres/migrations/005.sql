-- Version 5: recipients in their own daytime (issue 34): a mailing's
-- recipient hours (`08:00-21:00`, optionally `holidays-allowed`), and a
-- recipient held until its morning (`not_before`, milliseconds since the
-- epoch: the time is the runner's, not the database's).
ALTER TABLE crm_comms_mailings ADD COLUMN recipient_hours TEXT;
ALTER TABLE crm_comms_recipients ADD COLUMN not_before BIGINT;
CREATE INDEX crm_comms_recipients_held ON crm_comms_recipients (mailing, not_before) WHERE state = 'held';
