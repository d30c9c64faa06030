-- Closes two gaps of 0025 found by attacking the schema (rev9):
--   1. rows older than the months maintenance keeps stayed in the DEFAULT partition for good. A
--      tenant could fill it (1.6M rows dated 2005, which the time window accepts), and every
--      later `create table ... partition of` (monthly, per table) scanned the whole default
--      under an access exclusive lock on the parent, blocking every tenant for as long (305 ms
--      against 4 ms measured, growing with the default). Now each partitioned table has ONE
--      range partition <table>_before, from 2000-01-01 up to its oldest month partition (never
--      after this month), and rows older than that are routed there by PostgreSQL itself: the
--      default only ever catches a month that has no partition yet (a gap, the month after the
--      months ahead), and maintain_partitions() drains it as before. A new month partition is
--      never inside the before partition's range, so creating one checks bounds and scans the
--      (empty) default only. The before partition's upper bound does not move: every month from
--      it on gets its partition ahead of time, so nothing falls between them; moving the bound
--      would need a detach and an attach under an access exclusive lock, the very block this
--      removes. When retention drops it (its upper bound older than every retention), the next
--      run makes it again up to the then oldest month partition.
--   2. one row dated 2005 made every nightly run end 'failed' and maintenance_problems()
--      report it every day, burying real failures: rows outside the window are now counted per
--      table under their own status, 'outside', in maintenance_log and in what the run returns,
--      and are no failure of the job.
-- create_month_partition() now makes a partition it moves rows into with its parent's column
-- storage (the audit trail keeps its entries uncompressed) and generated columns (moving rows
-- of detector_executions failed on its generated duration), as this migration's before
-- partition is made.
set local role mapper_owner;

alter table mapper.maintenance_log drop constraint maintenance_log_status_check;
-- mapperdb:allow LOCK004 reason: maintenance_log holds a few entries a night for 90 days;
-- validating them is instant, and maintenance may log the new status at once
alter table mapper.maintenance_log add constraint maintenance_log_status_check
check (status in ('ok', 'repaired', 'failed', 'outside'));

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
    v_columns text;
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
        -- Made like its parent, storage (the audit trail's uncompressed entries) and generated
        -- columns (computed again, not copied) included.
        execute format(
            'create table %I.%I (like %s including defaults including generated '
            'including storage including constraints)',
            v_schema, v_name, p_parent
        );
        select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into v_columns
        from pg_catalog.pg_attribute as a
        where
            a.attrelid = p_parent and a.attnum > 0 and not a.attisdropped
            and a.attgenerated = '';
        perform set_config('mapper.partition_move', v_default::text, true);
        execute format(
            'with moved as (delete from %s where %I >= $1 and %I < $2 returning %s) '
            'insert into %I.%I (%s) select %s from moved',
            v_default, v_key, v_key, v_columns, v_schema, v_name, v_columns, v_columns
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

create function mapper.ensure_before_partition(p_parent regclass, p_upper timestamptz)
returns table (partition_name text, upper_bound timestamptz, moved_rows bigint)
language plpgsql
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
as $$
declare
    v_schema name;
    v_table name;
    v_key name := mapper.partition_key(p_parent);
    v_name text;
    v_existing regclass;
    v_upper timestamptz;
    v_default regclass;
    v_moved bigint := 0;
    v_columns text;
begin
    if v_key is null then
        raise exception 'table % is not range-partitioned by one column', p_parent;
    end if;
    select n.nspname, c.relname into v_schema, v_table
    from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    where c.oid = p_parent;
    v_name := v_table || '_before';
    v_existing := to_regclass(format('%I.%I', v_schema, v_name));
    if v_existing is not null then
        if not exists (
            select from pg_catalog.pg_inherits as i
            where i.inhrelid = v_existing and i.inhparent = p_parent
        ) then
            raise exception 'table %.% exists but is not a partition of %', v_schema, v_name, p_parent
                using hint = 'rename or drop it; maintenance then makes the before partition';
        end if;
        return;
    end if;
    -- Up to the months maintenance keeps (p_upper, the first of them) or the oldest month
    -- partition if older (least() skips the default's null): every later month has, or gets,
    -- its own partition.
    select least(
        date_trunc('month', p_upper),
        min(substring(
            pg_get_expr(c.relpartbound, c.oid) from 'FROM \(''([^'']+)''\)'
        )::timestamptz)
    ) into v_upper
    from pg_catalog.pg_inherits as i
    join pg_catalog.pg_class as c on c.oid = i.inhrelid
    where i.inhparent = p_parent;
    if v_upper <= timestamptz '2000-01-01 00:00:00+00' then
        return;  -- nothing older can exist: the time window starts there
    end if;
    select nullif(pt.partdefid, 0)::regclass into v_default
    from pg_catalog.pg_partitioned_table as pt where pt.partrelid = p_parent;
    -- Made apart and attached, as create_month_partition() does with rows to move: attaching
    -- locks the table share update exclusive (tenants go on) and scans the default, which no
    -- longer has such rows.
    execute format(
        'create table %I.%I (like %s including defaults including generated '
        'including storage including constraints)',
        v_schema, v_name, p_parent
    );
    -- Generated columns (detector_executions.duration) are computed again, not copied.
    select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into v_columns
    from pg_catalog.pg_attribute as a
    where a.attrelid = p_parent and a.attnum > 0 and not a.attisdropped and a.attgenerated = '';
    if v_default is not null then
        perform set_config('mapper.partition_move', v_default::text, true);
        execute format(
            'with moved as (delete from %s where %I < $1 returning %s) '
            'insert into %I.%I (%s) select %s from moved',
            v_default, v_key, v_columns, v_schema, v_name, v_columns, v_columns
        ) using v_upper;
        get diagnostics v_moved = row_count;
        perform set_config('mapper.partition_move', '', true);
    end if;
    execute format(
        'alter table %s attach partition %I.%I for values from (%L) to (%L)',
        p_parent, v_schema, v_name, timestamptz '2000-01-01 00:00:00+00', v_upper
    );
    perform count(*) from mapper.secure_partition(format('%I.%I', v_schema, v_name)::regclass);
    partition_name := v_name;
    upper_bound := v_upper;
    moved_rows := v_moved;
    return next;
end
$$;

comment on function mapper.ensure_before_partition(regclass, timestamptz) is
    'Creates <table>_before if missing: one range partition from 2000-01-01 up to p_upper or '
    'the oldest month partition if older, holding every older row, moved out of the default '
    'partition. Internal: called by maintain_partitions().';

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
    'table and one <table>_before partition for older rows, drains the default partitions into '
    'month partitions no older than p_months_back (0 to 120) months, reports rows outside the '
    'window per table (status outside, no failure), secures every partition (also those made by '
    'hand), logs failures by table or partition and carries on. Scheduled by pg_cron (0011); '
    'returns what it did.';

-- The before partitions now, up to the 12 months the nightly run keeps (their own months get
-- their partitions from its next run): no row older than that ever waits in a default again.
-- Maintenance mode: the rows that waited are moved, and attaching validates foreign keys,
-- across every tenant.
select set_config('mapper.maintenance', 'on', true);
select count(b.partition_name)
from pg_catalog.pg_partitioned_table as pt
inner join pg_catalog.pg_class as c on pt.partrelid = c.oid
cross join lateral mapper.ensure_before_partition(
    pt.partrelid::regclass, date_trunc('month', now()) - interval '12 months'
) as b
where c.relnamespace = 'mapper'::regnamespace and not c.relispartition;

reset role;
