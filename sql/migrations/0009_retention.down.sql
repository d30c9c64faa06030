-- Reverses 0009_retention: drops the retention functions.
set local role mapper_owner;

drop function mapper.purge_expired(integer, integer);
drop function mapper.partition_upper_bound(regclass);

reset role;
