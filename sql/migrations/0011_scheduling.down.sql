-- Reverses 0011_scheduling: unschedules the jobs, and drops pg_cron when no job is left (the up
-- creates it when absent).
do $$
declare
    v_job text;
begin
    if to_regclass('cron.job') is null then
        return;
    end if;
    foreach v_job in array array[
        'mapper_maintain_partitions', 'mapper_purge_expired', 'mapper_refresh_daily_aggregates'
    ]
    loop
        if exists (select from cron.job where jobname = v_job) then
            perform cron.unschedule(v_job);
        end if;
    end loop;
    if not exists (select from cron.job) then
        drop extension pg_cron;
    end if;
end
$$;
