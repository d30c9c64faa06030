-- Reverses 0032_owner_read_log: the owner's policies without the logging term (as 0004, 0005,
-- 0006, 0007, 0008, 0013 and 0026 made them), then drops mapper.note_owner_access().
set local role mapper_owner;

alter policy audit_chain_heads_maintenance_all on mapper.audit_chain_heads
    using ((select current_setting('mapper.maintenance', true)) = 'on');

alter policy audit_chain_heads_owner_all on mapper.audit_chain_heads
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy audit_records_maintenance_select on mapper.audit_records
    using ((select current_setting('mapper.maintenance', true)) = 'on');

alter policy audit_records_owner_select on mapper.audit_records
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy detector_executions_maintenance_delete on mapper.detector_executions
    using ((select current_setting('mapper.maintenance', true)) = 'on');

alter policy detector_executions_maintenance_select on mapper.detector_executions
    using ((select current_setting('mapper.maintenance', true)) = 'on');

alter policy detector_executions_owner_delete on mapper.detector_executions
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy detector_executions_owner_select on mapper.detector_executions
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy model_metrics_maintenance_delete on mapper.model_metrics
    using ((select current_setting('mapper.maintenance', true)) = 'on');

alter policy model_metrics_maintenance_select on mapper.model_metrics
    using ((select current_setting('mapper.maintenance', true)) = 'on');

alter policy model_metrics_owner_delete on mapper.model_metrics
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy model_metrics_owner_select on mapper.model_metrics
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy storage_records_maintenance_delete on mapper.storage_records
    using ((select current_setting('mapper.maintenance', true)) = 'on');

alter policy storage_records_maintenance_select on mapper.storage_records
    using ((select current_setting('mapper.maintenance', true)) = 'on');

alter policy storage_records_owner_delete on mapper.storage_records
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy storage_records_owner_select on mapper.storage_records
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy tenant_configs_maintenance_select on mapper.tenant_configs
    using ((select current_setting('mapper.maintenance', true)) = 'on');

alter policy tenant_configs_owner_delete on mapper.tenant_configs
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy tenant_configs_owner_select on mapper.tenant_configs
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy tenant_data_keys_owner_delete on mapper.tenant_data_keys
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

alter policy tenant_data_keys_owner_select on mapper.tenant_data_keys
    using (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid));

drop function mapper.note_owner_access(text);

reset role;
