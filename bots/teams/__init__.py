"""Microsoft Teams adapter: Bot Framework activities in, ChatEvents to the core, streamed answers out."""
