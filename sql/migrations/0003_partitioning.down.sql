-- Reverses 0003_partitioning: drops the partition maintenance functions.
set local role mapper_owner;

drop function mapper.maintain_partitions(integer);
drop function mapper.ensure_default_partition(regclass);
drop function mapper.create_month_partition(regclass, date);
drop function mapper.secure_partition(regclass);
drop function mapper.partition_key(regclass);

reset role;
