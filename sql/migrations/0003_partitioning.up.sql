-- Native monthly range partitioning, maintained by our own small functions (not pg_partman: its
-- API differs between Debian's 4.7 and Azure's 5.x). Every time-series table of the schema is
-- range-partitioned by one timestamptz column; these functions discover such tables from the
-- catalog, so a new partitioned table needs no registration.
--   * one partition per calendar month (UTC), named <table>_pYYYYMM, only for months from
--     2000-01 (the time window's lower bound) to p_months_ahead (at most 24) months ahead:
--     every name is four digits of year and two of month, never ambiguous;
--   * a DEFAULT partition per table catches rows outside the existing months (clock skew, late
--     backfill): inserts never fail for lack of a partition, and maintain_partitions() drains the
--     default into proper month partitions, so the default stays empty in steady state;
--   * a partition is no side door: PostgreSQL gives each partition its own RLS flags, privileges
--     and statement-level triggers, so secure_partition() makes every partition force row level
--     security with a single policy (mapper_owner in maintenance mode), revokes every grant, and
--     copies the parent's statement-level triggers (truncate guards, audit). maintain_partitions()
--     applies it to every partition it finds, also those created or attached by hand, and
--     partition_problems() reports any difference without repairing it (monitoring, tests);
--   * time values are held to a window at the database edge: a static CHECK (finite, from
--     2000-01-01) on each table and reject_future_time(), a trigger for "not more than a day
--     ahead of the server's clock" (now() may not appear in a CHECK);
--   * maintain_partitions() works table by table and month by month: a failure is logged in
--     maintenance_log with the table or partition it concerns and the others proceed;
--     maintenance_problems() is what monitoring reads (failed maintenance and failed pg_cron runs).
set local role mapper_owner;

create function mapper.partition_key(p_parent regclass)
returns name
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select a.attname
    from pg_catalog.pg_partitioned_table as pt
    join pg_catalog.pg_attribute as a
        on a.attrelid = pt.partrelid and a.attnum = pt.partattrs[0]
    where pt.partrelid = p_parent and pt.partstrat = 'r' and pt.partnatts = 1
$$;

comment on function mapper.partition_key(regclass) is
    'The timestamptz column a mapper table is range-partitioned by (null if it is not).';

create function mapper.reject_future_time()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    -- tg_argv: the column, the constraint name this trigger stands for.
    raise exception 'new row for relation "%" violates check constraint "%"', tg_table_name, tg_argv[1]
        using errcode = 'check_violation', constraint = tg_argv[1], column = tg_argv[0],
            table = tg_table_name, schema = tg_table_schema,
            detail = format('%s is more than one day ahead of the server''s clock.', tg_argv[0]);
end
$$;

comment on function mapper.reject_future_time() is
    'Refuses a time value more than one day ahead of now() (the upper bound of the time window; '
    'a CHECK cannot call now()). Raised as a check_violation naming <table>_<column>_future_check.';

create function mapper.reject_truncate()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception 'TRUNCATE of % is not allowed: it bypasses row-level security and the audit trail',
        tg_table_name
        using errcode = 'insufficient_privilege',
            hint = 'expired data is removed by mapper.purge_expired(), audited';
end
$$;

comment on function mapper.reject_truncate() is
    'Rejects TRUNCATE of a tenant table, whoever asks (statement trigger, also on every partition).';

create table mapper.maintenance_log (
    id bigint generated always as identity,
    logged_at timestamptz not null default clock_timestamp(),
    job text not null,
    target text,
    status text not null,
    detail text not null,
    db_user text not null default session_user,
    constraint maintenance_log_pk primary key (id),
    constraint maintenance_log_job_check check (job ~ '^[a-z_]+$' and char_length(job) <= 63),
    constraint maintenance_log_target_check check (char_length(target) <= 200),
    constraint maintenance_log_status_check check (status in ('ok', 'repaired', 'failed')),
    constraint maintenance_log_detail_check check (char_length(detail) <= 2000)
);

comment on table mapper.maintenance_log is
    'What the maintenance functions did and what failed, by table or partition; '
    'read maintenance_problems(). Not tenant data.';
comment on index mapper.maintenance_log_pk is
    'Serves maintenance_problems() (the latest entries) and the cleanup of old entries.';

grant select on mapper.maintenance_log to mapper_maintainer;

create function mapper.log_maintenance(p_job text, p_target text, p_status text, p_detail text)
returns void
language sql
set search_path = pg_catalog, pg_temp
as $$
    insert into mapper.maintenance_log (job, target, status, detail)
    values (p_job, p_target, p_status, left(p_detail, 2000))
$$;

comment on function mapper.log_maintenance(text, text, text, text) is
    'Appends an entry to maintenance_log. Internal to the maintenance functions.';

create function mapper.secure_partition(p_partition regclass, p_repair boolean default true)
returns setof text
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_root regclass := pg_partition_root(p_partition);
    v_rls boolean;
    v_force boolean;
    v_row record;
    v_actual text;
    v_enabled text;
begin
    select c.relrowsecurity, c.relforcerowsecurity into v_rls, v_force
    from pg_catalog.pg_class as c where c.oid = p_partition;
    if not v_rls then
        return next 'row level security not enabled';
        if p_repair then
            execute format('alter table %s enable row level security', p_partition);
        end if;
    end if;
    if not v_force then
        return next 'row level security not forced';
        if p_repair then
            execute format('alter table %s force row level security', p_partition);
        end if;
    end if;
    -- Privileges: none but the owner's. The parent's grants already give every path there is.
    for v_row in
        select distinct a.grantee
        from pg_catalog.pg_class as c cross join lateral aclexplode(c.relacl) as a
        where c.oid = p_partition and a.grantee <> c.relowner
    loop
        return next format('privileges granted to %s',
            case v_row.grantee when 0 then 'public' else v_row.grantee::regrole::text end);
        if p_repair then
            execute format('revoke all on table %s from %s', p_partition,
                case v_row.grantee when 0 then 'public' else v_row.grantee::regrole::text end);
        end if;
    end loop;
    -- Policies: exactly one, for the owner's maintenance functions (draining the default
    -- partition, counting what retention drops).
    for v_row in
        select p.polname from pg_catalog.pg_policy as p
        where p.polrelid = p_partition and p.polname <> 'partition_maintenance'
    loop
        return next format('policy %s', v_row.polname);
        if p_repair then
            execute format('drop policy %I on %s', v_row.polname, p_partition);
        end if;
    end loop;
    if not exists (
        select from pg_catalog.pg_policy as p
        where p.polrelid = p_partition and p.polname = 'partition_maintenance'
            and p.polroles = array['mapper_owner'::regrole]::oid[] and p.polcmd = '*'
    ) then
        return next 'policy partition_maintenance missing';
        if p_repair then
            execute format('drop policy if exists partition_maintenance on %s', p_partition);
            execute format(
                'create policy partition_maintenance on %s for all to mapper_owner '
                'using ((select current_setting(''mapper.maintenance'', true)) = ''on'') '
                'with check ((select current_setting(''mapper.maintenance'', true)) = ''on'')',
                p_partition
            );
        end if;
    end if;
    -- Triggers: PostgreSQL clones the parent's row-level triggers to its partitions, but not its
    -- statement-level ones (truncate guards, audit with transition tables): copy those. Every
    -- trigger is enabled as on the parent. A trigger the parent does not have is removed.
    for v_row in
        select t.tgname, t.tgenabled, t.tgtype,
            replace(pg_get_triggerdef(t.oid), ' ON ' || v_root::text || ' ',
                ' ON ' || p_partition::text || ' ') as def
        from pg_catalog.pg_trigger as t
        where t.tgrelid = v_root and not t.tgisinternal
        order by t.tgname
    loop
        select pg_get_triggerdef(t.oid), t.tgenabled::text into v_actual, v_enabled
        from pg_catalog.pg_trigger as t
        where t.tgrelid = p_partition and t.tgname = v_row.tgname;
        if (v_row.tgtype & 1) = 0 and v_actual is distinct from v_row.def then
            return next format('trigger %s %s', v_row.tgname,
                case when v_actual is null then 'missing' else 'differs' end);
            if p_repair then
                execute format('drop trigger if exists %I on %s', v_row.tgname, p_partition);
                execute v_row.def;
                v_enabled := 'O';
            end if;
        end if;
        if v_enabled is distinct from v_row.tgenabled::text then
            return next format('trigger %s enabled state differs', v_row.tgname);
            if p_repair then
                execute format('alter table %s %s trigger %I', p_partition,
                    case v_row.tgenabled
                        when 'D' then 'disable' when 'R' then 'enable replica'
                        when 'A' then 'enable always' else 'enable'
                    end,
                    v_row.tgname);
            end if;
        end if;
    end loop;
    for v_row in
        select t.tgname from pg_catalog.pg_trigger as t
        where t.tgrelid = p_partition and not t.tgisinternal and t.tgparentid = 0
            and not exists (
                select from pg_catalog.pg_trigger as r
                where r.tgrelid = v_root and r.tgname = t.tgname and not r.tgisinternal
            )
    loop
        return next format('trigger %s is not on %s', v_row.tgname, v_root);
        if p_repair then
            execute format('drop trigger %I on %s', v_row.tgname, p_partition);
        end if;
    end loop;
    if p_repair then
        execute format(
            'comment on table %s is %L', p_partition,
            'Partition: read and write through the parent table only (RLS forced, no grants).'
        );
    end if;
