-- Every read of tenant rows as mapper_owner by a login that can become the owner leaves a server
-- log line that login cannot suppress (issue sec9d). pgaudit's misc_set (d5515d3) logged the
-- admin's `set role mapper_owner` statement, not the owner's reads: the role given as a startup
-- option (PGOPTIONS='-c role=mapper_owner') or taken by `select set_config('role', ...)` left no
-- line, and neither did the reads that followed (pgaudit's read class is off: it would log every
-- read of the application).
--   * mapper.note_owner_access(table) writes one LOG line (login, role, table, tenant context,
--     maintenance flag) and returns true. Every policy of mapper_owner that lets a row be seen
--     (select, delete, all; not the insert-only ones) gains the term
--     `and (select mapper.note_owner_access('<table>'))`: an initplan, run at most once per
--     statement and only when a row is tested against that policy. However the session became
--     the owner (set role, startup option, set_config, an inheriting member), the policy is what
--     lets it read, so the line comes with the read.
--   * The function is SECURITY INVOKER: it needs no right its caller (the owner) lacks, and so
--     the line's role is the one that reads, not always the function's owner.
--   * LOG lines go to the server log whatever client_min_messages says; only log_min_messages
--     above LOG (fatal, panic) would drop them, and it is a superuser setting (Azure: a server
--     parameter the infra sets), so the admin cannot lower it for a session. Dropping or
--     altering a policy or this function is DDL, which pgaudit's ddl class logs.
--   * No line when the login cannot become the owner (not a member of mapper_owner, however
--     indirect): that is the application, reaching these policies only through the owner's
--     SECURITY DEFINER functions (the audit triggers' chain head, delete_rows(), delete_tenant(),
--     audit_chain_heads_all() for the auditor), so its reads and writes add nothing. Such a
--     login can become the owner only by a grant (pgaudit's role class) or by new owner code
--     (ddl class).
--   * The owner's nightly jobs log too (pg_cron runs them as the migrating admin): a few lines a
--     night. Partitions' own policy (partition_maintenance) gains the same term in 0033.
set local role mapper_owner;

create function mapper.note_owner_access(p_table text)
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    -- A superuser counts as a member of every role, but bypasses row-level security: its own
    -- reads never reach a policy, only its calls of the owner's functions (the audit trigger's
    -- chain-head read on every write it makes) would. No superuser exists on Azure for us.
    if pg_catalog.pg_has_role(session_user, 'mapper_owner', 'MEMBER')
        and not (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = session_user)
    then
        -- Values a session chooses are JSON-quoted: a newline cannot forge a log line.
        raise log '%', pg_catalog.format(
            'mapper owner read: table %s, login %s, role %s, tenant context %s, maintenance %s',
            p_table,
            pg_catalog.to_json(session_user::text),
            pg_catalog.to_json(current_user::text),
            pg_catalog.to_json(coalesce(pg_catalog.current_setting('app.tenant_id', true), '')),
            pg_catalog.to_json(coalesce(pg_catalog.current_setting('mapper.maintenance', true), ''))
        );
    end if;
    return true;
end
$$;

comment on function mapper.note_owner_access(text) is
    'Logs (LOG level, server log) a read of a tenant table as mapper_owner by a login that can '
    'become the owner; returns true. A term of every owner policy that lets a row be seen.';

revoke execute on function mapper.note_owner_access(text) from public;

alter policy audit_chain_heads_maintenance_all on mapper.audit_chain_heads
    using (
        (select current_setting('mapper.maintenance', true)) = 'on'
        and (select mapper.note_owner_access('mapper.audit_chain_heads'))
    );

alter policy audit_chain_heads_owner_all on mapper.audit_chain_heads
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.audit_chain_heads'))
    );

alter policy audit_records_maintenance_select on mapper.audit_records
    using (
        (select current_setting('mapper.maintenance', true)) = 'on'
        and (select mapper.note_owner_access('mapper.audit_records'))
    );

alter policy audit_records_owner_select on mapper.audit_records
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.audit_records'))
    );

alter policy detector_executions_maintenance_delete on mapper.detector_executions
    using (
        (select current_setting('mapper.maintenance', true)) = 'on'
        and (select mapper.note_owner_access('mapper.detector_executions'))
    );

alter policy detector_executions_maintenance_select on mapper.detector_executions
    using (
        (select current_setting('mapper.maintenance', true)) = 'on'
        and (select mapper.note_owner_access('mapper.detector_executions'))
    );

alter policy detector_executions_owner_delete on mapper.detector_executions
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.detector_executions'))
    );

alter policy detector_executions_owner_select on mapper.detector_executions
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.detector_executions'))
    );

alter policy model_metrics_maintenance_delete on mapper.model_metrics
    using (
        (select current_setting('mapper.maintenance', true)) = 'on'
        and (select mapper.note_owner_access('mapper.model_metrics'))
    );

alter policy model_metrics_maintenance_select on mapper.model_metrics
    using (
        (select current_setting('mapper.maintenance', true)) = 'on'
        and (select mapper.note_owner_access('mapper.model_metrics'))
    );

alter policy model_metrics_owner_delete on mapper.model_metrics
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.model_metrics'))
    );

alter policy model_metrics_owner_select on mapper.model_metrics
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.model_metrics'))
    );

alter policy storage_records_maintenance_delete on mapper.storage_records
    using (
        (select current_setting('mapper.maintenance', true)) = 'on'
        and (select mapper.note_owner_access('mapper.storage_records'))
    );

alter policy storage_records_maintenance_select on mapper.storage_records
    using (
        (select current_setting('mapper.maintenance', true)) = 'on'
        and (select mapper.note_owner_access('mapper.storage_records'))
    );

alter policy storage_records_owner_delete on mapper.storage_records
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.storage_records'))
    );

alter policy storage_records_owner_select on mapper.storage_records
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.storage_records'))
    );

alter policy tenant_configs_maintenance_select on mapper.tenant_configs
    using (
        (select current_setting('mapper.maintenance', true)) = 'on'
        and (select mapper.note_owner_access('mapper.tenant_configs'))
    );

alter policy tenant_configs_owner_delete on mapper.tenant_configs
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.tenant_configs'))
    );

alter policy tenant_configs_owner_select on mapper.tenant_configs
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.tenant_configs'))
    );

alter policy tenant_data_keys_owner_delete on mapper.tenant_data_keys
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.tenant_data_keys'))
    );

alter policy tenant_data_keys_owner_select on mapper.tenant_data_keys
    using (
        tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid)
        and (select mapper.note_owner_access('mapper.tenant_data_keys'))
    );

reset role;
