-- History, privacy and admin commands: the lookups they make per person and per action.

-- forget-me and export find a person's feedback (the unique key leads with message_id).
CREATE INDEX feedback_user_idx ON feedback (user_id);
-- `feedback [n]`: the latest 👎 without reading every rating.
CREATE INDEX feedback_negative_idx ON feedback (created_at DESC, id DESC) WHERE rating = -1;
-- An answer's question is the latest user message before it in its conversation; history
-- reads it per conversation.
CREATE INDEX messages_conversation_role_idx ON messages (conversation_id, role, id);
-- Who did what: an actor's audit trail, and every attempt at one command.
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, created_at DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, created_at DESC);
