-- Reverses 0010_reporting: drops the reporting functions and the daily aggregates.
set local role mapper_owner;

drop function mapper.daily_executions(date, date);
drop function mapper.daily_records(date, date);
drop function mapper.refresh_daily_aggregates();
drop materialized view mapper.detector_executions_daily_mv;
drop materialized view mapper.storage_records_daily_mv;
drop function mapper.detector_failure_rates(timestamptz, timestamptz);
drop function mapper.audit_activity(timestamptz, timestamptz, text);
drop function mapper.records_by_detector(timestamptz, timestamptz, text);

reset role;
