-- Version 4: recipients in their own daytime (issue 34): a mailing's
-- recipient hours (`08:00-21:00`, optionally `holidays-allowed`), and a
-- recipient held until its morning (`not_before`, milliseconds since the
-- epoch, as `lease_until`).
ALTER TABLE mailings ADD COLUMN recipient_hours TEXT;
ALTER TABLE recipients ADD COLUMN not_before INTEGER;
CREATE INDEX recipients_held ON recipients (mailing, not_before) WHERE state = 'held';
