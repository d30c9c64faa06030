-- The audit trail: an append-only, per-tenant hash chain of every change to tenant tables and of
-- privileged actions (retention purges), written only by triggers and maintenance functions
-- running as mapper_owner. No application role can insert, update or delete audit rows.
--   link n:  row_hash(n) = sha256(row_hash(n-1) || canonical(n)), row_hash(0) = 32 zero bytes;
--            canonical(n) = audit_canonical(audit_header(...), n, row key, old, new): the jsonb
--            array of the link's scalars (tenant, epoch of occurred_at, action, table, db user,
--            actor), then chain_seq, the row key, old and new row as jsonb text, newline
--            separated (jsonb text never holds a raw newline), as UTF-8.
-- audit_chain_heads holds each tenant's last link; writers lock it, so a tenant's links are
-- strictly sequential even under concurrency, and a truncated tail is detectable.
-- Audit rows outlive the data they describe (no foreign key to tenant_configs) and are not
-- subject to tenant retention. So that the trail does not keep what retention removes, the
-- high-volume data tables are audited in digest mode by their own trigger functions (0006-0008):
-- a link holds the row key and {"sha256": ...} of the old and new row versions' text form
-- (audit_digest()), not a copy; tenant_configs keeps full before/after images (audit_changes()).
-- The encrypted payload is never copied into the trail.
set local role mapper_owner;

-- mapperdb:allow TEN002 reason: append-only trail; no role may update or delete its rows (a trigger rejects it too)
create table mapper.audit_records (
    tenant_id uuid not null,
    chain_seq bigint not null,
    occurred_at timestamptz not null default now(),
    action text not null,
    table_name text not null,
    row_key jsonb,
    old_data jsonb,
    new_data jsonb,
    db_user text not null default session_user,
    actor text,
    prev_hash bytea not null,
    row_hash bytea not null,
    constraint audit_records_pk primary key (tenant_id, occurred_at, chain_seq),
    constraint audit_records_chain_seq_check check (chain_seq > 0),
    constraint audit_records_action_check
        check (action in ('insert', 'update', 'delete', 'retention_delete', 'retention_drop')),
    constraint audit_records_table_name_check check (
        table_name ~ '^[a-z_][a-z0-9_]*$' and char_length(table_name) <= 63
    ),
    constraint audit_records_db_user_check check (char_length(db_user) between 1 and 128),
    constraint audit_records_actor_check check (char_length(actor) between 1 and 200),
    constraint audit_records_prev_hash_check check (octet_length(prev_hash) = 32),
    constraint audit_records_row_hash_check check (octet_length(row_hash) = 32)
) partition by range (occurred_at);

comment on table mapper.audit_records is
    'Append-only per-tenant hash chain of changes and privileged actions; see docs/schema.md.';
-- One index per link, not two: the trail is written far more often than it is read.
comment on index mapper.audit_records_pk is
    'Serves the audit trail of a tenant by period (audit_activity()) and verify_audit_chain() '
    '(one tenant''s links, sorted by chain_seq).';

alter table mapper.audit_records enable row level security;
alter table mapper.audit_records force row level security;

-- Reads: the auditor, for the tenant in context. Writes: only mapper_owner (the audit trigger and
-- the maintenance functions), for the tenant in context or in maintenance mode. No policy lets
-- anyone update or delete, and a trigger rejects it even for the owner.
create policy audit_records_auditor_select on mapper.audit_records
    for select to mapper_auditor
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy audit_records_owner_select on mapper.audit_records
    for select to mapper_owner
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy audit_records_owner_insert on mapper.audit_records
    for insert to mapper_owner
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy audit_records_maintenance_select on mapper.audit_records
    for select to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on');
create policy audit_records_maintenance_insert on mapper.audit_records
    for insert to mapper_owner
    with check ((select current_setting('mapper.maintenance', true)) = 'on');

grant select on mapper.audit_records to mapper_auditor;

