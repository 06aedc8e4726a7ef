-- Who may read each document at its source (SharePoint/OneDrive permissions, Confluence read
-- restrictions), recorded by every listing of the source before its documents are written
-- (store/audiences.py, core/ingest/connectors/permissions.py).
--
-- everyone: open to the whole organisation at the source. principals: otherwise, who may
-- read it (empty: no one here). via_target: part of its readers are the source's own
-- membership (SharePoint site groups); the audience set on the source with --allow stands in.
CREATE TABLE document_permissions (
    uri        text PRIMARY KEY,
    principals text[] NOT NULL DEFAULT '{}',
    everyone   boolean NOT NULL DEFAULT false,
    via_target boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A document's audience: what its source says, narrowed by the target's --allow where the
-- source opens it to everyone; the target's --allow alone where the source says nothing (a
-- folder, a web page). NULL is everyone.
CREATE OR REPLACE FUNCTION document_audience(doc_uri text, doc_url text) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    set_here boolean := false;
    given text[];
    mirrored document_permissions;
BEGIN
    SELECT true, a.audience INTO set_here, given FROM document_audiences a
    WHERE doc_uri = a.target OR doc_url = a.target
       OR starts_with(doc_uri, rtrim(a.target, '/') || '/')
       OR (right(a.target, 1) = ':' AND starts_with(doc_uri, a.target))
    ORDER BY length(a.target) DESC LIMIT 1;
    SELECT * INTO mirrored FROM document_permissions p WHERE p.uri = doc_uri;
    IF NOT FOUND OR mirrored.everyone THEN
        RETURN given;
    END IF;
    IF mirrored.via_target AND coalesce(set_here, false) THEN
        IF given IS NULL THEN
            RETURN NULL;  -- the source's own members stand for "everyone", as its admin set
        END IF;
        RETURN ARRAY(SELECT DISTINCT x FROM unnest(mirrored.principals || given) AS x ORDER BY x);
    END IF;
    RETURN mirrored.principals;
END
$$;
