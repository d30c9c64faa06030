-- The tenant context of a pooled connection, checked in the same round trip that sets it
-- (issue 14). mapperdb.client used to reset every connection it returned to its pool (the
-- statements of `discard all` carried by each COMMIT), which also dropped its prepared
-- statements. It now trusts a transaction that ended with its COMMIT (`close all; commit`) and
-- starts the next one with `begin; select mapper.enter_tenant($1)`, which refuses, with
-- SQLSTATE MT001, a session that carries what a transaction-local context cannot explain: a
-- session-level app.tenant_id or app.actor, a role other than the login's (SET ROLE), or a
-- temporary object. The client then rolls back, runs `discard all` and tries once more.
-- enter_tenant() is one plpgsql simple expression (evaluated without the executor) and calls
-- a function only when a check fires, so a clean session pays a few microseconds. Security
-- invoker: current_user must be the caller's. Executable by mapper_app and mapper_readonly.
set local role mapper_owner;

create function mapper.session_has_temp_objects()
returns boolean
language plpgsql
stable
as $$
begin
    -- Every object of a schema depends on it: one index lookup finds tables, views,
    -- sequences, types and functions alike.
    return exists (
        select from pg_catalog.pg_depend as d
        where d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
            and d.refobjid = pg_catalog.pg_my_temp_schema()
    );
end
$$;

comment on function mapper.session_has_temp_objects() is
    'Does this session hold a temporary object? Called by enter_tenant() once the session '
    'has a temporary schema.';

create function mapper.refuse_dirty_session()
returns text
language plpgsql
volatile
as $$
declare
    v_found text[] := '{}';
begin
    if pg_catalog.current_setting('app.tenant_id', true) <> '' then
        v_found := v_found || 'a session-level app.tenant_id'::text;
    end if;
    if pg_catalog.current_setting('app.actor', true) <> '' then
        v_found := v_found || 'a session-level app.actor'::text;
    end if;
    if current_user <> session_user then
        v_found := v_found || pg_catalog.format('role %s instead of %s', current_user, session_user);
    end if;
    if pg_catalog.pg_my_temp_schema() <> 0 and mapper.session_has_temp_objects() then
        v_found := v_found || 'temporary objects'::text;
    end if;
    raise exception 'this session carries state from an earlier transaction: %',
        pg_catalog.array_to_string(v_found, ', ')
        using errcode = 'MT001',
            hint = 'roll back, run DISCARD ALL, and begin again (mapperdb.client does)';
end
$$;

comment on function mapper.refuse_dirty_session() is
    'Raises MT001 naming what a session carries from an earlier transaction (enter_tenant()).';

create function mapper.enter_tenant(p_tenant_id uuid, p_actor text default null)
returns void
language plpgsql
volatile
as $$
declare
    v_set boolean;
begin
    -- Called right after BEGIN, nothing here is transaction-local yet: any tenant, actor or
    -- role found is the session's. The checks come first (AND evaluates left to right). Every
    -- function, operator and type is schema-qualified: the caller's search_path (which a
    -- session can change) cannot put its own `<>` or `text` in front of pg_catalog's, and a
    -- SET search_path clause would cost the simple-expression speed.
    v_set := pg_catalog.set_config(
        'app.tenant_id',
        case
            when pg_catalog.current_setting('app.tenant_id', true) operator(pg_catalog.<>) ''
                or pg_catalog.current_setting('app.actor', true) operator(pg_catalog.<>) ''
                or current_user operator(pg_catalog.<>) session_user
                or (
                    pg_catalog.pg_my_temp_schema() operator(pg_catalog.<>) 0
                    and mapper.session_has_temp_objects()
                )
                then mapper.refuse_dirty_session()
            else p_tenant_id::pg_catalog.text
        end,
        true
    ) is not null
    and (p_actor is null or pg_catalog.set_config('app.actor', p_actor, true) is not null);
end
$$;

comment on function mapper.enter_tenant(uuid, text) is
    'Sets the transaction''s tenant (and actor) after checking that the session carries no '
    'tenant, actor, role or temporary object of its own; raises MT001 if it does.';

revoke all on function mapper.session_has_temp_objects() from public;
revoke all on function mapper.refuse_dirty_session() from public;
revoke all on function mapper.enter_tenant(uuid, text) from public;
grant execute on function mapper.session_has_temp_objects() to mapper_app, mapper_readonly;
grant execute on function mapper.refuse_dirty_session() to mapper_app, mapper_readonly;
grant execute on function mapper.enter_tenant(uuid, text) to mapper_app, mapper_readonly;

reset role;