end
$$;

comment on function mapper.secure_partition(regclass, boolean) is
    'Lists how a partition differs from what its parent requires (RLS enabled and forced, the '
    'maintenance policy only, no grants, the parent''s triggers) and repairs it unless '
    'p_repair is false. Internal.';

create function mapper.partition_problems()
returns table (parent text, partition_name text, problem text)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select pg_partition_root(t.relid)::text, t.relid::text, p.problem
    from pg_catalog.pg_partitioned_table as pt
    join pg_catalog.pg_class as c on c.oid = pt.partrelid
    cross join lateral pg_partition_tree(pt.partrelid) as t
    cross join lateral mapper.secure_partition(t.relid, false) as p (problem)
    where c.relnamespace = 'mapper'::regnamespace and not c.relispartition and t.level > 0
    order by 1, 2, 3
$$;

comment on function mapper.partition_problems() is
    'Every partition of a mapper table that differs from what its parent requires, and how '
    '(empty when all is well). Read-only; maintain_partitions() repairs.';

create function mapper.create_month_partition(p_parent regclass, p_month date)
returns table (partition_name text, moved_rows bigint)
language plpgsql
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
as $$
declare
    v_schema name;
    v_table name;
    v_key name := mapper.partition_key(p_parent);
    v_lo timestamptz := date_trunc('month', p_month::timestamptz);
    v_hi timestamptz := date_trunc('month', p_month::timestamptz) + interval '1 month';
    v_name text;
    v_existing regclass;
    v_default regclass;
    v_moved bigint := 0;
