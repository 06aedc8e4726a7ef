"""Ingestion: read documents, split them into chunks, store them for retrieval."""

from core.ingest.documents import ChunkDraft, LoadedDocument, Section
from core.ingest.pipeline import Embedder, Ingestor, IngestReport, KnowledgeStore

__all__ = [
    "ChunkDraft",
    "Embedder",
    "IngestReport",
    "Ingestor",
    "KnowledgeStore",
    "LoadedDocument",
    "Section",
]
