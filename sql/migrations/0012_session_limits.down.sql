-- Reverses 0012_session_limits: the database and the admin's exemption forget the three limits.
do $$
declare
    v_setting text;
begin
    foreach v_setting in array array[
        'idle_in_transaction_session_timeout', 'lock_timeout', 'statement_timeout'
    ]
    loop
        execute format('alter database %I reset %I', current_database(), v_setting);
        execute format(
            'alter role %I in database %I reset %I', current_user, current_database(), v_setting
        );
    end loop;
end
$$;
