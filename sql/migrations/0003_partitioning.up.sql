-- Native monthly range partitioning, maintained by our own small functions (not pg_partman: its
-- API differs between Debian's 4.7 and Azure's 5.x). Every time-series table of the schema is
-- range-partitioned by one timestamptz column; these functions discover such tables from the
-- catalog, so a new partitioned table needs no registration.
--   * one partition per calendar month (UTC), named <table>_pYYYYMM;
--   * a DEFAULT partition per table catches rows outside the existing months (clock skew, late
--     backfill): inserts never fail for lack of a partition, and maintain_partitions() drains the
--     default into proper month partitions, so the default stays empty in steady state;
--   * partitions get ROW LEVEL SECURITY enabled with no policy: RLS is enforced through the
--     parent, and any role other than the owner reading a partition directly sees nothing even
--     if a privilege were granted by mistake. No partition is granted to any role.
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

create function mapper.secure_partition(p_partition regclass)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    execute format('alter table %s enable row level security', p_partition);
    execute format('revoke all on table %s from public', p_partition);
    execute format(
        'comment on table %s is %L', p_partition,
        'Partition: read and write through the parent table only (RLS enabled, no policy).'
    );
end
$$;

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
    v_default regclass;
    v_moved bigint := 0;
begin
    if v_key is null then
        raise exception 'table % is not range-partitioned by one column', p_parent;
    end if;
    select n.nspname, c.relname into v_schema, v_table
    from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    where c.oid = p_parent;
    v_name := v_table || '_p' || to_char(v_lo, 'YYYYMM');
    if to_regclass(format('%I.%I', v_schema, v_name)) is not null then
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
        execute format(
            'create table %I.%I (like %s including defaults including constraints)',
            v_schema, v_name, p_parent
        );
        execute format(
            'with moved as (delete from %s where %I >= $1 and %I < $2 returning *) '
            'insert into %I.%I overriding system value select * from moved',
            v_default, v_key, v_key, v_schema, v_name
        ) using v_lo, v_hi;
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
    perform mapper.secure_partition(format('%I.%I', v_schema, v_name)::regclass);
    partition_name := v_name;
    moved_rows := v_moved;
    return next;
end
$$;

comment on function mapper.create_month_partition(regclass, date) is
    'Creates the month partition of a table if missing, moving rows of that month out of the '
    'default partition first. Internal: called by maintain_partitions() and migrations.';

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
    perform mapper.secure_partition(format('%I.%I', v_schema, v_table || '_default')::regclass);
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
as $$
declare
    v_parent regclass;
    v_key name;
    v_default regclass;
    v_month timestamptz;
    v_created record;
    v_default_name text;
begin
    if p_months_ahead not between 0 and 24 then
        raise exception 'p_months_ahead must be between 0 and 24, got %', p_months_ahead;
    end if;
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
        v_default_name := mapper.ensure_default_partition(v_parent);
        if v_default_name is not null then
            partition_name := v_default_name;
            action := 'created default';
            moved_rows := 0;
            return next;
        end if;
        -- Months that have rows waiting in the default partition, then the months ahead.
        select nullif(pt.partdefid, 0)::regclass into v_default
        from pg_catalog.pg_partitioned_table as pt where pt.partrelid = v_parent;
        for v_month in
            execute format(
                'select distinct date_trunc(''month'', %I) from %s '
                'union select generate_series(date_trunc(''month'', now()), '
                'date_trunc(''month'', now()) + make_interval(months => $1), interval ''1 month'') '
                'order by 1',
                v_key, v_default
            ) using p_months_ahead
        loop
            for v_created in
                select * from mapper.create_month_partition(v_parent, v_month::date)
            loop
                partition_name := v_created.partition_name;
                moved_rows := v_created.moved_rows;
                action := case when v_created.moved_rows > 0
                    then 'created, rows moved from default' else 'created' end;
                return next;
            end loop;
        end loop;
    end loop;
end
$$;

comment on function mapper.maintain_partitions(integer) is
    'Keeps p_months_ahead monthly partitions ahead of now() on every partitioned mapper table and '
    'drains the default partitions into month partitions. Scheduled by pg_cron (0011); returns '
    'what it did.';

reset role;