create table mapper.audit_chain_heads (
    tenant_id uuid not null,
    last_seq bigint not null,
    last_hash bytea not null,
    updated_at timestamptz not null default now(),
    constraint audit_chain_heads_pk primary key (tenant_id),
    constraint audit_chain_heads_last_seq_check check (last_seq >= 0),
    constraint audit_chain_heads_last_hash_check check (octet_length(last_hash) = 32)
);

comment on table mapper.audit_chain_heads is
    'The last link of each tenant''s audit chain; locked by writers to serialize a tenant''s links.';
comment on index mapper.audit_chain_heads_pk is
    'Serves the chain-head lookup (and lock) of audit_append() and verify_audit_chain().';

alter table mapper.audit_chain_heads enable row level security;
alter table mapper.audit_chain_heads force row level security;

create policy audit_chain_heads_auditor_select on mapper.audit_chain_heads
    for select to mapper_auditor
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy audit_chain_heads_owner_all on mapper.audit_chain_heads
    for all to mapper_owner
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));
create policy audit_chain_heads_maintenance_all on mapper.audit_chain_heads
    for all to mapper_owner
    using ((select current_setting('mapper.maintenance', true)) = 'on')
    with check ((select current_setting('mapper.maintenance', true)) = 'on');

grant select on mapper.audit_chain_heads to mapper_auditor;

-- Hot helpers are plain SQL without a SET clause and declared STABLE like the jsonb functions
-- they call, so the planner inlines them (a SET clause, or IMMUTABLE over STABLE calls, forbids
-- inlining, and then every statement re-plans the body); they name pg_catalog explicitly.
create function mapper.audit_header(
    p_tenant_id uuid, p_occurred_at timestamptz, p_action text, p_table_name text,
    p_db_user text, p_actor text
)
returns text
language sql
stable
as $$
    select pg_catalog.jsonb_build_array(
        p_tenant_id::text, extract(epoch from p_occurred_at), p_action, p_table_name, p_db_user,
        p_actor
    )::text
$$;

comment on function mapper.audit_header(uuid, timestamptz, text, text, text, text) is
    'The first line of a link''s canonical form: its scalars (the same for every link that one '
    'statement appends), independent of DateStyle and TimeZone.';

create function mapper.audit_canonical(
    p_header text, p_chain_seq bigint, p_row_key jsonb, p_old_data jsonb, p_new_data jsonb
)
returns bytea
language sql
stable
as $$
    select pg_catalog.convert_to(
        p_header || E'\n' || p_chain_seq::text
        || E'\n' || coalesce(p_row_key::text, 'null')
        || E'\n' || coalesce(p_old_data::text, 'null')
        || E'\n' || coalesce(p_new_data::text, 'null'),
        'UTF8'
    )
$$;

comment on function mapper.audit_canonical(text, bigint, jsonb, jsonb, jsonb) is
    'The canonical bytes of an audit link: audit_header(), chain_seq, row key, old and new data.';

-- Two statements per call, whatever the number of links: the first locks and reads the tenant's
-- chain head and renders every link's canonical bytes (set-based, they depend on the head's
-- chain_seq, not on its hash); the second inserts the links and moves the head. Only the chain
-- itself is sequential: a FOREACH over the canonical bytes into an expanded local array (O(1)
-- per element; subscripting a varlena array instead would walk it from the start every time).
-- No SET clause: callers are the audit triggers and retention functions (SECURITY DEFINER with
-- a fixed search_path), and only mapper_owner may execute it; names are schema-qualified.
create function mapper.audit_append(
    p_tenant_id uuid, p_table_name text, p_action text,
    p_row_keys jsonb[], p_old_data jsonb[], p_new_data jsonb[]
)
returns bigint
language plpgsql
as $$
declare
    v_at timestamptz := pg_catalog.now();
    v_user text := session_user;
    v_actor text := nullif(pg_catalog.current_setting('app.actor', true), '');
    v_header text;
    v_first bigint;
    v_start bytea;
    v_hash bytea;
    v_links bytea[];
    v_link bytea;
    v_hashes bytea[] := array[]::bytea[];
    v_count integer := 0;
