-- Reverses 0008_model_metrics: drops the table with its partitions, policies, indexes and triggers.
set local role mapper_owner;

drop table mapper.model_metrics;
drop function mapper.model_metrics_audit();

reset role;