begin
    if v_key is null then
        raise exception 'table % is not range-partitioned by one column', p_parent;
    end if;
    if not (p_month >= date '2000-01-01' and p_month < date '10000-01-01') then
        raise exception 'no partition for month % of %: outside 2000-01 to 9999-12', p_month, p_parent
            using errcode = 'invalid_parameter_value';
    end if;
    select n.nspname, c.relname into v_schema, v_table
    from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    where c.oid = p_parent;
    v_name := v_table || '_p' || to_char(v_lo, 'YYYYMM');
    v_existing := to_regclass(format('%I.%I', v_schema, v_name));
    if v_existing is not null then
        if not exists (
            select from pg_catalog.pg_inherits as i
            where i.inhrelid = v_existing and i.inhparent = p_parent
        ) then
            raise exception 'table %.% exists but is not a partition of %', v_schema, v_name, p_parent
                using hint = 'rename or drop it, or attach it; maintenance will then secure it';
        end if;
        return;
    end if;
    select nullif(pt.partdefid, 0)::regclass into v_default
    from pg_catalog.pg_partitioned_table as pt where pt.partrelid = p_parent;

    if v_default is not null then
        execute format(
            'select count(*) from %s where %I >= $1 and %I < $2', v_default, v_key, v_key
        ) into v_moved using v_lo, v_hi;
    end if;

    if v_moved > 0 then
        -- Rows of this month wait in the default partition: move them into a new table, then
        -- attach it (attaching scans the default partition, which no longer has such rows).
        -- Moving changes no data: the audit trail's append-only trigger lets this one delete of
        -- the default partition through (mapper.partition_move), and the row-level audit
        -- triggers stand aside in maintenance mode.
        execute format(
            'create table %I.%I (like %s including defaults including constraints)',
            v_schema, v_name, p_parent
        );
        perform set_config('mapper.partition_move', v_default::text, true);
        execute format(
            'with moved as (delete from %s where %I >= $1 and %I < $2 returning *) '
            'insert into %I.%I select * from moved',
            v_default, v_key, v_key, v_schema, v_name
        ) using v_lo, v_hi;
        perform set_config('mapper.partition_move', '', true);
        execute format(
            'alter table %s attach partition %I.%I for values from (%L) to (%L)',
            p_parent, v_schema, v_name, v_lo, v_hi
        );
    else
        execute format(
            'create table %I.%I partition of %s for values from (%L) to (%L)',
            v_schema, v_name, p_parent, v_lo, v_hi
        );
    end if;
    perform count(*) from mapper.secure_partition(format('%I.%I', v_schema, v_name)::regclass);
    partition_name := v_name;
    moved_rows := v_moved;
    return next;
