-- Verified answers: an admin's answer to one question, served as written to every question
-- that means the same. Removing one keeps the row (removed_at) so the answers it gave stay
-- explained and `stats csv` still counts them; max(updated_at) tells every replica to reload.
CREATE TABLE verified_answers (
    id              bigserial PRIMARY KEY,
    question        text NOT NULL,
    answer          text NOT NULL,
    source_url      text,
    domain          text,
    author_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    -- The admin's name as shown under the answer, kept as it was when they wrote it.
    author_name     text NOT NULL,
    -- The question's vector and the model that made it: only vectors of the configured model
    -- are compared; others are re-embedded when the answers are loaded.
    embedding       vector,
    embedding_model text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    removed_at      timestamptz
);
CREATE INDEX verified_answers_live_idx ON verified_answers (id) WHERE removed_at IS NULL;

-- Which verified answer an answer was (status 'verified'), for stats and for `answers list`.
ALTER TABLE messages
    ADD COLUMN verified_answer_id bigint REFERENCES verified_answers (id) ON DELETE SET NULL;
CREATE INDEX messages_verified_idx ON messages (verified_answer_id)
    WHERE verified_answer_id IS NOT NULL;

-- Hand-offs to a person ("Talk to a person"): one per answer and person. Counted by `stats
-- csv` and listed by `unanswered`; the control that writes them comes with the hand-off work.
CREATE TABLE handoffs (
    id          bigserial PRIMARY KEY,
    message_id  bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    destination text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, user_id)
);
CREATE INDEX handoffs_created_idx ON handoffs (created_at DESC);
