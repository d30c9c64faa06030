-- Retention: each tenant's retention_days enforced on its time-series data (storage_records,
-- detector_executions, model_metrics; the audit trail is kept, see 0004).
--   1. A month partition whose upper bound is older than every tenant's retention is dropped
--      whole: no dead tuples, no vacuum debt, instant.
--   2. Otherwise the expired rows of each tenant are deleted in batches of p_batch_size, at most
--      p_max_batches per call, so one run holds locks briefly; the scheduled job repeats it.
-- Every purge is audited: one link per tenant, table and purge in the tenant's own chain (the
-- row-level audit triggers stand aside in maintenance mode, or a purge would double the trail).
set local role mapper_owner;

create function mapper.partition_upper_bound(p_partition regclass)
returns timestamptz
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select substring(
        pg_get_expr(c.relpartbound, c.oid) from 'TO \(''([^'']+)''\)'
    )::timestamptz
    from pg_catalog.pg_class as c
    where c.oid = p_partition
$$;

comment on function mapper.partition_upper_bound(regclass) is
    'The exclusive upper bound of a range partition (null for a default partition).';

create function mapper.purge_expired(
    p_batch_size integer default 10000,
    p_max_batches integer default 100
)
returns table (table_name text, tenant_id uuid, method text, rows_removed bigint)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
set lock_timeout = '5s'
as $$
declare
    v_parent regclass;
    v_key name;
    v_table text;
    v_longest integer;
    v_part record;
    v_tenant record;
    v_count record;
    v_batch bigint;
    v_total bigint;
    v_batches integer := 0;
begin
    if p_batch_size not between 1 and 1000000 or p_max_batches not between 1 and 100000 then
        raise exception 'p_batch_size must be in [1, 1000000] and p_max_batches in [1, 100000]';
    end if;
    perform set_config('mapper.maintenance', 'on', true);
    select max(t.retention_days) into v_longest from mapper.tenant_configs as t;
    if v_longest is null then
        return;
    end if;
    for v_parent in
        select unnest(array[
            'mapper.storage_records', 'mapper.detector_executions', 'mapper.model_metrics'
        ]::regclass[])
    loop
        v_key := mapper.partition_key(v_parent);
        v_table := (select c.relname from pg_catalog.pg_class as c where c.oid = v_parent);
        table_name := v_parent::text;
        for v_part in
            select i.inhrelid::regclass as part, mapper.partition_upper_bound(i.inhrelid) as upper
            from pg_catalog.pg_inherits as i
            where i.inhparent = v_parent
                and mapper.partition_upper_bound(i.inhrelid)
                    <= now() - make_interval(days => v_longest)
            order by 2
        loop
            for v_count in
                execute format('select tenant_id, count(*) as n from %s group by tenant_id', v_part.part)
            loop
                perform mapper.audit_append(
                    v_count.tenant_id, v_table, 'retention_drop', 1,
                    jsonb_build_object('partition', jsonb_build_array(v_part.part::text)),
                    null,
                    jsonb_build_array(jsonb_build_object(
                        'partition', v_part.part::text, 'rows', v_count.n,
                        'older_than', v_part.upper
                    ))
                );
                tenant_id := v_count.tenant_id;
                method := 'drop partition ' || v_part.part::text;
                rows_removed := v_count.n;
                return next;
            end loop;
            execute format('drop table %s', v_part.part);
        end loop;
        for v_tenant in
            select t.tenant_id, now() - make_interval(days => t.retention_days) as cutoff
            from mapper.tenant_configs as t
            order by t.tenant_id
        loop
            v_total := 0;
            loop
                exit when v_batches >= p_max_batches;
                execute format(
                    'with doomed as ('
                    '    select d.tenant_id, d.%1$I, d.id from %2$s as d'
                    '    where d.tenant_id = $1 and d.%1$I < $2 limit $3'
                    ') delete from %2$s as t using doomed'
                    ' where t.tenant_id = doomed.tenant_id and t.%1$I = doomed.%1$I'
                    ' and t.id = doomed.id',
                    v_key, v_parent
                ) using v_tenant.tenant_id, v_tenant.cutoff, p_batch_size;
                get diagnostics v_batch = row_count;
                v_batches := v_batches + 1;
                v_total := v_total + v_batch;
                exit when v_batch < p_batch_size;
            end loop;
            if v_total > 0 then
                perform mapper.audit_append(
                    v_tenant.tenant_id, v_table, 'retention_delete', 1,
                    jsonb_build_object('older_than', jsonb_build_array(v_tenant.cutoff)),
                    null,
                    jsonb_build_array(
                        jsonb_build_object('rows', v_total, 'older_than', v_tenant.cutoff)
                    )
                );
                tenant_id := v_tenant.tenant_id;
                method := 'delete';
                rows_removed := v_total;
                return next;
            end if;
        end loop;
    end loop;
end
$$;

comment on function mapper.purge_expired(integer, integer) is
    'Enforces every tenant''s retention_days: drops partitions past every tenant''s retention, '
    'deletes other expired rows in bounded batches, audits each purge in the tenant''s chain. '
    'Scheduled by pg_cron (0011); returns what it removed.';

grant execute on function mapper.purge_expired(integer, integer) to mapper_maintainer;

reset role;
