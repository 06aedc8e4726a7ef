-- One message, one answer: a platform may deliver the same message under two event ids (a
-- Slack message reaching the app through two subscriptions, or an Enterprise Grid org
-- delivering it to more than one installation). The message's own key (platform, workspace,
-- channel, ts) is unique beside the event key.
ALTER TABLE inbox ADD COLUMN message_key text;
CREATE UNIQUE INDEX inbox_message_key ON inbox (message_key) WHERE message_key IS NOT NULL;
