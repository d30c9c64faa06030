"""An ephemeral PostgreSQL configured like Azure Database for PostgreSQL Flexible Server.

Import :class:`mapperdb.pg.ephemeral.EphemeralPostgres`; this package stays import-light so the
reaper process it spawns starts fast.
"""
