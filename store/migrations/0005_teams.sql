-- Microsoft Teams: where the bot can post without being asked, and which Teams message shows
-- which stored answer.

-- One row per Teams conversation the bot is in (a personal chat, a group chat, a channel
-- thread), with the Bot Framework conversation reference a proactive message needs. Personal
-- chats name their user, so jobs can reach one person or everyone who installed the bot.
CREATE TABLE teams_conversations (
    conversation_id   text PRIMARY KEY,
    tenant_id         text NOT NULL,
    conversation_type text NOT NULL CHECK (conversation_type IN ('personal', 'groupChat', 'channel')),
    service_url       text NOT NULL,
    reference         jsonb NOT NULL,
    user_key          text,
    installed         boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX teams_conversations_personal_idx ON teams_conversations (tenant_id, user_key)
    WHERE conversation_type = 'personal' AND installed;

-- Feedback on a Teams message arrives with that message's activity id; this maps it back to the
-- answer. An answer split into several messages has several rows. Rows go with their message.
CREATE TABLE teams_messages (
    conversation_id text NOT NULL,
    activity_id     text NOT NULL,
    message_id      bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, activity_id)
);
CREATE INDEX teams_messages_message_idx ON teams_messages (message_id);
