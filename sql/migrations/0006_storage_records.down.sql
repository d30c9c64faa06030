-- Reverses 0006_storage_records: drops the table with its partitions, policies, indexes and triggers.
set local role mapper_owner;

drop table mapper.storage_records;
drop function mapper.storage_records_audit();

reset role;
