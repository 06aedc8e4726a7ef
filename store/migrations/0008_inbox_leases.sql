-- The inbox as a work queue: a claimed row carries a lease (who holds it, until when, under which
-- claim token); a process that dies mid-answer lets its lease run out and another replica claims
-- the row again. ``progress`` keeps what the adapter needs to finish or replace a half-shown
-- answer instead of posting a second one (Slack message ts, Teams activity ids, the stored
-- answer's id).
ALTER TABLE inbox
    ADD COLUMN claim    text,
    ADD COLUMN owner    text,
    ADD COLUMN progress jsonb NOT NULL DEFAULT '{}';

-- Claiming looks for rows whose lease ran out, oldest first; done and failed rows never match.
CREATE INDEX inbox_due_idx ON inbox (lease_until, created_at) WHERE state IN ('pending', 'working');

-- A redelivered event first removes the question an unfinished earlier attempt stored.
CREATE INDEX messages_event_key_idx ON messages (event_key) WHERE event_key IS NOT NULL;
