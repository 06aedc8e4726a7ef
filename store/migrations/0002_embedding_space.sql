-- The vector space the chunks' embeddings live in. One row at most: the model that made them and
-- its dimension. The chunks.embedding column is altered to vector(dimensions) and indexed with
-- HNSW (cosine) by the application when the space is first chosen or changes (store/knowledge.py),
-- because an index needs a fixed dimension that only the configured model knows.
CREATE TABLE embedding_space (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    model      text NOT NULL,
    dimensions integer NOT NULL CHECK (dimensions BETWEEN 1 AND 2000),
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- Retrieval filters by source (folder, web, sharepoint, confluence) through documents.
CREATE INDEX documents_source_idx ON documents (source, id);

-- How many chunks hold each lexeme: the inverse document frequency that weighs a question's
-- words in full-text ranking (ts_rank alone has none, so "claude" counted as much as "E4471").
-- Refreshed (concurrently) after ingests that changed enough of the index.
CREATE MATERIALIZED VIEW lexeme_stats AS
    SELECT word AS lexeme, ndoc AS chunks FROM ts_stat('SELECT tsv FROM chunks');
CREATE UNIQUE INDEX lexeme_stats_lexeme_idx ON lexeme_stats (lexeme);
