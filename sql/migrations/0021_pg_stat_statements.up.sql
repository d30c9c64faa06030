-- Makes the server's statement statistics readable in this database, for mapperdb analyze and
-- Query Store-style review. Azure preloads the library (shared_preload_libraries); each
-- database still needs the extension. Reading other users' statements needs pg_read_all_stats,
-- which pg_monitor (the analyzer's login, Azure's admin) has.
create extension if not exists pg_stat_statements;
