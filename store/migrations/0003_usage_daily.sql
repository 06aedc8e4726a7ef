-- Usage per person and per UTC day: answers, tokens, cost and latencies of the assistant's
-- messages. Answers stored before they carried the asker's id are attributed to the asker of
-- the question they answer.
CREATE VIEW usage_daily AS
SELECT coalesce(m.user_id, (
           SELECT q.user_id FROM messages q
           WHERE q.conversation_id = m.conversation_id AND q.role = 'user' AND q.id < m.id
           ORDER BY q.id DESC LIMIT 1)) AS user_id,
       (m.created_at AT TIME ZONE 'UTC')::date AS day,
       count(*)::integer AS answers,
       count(*) FILTER (WHERE m.status <> 'complete')::integer AS not_complete,
       coalesce(sum(m.input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(m.output_tokens), 0)::bigint AS output_tokens,
       coalesce(sum(m.cost_usd), 0)::numeric(14, 6) AS cost_usd,
       avg(m.ttft_ms)::real AS avg_ttft_ms,
       avg(m.total_ms)::real AS avg_total_ms
FROM messages m
WHERE m.role = 'assistant'
GROUP BY 1, 2;
