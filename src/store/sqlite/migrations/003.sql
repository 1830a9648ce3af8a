-- Version 3: a mailing can expire (issue 34): recipients not sent by then
-- end `expired` and are never sent late. RFC 3339 text, as `send_at`.
ALTER TABLE mailings ADD COLUMN expires_at TEXT;