begin
    if coalesce(pg_catalog.cardinality(p_row_keys), 0) = 0 then
        return 0;
    end if;
    v_header := mapper.audit_header(p_tenant_id, v_at, p_action, p_table_name, v_user, v_actor);
    -- Lock and read the tenant's chain head; the first link of a tenant creates it.
    for v_try in 1..2 loop
        select h.last_seq + 1, h.last_hash, (
            select pg_catalog.array_agg(mapper.audit_canonical(
                v_header, h.last_seq + u.ord, u.row_key, u.old_data, u.new_data
            ) order by u.ord)
            from unnest(p_row_keys, p_old_data, p_new_data)
                with ordinality as u (row_key, old_data, new_data, ord)
        )
        into v_first, v_start, v_links
        from mapper.audit_chain_heads as h
        where h.tenant_id = p_tenant_id
        for update;
        exit when v_first is not null;
        insert into mapper.audit_chain_heads (tenant_id, last_seq, last_hash)
        values (p_tenant_id, 0, '\x0000000000000000000000000000000000000000000000000000000000000000')
        on conflict (tenant_id) do nothing;
    end loop;
    if v_first is null then
        raise exception 'audit chain head of tenant % is not visible (tenant context?)', p_tenant_id;
    end if;
    v_hash := v_start;
    foreach v_link in array v_links loop
        v_count := v_count + 1;
        v_hash := pg_catalog.sha256(v_hash || v_link);
        v_hashes[v_count] := v_hash;
    end loop;
    with appended as (
        insert into mapper.audit_records (
            tenant_id, chain_seq, occurred_at, action, table_name, row_key, old_data, new_data,
            db_user, actor, prev_hash, row_hash
        )
        select p_tenant_id, v_first + u.ord - 1, v_at, p_action, p_table_name, u.row_key,
            u.old_data, u.new_data, v_user, v_actor,
            coalesce(pg_catalog.lag(u.row_hash) over (order by u.ord), v_start), u.row_hash
        from unnest(p_row_keys, p_old_data, p_new_data, v_hashes)
            with ordinality as u (row_key, old_data, new_data, row_hash, ord)
    )
    update mapper.audit_chain_heads
    set last_seq = v_first + v_count - 1, last_hash = v_hash, updated_at = v_at
    where tenant_id = p_tenant_id;
    return v_count;
end
$$;

comment on function mapper.audit_append(uuid, text, text, jsonb[], jsonb[], jsonb[]) is
    'Appends links to a tenant''s audit chain. Internal to mapper_owner: the audit triggers and '
    'the retention functions call it; no other role can execute it.';

-- The text form of a row version depends on DateStyle, IntervalStyle, TimeZone,
-- extra_float_digits and bytea_output: the digest-mode triggers pin them (SET clauses), so a
-- digest is reproducible from the row alone (docs/schema.md shows how). p_row is referenced
-- once (nullif, not a CASE): an inlined body must not render the row twice.
create function mapper.audit_digest(p_row text)
returns jsonb
language sql
stable
as $$
    select nullif(pg_catalog.jsonb_build_object(
        'sha256', pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_row, 'UTF8')), 'hex')
    ), '{"sha256": null}'::jsonb)
$$;

comment on function mapper.audit_digest(text) is
    'What a digest-mode link keeps of a row version: {"sha256": hex} of its text form (the data '
    'stays in its table, subject to retention; the chain commits to its digest).';

-- Full mode, for tenant_configs (few, small rows): the links hold the row versions themselves.
-- The data tables have their own digest-mode trigger functions, with static SQL (0006-0008).
create function mapper.audit_changes()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_keys text[] := string_to_array(tg_argv[0], ',');
    v_omit text[] := coalesce(string_to_array(nullif(tg_argv[1], ''), ','), array[]::text[]);
    v_tenant uuid;
    v_row_keys jsonb[];
    v_old jsonb[];
    v_new jsonb[];
