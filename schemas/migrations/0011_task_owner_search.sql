-- 0011_task_owner_search.sql: one GIN index whose posting lists each hold one user's
-- tasks, for the list filters q, tag, status and priority (issue 8, docs/decisions.md
-- "Lists and stats at scale").
-- Why: the GIN indexes of 0003 hold one posting list per word (per tag) for all users, so
-- a word rare for the caller but common among others costs every other user's matches;
-- btree_gin's (owner_id, search) does not fix that (it intersects the owner's posting
-- list with the word's, both large: measured in decisions.md). Here every key carries its
-- owner's id as 32 hex digits, so a key's posting list holds only that user's tasks, and
-- Postgres's statistics on the index expression are per (user, key).
-- task_owner_index_keys(owner, status, priority, tags, search): the keys of one task,
--   '<hex>' (every task of the user: the marker), '<hex>:s:<status>', '<hex>:p:<priority>',
--   '<hex>:t:<tag>' and '<hex>:w:<lexeme>' for each lexeme of search. A text[] (GIN
--   array_ops), not a tsvector: no 2047-byte lexeme limit for the prefix to overflow.
--   Built by joining and splitting on U+001F in one PL/pgSQL expression (a SQL function
--   would not be inlined: array_to_string is only STABLE; this costs about 10 us a task
--   on a loaded 2-core box): the 'simple' parser never yields a lexeme holding U+001F; a
--   tag holding one is cut in two keys, which only makes the index answer a superset. No
--   tags (no lexemes) give the one key '<hex>:t:' ('<hex>:w:'), which no query asks for.
-- task_owner_keys(owner, kind, values): the keys of values, as above (the API asks
--   keys && status keys, keys && priority keys, keys @> tag keys).
-- task_owner_any_words(owner, query), task_owner_all_words(owner, query): for a text
--   search, keys && any_words AND keys @> all_words holds for at least every task of owner
--   that query matches: querytree() (Postgres's own indexable part: negations dropped),
--   any of its lexemes, and all of them when it has no OR (else none: "@> '{}'" beside
--   another condition of the same index scan costs GIN nothing); any_words is the marker
--   when nothing indexable is left (a query of negations only: every task of the user).
-- Exactness: the API keeps the plain tests (status IN, priority IN, tags @>, search @@)
--   beside these, and owner_id = $1; the index only finds candidates.
-- The old global GIN indexes go: every task query names its owner.
-- Index build: plain CREATE INDEX (the migrator runs each file in a transaction, where
--   CONCURRENTLY is refused) blocks writes to tasks while it runs (measured in
--   decisions.md). On a large production table, build it beforehand with CREATE INDEX
--   CONCURRENTLY under the same name and definition (after running this file's CREATE
--   FUNCTION statements, which are CREATE OR REPLACE for that reason);
--   IF NOT EXISTS then skips it, and an invalid one (a failed concurrent build) stops
--   this migration instead of being kept.
-- Migrations are append-only: never edit this file once applied; add a new one.

CREATE OR REPLACE FUNCTION task_owner_hex(owner uuid) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT replace(owner::text, '-', '')
$$;

CREATE OR REPLACE FUNCTION task_owner_keys(owner uuid, kind text, vals text[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    p text := replace(owner::text, '-', '') || ':' || kind || ':';
BEGIN
    RETURN string_to_array(p || array_to_string(vals, E'\x1f' || p), E'\x1f');
END
$$;

-- The same keys as ARRAY[hex] || task_owner_keys(owner, 's', ARRAY[status]) || ... for
-- 'p', 't', 'w', in one expression (the writer pays it on every insert and update; a test
-- checks the two agree).
CREATE OR REPLACE FUNCTION task_owner_index_keys(owner uuid, status text, priority text, tags text[],
                                      search tsvector) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    h text := replace(owner::text, '-', '');
BEGIN
    RETURN string_to_array(
        h || E'\x1f' || h || ':s:' || status || E'\x1f' || h || ':p:' || priority
          || E'\x1f' || h || ':t:' || array_to_string(tags, E'\x1f' || h || ':t:')
          || E'\x1f' || h || ':w:'
          || array_to_string(tsvector_to_array(search), E'\x1f' || h || ':w:'),
        E'\x1f');
END
$$;

-- The lexemes of querytree(query), unescaped as tsquery's text form escapes them.
CREATE OR REPLACE FUNCTION task_owner_query_words(query tsquery) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY(SELECT DISTINCT replace(replace(m[1], '''''', ''''), '\\', '\')
                 FROM regexp_matches(querytree(query), '''((?:[^'']|'''')*)''', 'g') AS m)
$$;

CREATE OR REPLACE FUNCTION task_owner_any_words(owner uuid, query tsquery) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN querytree(query) = 'T' THEN ARRAY[task_owner_hex(owner)]
                ELSE task_owner_keys(owner, 'w', task_owner_query_words(query))
           END
$$;

CREATE OR REPLACE FUNCTION task_owner_all_words(owner uuid, query tsquery) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN querytree(query) = 'T'
                  OR regexp_replace(querytree(query), '''(?:[^'']|'''')*''', '', 'g') LIKE '%|%'
                THEN '{}'::text[]
                ELSE task_owner_keys(owner, 'w', task_owner_query_words(query))
           END
$$;

CREATE INDEX IF NOT EXISTS tasks_owner_keys_idx ON tasks
    USING gin (task_owner_index_keys(owner_id, status, priority, tags, search));
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname = 'tasks_owner_keys_idx' AND NOT i.indisvalid) THEN
        RAISE EXCEPTION 'the index tasks_owner_keys_idx is invalid (a failed CREATE INDEX '
                        'CONCURRENTLY?): drop it and migrate again';
    END IF;
END
$$;

DROP INDEX IF EXISTS tasks_search_idx;
DROP INDEX IF EXISTS tasks_tags_idx;
