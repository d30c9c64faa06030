-- Reverses 0030_partition_before: maintain_partitions() of 0025 again (rows older than the
-- window stay in the default partition, reported as failed). Each before partition is
-- detached and its rows go back to the default partition they came from (moved in
-- maintenance mode: the audit triggers stand aside, the audit trail's links are copied, not
-- changed); the 'outside' entries of maintenance_log go, as the status they use does;
-- create_month_partition() of 0003 again.
set local role mapper_owner;

do $$
declare
    v_parent regclass;
    v_before regclass;
    v_default regclass;
    v_columns text;
begin
    perform set_config('mapper.maintenance', 'on', true);
    for v_parent, v_before, v_default in
        select pt.partrelid::regclass, c.oid::regclass, nullif(pt.partdefid, 0)::regclass
        from pg_catalog.pg_partitioned_table as pt
        join pg_catalog.pg_inherits as i on i.inhparent = pt.partrelid
        join pg_catalog.pg_class as c on c.oid = i.inhrelid
        join pg_catalog.pg_class as p on p.oid = pt.partrelid
        where p.relnamespace = 'mapper'::regnamespace and c.relname = p.relname || '_before'
    loop
        execute format('alter table %s detach partition %s', v_parent, v_before);
        select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into v_columns
        from pg_catalog.pg_attribute as a
        where a.attrelid = v_parent and a.attnum > 0 and not a.attisdropped
            and a.attgenerated = '';
        execute format(
            'insert into %s (%s) select %s from %s', v_default, v_columns, v_columns, v_before
        );
        execute format('drop table %s', v_before);
    end loop;
end
$$;

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
    v_failures integer := 0;
    v_actions integer := 0;
begin
    if p_months_ahead is null or p_months_ahead not between 0 and 24 then
        raise exception 'p_months_ahead must be between 0 and 24, got %', p_months_ahead;
    end if;
    if p_months_back is null or p_months_back not between 0 and 120 then
        raise exception 'p_months_back must be between 0 and 120, got %', p_months_back;
    end if;
    -- Months back are bounded like months ahead: a tenant that writes a row into every month
    -- since 2000 gets p_months_back partitions at most, not one per month; older rows stay in
    -- the default partition (readable as any other), counted and named below.
    v_first := greatest(
        timestamptz '2000-01-01 00:00:00+00',
        date_trunc('month', now()) - make_interval(months => p_months_back)
    );
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
            -- never a month before the months back (nor 2000-01) or past the months ahead,
            -- however many rows ask.
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
                action := format(
                    'failed: %s rows outside %s to %s stay in the default partition (readable; '
                    'older months get partitions with a larger p_months_back, up to 120)',
                    v_outside, to_char(v_first, 'YYYY-MM'), to_char(v_last, 'YYYY-MM'));
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

comment on function mapper.maintain_partitions(integer, integer) is
    'Keeps p_months_ahead (0 to 24) monthly partitions ahead of now() on every partitioned mapper '
    'table, drains the default partitions into month partitions no older than p_months_back '
    '(0 to 120) months, reports rows left in a default partition, secures every partition (also '
    'those made by hand), logs failures by table or partition and carries on. Scheduled by '
    'pg_cron (0011); returns what it did.';

create or replace function mapper.create_month_partition(p_parent regclass, p_month date)
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

drop function mapper.ensure_before_partition(regclass, timestamptz);

delete from mapper.maintenance_log as l
where l.status = 'outside';
alter table mapper.maintenance_log drop constraint maintenance_log_status_check;
-- mapperdb:allow LOCK004 reason: maintenance_log holds a few entries a night for 90 days;
-- validating them is instant, and maintenance may log the new status at once
alter table mapper.maintenance_log add constraint maintenance_log_status_check
check (status in ('ok', 'repaired', 'failed'));

reset role;
