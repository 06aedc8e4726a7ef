"""Postgres (psycopg 3 + pgvector) and Redis implementations of the core's stores."""
