namespace Idem.PaymentsLoad;

/// <summary>One run: a fresh service and database, its accounts funded, then transfers for the warm-up and the window.</summary>
internal sealed record RunResult(
    TargetKind Target, double Hot, int Round, LoadOutcome Load, int Settled, IReadOnlyList<string> Failures, PostgresWindow? Postgres)
{
    public bool Ok => Failures.Count == 0;
}

/// <summary>
/// The service's PostgreSQL database over the measured window: its commits, the commands Npgsql sent from the service's
/// two pools (requests; the outbox relay and the statements consumer), the WAL flushes of the whole server, what its
/// sessions were doing, and, where
/// <c>pg_stat_statements</c> is loaded, what each statement cost.
/// </summary>
internal sealed record PostgresWindow(
    long Transfers, long Commits, long WalSyncs, long RequestCommands, double RequestCommandSeconds, long EventCommands, double EventCommandSeconds,
    SessionProfile Sessions, IReadOnlyList<StatementCost>? Statements, SqlTraceResult? Trace)
{
    public double CommitsPerTransfer => Per(Commits);

    public double Per(double value) => Transfers == 0 ? double.NaN : value / Transfers;
}