end
$$;

comment on function mapper.create_month_partition(regclass, date) is
    'Creates the month partition of a table if missing (months 2000-01 to 9999-12), moving rows '
    'of that month out of the default partition first. Internal: called by maintain_partitions().';

create function mapper.ensure_default_partition(p_parent regclass)
returns text
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_schema name;
    v_table name;
begin
    if exists (
        select from pg_catalog.pg_partitioned_table
        where partrelid = p_parent and partdefid <> 0
    ) then
        return null;
    end if;
    select n.nspname, c.relname into v_schema, v_table
    from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    where c.oid = p_parent;
    execute format(
        'create table %I.%I partition of %s default', v_schema, v_table || '_default', p_parent
    );
    perform count(*) from mapper.secure_partition(
        format('%I.%I', v_schema, v_table || '_default')::regclass
    );
    return v_table || '_default';
end
$$;

comment on function mapper.ensure_default_partition(regclass) is
    'Creates the default partition of a table if missing. Internal.';

create function mapper.maintain_partitions(p_months_ahead integer default 3)
returns table (table_name text, partition_name text, action text, moved_rows bigint)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
set lock_timeout = '5s'
as $$
declare
    v_parent regclass;
    v_key name;
    v_default regclass;
    v_month timestamptz;
    v_first timestamptz := timestamptz '2000-01-01 00:00:00+00';
    v_last timestamptz;
    v_created record;
    v_part record;
    v_problem text;
    v_default_name text;
    v_outside bigint;
    v_failures integer := 0;
    v_actions integer := 0;
