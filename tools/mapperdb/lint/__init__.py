"""The SQL review gate: pglast rules for lock safety and tenant security, sqlfluff for style."""
