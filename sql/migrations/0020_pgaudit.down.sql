-- Reverses 0020_pgaudit: drops the extension and its event triggers; pgaudit.log stays set on
-- the server but logs no DDL until the extension is created again.
drop extension pgaudit;
