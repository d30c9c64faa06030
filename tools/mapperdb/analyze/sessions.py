"""Sessions that hold others back, and replicas that fall behind."""

from __future__ import annotations

from mapperdb.analyze.model import Check, Context, check
from mapperdb.findings import Finding, Severity


@check(
    "AN016",
    "idle-in-transaction",
    Severity.WARNING,
    "A session sits idle inside an open transaction",
    why="An open transaction holds its locks and keeps vacuum from removing rows that died "
    "after it started, on every table of the database.",
    fix="Fix the client that leaves transactions open; idle_in_transaction_session_timeout ends "
    "them; pg_terminate_backend(pid) ends one now.",
)
def idle(self: Check, ctx: Context) -> list[Finding]:
    rows = ctx.rows(
        "select pid, usename, application_name, now() - state_change, left(query, 120)"
        " from pg_stat_activity where datname = current_database()"
        " and state like 'idle in transaction%%' and now() - state_change >= %s"
        " and pid <> pg_backend_pid() order by 4 desc",
        (ctx.thresholds.idle_in_transaction,),
    )
    return [
        self.finding(
            f"session {pid}",
            f"{user} ({app or 'no application_name'}) idle in transaction for {age}",
            evidence=f"last statement: {' '.join(str(query).split())}",
            fix=f"select pg_terminate_backend({pid}); then fix the client",
        )
        for pid, user, app, age, query in rows
    ]


@check(
    "AN017",
    "blocked-session",
    Severity.WARNING,
    "A session waits for a lock another session holds",
    why="Lock waits queue: one blocked DDL statement blocks every later reader of the table.",
    fix="Look at what the blocking session runs; end it (pg_terminate_backend) if it is stuck; "
    "migrations use lock_timeout so they never wait long.",
)
def blocked(self: Check, ctx: Context) -> list[Finding]:
    rows = ctx.rows(
        "select pid, usename, pg_blocking_pids(pid), now() - coalesce(query_start, now()),"
        " left(query, 120) from pg_stat_activity where datname = current_database()"
        " and cardinality(pg_blocking_pids(pid)) > 0"
        " and now() - coalesce(query_start, now()) >= %s order by 4 desc",
        (ctx.thresholds.blocked,),
    )
    return [
        self.finding(
            f"session {pid}",
            f"{user} blocked by {', '.join(map(str, blockers))} for {age}",
            evidence=f"waiting statement: {' '.join(str(query).split())}",
        )
        for pid, user, blockers, age, query in rows
    ]


@check(
    "AN018",
    "replica-lag",
    Severity.WARNING,
    "A replica replays the primary's changes late",
    why="Reads routed to a lagging replica return old data; a replica far behind takes long to "
    "promote in a failover.",
    fix="Check the replica's IO and CPU and long queries on it (hot_standby_feedback, "
    "max_standby_streaming_delay); scale it to the primary's size.",
)
def replica_lag(self: Check, ctx: Context) -> list[Finding]:
    rows = ctx.rows(
        "select application_name, client_addr::text, state, replay_lag,"
        " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)"
        " from pg_stat_replication order by 1"
    )
    found = []
    for name, addr, state, lag, behind in rows:
        late = lag is not None and lag >= ctx.thresholds.replica_lag
        if late or int(behind or 0) >= ctx.thresholds.replica_lag_bytes or state != "streaming":
            found.append(
                self.finding(
                    f"replica {name or addr}",
                    f"replica {name or addr} is {state}, replay lag {lag}",
                    evidence=f"{int(behind or 0)} bytes of WAL not replayed",
                    severity=Severity.ERROR if state != "streaming" else Severity.WARNING,
                )
            )
    return found
