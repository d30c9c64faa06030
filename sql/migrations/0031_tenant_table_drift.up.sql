-- Closes a gap found by attacking the schema (rev9): partition_problems() and maintenance
-- watched partitions only. The owner could `alter table mapper.tenant_data_keys disable trigger
-- tenant_data_keys_audit_update` (or stop forcing RLS on any non-partitioned tenant table, or
-- disable a trigger on a partitioned table itself, which its partitions then copy) and nothing
-- noticed: the application's key re-wrap left no audit link and the chain still verified. Now
-- every tenant table of schema mapper (a table or partitioned table with a tenant_id column,
-- found in the catalog) is checked like a partition:
--   * check_tenant_table(t, repair): RLS enabled and forced; every trigger of the table
--     enabled (tgenabled 'O'); the triggers its migrations made present: <t>_audit_insert,
--     _update, _delete and <t>_no_truncate (the audit trail's own tables excepted:
--     audit_records has audit_records_append_only, audit_chain_heads is written by
--     audit_append() only), and <t>_<column>_future for every time column with a
--     <t>_<column>_check window;
--   * table_problems(): every difference, named by table and trigger (read-only, monitoring);
--     maintenance_problems(), the alert hook, returns them too;
--   * maintain_partitions(), nightly, repairs what it can (enables the trigger, enables and
--     forces RLS; a dropped trigger is named, not made again: its definition is its
--     migration's) and reports each difference as a failure, repaired or not.
set local role mapper_owner;

create function mapper.tenant_tables()
returns table (table_name regclass)
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select c.oid::regclass
    from pg_catalog.pg_class as c
    where
        c.relnamespace = 'mapper'::regnamespace and c.relkind in ('r', 'p')
        and not c.relispartition
        and exists (
            select from pg_catalog.pg_attribute as a
            where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
        )
    order by c.relname
$$;

comment on function mapper.tenant_tables() is
    'Every tenant table of schema mapper: a table or partitioned table (not a partition) with a '
    'tenant_id column. Internal.';

create function mapper.check_tenant_table(p_table regclass, p_repair boolean default true)
returns table (trigger_name text, problem text, repaired boolean)
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_name name;
    v_rls boolean;
    v_force boolean;
    v_row record;
begin
    select c.relname, c.relrowsecurity, c.relforcerowsecurity into v_name, v_rls, v_force
    from pg_catalog.pg_class as c where c.oid = p_table;
    trigger_name := null;
    if not v_rls then
        problem := format('%s: row level security not enabled', p_table);
        repaired := p_repair;
        if p_repair then
            execute format('alter table %s enable row level security', p_table);
        end if;
        return next;
    end if;
    if not v_force then
        problem := format('%s: row level security not forced', p_table);
        repaired := p_repair;
        if p_repair then
            execute format('alter table %s force row level security', p_table);
        end if;
        return next;
    end if;
    -- The triggers the table's migrations made, by the names they give them.
    for v_row in
        select r.tgname
        from (
            select unnest(case
                when v_name = 'audit_records' then array['audit_records_append_only']
                when v_name = 'audit_chain_heads' then array[]::text[]
                else array[
                    v_name || '_audit_insert', v_name || '_audit_update',
                    v_name || '_audit_delete', v_name || '_no_truncate'
                ]
            end) as tgname
            union all
            select v_name || '_' || a.attname || '_future'
            from pg_catalog.pg_attribute as a
            join pg_catalog.pg_constraint as k
                on k.conrelid = a.attrelid and k.conname = v_name || '_' || a.attname || '_check'
            where
                a.attrelid = p_table and a.attnum > 0 and not a.attisdropped
                and a.atttypid = 'timestamptz'::regtype
        ) as r
        where not exists (
            select from pg_catalog.pg_trigger as t
            where t.tgrelid = p_table and t.tgname = r.tgname and not t.tgisinternal
        )
        order by 1
    loop
        trigger_name := v_row.tgname;
        problem := format('%s: trigger %s missing', p_table, v_row.tgname);
        repaired := false;
        return next;
    end loop;
    for v_row in
        select t.tgname, t.tgenabled from pg_catalog.pg_trigger as t
        where t.tgrelid = p_table and not t.tgisinternal and t.tgenabled <> 'O'
        order by t.tgname
    loop
        trigger_name := v_row.tgname;
        problem := format('%s: trigger %s %s', p_table, v_row.tgname,
            case v_row.tgenabled
                when 'D' then 'disabled'
                when 'R' then 'enabled for replicas only'
                else 'enabled always, not as made'
            end);
        repaired := p_repair;
        if p_repair then
            execute format('alter table %s enable trigger %I', p_table, v_row.tgname);
        end if;
        return next;
    end loop;
end
$$;

comment on function mapper.check_tenant_table(regclass, boolean) is
    'Lists how a tenant table differs from what its migrations made (RLS enabled and forced, '
    'its audit, append-only and time-window triggers present, every trigger enabled) and '
    'repairs what it can unless p_repair is false. Internal.';

create function mapper.table_problems()
returns table (table_name text, trigger_name text, problem text)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select t.table_name::text, p.trigger_name, p.problem
    from mapper.tenant_tables() as t
    cross join lateral mapper.check_tenant_table(t.table_name, false) as p
    order by 1, 2, 3
$$;

comment on function mapper.table_problems() is
    'Every tenant table (not partition: see partition_problems()) that differs from what its '
    'migrations made, and how, by table and trigger (empty when all is well). Read-only; '
    'maintain_partitions() repairs.';

grant execute on function mapper.table_problems() to mapper_maintainer;

create or replace function mapper.maintain_partitions(
    p_months_ahead integer default 3, p_months_back integer default 12
)
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
    v_first timestamptz;
    v_last timestamptz;
    v_created record;
    v_part record;
    v_problem text;
    v_default_name text;
    v_outside bigint;
    v_older bigint;
    v_before regclass;
    v_fill timestamptz;
    v_drift record;
    v_failures integer := 0;
    v_actions integer := 0;
begin
    if p_months_ahead is null or p_months_ahead not between 0 and 24 then
        raise exception 'p_months_ahead must be between 0 and 24, got %', p_months_ahead;
    end if;
    if p_months_back is null or p_months_back not between 0 and 120 then
        raise exception 'p_months_back must be between 0 and 120, got %', p_months_back;
    end if;
    -- Months back are bounded like months ahead: rows of the default partition get their
    -- month's partition only within p_months_back; rows older than the oldest month partition
    -- are in the before partition, never in the default.
    v_first := greatest(
        timestamptz '2000-01-01 00:00:00+00',
        date_trunc('month', now()) - make_interval(months => p_months_back)
    );
    v_last := date_trunc('month', now()) + make_interval(months => p_months_ahead);
    -- Attaching a partition validates its foreign keys, which must see every tenant.
    perform set_config('mapper.maintenance', 'on', true);
    -- Tenant tables first (a partition copies its parent's trigger states): RLS enabled and
    -- forced, every audit, append-only and time-window trigger present and enabled. A
    -- difference is a failure even once repaired: while a trigger was off, changes went
    -- unaudited or unchecked, which no repair undoes.
    for v_parent in select t.table_name from mapper.tenant_tables() as t loop
        begin
            for v_drift in select * from mapper.check_tenant_table(v_parent) loop
                v_failures := v_failures + 1;
                table_name := v_parent::text;
                partition_name := null;
                action := format('failed: %s%s', v_drift.problem,
                    case when v_drift.repaired then ' (repaired)' else '' end);
                moved_rows := 0;
                perform mapper.log_maintenance(
                    'maintain_partitions', v_parent::text, 'failed', substr(action, 9)
                );
                return next;
            end loop;
        exception
            when others then
                v_failures := v_failures + 1;
                table_name := v_parent::text;
                partition_name := null;
                action := 'failed: ' || sqlerrm;
                moved_rows := 0;
                perform mapper.log_maintenance(
                    'maintain_partitions', v_parent::text, 'failed', sqlerrm
                );
                return next;
        end;
    end loop;
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
            -- Rows older than the oldest month partition go to one range partition, not to the
            -- default: the default stays (nearly) empty, so creating a month partition, which
            -- scans the default under an access exclusive lock on the table, scans nothing.
            for v_created in select * from mapper.ensure_before_partition(v_parent, v_first) loop
                partition_name := v_created.partition_name;
                moved_rows := v_created.moved_rows;
                action := case when v_created.moved_rows > 0
                    then 'created, rows moved from default' else 'created' end;
                v_actions := v_actions + 1;
                return next;
            end loop;
            v_before := to_regclass(v_parent::text || '_before');
            v_fill := greatest(v_first, coalesce(mapper.partition_upper_bound(v_before), v_first));
            -- Every month from the months back (or the before partition's bound) to the months
            -- ahead, each with its partition, so that no row of these months waits in the
            -- default; never a month before the months back (nor 2000-01) or past the months
            -- ahead, however many rows ask. Rows of such months that wait in the default (a
            -- month dropped by hand) move into the partition made for them.
            for v_month in
                execute format(
                    'select distinct date_trunc(''month'', %I) from %s '
                    'where %I >= $1 and %I < $2 + interval ''1 month'' '
                    'union select generate_series($1, $2, interval ''1 month'') '
                    'order by 1',
                    v_key, v_default, v_key, v_key
                ) using v_fill, v_last
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
            -- Rows outside the window are no failure of the job (a tenant may write one row
            -- dated 2005 and the time window accepts it): they are counted, per table, under
            -- their own status, which maintenance_problems() does not report.
            execute format(
                'select count(*) from %s where not (%I >= $1 and %I < $2 + interval ''1 month'')',
                v_default, v_key, v_key
            ) into v_outside using v_first, v_last;
            v_older := 0;
            if v_before is not null then
                execute format('select count(*) from %s', v_before) into v_older;
            end if;
            if v_outside > 0 or v_older > 0 then
                partition_name := null;
                action := format(
                    'outside: %s rows in %s (before %s), %s rows in %s outside %s to %s '
                    '(readable by their tenant; no failure)',
                    v_older, coalesce(v_before::text, 'no before partition'),
                    coalesce(to_char(mapper.partition_upper_bound(v_before), 'YYYY-MM'), '-'),
                    v_outside, v_default, to_char(v_first, 'YYYY-MM'), to_char(v_last, 'YYYY-MM'));
                moved_rows := 0;
                perform mapper.log_maintenance(
                    'maintain_partitions', v_parent::text, 'outside', substr(action, 10)
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

comment on function mapper.maintain_partitions(integer, integer) is
    'Keeps p_months_ahead (0 to 24) monthly partitions ahead of now() on every partitioned mapper '
    'table and one <table>_before partition for older rows, checks and repairs every tenant '
    'table (RLS, triggers; a difference is a failure), drains the default partitions into '
    'month partitions no older than p_months_back (0 to 120) months, reports rows outside the '
    'window per table (status outside, no failure), secures every partition (also those made by '
    'hand), logs failures by table or partition and carries on. Scheduled by pg_cron (0011); '
    'returns what it did.';

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
    -- Tenant tables that differ from what their migrations made (a trigger disabled or
    -- dropped, RLS not forced), found now rather than at the next maintenance run.
    return query
        select now(), 'catalog'::text, 'table_problems'::text, p.table_name, p.problem
        from mapper.table_problems() as p;
end
$$;

comment on function mapper.maintenance_problems(interval) is
    'Failed maintenance (by table or partition), failed pg_cron runs of the mapper jobs, logins '
    'that lift their own session limits and tenant tables that differ from what their '
    'migrations made (table_problems()) since p_since: the alert hook (alert when it returns any '
    'row). Empty when all is well.';

reset role;
