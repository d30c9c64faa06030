-- The application schema, owned by mapper_owner. Roles get USAGE only; table and function
-- privileges are granted one object at a time by the migration that creates the object.
-- Functions are executable by PUBLIC by default in PostgreSQL: the default privileges of
-- mapper_owner take that away (globally: per-schema defaults can only add privileges), so every
-- function must be granted explicitly.
set local role mapper_owner;

create schema mapper authorization mapper_owner;

comment on schema mapper is 'Llama Mapper application objects; see docs/schema.md';

grant usage on schema mapper to mapper_app, mapper_readonly, mapper_auditor;

alter default privileges for role mapper_owner
    revoke execute on functions from public;

reset role;