begin
    -- to_jsonb() once per row (offset 0 keeps the planner from repeating it per reference).
    if tg_op = 'INSERT' then
        for v_tenant, v_row_keys, v_new in
            select n.tenant_id,
                array_agg(mapper.audit_row_key(c.r, v_keys)), array_agg(c.r - v_omit)
            from new_rows as n
            cross join lateral (select to_jsonb(n) as r offset 0) as c
            group by n.tenant_id
        loop
            perform mapper.audit_append(v_tenant, tg_table_name, 'insert', v_row_keys, null, v_new);
        end loop;
    elsif tg_op = 'DELETE' then
        for v_tenant, v_row_keys, v_old in
            select o.tenant_id,
                array_agg(mapper.audit_row_key(c.r, v_keys)), array_agg(c.r - v_omit)
            from old_rows as o
            cross join lateral (select to_jsonb(o) as r offset 0) as c
            group by o.tenant_id
        loop
            perform mapper.audit_append(v_tenant, tg_table_name, 'delete', v_row_keys, v_old, null);
        end loop;
    else
        -- Old and new versions are paired by key; a changed key shows as a link with one side
        -- null (the policies forbid moving a row to another tenant).
        for v_tenant, v_row_keys, v_old, v_new in
            select coalesce((n.r ->> 'tenant_id')::uuid, (o.r ->> 'tenant_id')::uuid),
                array_agg(coalesce(n.k, o.k)), array_agg(o.r - v_omit), array_agg(n.r - v_omit)
            from (
                select mapper.audit_row_key(j.r, v_keys) as k, j.r
                from old_rows as x cross join lateral (select to_jsonb(x) as r offset 0) as j
            ) as o
            full join (
                select mapper.audit_row_key(j.r, v_keys) as k, j.r
                from new_rows as x cross join lateral (select to_jsonb(x) as r offset 0) as j
            ) as n on n.k = o.k
            group by 1
        loop
            perform mapper.audit_append(v_tenant, tg_table_name, 'update', v_row_keys, v_old, v_new);
        end loop;
    end if;
    return null;
end
$$;

comment on function mapper.audit_changes() is
    'Statement-level audit trigger in full mode (transition tables). Arguments: the key columns, '
    'comma separated, and the columns never copied into the trail.';

create function mapper.audit_row_key(p_row jsonb, p_keys text[])
returns jsonb
language sql
stable
as $$
    select case pg_catalog.cardinality(p_keys)
        when 1 then pg_catalog.jsonb_build_object(p_keys[1], p_row -> p_keys[1])
        when 3 then pg_catalog.jsonb_build_object(
            p_keys[1], p_row -> p_keys[1], p_keys[2], p_row -> p_keys[2],
            p_keys[3], p_row -> p_keys[3]
        )
    end
$$;

comment on function mapper.audit_row_key(jsonb, text[]) is
    'The key columns (one or three) of an audited row, as a jsonb object.';

create function mapper.reject_audit_change()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception 'mapper.audit_records is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

comment on function mapper.reject_audit_change() is
    'Rejects UPDATE, DELETE and TRUNCATE of the audit trail, whoever asks.';

create trigger audit_records_append_only
    before update or delete or truncate on mapper.audit_records
    for each statement execute function mapper.reject_audit_change();

create function mapper.verify_audit_chain(
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
        select a.chain_seq, a.occurred_at, a.action, a.table_name, a.row_key, a.old_data,
            a.new_data, a.db_user, a.actor, a.prev_hash, a.row_hash
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
            v_link.chain_seq, v_link.row_key, v_link.old_data, v_link.new_data
        )) then
            problem := 'row_hash does not match the link''s content (altered row)';
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

grant execute on function mapper.audit_header(uuid, timestamptz, text, text, text, text)
to mapper_auditor;
grant execute on function mapper.audit_canonical(text, bigint, jsonb, jsonb, jsonb)
to mapper_auditor;
grant execute on function mapper.verify_audit_chain(uuid) to mapper_auditor;

select count(*) from mapper.maintain_partitions();

reset role;
