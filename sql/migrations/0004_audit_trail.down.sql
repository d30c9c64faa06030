-- Reverses 0004_audit_trail: drops the audit trail, its chain heads and its functions.
set local role mapper_owner;

drop function mapper.verify_audit_chain(uuid);
drop table mapper.audit_records;
drop function mapper.reject_audit_change();
drop function mapper.create_digest_audit(name, name);
drop function mapper.audit_digest(text);
drop function mapper.audit_append(uuid, text, text, integer, jsonb, jsonb, jsonb);
drop function mapper.audit_canonical(text, bigint, jsonb, jsonb, jsonb);
drop function mapper.audit_header(uuid, timestamptz, text, text, text, text);
drop table mapper.audit_chain_heads;

reset role;
