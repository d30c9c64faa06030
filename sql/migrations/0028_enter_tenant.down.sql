-- Reverses 0028_enter_tenant: the checked tenant context and its helpers.
set local role mapper_owner;

drop function mapper.enter_tenant(uuid, text);
drop function mapper.refuse_dirty_session();
drop function mapper.session_has_temp_objects();

reset role;
