-- Who a verified answer is for: principals as documents have them (emails, group:<id or
-- name>); NULL is everyone. A person is given the answer only when one of their principals is
-- in it, and never when their groups could not be checked.
ALTER TABLE verified_answers ADD COLUMN audience text[];

-- A verified answer is a finished answer: usage_daily counted it as "not complete".
CREATE OR REPLACE VIEW usage_daily AS
SELECT coalesce(m.user_id, (
           SELECT q.user_id FROM messages q
           WHERE q.conversation_id = m.conversation_id AND q.role = 'user' AND q.id < m.id
           ORDER BY q.id DESC LIMIT 1)) AS user_id,
       (m.created_at AT TIME ZONE 'UTC')::date AS day,
       count(*)::integer AS answers,
       count(*) FILTER (WHERE m.status NOT IN ('complete', 'verified'))::integer AS not_complete,
       coalesce(sum(m.input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(m.output_tokens), 0)::bigint AS output_tokens,
       coalesce(sum(m.cost_usd), 0)::numeric(14, 6) AS cost_usd,
       avg(m.ttft_ms)::real AS avg_ttft_ms,
       avg(m.total_ms)::real AS avg_total_ms
FROM messages m
WHERE m.role = 'assistant'
GROUP BY 1, 2;
