-- The share of chunks a retrieval filter keeps, estimated from the planner's statistics (the
-- most common values of chunks.domain and documents.source, as ANALYZE left them): the domains'
-- share of chunks times the sources' share of documents. It sets how wide a filtered HNSW walk
-- goes, and whether a filter keeps so few chunks that they are ranked exactly instead
-- (store/retrieval.py). A value missing from the statistics counts as rare (0); a column not
-- analysed yet as a quarter. PL/pgSQL keeps the catalog query's plan for the session, so a
-- question pays for running it, not for planning it again.
CREATE FUNCTION column_share(tab name, col name, vals text[]) RETURNS float8
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF cardinality(vals) = 0 THEN
        RETURN 1;
    END IF;
    RETURN (
        SELECT CASE WHEN count(*) = 0 THEN 0.25
                    ELSE coalesce(sum(m.f) FILTER (WHERE m.v = ANY(vals)), 0) END
        FROM pg_stats s
        LEFT JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs)
             AS m(v, f) ON true
        WHERE s.schemaname = current_schema() AND s.tablename = tab AND s.attname = col
    );
END
$$;

CREATE FUNCTION chunk_filter_share(domains text[], sources text[]) RETURNS float8
LANGUAGE sql STABLE AS $$
    SELECT column_share('chunks', 'domain', domains) * column_share('documents', 'source', sources)
$$;
