-- Questions refused by a limit (asking too fast, a daily budget spent): one row per UTC day,
-- limit and person, counting the refusals, so admins see who hit what in `stats` and a
-- person hammering the bot adds a counter, not rows. Platform ids, not users.id: a refused
-- question may come from someone who never got an answer, and nothing else is stored for it.
CREATE TABLE limit_hits (
    day              date NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('rate', 'user_budget', 'workspace_budget')),
    platform         text NOT NULL,
    workspace_id     text NOT NULL,
    platform_user_id text NOT NULL,
    hits             integer NOT NULL DEFAULT 1,
    first_at         timestamptz NOT NULL DEFAULT now(),
    last_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, kind, platform, workspace_id, platform_user_id)
);
CREATE INDEX limit_hits_last_idx ON limit_hits (last_at DESC);
