"""Entry points (server and CLI) and the Slack and Teams adapters."""
