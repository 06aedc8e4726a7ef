"""Switchboard's platform-neutral core: events, routing, retrieval, generation, streaming."""
