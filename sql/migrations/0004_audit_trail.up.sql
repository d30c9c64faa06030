-- The audit trail: an append-only, per-tenant hash chain of every change to tenant tables and of
-- privileged actions (retention purges), written only by triggers and maintenance functions
-- running as mapper_owner. No application role can insert, update or delete audit rows.
-- A link is one statement's changes to one tenant's rows of one table (at most 1000 rows; a
-- bigger statement appends several links), or one privileged action. Its entries:
--   row_keys   {"<key column>": [one value per entry], ...}  (columnar: a key column is named
--              once per link, not once per row)
--   old_rows,  JSON arrays aligned with the keys, one element per entry: the row version before
--   new_rows   and after the change (null where there is none; the whole column is null for an
--              insert's old rows and a delete's new rows).
--   link n:  row_hash(n) = sha256(row_hash(n-1) || canonical(n)), row_hash(0) = 32 zero bytes;
--            canonical(n) = audit_canonical(audit_header(...), n, row_keys, old_rows, new_rows):
--            the jsonb array of the link's scalars (tenant, epoch of occurred_at, action, table,
--            db user, actor), then chain_seq, row_keys, old_rows and new_rows as jsonb text,
--            newline separated (jsonb text never holds a raw newline), as UTF-8.
-- audit_chain_heads holds each tenant's last link; writers lock it, so a tenant's links are
-- strictly sequential even under concurrency, and a truncated tail is detectable.
-- Audit rows outlive the data they describe (no foreign key to tenant_configs) and are not
-- subject to tenant retention. So that the trail does not keep what retention removes, the
-- high-volume data tables are audited in digest mode (create_digest_audit(), called by 0006-0008):
-- a row version's element is the sha256 (hex) of its text form (audit_digest()), not a copy;
-- tenant_configs keeps full before/after images (0005). The encrypted payload is never copied
-- into the trail.
set local role mapper_owner;

-- mapperdb:allow TEN002 reason: append-only trail; no role may update or delete its rows (a trigger rejects it too)
create table mapper.audit_records (
    tenant_id uuid not null,
    chain_seq bigint not null,
    occurred_at timestamptz not null default now(),
    action text not null,
    table_name text not null,
    entries integer not null,
    row_keys jsonb not null,
    old_rows jsonb,
    new_rows jsonb,
    db_user text not null default session_user,
    actor text,
    prev_hash bytea not null,
    row_hash bytea not null,
    constraint audit_records_pk primary key (tenant_id, occurred_at, chain_seq),
    constraint audit_records_chain_seq_check check (chain_seq > 0),
    constraint audit_records_entries_check check (entries between 1 and 1000),
    -- Each key column's array has one value per entry too: not checked here (a jsonpath CHECK
    -- costs ~15 us per link) but by verify_audit_chain(), and the chain hash covers the arrays.
    constraint audit_records_row_keys_check check (
        jsonb_typeof(row_keys) = 'object' and row_keys <> '{}'
    ),
    constraint audit_records_old_rows_check check (
        case jsonb_typeof(old_rows) when 'array' then jsonb_array_length(old_rows) = entries
            else old_rows is null end
    ),
    constraint audit_records_new_rows_check check (
        case jsonb_typeof(new_rows) when 'array' then jsonb_array_length(new_rows) = entries
            else new_rows is null end
    ),
    constraint audit_records_rows_check check (old_rows is not null or new_rows is not null),
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

-- A link's entries are big (a 1000-row link of a data table is about 115 kB) and mostly sha256
-- hex, which pglz barely shrinks: stored out of line uncompressed, which made bulk writes
-- faster by about 2 us a row (docs/benchmarks.md). Partitions inherit the setting.
alter table mapper.audit_records
    alter column row_keys set storage external,
    alter column old_rows set storage external,
    alter column new_rows set storage external;

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
    p_header text, p_chain_seq bigint, p_row_keys jsonb, p_old_rows jsonb, p_new_rows jsonb
)
returns bytea
language sql
stable
as $$
    select pg_catalog.convert_to(
        p_header || E'\n' || p_chain_seq::text
        || E'\n' || p_row_keys::text
        || E'\n' || coalesce(p_old_rows::text, 'null')
        || E'\n' || coalesce(p_new_rows::text, 'null'),
        'UTF8'
    )
$$;

comment on function mapper.audit_canonical(text, bigint, jsonb, jsonb, jsonb) is
    'The canonical bytes of an audit link: audit_header(), chain_seq, row keys, old and new rows.';

-- One link per call. The caller (an audit trigger or a retention function) passes the link's
-- entries (at most 1000): the keys by column, and the old and new rows as JSON arrays aligned
-- with them. Locking the tenant's chain head
-- serializes the tenant's links. No SET clause: callers are the audit triggers and retention
-- functions (SECURITY DEFINER with a fixed search_path), and only mapper_owner may execute it;
-- names are schema-qualified.
create function mapper.audit_append(
    p_tenant_id uuid, p_table_name text, p_action text, p_entries integer,
    p_row_keys jsonb, p_old_rows jsonb, p_new_rows jsonb
)
returns bigint
language plpgsql
as $$
declare
    v_at timestamptz := pg_catalog.now();
    v_user text := session_user;
    v_actor text := nullif(pg_catalog.current_setting('app.actor', true), '');
    v_seq bigint;
    v_prev bytea;
    v_hash bytea;
