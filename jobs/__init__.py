"""Scheduled jobs (APScheduler): suggested prompts, re-ingest, retention, summaries."""
