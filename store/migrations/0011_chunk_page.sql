-- The page a PDF chunk is shown at: the one holding most of its text. A chunk may now run
-- across a page break (core/ingest/chunking.py): page_start and page_end give the range it
-- covers, page where a reader should look. NULL for chunks without pages, and for chunks
-- written before this column, which show page_start as before.
ALTER TABLE chunks ADD COLUMN page integer;
