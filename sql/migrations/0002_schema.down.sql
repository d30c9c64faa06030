-- Reverses 0002_schema: restores the default function privileges and drops the (empty) schema.
set local role mapper_owner;

alter default privileges for role mapper_owner
    grant execute on functions to public;

drop schema mapper;

reset role;
