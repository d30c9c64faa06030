-- Closes a gap found by attacking the schema (issue 9): mapper.tenant_data_keys (0018) had no
-- audit trigger and no time window, so an application session could overwrite or retire its
-- tenant's wrapped key with no link in the trail, and write 'infinity' into its times.
--   * audit: every insert, update and delete of a key row is a link of its tenant's chain,
--     whoever makes it: no exemption for the owner's maintenance mode (the crypto-shredding of a
--     departed tenant's keys is a delete worth a link too). A link is one statement's rows of
--     one tenant (up to 1000), keyed by key_version; each entry is the row as JSON without the
--     wrapped key bytes, which the trail never holds: their sha256 (wrapped_key_sha256) instead,
--     enough to tell a re-wrap or a swapped key apart;
--   * time window: created_at and wrapped_at are finite and from 2000-01-01 (named CHECKs) and
--     at most a day ahead (reject_future_time() triggers), like every time a tenant supplies;
--     wrapped_at >= created_at is checked only when created_at is inside the window, so a time
--     out of it names its own check alone;
--   * TRUNCATE is refused, as on every tenant table (it would bypass RLS and the audit).
set local role mapper_owner;

-- mapperdb:allow LOCK004 reason: a few key rows per tenant; validating them is instant, and the
-- refusal of an out-of-window time must name the new check at once
alter table mapper.tenant_data_keys
    drop constraint tenant_data_keys_wrapped_at_check,
    add constraint tenant_data_keys_created_at_check check (
        created_at >= '2000-01-01 00:00:00+00' and created_at < 'infinity'
    ),
    add constraint tenant_data_keys_wrapped_at_check check (
        wrapped_at >= '2000-01-01 00:00:00+00' and wrapped_at < 'infinity'
        and (wrapped_at >= created_at or not (created_at >= '2000-01-01 00:00:00+00' and created_at < 'infinity'))
    );

create trigger tenant_data_keys_created_at_future
    before insert or update of created_at on mapper.tenant_data_keys
    for each row
    when (new.created_at > now() + interval '1 day' and new.created_at < 'infinity')
    execute function mapper.reject_future_time('created_at', 'tenant_data_keys_created_at_future_check');

create trigger tenant_data_keys_wrapped_at_future
    before insert or update of wrapped_at on mapper.tenant_data_keys
    for each row
    when (new.wrapped_at > now() + interval '1 day' and new.wrapped_at < 'infinity')
    execute function mapper.reject_future_time('wrapped_at', 'tenant_data_keys_wrapped_at_future_check');

create trigger tenant_data_keys_no_truncate
    before truncate on mapper.tenant_data_keys
    for each statement execute function mapper.reject_truncate();

-- What the trail keeps of a key row: every column but the wrapped key, and the sha256 (hex) of
-- the wrapped key. Times are rendered in UTC by the caller's pinned TimeZone.
create function mapper.tenant_data_key_image(p_row mapper.tenant_data_keys)
returns jsonb
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select (to_jsonb(p_row) - 'wrapped_key')
        || jsonb_build_object('wrapped_key_sha256', encode(sha256(p_row.wrapped_key), 'hex'))
$$;

comment on function mapper.tenant_data_key_image(mapper.tenant_data_keys) is
    'A tenant_data_keys row as the audit trail keeps it: no key bytes, their sha256 instead.';

create function mapper.tenant_data_keys_audit()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
as $$
declare
    v_links refcursor;
    v_tenant uuid;
    v_entries integer;
    v_keys jsonb;
    v_old jsonb;
    v_new jsonb;
begin
    -- A link per tenant and thousand rows of the statement; entries aligned with key_version.
    if tg_op = 'INSERT' then
        open v_links for
            select c.tenant_id, count(*)::integer,
                jsonb_build_object('key_version', jsonb_agg(c.key_version order by c.n)),
                null::jsonb, jsonb_agg(c.image order by c.n)
            from (
                select x.tenant_id, x.key_version, mapper.tenant_data_key_image(x) as image,
                    row_number() over (partition by x.tenant_id order by x.key_version) as n
                from new_rows as x
            ) as c
            group by c.tenant_id, (c.n - 1) / 1000;
    elsif tg_op = 'DELETE' then
        open v_links for
            select c.tenant_id, count(*)::integer,
                jsonb_build_object('key_version', jsonb_agg(c.key_version order by c.n)),
                jsonb_agg(c.image order by c.n), null::jsonb
            from (
                select x.tenant_id, x.key_version, mapper.tenant_data_key_image(x) as image,
                    row_number() over (partition by x.tenant_id order by x.key_version) as n
                from old_rows as x
            ) as c
            group by c.tenant_id, (c.n - 1) / 1000;
    else
        -- Old and new versions paired by key; a changed key shows as two entries, one side each.
        open v_links for
            select c.tenant_id, count(*)::integer,
                jsonb_build_object('key_version', jsonb_agg(c.key_version order by c.n)),
                jsonb_agg(c.old_image order by c.n), jsonb_agg(c.new_image order by c.n)
            from (
                select p.*,
                    row_number() over (partition by p.tenant_id order by p.key_version) as n
                from (
                    select coalesce(nn.tenant_id, o.tenant_id) as tenant_id,
                        coalesce(nn.key_version, o.key_version) as key_version,
                        case when o.tenant_id is not null
                            then mapper.tenant_data_key_image(o) end as old_image,
                        case when nn.tenant_id is not null
                            then mapper.tenant_data_key_image(nn) end as new_image
                    from old_rows as o
                    full join new_rows as nn
                        on nn.tenant_id = o.tenant_id and nn.key_version = o.key_version
                ) as p
            ) as c
            group by c.tenant_id, (c.n - 1) / 1000;
    end if;
    loop
        fetch v_links into v_tenant, v_entries, v_keys, v_old, v_new;
        exit when not found;
        perform mapper.audit_append(
            v_tenant, 'tenant_data_keys', lower(tg_op), v_entries, v_keys, v_old, v_new
        );
    end loop;
    close v_links;
    return null;
end
$$;

comment on function mapper.tenant_data_keys_audit() is
    'Statement-level audit trigger of tenant_data_keys (transition tables): each entry the row '
    'without its key bytes (tenant_data_key_image()); no maintenance-mode exemption.';

create trigger tenant_data_keys_audit_insert
    after insert on mapper.tenant_data_keys
    referencing new table as new_rows
    for each statement execute function mapper.tenant_data_keys_audit();
create trigger tenant_data_keys_audit_update
    after update on mapper.tenant_data_keys
    referencing old table as old_rows new table as new_rows
    for each statement execute function mapper.tenant_data_keys_audit();
create trigger tenant_data_keys_audit_delete
    after delete on mapper.tenant_data_keys
    referencing old table as old_rows
    for each statement execute function mapper.tenant_data_keys_audit();

reset role;
