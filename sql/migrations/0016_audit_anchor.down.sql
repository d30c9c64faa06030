-- Reverses 0016_audit_anchor: drops audit_chain_heads_all() and restores verify_audit_chain()
-- as 0004 made it.
set local role mapper_owner;

drop function mapper.audit_chain_heads_all();

create or replace function mapper.verify_audit_chain(
    p_tenant_id uuid default null
)
returns table (chain_seq bigint, occurred_at timestamptz, problem text)
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_link record;
    v_expected_seq bigint := 1;
    v_prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    v_head record;
begin
    p_tenant_id := coalesce(
        p_tenant_id, (select nullif(current_setting('app.tenant_id', true), '')::uuid)
    );
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
    if v_head.last_seq <> v_expected_seq - 1 or v_head.last_hash <> v_prev then
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
    'broken link, or no row when the chain is intact. Runs with the caller''s rights and RLS.';

reset role;