begin
    if p_months_ahead is null or p_months_ahead not between 0 and 24 then
        raise exception 'p_months_ahead must be between 0 and 24, got %', p_months_ahead;
    end if;
    v_last := date_trunc('month', now()) + make_interval(months => p_months_ahead);
    -- Attaching a partition validates its foreign keys, which must see every tenant.
    perform set_config('mapper.maintenance', 'on', true);
    for v_parent in
        select pt.partrelid::regclass
        from pg_catalog.pg_partitioned_table as pt
        join pg_catalog.pg_class as c on c.oid = pt.partrelid
        where c.relnamespace = 'mapper'::regnamespace and not c.relispartition
        order by c.relname
    loop
        v_key := mapper.partition_key(v_parent);
        continue when v_key is null;
        table_name := v_parent::text;
        -- One table's failure (a lock not granted, a table in the way) is logged and reported,
        -- and the other tables proceed: each runs in its own subtransaction.
        begin
            v_default_name := mapper.ensure_default_partition(v_parent);
            if v_default_name is not null then
                partition_name := v_default_name;
                action := 'created default';
                moved_rows := 0;
                v_actions := v_actions + 1;
                return next;
            end if;
            -- Partitions made or attached by hand get what their parent requires.
            for v_part in
                select t.relid::regclass as relid
                from pg_partition_tree(v_parent) as t where t.level > 0 order by 1
            loop
                for v_problem in select * from mapper.secure_partition(v_part.relid) loop
                    partition_name := v_part.relid::text;
                    action := 'repaired: ' || v_problem;
                    moved_rows := 0;
                    v_actions := v_actions + 1;
                    perform mapper.log_maintenance(
                        'maintain_partitions', v_part.relid::text, 'repaired', v_problem
                    );
                    return next;
                end loop;
            end loop;
            select nullif(pt.partdefid, 0)::regclass into v_default
            from pg_catalog.pg_partitioned_table as pt where pt.partrelid = v_parent;
            -- Months that have rows waiting in the default partition, then the months ahead;
            -- never a month before 2000-01 or past the months ahead, however many rows ask.
            for v_month in
                execute format(
                    'select distinct date_trunc(''month'', %I) from %s '
                    'where %I >= $1 and %I < $2 + interval ''1 month'' '
                    'union select generate_series(date_trunc(''month'', now()), $2, '
                    'interval ''1 month'') '
                    'order by 1',
                    v_key, v_default, v_key, v_key
                ) using v_first, v_last
            loop
                begin
                    for v_created in
                        select * from mapper.create_month_partition(v_parent, v_month::date)
                    loop
                        partition_name := v_created.partition_name;
                        moved_rows := v_created.moved_rows;
                        action := case when v_created.moved_rows > 0
                            then 'created, rows moved from default' else 'created' end;
                        v_actions := v_actions + 1;
                        return next;
                    end loop;
                exception
                    when others then
                        v_failures := v_failures + 1;
                        partition_name := format('%s_p%s', v_parent, to_char(v_month, 'YYYYMM'));
                        action := 'failed: ' || sqlerrm;
                        moved_rows := 0;
                        perform mapper.log_maintenance(
                            'maintain_partitions', partition_name, 'failed', sqlerrm
                        );
                        return next;
                end;
            end loop;
            execute format(
                'select count(*) from %s where not (%I >= $1 and %I < $2 + interval ''1 month'')',
                v_default, v_key, v_key
            ) into v_outside using v_first, v_last;
            if v_outside > 0 then
                v_failures := v_failures + 1;
                partition_name := v_default::text;
                action := format('failed: %s rows outside 2000-01 to %s stay in the default partition',
                    v_outside, to_char(v_last, 'YYYY-MM'));
                moved_rows := 0;
                perform mapper.log_maintenance(
                    'maintain_partitions', v_default::text, 'failed', substr(action, 9)
                );
                return next;
            end if;
        exception
            when others then
                v_failures := v_failures + 1;
                partition_name := null;
                action := 'failed: ' || sqlerrm;
                moved_rows := 0;
                perform mapper.log_maintenance(
                    'maintain_partitions', v_parent::text, 'failed', sqlerrm
                );
                return next;
        end;
    end loop;
    perform mapper.log_maintenance(
        'maintain_partitions', null, case when v_failures > 0 then 'failed' else 'ok' end,
        format('%s actions, %s failures', v_actions, v_failures)
    );
    delete from mapper.maintenance_log as l where l.logged_at < now() - interval '90 days';
end
$$;

comment on function mapper.maintain_partitions(integer) is
    'Keeps p_months_ahead (0 to 24) monthly partitions ahead of now() on every partitioned mapper '
    'table, drains the default partitions into month partitions, secures every partition (also '
    'those made by hand), logs failures by table or partition and carries on. Scheduled by '
    'pg_cron (0011); returns what it did.';

create function mapper.maintenance_problems(p_since interval default '1 day')
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

comment on function mapper.maintenance_problems(interval) is
    'Failed maintenance (by table or partition) and failed pg_cron runs of the mapper jobs since '
    'p_since: the alert hook (alert when it returns any row). Empty when all is well.';

grant execute on function mapper.maintain_partitions(integer) to mapper_maintainer;
grant execute on function mapper.partition_problems() to mapper_maintainer;
grant execute on function mapper.maintenance_problems(interval) to mapper_maintainer;

reset role;
