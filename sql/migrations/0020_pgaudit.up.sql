-- Creates pgaudit. The servers preload it and set pgaudit.log (infra: ddl, role, write), but
-- pgaudit writes no session audit entries for DDL until the extension exists in the database:
-- its event triggers (pgaudit_ddl_command_end, pgaudit_sql_drop) come with CREATE EXTENSION.
-- `mapperdb policy` checks that this migration and the server parameters agree (LMX004).
create extension pgaudit;
