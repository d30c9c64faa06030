-- Reverses 0023_session_limit_overrides: maintenance_problems() as 0003 made it.
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
end
$$;

reset role;