begin
    -- Lock and read the tenant's chain head; the first link of a tenant creates it.
    for v_try in 1..2 loop
        select h.last_seq + 1, h.last_hash into v_seq, v_prev
        from mapper.audit_chain_heads as h
        where h.tenant_id = p_tenant_id
        for update;
        exit when v_seq is not null;
        insert into mapper.audit_chain_heads (tenant_id, last_seq, last_hash)
        values (p_tenant_id, 0, '\x0000000000000000000000000000000000000000000000000000000000000000')
        on conflict (tenant_id) do nothing;
    end loop;
    if v_seq is null then
        raise exception 'audit chain head of tenant % is not visible (tenant context?)', p_tenant_id;
    end if;
    v_hash := pg_catalog.sha256(v_prev || mapper.audit_canonical(
        mapper.audit_header(p_tenant_id, v_at, p_action, p_table_name, v_user, v_actor),
        v_seq, p_row_keys, p_old_rows, p_new_rows
    ));
    insert into mapper.audit_records (
        tenant_id, chain_seq, occurred_at, action, table_name, entries, row_keys, old_rows,
        new_rows, db_user, actor, prev_hash, row_hash
    )
    values (
        p_tenant_id, v_seq, v_at, p_action, p_table_name, p_entries, p_row_keys, p_old_rows,
        p_new_rows, v_user, v_actor, v_prev, v_hash
    );
    update mapper.audit_chain_heads
    set last_seq = v_seq, last_hash = v_hash, updated_at = v_at
    where tenant_id = p_tenant_id;
    return v_seq;
end
$$;

comment on function mapper.audit_append(uuid, text, text, integer, jsonb, jsonb, jsonb) is
    'Appends one link to a tenant''s audit chain. Internal to mapper_owner: the audit triggers and '
    'the retention functions call it; no other role can execute it.';

-- The text form of a row version depends on DateStyle, IntervalStyle, TimeZone,
-- extra_float_digits and bytea_output: the digest-mode triggers pin them (SET clauses), so a
-- digest is reproducible from the row alone (docs/schema.md shows how).
create function mapper.audit_digest(p_row text)
returns text
language sql
stable
as $$
    select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_row, 'UTF8')), 'hex')
$$;

comment on function mapper.audit_digest(text) is
    'What a digest-mode link keeps of a row version: the sha256 (hex) of its text form (the '
    'data stays in its table, subject to retention; the chain commits to its digest).';

-- The digest-mode audit of a data table (0006-0008), from one template so the tables cannot
-- drift apart: creates mapper.<table>_audit(), a statement-level trigger function with static
-- SQL for the table's key (tenant_id, the time column, id), and its insert, update and delete
-- triggers. The generated function is ordinary static SQL (its plans are cached like any
-- other; read it with \sf); only the table and time column names are filled in. An entry per
-- row version: its key and audit_digest() of its text form. No to_jsonb() of whole rows. The
-- SET clauses pin every setting the text form depends on (a digest is reproducible); the
-- payload's ciphertext is part of the text form, so the digest covers it and the trail never
-- holds it. Links name the table itself, not tg_table_name: the triggers are copied to every
-- partition (0003), and a link must name the table the tenant knows. Only mapper_owner (the
-- migrations) can run it.
create function mapper.create_digest_audit(p_table name, p_time_column name)
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_function name := p_table || '_audit';
    v_event text;
    -- An insert's or a delete's links: one transition table, one side of each entry.
    v_one_side constant text := $q$
            select c.tenant_id, count(*)::integer,
                jsonb_build_object(%1$L, jsonb_agg(c.%1$I), 'id', jsonb_agg(c.id)), %3$s, %4$s
            from (
                select x.tenant_id, x.%1$I, x.id, x::text as r,
                    (row_number() over () - 1) / 1000 as chunk
                from %2$I as x
            ) as c
            group by c.tenant_id, c.chunk$q$;
