-- Group roles of the database contract (docs/schema.md, "Isolation model").
-- Roles are cluster-wide, so creation is idempotent: a second database on the same server, or a
-- re-run after a down, finds them already there. They are NOLOGIN groups: people and services
-- log in as their own users and are granted membership. None has BYPASSRLS, none is superuser.
-- The migrating admin reaches mapper_owner only through mapper_maintainer, a NOINHERIT group:
-- its members may `set role mapper_owner` (every migration does) but do not inherit the owner's
-- rights, so the admin login itself has no privilege on any mapper table and does not bypass
-- row-level security as the tables' owner would (docs/schema.md, "Roles and privileges").
do $$
declare
    v_role text;
begin
    foreach v_role in array array[
        'mapper_owner', 'mapper_app', 'mapper_readonly', 'mapper_auditor', 'mapper_maintainer'
    ]
    loop
        if not exists (select from pg_catalog.pg_roles where rolname = v_role) then
            execute format(
                'create role %I nologin nosuperuser nocreatedb nocreaterole noinherit nobypassrls',
                v_role
            );
        end if;
    end loop;
    -- PostgreSQL 16+ records INHERIT and SET per grant: say both. On 15 a member of a NOINHERIT
    -- role may still SET ROLE to any role in the chain, and inherits nothing past it.
    if pg_catalog.current_setting('server_version_num')::integer >= 160000 then
        execute 'grant mapper_owner to mapper_maintainer with inherit false, set true';
        execute format('grant mapper_maintainer to %I with inherit true, set true', current_user);
    else
        execute 'grant mapper_owner to mapper_maintainer';
        execute format('grant mapper_maintainer to %I', current_user);
    end if;
    -- A direct membership (an older bootstrap, a person's shortcut) would inherit the owner's
    -- rights again.
    if exists (
        select from pg_catalog.pg_auth_members as m
        where m.roleid = 'mapper_owner'::regrole and m.member = current_user::regrole
            and m.grantor = current_user::regrole
    ) then
        execute format('revoke mapper_owner from %I', current_user);
    end if;
    -- mapper_owner creates the schema of this database; nothing else at database level.
    execute format('grant create on database %I to mapper_owner', current_database());
end
$$;
