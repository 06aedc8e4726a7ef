-- Who a verified answer is for: principals as documents have them (emails, group:<id or
-- name>); NULL is everyone. A person is given the answer only when one of their principals is
-- in it, and never when their groups could not be checked.
ALTER TABLE verified_answers ADD COLUMN audience text[];
