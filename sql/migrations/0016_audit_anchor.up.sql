-- Anchoring the audit chain outside the database (docs/schema.md, "Audit chain" and "Threat
-- model"). Whoever can write the audit tables (the owner, a superuser, a cloud operator) can
-- rewind a chain, delete it or rewrite it with recomputed hashes, and the chain alone cannot
-- tell; `mapperdb audit checkpoint` copies every tenant's head out of the database, and
-- `mapperdb audit verify` compares the chains with those copies.
-- 1. verify_audit_chain() no longer calls a chain it cannot see intact: no tenant, a tenant
--    other than the one in context, an unknown tenant or a deleted chain, and a missing head,
--    are each reported as a problem row.
-- 2. mapper.audit_chain_heads_all(), for mapper_auditor only: every tenant's chain head (its
--    last link's chain_seq, hash and time; null when the head is gone), for every tenant that
--    has a head, a configuration or a link. It runs as mapper_owner and reads in the owner's
--    maintenance mode (the existing select policies of mapper.maintenance), switched on only
--    around its one query and back; the function is STABLE, so PL/pgSQL refuses any write in
--    it. No new policy: the audit append path is exactly what it was.
set local role mapper_owner;

create function mapper.audit_chain_heads_all()
returns table (tenant_id uuid, chain_seq bigint, row_hash bytea, updated_at timestamptz)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    -- A non-superuser cannot give a function a SET clause for a custom setting: the setting is
    -- switched on for the query and back to what it was (an error aborts the transaction,
    -- which reverts it too).
    v_before text := current_setting('mapper.maintenance', true);
begin
    perform set_config('mapper.maintenance', 'on', true);
    return query
    -- Tenants of the trail by a skip scan of audit_records_pk (one index probe per tenant, not
    -- a read of every link): a chain whose head was deleted still shows, with a null head.
    with recursive linked (tenant_id) as (
        (
            select a.tenant_id from mapper.audit_records as a
            order by a.tenant_id
            limit 1
        )
        union all
        select (
            select a.tenant_id from mapper.audit_records as a
            where a.tenant_id > l.tenant_id
            order by a.tenant_id
            limit 1
        )
        from linked as l
        where l.tenant_id is not null
    ),

    tenants (tenant_id) as (
        select h.tenant_id from mapper.audit_chain_heads as h
        union
        select c.tenant_id from mapper.tenant_configs as c
        union
        select l.tenant_id from linked as l where l.tenant_id is not null
    )

    select t.tenant_id, h.last_seq, h.last_hash, h.updated_at
    from tenants as t
    left join mapper.audit_chain_heads as h on t.tenant_id = h.tenant_id
    order by t.tenant_id;
    perform set_config('mapper.maintenance', coalesce(v_before, ''), true);
end
$$;

comment on function mapper.audit_chain_heads_all() is
    'Every tenant''s audit chain head (null when missing) for `mapperdb audit checkpoint` and '
    '`audit verify`; mapper_auditor only. Reads heads, tenant ids and link keys, no content.';

revoke execute on function mapper.audit_chain_heads_all() from public;
grant execute on function mapper.audit_chain_heads_all() to mapper_auditor;

create or replace function mapper.verify_audit_chain(
    p_tenant_id uuid default null
)
returns table (chain_seq bigint, occurred_at timestamptz, problem text)
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_context uuid := nullif(current_setting('app.tenant_id', true), '')::uuid;
    v_link record;
    v_expected_seq bigint := 1;
    v_prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    v_head record;
begin
    p_tenant_id := coalesce(p_tenant_id, v_context);
    -- With no tenant, RLS shows nothing: an empty result would read as intact.
    if p_tenant_id is null then
        problem := 'no tenant to verify: pass a tenant id or set app.tenant_id '
            '(no chain is visible without one)';
        return next;
        return;
    end if;
    for v_link in
        select a.chain_seq, a.occurred_at, a.action, a.table_name, a.entries, a.row_keys,
            a.old_rows, a.new_rows, a.db_user, a.actor, a.prev_hash, a.row_hash
        from mapper.audit_records as a
        where a.tenant_id = p_tenant_id
        order by a.chain_seq, a.occurred_at
    loop
        chain_seq := v_link.chain_seq;
        occurred_at := v_link.occurred_at;
        if v_link.chain_seq <> v_expected_seq then
            chain_seq := v_expected_seq;
            problem := format('expected link %s, found link %s (links missing or duplicated)',
                v_expected_seq, v_link.chain_seq);
        elsif v_link.prev_hash <> v_prev then
            problem := 'prev_hash differs from the previous link''s row_hash';
        elsif v_link.row_hash <> sha256(v_link.prev_hash || mapper.audit_canonical(
            mapper.audit_header(
                p_tenant_id, v_link.occurred_at, v_link.action, v_link.table_name,
                v_link.db_user, v_link.actor
            ),
            v_link.chain_seq, v_link.row_keys, v_link.old_rows, v_link.new_rows
        )) then
            problem := 'row_hash does not match the link''s content (altered row)';
        elsif jsonb_typeof(v_link.row_keys) is distinct from 'object' then
            problem := 'row_keys is not an object of key columns (altered row)';
        elsif exists (
            -- entries is outside the hash; the CHECKs tie it to the arrays, and so does this.
            select
            from (
                select k.value from jsonb_each(v_link.row_keys) as k
                union all
                select v_link.old_rows where v_link.old_rows is not null
                union all
                select v_link.new_rows where v_link.new_rows is not null
            ) as a (arr)
            where case jsonb_typeof(a.arr)
                when 'array' then jsonb_array_length(a.arr) is distinct from v_link.entries
                else true
            end
        ) then
            problem := 'entries does not match the link''s keys and rows (altered row)';
        end if;
        if problem is not null then
            return next;
            return;
        end if;
        v_prev := v_link.row_hash;
        v_expected_seq := v_expected_seq + 1;
    end loop;
    select h.last_seq, h.last_hash into v_head
    from mapper.audit_chain_heads as h where h.tenant_id = p_tenant_id;
    if not found and v_expected_seq = 1 then
        -- Every tenant has a chain from its first write (the tenant_configs insert).
        problem := case
            when v_context is distinct from p_tenant_id then format(
                'no audit chain of tenant %s is visible: it is not the tenant in context (%s); '
                'set app.tenant_id to it', p_tenant_id, coalesce(v_context::text, 'none')
            )
            else format(
                'no audit chain of tenant %s is visible: unknown tenant or deleted chain',
                p_tenant_id
            )
        end;
        return next;
    elsif not found then
        chain_seq := v_expected_seq - 1;
        occurred_at := null;
        problem := format('chain head is missing but the trail has links 1 to %s (head deleted)',
            v_expected_seq - 1);
        return next;
    elsif v_head.last_seq <> v_expected_seq - 1 or v_head.last_hash <> v_prev then
        chain_seq := v_expected_seq;
        occurred_at := null;
        problem := format('chain head is at link %s but the trail ends at link %s (links removed)',
            v_head.last_seq, v_expected_seq - 1);
        return next;
    end if;
end
$$;

comment on function mapper.verify_audit_chain(uuid) is
    'Verifies a tenant''s audit chain (default: the tenant in context) and returns the first '
    'broken link, or no row when the chain is intact; a chain it cannot see (no tenant, another '
    'tenant, unknown tenant, deleted chain or head) is a problem row, never intact. Runs with '
    'the caller''s rights and RLS.';

reset role;
