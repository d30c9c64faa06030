-- Partitions' own policy logs the owner's reads too (issue sec9d; 0032 did the tables). A
-- partition can be read directly (`select ... from mapper.storage_records_p202611`): only its
-- own policy applies then, partition_maintenance (mapper_owner in maintenance mode, 0003). It
-- gains the term of 0032, `and (select mapper.note_owner_access('<partition>'))`, in
-- secure_partition(), which creates the policy and now also compares its expressions as
-- PostgreSQL prints them back: a policy without the term is "partition_maintenance differs",
-- reported by partition_problems() and repaired by maintain_partitions(). Every existing
-- partition is repaired here.
set local role mapper_owner;

create or replace function mapper.secure_partition(p_partition regclass, p_repair boolean default true)
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
    v_policy_ok boolean;
    v_flag constant text :=
        ' SELECT current_setting(''mapper.maintenance''::text, true) AS current_setting';
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
    -- partition, counting what retention drops). Its reads are logged (0032): the policy is
    -- compared as PostgreSQL prints it back, so a policy without the logging term differs.
    for v_row in
        select p.polname from pg_catalog.pg_policy as p
        where p.polrelid = p_partition and p.polname <> 'partition_maintenance'
    loop
        return next format('policy %s', v_row.polname);
        if p_repair then
            execute format('drop policy %I on %s', v_row.polname, p_partition);
        end if;
    end loop;
    select p.polroles = array['mapper_owner'::regrole]::oid[] and p.polcmd = '*' and p.polpermissive
        and pg_get_expr(p.polqual, p.polrelid) is not distinct from format(
            '(((%s) = ''on''::text) AND ( SELECT mapper.note_owner_access(%s::text) AS '
            'note_owner_access))', v_flag, quote_literal(p_partition::text))
        and pg_get_expr(p.polwithcheck, p.polrelid) is not distinct from
            format('((%s) = ''on''::text)', v_flag)
    into v_policy_ok
    from pg_catalog.pg_policy as p
    where p.polrelid = p_partition and p.polname = 'partition_maintenance';
    if v_policy_ok is distinct from true then
        return next 'policy partition_maintenance '
            || case when v_policy_ok is null then 'missing' else 'differs' end;
        if p_repair then
            execute format('drop policy if exists partition_maintenance on %s', p_partition);
            execute format(
                'create policy partition_maintenance on %s as permissive for all to mapper_owner '
                'using ((select current_setting(''mapper.maintenance'', true)) = ''on'' '
                'and (select mapper.note_owner_access(%L))) '
                'with check ((select current_setting(''mapper.maintenance'', true)) = ''on'')',
                p_partition, p_partition::text
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
    'maintenance policy only, its reads logged, no grants, the parent''s triggers) and repairs '
    'it unless p_repair is false. Internal.';

select mapper.secure_partition(t.relid)
from pg_catalog.pg_partitioned_table as pt
inner join pg_catalog.pg_class as c on pt.partrelid = c.oid
cross join lateral pg_catalog.pg_partition_tree(pt.partrelid) as t
where c.relnamespace = 'mapper'::regnamespace and not c.relispartition and t.level > 0;

reset role;
