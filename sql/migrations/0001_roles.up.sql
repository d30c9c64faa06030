-- Group roles of the database contract (docs/schema.md, "Isolation model").
-- Roles are cluster-wide, so creation is idempotent: a second database on the same server, or a
-- re-run after a down, finds them already there. They are NOLOGIN groups: people and services
-- log in as their own users and are granted membership. None has BYPASSRLS, none is superuser.
-- The migrating admin becomes a member of mapper_owner so that later migrations can
-- `set local role mapper_owner` and every object is owned by it.
do $$
declare
    v_role text;
begin
    foreach v_role in array array['mapper_owner', 'mapper_app', 'mapper_readonly', 'mapper_auditor']
    loop
        if not exists (select from pg_catalog.pg_roles where rolname = v_role) then
            execute format(
                'create role %I nologin nosuperuser nocreatedb nocreaterole noinherit nobypassrls',
                v_role
            );
        end if;
    end loop;
    -- 'usage', not 'member': on PostgreSQL 16+ the creator of a role holds only ADMIN on it
    -- (no INHERIT, no SET), which counts as 'member' but cannot `set role mapper_owner`.
    if not pg_catalog.pg_has_role(current_user, 'mapper_owner', 'usage') then
        grant mapper_owner to current_user;
    end if;
    -- mapper_owner creates the schema of this database; nothing else at database level.
    execute format('grant create on database %I to mapper_owner', current_database());
end
$$;
