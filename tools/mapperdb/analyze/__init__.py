"""``mapperdb analyze``: what a live database needs from its operators, each advice verified.

Checks are small functions registered with :func:`mapperdb.analyze.model.check`, grouped by
concern (statements, indexes, vacuum, partitions, security, sessions); :func:`run` calls them all
on one connection and returns :class:`~mapperdb.findings.Finding` objects for the shared renderer.
"""
