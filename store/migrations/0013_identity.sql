-- Who is asking: one person across platforms, and who may read each document.
--
-- users.same_as: this platform account is the same person as that user (the same confirmed
-- email on another platform); everything is recorded under that user. users.entra_id: the
-- person's Microsoft Entra object id, for their groups.
ALTER TABLE users ADD COLUMN same_as bigint REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE users ADD COLUMN entra_id text;
CREATE INDEX users_same_as_idx ON users (same_as) WHERE same_as IS NOT NULL;

-- documents.audience: NULL is everyone; otherwise the principals who may read it (lower-case
-- emails and 'group:<id or name>'). Retrieval leaves out the restricted documents whose
-- audience shares nothing with the asker's principals (store/audiences.py): this index holds
-- the restricted documents only, with their audiences, so a question reads just those (an
-- index-only scan), however many public documents there are.
ALTER TABLE documents ADD COLUMN audience text[];
CREATE INDEX documents_restricted_idx ON documents (id) INCLUDE (audience)
    WHERE audience IS NOT NULL;

-- What `ingest TARGET --allow ...` set: a target (a folder, a file, a URL, a source) and its
-- audience, applied to the documents under it when they are stored, and again by
-- `ingest --permissions-only`.
CREATE TABLE document_audiences (
    target     text PRIMARY KEY,
    audience   text[],
    set_by     text NOT NULL DEFAULT 'cli',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A document stored for the first time gets its target's audience before anyone can read it:
-- the most specific target it falls under (a folder, or a source's prefix ending in ':').
CREATE FUNCTION document_audience(doc_uri text, doc_url text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT a.audience FROM document_audiences a
    WHERE doc_uri = a.target OR doc_url = a.target
       OR starts_with(doc_uri, rtrim(a.target, '/') || '/')
       OR (right(a.target, 1) = ':' AND starts_with(doc_uri, a.target))
    ORDER BY length(a.target) DESC LIMIT 1
$$;

CREATE FUNCTION documents_take_audience() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.audience IS NULL THEN
        NEW.audience := document_audience(NEW.uri, NEW.url);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER documents_audience BEFORE INSERT ON documents
    FOR EACH ROW EXECUTE FUNCTION documents_take_audience();
