-- 0004_task_indexes.sql: indexes for the import progress and the importer's scan.
--
-- GET /api/v1/tasks/import/:id counts the commands of one import, and taskbus-importer
-- lists unfinished imports every half second: without these both are full scans.
CREATE INDEX commands_import_id_idx ON commands (import_id) WHERE import_id IS NOT NULL;
CREATE INDEX imports_unfinished_idx ON imports (created_at, id)
    WHERE status IN ('queued', 'running');
