"""Slack adapter: slack-bolt events in, ChatEvents to the core, streamed answers out."""
