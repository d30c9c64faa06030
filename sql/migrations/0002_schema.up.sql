-- The application schema, owned by mapper_owner. Roles get USAGE only; table and function
-- privileges are granted one object at a time by the migration that creates the object.
-- mapper_maintainer (the admin and the pg_cron jobs) gets USAGE for the maintenance functions.
-- Functions are executable by PUBLIC by default in PostgreSQL: the default privileges of
-- mapper_owner take that away (globally: per-schema defaults can only add privileges), so every
-- function must be granted explicitly.
set local role mapper_owner;

create schema mapper authorization mapper_owner;

comment on schema mapper is 'Llama Mapper application objects; see docs/schema.md';

grant usage on schema mapper to mapper_app, mapper_readonly, mapper_auditor, mapper_maintainer;

alter default privileges for role mapper_owner
    revoke execute on functions from public;

-- Ids of tenant rows: time-ordered (RFC 9562 version 7: 48 bits of Unix milliseconds, then
-- random bits), so a B-tree over them grows at its right edge like a sequence's, but an id says
-- nothing about other tenants' writes (a shared sequence would: the gap between two of a
-- tenant's ids is everyone's write volume in between). PostgreSQL 18 has uuidv7(); this one runs
-- on 15 to 17. Plain SQL without a SET clause, so it is inlined into the INSERT.
create function mapper.uuid_v7()
returns uuid
language sql
volatile
parallel safe
as $$
    select pg_catalog.encode(
        pg_catalog.set_bit(
            pg_catalog.set_bit(
                overlay(
                    pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
                    placing pg_catalog.substr(
                        pg_catalog.int8send(
                            pg_catalog.floor(
                                extract(epoch from pg_catalog.clock_timestamp()) * 1000
                            )::bigint
                        ),
                        3
                    )
                    from 1 for 6
                ),
                52, 1
            ),
            53, 1
        ),
        'hex'
    )::uuid
$$;

comment on function mapper.uuid_v7() is
    'A time-ordered UUID (version 7): the default id of tenant rows; no cross-tenant sequence.';

grant execute on function mapper.uuid_v7() to mapper_app;

reset role;
