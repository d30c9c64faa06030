-- Reverses 0007_detector_executions: drops the table with its partitions, policies, indexes and triggers.
set local role mapper_owner;

drop table mapper.detector_executions;
drop function mapper.detector_executions_audit();

reset role;
