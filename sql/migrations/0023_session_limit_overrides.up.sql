-- Reports what the database cannot forbid (issue 9, found by attacking 0012): a login of an
-- application role can lift its own session limits for its later sessions with
-- `alter role <itself> set ...`. maintenance_problems(), the alert hook, now names such logins.
set local role mapper_owner;

create or replace function mapper.maintenance_problems(p_since interval default '1 day')
returns table (logged_at timestamptz, source text, job text, target text, detail text)
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
    return query
        select l.logged_at, 'maintenance_log'::text, l.job, l.target, l.detail
        from mapper.maintenance_log as l
        where l.status = 'failed' and l.logged_at >= now() - p_since
            and l.target is not null;
    -- A job that failed as a whole rolled its log entries back: pg_cron keeps its error
    -- (only in the cron database, and only the job owner's runs are visible).
    if to_regclass('cron.job_run_details') is not null then
        return query execute
            'select d.start_time, ''pg_cron''::text, j.jobname::text, j.command, '
            'd.return_message from cron.job_run_details as d join cron.job as j using (jobid) '
            'where d.status = ''failed'' and d.start_time >= now() - $1 '
            'and j.jobname like ''mapper\_%'''
            using p_since;
    end if;
    -- A login of an application role may `alter role <itself> set statement_timeout = 0` (or
    -- lift lock_timeout, idle_in_transaction_session_timeout) for its later sessions: PostgreSQL
    -- cannot forbid it, so it is reported here, by login.
    return query
        select now(), 'role_setting'::text, 'session_limits'::text, r.rolname::text,
            array_to_string(s.setconfig, ', ')
        from pg_catalog.pg_db_role_setting as s
        inner join pg_catalog.pg_roles as r on s.setrole = r.oid
        where
            s.setdatabase in (0, (
                select d.oid from pg_catalog.pg_database as d
                where d.datname = current_database()
            ))
            and (
                pg_catalog.pg_has_role(r.oid, 'mapper_app', 'member')
                or pg_catalog.pg_has_role(r.oid, 'mapper_readonly', 'member')
                or pg_catalog.pg_has_role(r.oid, 'mapper_auditor', 'member')
            )
            and exists (
                select from unnest(s.setconfig) as c (setting)
                where split_part(c.setting, '=', 1) in (
                    'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout'
                )
            );
end
$$;

reset role;
