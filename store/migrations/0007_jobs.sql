-- Jobs: one run per scheduled slot across replicas, conversation summaries, sources to re-scan,
-- and the indexes retention walks in small batches.

-- A scheduled run names its slot; the unique index is what makes a slot run once when several
-- replicas fire it together (the advisory lock alone only stops them running at the same time).
ALTER TABLE job_runs
    ADD COLUMN scheduled_for timestamptz,
    ADD COLUMN trigger text NOT NULL DEFAULT 'manual' CHECK (trigger IN ('schedule', 'manual')),
    ADD COLUMN replica text;
CREATE UNIQUE INDEX job_runs_slot_idx ON job_runs (job, scheduled_for)
    WHERE scheduled_for IS NOT NULL;

-- A short summary of each conversation that has gone quiet; embedded when a model is configured
-- so history search can find a conversation by meaning. embedding_model names the vector space:
-- vectors from different models are never compared.
CREATE TABLE conversation_summaries (
    conversation_id bigint PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    summary         text NOT NULL,
    method          text NOT NULL CHECK (method IN ('model', 'extractive')),
    last_message_id bigint NOT NULL,
    embedding       vector,
    embedding_model text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    tsv             tsvector GENERATED ALWAYS AS (to_tsvector('english', summary)) STORED
);
CREATE INDEX conversation_summaries_tsv_idx ON conversation_summaries USING gin (tsv);
CREATE INDEX conversation_summaries_updated_idx ON conversation_summaries (updated_at);

-- Folders and URLs someone ingested: the reingest job re-scans each of them, beside the sources
-- named in settings.
CREATE TABLE knowledge_sources (
    uri             text PRIMARY KEY,
    added_by        text,
    added_at        timestamptz NOT NULL DEFAULT now(),
    last_scanned_at timestamptz,
    last_outcome    text,
    last_error      text
);

-- Retention deletes by age, a batch at a time: each batch is an index range, not a table scan.
CREATE INDEX conversations_updated_idx ON conversations (updated_at);
CREATE INDEX feedback_created_idx ON feedback (created_at);
CREATE INDEX inbox_finished_idx ON inbox (updated_at) WHERE state IN ('done', 'failed');
CREATE INDEX job_runs_started_idx ON job_runs (started_at);