begin
    -- SECURITY DEFINER functions run as their owner: only mapper_owner may make them.
    if current_user <> 'mapper_owner' then
        raise exception 'create_digest_audit() must run as mapper_owner, not %', current_user
            using hint = 'set local role mapper_owner first (as every migration does)';
    end if;
    execute format($fn$
create function mapper.%1$I()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set datestyle = 'ISO, YMD'
set intervalstyle = 'postgres'
set timezone = 'UTC'
set extra_float_digits = 1
set bytea_output = 'hex'
as $body$
declare
    v_links refcursor;
    v_tenant uuid;
    v_entries integer;
    v_keys jsonb;
    v_old jsonb;
    v_new jsonb;
begin
    -- A link per tenant and thousand rows of the statement (numbered as they come, no sort).
    if tg_op = 'INSERT' then
        select count(*) into v_entries from new_rows;
        if v_entries = 1 then
            -- The application inserts one row at a time: without the grouping query and the
            -- cursor, about 25 us less per statement (docs/benchmarks.md).
            select x.tenant_id,
                jsonb_build_object(
                    %2$L, jsonb_build_array(x.%2$I), 'id', jsonb_build_array(x.id)
                ),
                jsonb_build_array(mapper.audit_digest(x::text))
            into v_tenant, v_keys, v_new
            from new_rows as x;
            perform mapper.audit_append(v_tenant, %5$L, 'insert', 1, v_keys, null, v_new);
            return null;
        end if;
        open v_links for%3$s;
    elsif tg_op = 'DELETE' then
        open v_links for%4$s;
    else
        -- Old and new versions paired by key; a changed key shows as two entries, one side each.
        open v_links for
            select c.tenant_id, count(*)::integer,
                jsonb_build_object(%2$L, jsonb_agg(c.%2$I), 'id', jsonb_agg(c.id)),
                jsonb_agg(mapper.audit_digest(c.old_r)), jsonb_agg(mapper.audit_digest(c.new_r))
            from (
                select coalesce(n.tenant_id, o.tenant_id) as tenant_id,
                    coalesce(n.%2$I, o.%2$I) as %2$I, coalesce(n.id, o.id) as id,
                    o.r as old_r, n.r as new_r, (row_number() over () - 1) / 1000 as chunk
                from (select x.tenant_id, x.%2$I, x.id, x::text as r from old_rows as x) as o
                full join (select x.tenant_id, x.%2$I, x.id, x::text as r from new_rows as x) as n
                    on n.tenant_id = o.tenant_id and n.%2$I = o.%2$I and n.id = o.id
            ) as c
            group by c.tenant_id, c.chunk;
    end if;
    loop
        fetch v_links into v_tenant, v_entries, v_keys, v_old, v_new;
        exit when not found;
        perform mapper.audit_append(
            v_tenant, %5$L, lower(tg_op), v_entries, v_keys, v_old, v_new
        );
    end loop;
    close v_links;
    return null;
end
$body$
$fn$,
        v_function, p_time_column,
        format(v_one_side, p_time_column, 'new_rows', 'null::jsonb',
            'jsonb_agg(mapper.audit_digest(c.r))'),
        format(v_one_side, p_time_column, 'old_rows', 'jsonb_agg(mapper.audit_digest(c.r))',
            'null::jsonb'),
        p_table
    );
    execute format(
        'comment on function mapper.%I() is %L', v_function,
        format('Statement-level audit trigger of %s (transition tables), digest mode; made by '
            'create_digest_audit().', p_table)
    );
    -- The trigger's WHEN clause lets the owner's maintenance functions (retention) through;
    -- they write one summary link per purge instead.
    foreach v_event in array array['insert', 'update', 'delete'] loop
        execute format(
            $tr$
create trigger %1$I
    after %2$s on mapper.%3$I
    referencing %4$s
    for each statement
    when (not (current_user = 'mapper_owner'
        and coalesce(current_setting('mapper.maintenance', true), '') = 'on'))
    execute function mapper.%5$I()
$tr$,
            p_table || '_audit_' || v_event, v_event, p_table,
            case v_event
                when 'insert' then 'new table as new_rows'
                when 'update' then 'old table as old_rows new table as new_rows'
                else 'old table as old_rows'
            end,
            v_function
        );
    end loop;
end
$$;

comment on function mapper.create_digest_audit(name, name) is
    'Creates the digest-mode audit trigger function and triggers of a data table (0006-0008).';

create function mapper.reject_audit_change()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    -- The one exception: maintain_partitions() draining the default partition into a month
    -- partition moves links without changing them (the chain still verifies; the move is in
    -- maintenance_log). It names the partition it drains in mapper.partition_move.
    if tg_op = 'DELETE' and current_user = 'mapper_owner'
        and current_setting('mapper.partition_move', true)
            = format('%I.%I', tg_table_schema, tg_table_name)
    then
        return null;
    end if;
    raise exception 'mapper.audit_records is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

comment on function mapper.reject_audit_change() is
    'Rejects UPDATE, DELETE and TRUNCATE of the audit trail and of each of its partitions, whoever '
    'asks, except the move of links out of the default partition by maintain_partitions().';

-- Statement-level: PostgreSQL does not clone it to partitions; secure_partition() (0003) does.
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

grant execute on function mapper.audit_header(uuid, timestamptz, text, text, text, text)
to mapper_auditor;
grant execute on function mapper.audit_canonical(text, bigint, jsonb, jsonb, jsonb)
to mapper_auditor;
grant execute on function mapper.verify_audit_chain(uuid) to mapper_auditor;

select count(*) from mapper.maintain_partitions();

reset role;
