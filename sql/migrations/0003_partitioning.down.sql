-- Reverses 0003_partitioning: drops the partition maintenance functions, the maintenance log and
-- the time and truncate guards.
set local role mapper_owner;

drop function mapper.maintenance_problems(interval);
drop function mapper.maintain_partitions(integer);
drop function mapper.ensure_default_partition(regclass);
drop function mapper.create_month_partition(regclass, date);
drop function mapper.partition_problems();
drop function mapper.secure_partition(regclass, boolean);
drop function mapper.log_maintenance(text, text, text, text);
drop table mapper.maintenance_log;
drop function mapper.reject_truncate();
drop function mapper.reject_future_time();
drop function mapper.partition_key(regclass);

reset role;
