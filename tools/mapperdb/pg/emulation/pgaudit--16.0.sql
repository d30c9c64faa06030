-- mapperdb stand-in for pgaudit on server builds without it: `create extension pgaudit` succeeds
-- and the pgaudit.* settings stay placeholders; no audit log lines are written.
\echo Use "CREATE EXTENSION pgaudit" to load this file. \quit
