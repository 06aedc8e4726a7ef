-- Foundation: people, conversations, messages, the inbox, knowledge, and what jobs and admins leave.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE users (
    id               bigserial PRIMARY KEY,
    platform         text NOT NULL,
    workspace_id     text NOT NULL,
    platform_user_id text NOT NULL,
    display_name     text,
    email            text,
    role             text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (platform, workspace_id, platform_user_id)
);
CREATE INDEX users_email_idx ON users (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE conversations (
    id           bigserial PRIMARY KEY,
    platform     text NOT NULL,
    workspace_id text NOT NULL,
    channel_id   text NOT NULL,
    thread_id    text NOT NULL,
    kind         text NOT NULL,
    user_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    title        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (platform, workspace_id, channel_id, thread_id)
);
CREATE INDEX conversations_user_idx ON conversations (user_id, updated_at DESC);

CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         bigint REFERENCES users (id) ON DELETE SET NULL,
    role            text NOT NULL CHECK (role IN ('user', 'assistant')),
    text            text NOT NULL,
    event_key       text,
    citations       jsonb NOT NULL DEFAULT '[]',
    sources         jsonb NOT NULL DEFAULT '[]',
    route           jsonb,
    model           text,
    input_tokens    integer NOT NULL DEFAULT 0,
    output_tokens   integer NOT NULL DEFAULT 0,
    cost_usd        numeric(12, 6) NOT NULL DEFAULT 0,
    retrieval_ms    real,
    ttft_ms         real,
    total_ms        real,
    status          text NOT NULL DEFAULT 'complete',
    created_at      timestamptz NOT NULL DEFAULT now(),
    tsv             tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);
CREATE INDEX messages_user_idx ON messages (user_id, created_at DESC);
CREATE INDEX messages_created_idx ON messages (created_at);
CREATE INDEX messages_tsv_idx ON messages USING gin (tsv);

CREATE TABLE inbox (
    id          bigserial PRIMARY KEY,
    event_key   text NOT NULL UNIQUE,
    platform    text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}',
    state       text NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'working', 'done', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    lease_until timestamptz,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_pending_idx ON inbox (created_at) WHERE state IN ('pending', 'working');

CREATE TABLE feedback (
    id         bigserial PRIMARY KEY,
    message_id bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating     smallint NOT NULL CHECK (rating IN (-1, 1)),
    reasons    text[] NOT NULL DEFAULT '{}',
    comment    text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, user_id)
);

CREATE TABLE documents (
    id           bigserial PRIMARY KEY,
    uri          text NOT NULL UNIQUE,
    source       text NOT NULL DEFAULT 'folder',
    kind         text NOT NULL,
    title        text NOT NULL,
    domain       text NOT NULL,
    url          text,
    path         text,
    content_hash text NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_domain_idx ON documents (domain);

CREATE TABLE chunks (
    id          bigserial PRIMARY KEY,
    document_id bigint NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ord         integer NOT NULL,
    domain      text NOT NULL,
    title       text NOT NULL,
    section     text,
    page_start  integer,
    page_end    integer,
    text        text NOT NULL,
    embedding   vector,
    tsv         tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', coalesce(title, '')), 'A')
                    || setweight(to_tsvector('english', coalesce(section, '')), 'B')
                    || to_tsvector('english', text)
                ) STORED,
    UNIQUE (document_id, ord)
);
CREATE INDEX chunks_tsv_idx ON chunks USING gin (tsv);
CREATE INDEX chunks_domain_idx ON chunks (domain);

CREATE TABLE suggested_prompts (
    id         bigserial PRIMARY KEY,
    week       date NOT NULL,
    position   smallint NOT NULL,
    text       text NOT NULL,
    domain     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (week, position)
);

CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    actor_id   bigint REFERENCES users (id) ON DELETE SET NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    target     text,
    outcome    text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC);

CREATE TABLE job_runs (
    id          bigserial PRIMARY KEY,
    job         text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome     text NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'succeeded', 'failed', 'skipped')),
    counts      jsonb NOT NULL DEFAULT '{}',
    error       text
);
CREATE INDEX job_runs_job_idx ON job_runs (job, started_at DESC);
