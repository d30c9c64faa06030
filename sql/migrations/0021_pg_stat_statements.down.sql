-- Reverses 0021_pg_stat_statements.
drop extension if exists pg_stat_statements;
