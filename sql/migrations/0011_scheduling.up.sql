-- Schedules the maintenance jobs with pg_cron. pg_cron lives in one database per server
-- (cron.database_name); in any other database (test clones, a second database) this migration
-- only says so, and whoever runs that database calls the same functions from its scheduler:
--   mapper.maintain_partitions(), mapper.purge_expired(), mapper.refresh_daily_aggregates().
-- Jobs run as the user who applied the migrations (pg_cron needs a login role).
do $$
begin
    if to_regnamespace('cron') is null then
        -- cron.database_name is readable only by superusers, so ask pg_cron itself: it refuses
        -- to be created outside its database.
        begin
            create extension pg_cron;
        exception
            when others then
                raise notice 'pg_cron is not available in database % (%): no jobs scheduled here; '
                    'run mapper.maintain_partitions(), mapper.purge_expired() and '
                    'mapper.refresh_daily_aggregates() from another scheduler',
                    current_database(), sqlerrm;
                return;
        end;
    end if;
    perform cron.schedule(
        'mapper_maintain_partitions', '17 1 * * *',
        'select count(*) from mapper.maintain_partitions()'
    );
    perform cron.schedule(
        'mapper_purge_expired', '*/15 * * * *',
        'select count(*) from mapper.purge_expired()'
    );
    perform cron.schedule(
        'mapper_refresh_daily_aggregates', '7 * * * *',
        'select mapper.refresh_daily_aggregates()'
    );
end
$$;
