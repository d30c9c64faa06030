-- Session limits that bind every login of this database, members of mapper_app included: one
-- session must not stall every tenant by holding a lock, idling in a transaction or running a
-- statement for ever (docs/schema.md, "Noisy neighbours"). Settings of a group role never
-- reach its members (PostgreSQL applies only the login role's own settings), so they are set on
-- the database, where every session starts. The migrating admin is exempted in this database
-- (its per-role settings win): migrations and the pg_cron jobs, which run as it, keep no limit,
-- and the maintenance functions set their own lock_timeout.
-- A database made as a copy (CREATE DATABASE ... TEMPLATE) does not copy these settings: run
-- this migration's statements there too (docs/schema.md says so).
do $$
begin
    execute format(
        'alter database %I set idle_in_transaction_session_timeout = %L', current_database(), '30s'
    );
    execute format('alter database %I set lock_timeout = %L', current_database(), '10s');
    execute format('alter database %I set statement_timeout = %L', current_database(), '60s');
    execute format(
        'alter role %I in database %I set idle_in_transaction_session_timeout = 0',
        current_user, current_database()
    );
    execute format(
        'alter role %I in database %I set lock_timeout = 0', current_user, current_database()
    );
    execute format(
        'alter role %I in database %I set statement_timeout = 0', current_user, current_database()
    );
end
$$;
