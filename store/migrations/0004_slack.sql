-- Slack: app installations (per workspace, and Enterprise Grid org-wide) and OAuth states.
-- Each install or token refresh adds a row; lookups take the newest. ``data`` is slack_sdk's
-- Installation/Bot as JSON, tokens included: this table is as sensitive as the tokens.
CREATE TABLE slack_installations (
    id                    bigserial PRIMARY KEY,
    client_id             text NOT NULL,
    enterprise_id         text,
    team_id               text,
    user_id               text,
    is_enterprise_install boolean NOT NULL DEFAULT false,
    installed_at          timestamptz NOT NULL,
    data                  jsonb NOT NULL
);
CREATE INDEX slack_installations_lookup_idx
    ON slack_installations (client_id, enterprise_id, team_id, installed_at DESC);

CREATE TABLE slack_bots (
    id                    bigserial PRIMARY KEY,
    client_id             text NOT NULL,
    enterprise_id         text,
    team_id               text,
    is_enterprise_install boolean NOT NULL DEFAULT false,
    installed_at          timestamptz NOT NULL,
    data                  jsonb NOT NULL
);
CREATE INDEX slack_bots_lookup_idx ON slack_bots (client_id, enterprise_id, team_id, installed_at DESC);

-- One row per install attempt in flight; consumed once by the OAuth redirect.
CREATE TABLE slack_oauth_states (
    state      text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX slack_oauth_states_expiry_idx ON slack_oauth_states (expires_at);
