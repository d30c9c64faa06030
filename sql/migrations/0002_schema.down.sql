-- Reverses 0002_schema: drops uuid_v7(), restores the default function privileges and drops the (empty) schema.
set local role mapper_owner;

drop function mapper.uuid_v7();

-- mapperdb:allow TEN010 reason: restores PostgreSQL's built-in default that the up removed
alter default privileges for role mapper_owner
    grant execute on functions to public;

drop schema mapper;

reset role;
