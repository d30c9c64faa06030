-- mapperdb stand-in for pg_cron 1.6 on server builds without it: the job catalog and the
-- scheduling functions with pg_cron's signatures, so migrations that schedule jobs run unchanged.
-- Jobs are recorded, never run.
\echo Use "CREATE EXTENSION pg_cron" to load this file. \quit

do $$
begin
    -- Like pg_cron: only in the database its background worker reads.
    if current_database() is distinct from current_setting('cron.database_name', true) then
        raise exception 'can only create extension in database %',
            current_setting('cron.database_name', true)
            using detail = 'Jobs must be scheduled from the database configured in '
                || 'cron.database_name, since the pg_cron background worker reads job '
                || 'descriptions from this database.';
    end if;
end
$$;

create schema cron;

create table cron.job (
    jobid bigserial primary key,
    schedule text not null,
    command text not null,
    nodename text not null default 'localhost',
    nodeport integer not null default 5432,
    database text not null default pg_catalog.current_database(),
    username text not null default current_user,
    active boolean not null default true,
    jobname text
);
create unique index jobname_username_uniq on cron.job (jobname, username);

create table cron.job_run_details (
    jobid bigint,
    runid bigserial primary key,
    job_pid integer,
    database text,
    username text,
    command text,
    status text,
    return_message text,
    start_time timestamptz,
    end_time timestamptz
);

alter table cron.job enable row level security;
create policy cron_job_policy on cron.job using (username = current_user);
alter table cron.job_run_details enable row level security;
create policy cron_job_run_details_policy on cron.job_run_details
    using (username = current_user);

grant usage on schema cron to public;
grant select on cron.job to public;
grant select, delete on cron.job_run_details to public;
-- Invoker rights (the caller owns its jobs, as in pg_cron), so callers write through row security.
grant insert, update, delete on cron.job to public;
grant usage on sequence cron.job_jobid_seq to public;

create function cron.schedule(job_name text, schedule text, command text) returns bigint
language sql as $$
    insert into cron.job (jobname, schedule, command) values (job_name, schedule, command)
    on conflict (jobname, username) do update
        set schedule = excluded.schedule, command = excluded.command
    returning jobid
$$;

create function cron.schedule(schedule text, command text) returns bigint
language sql as $$
    insert into cron.job (schedule, command) values (schedule, command) returning jobid
$$;

create function cron.unschedule(job_name text) returns boolean
language plpgsql as $$
begin
    delete from cron.job where jobname = job_name;
    if not found then
        raise exception 'could not find valid entry for job ''%''', job_name;
    end if;
    return true;
end
$$;

create function cron.unschedule(job_id bigint) returns boolean
language plpgsql as $$
begin
    delete from cron.job where jobid = job_id;
    if not found then
        raise exception 'could not find valid entry for job %', job_id;
    end if;
    return true;
end
$$;
