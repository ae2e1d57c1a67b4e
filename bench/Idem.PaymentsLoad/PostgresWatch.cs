namespace Idem.PaymentsLoad;

/// <summary>Watches the service's PostgreSQL database over the measured window of one run.</summary>
internal sealed class PostgresWatch(PostgresProbe probe, NpgsqlCommands commands, SqlTrace? trace, bool statements) : IDisposable
{
    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(50);

    private readonly CancellationTokenSource _stopSampling = new();
    private (long Commits, long WalSyncs) _atStart;
    private (long Commits, long WalSyncs) _atEnd;
    private IReadOnlyDictionary<string, (long Commands, double Seconds)>? _commandsAtStart;
    private IReadOnlyDictionary<string, (long Commands, double Seconds)>? _commandsInWindow;
    private Task<SessionProfile>? _sampling;
    private List<StatementCost>? _costs;
    private SqlTraceResult? _traced;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (statements)
        {
            await probe.ResetStatementsAsync(cancellationToken);
        }

        _atStart = await probe.CountersAsync(cancellationToken);
        _commandsAtStart = commands.Snapshot();
        trace?.Start();
        _sampling = probe.SampleSessionsAsync(SampleInterval, _stopSampling.Token);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _commandsInWindow = NpgsqlCommands.Difference(_commandsAtStart!, commands.Snapshot());
        _traced = trace?.Stop();
        await _stopSampling.CancelAsync();
        _atEnd = await probe.CountersAsync(cancellationToken);
        _costs = statements ? await probe.ReadStatementsAsync(cancellationToken) : null;
    }

    /// <summary>What the window saw, per <paramref name="transfers"/> answered 201 in it.</summary>
    public async Task<PostgresWindow> ResultAsync(long transfers)
    {
        var sessions = await _sampling!;
        var (requests, requestSeconds, events, eventSeconds) = (0L, 0.0, 0L, 0.0);
        foreach (var (pool, (count, seconds)) in _commandsInWindow!)
        {
            // The service's two pools: the messaging pool has a name of its own; the other serves requests (and the
            // completer and hold expirer, which look once a second). The probe's own commands are left out.
            if (pool == PostgresProbe.PoolName)
            {
                continue;
            }

            if (pool == PostgresProbe.MessagingPoolName)
            {
                (events, eventSeconds) = (events + count, eventSeconds + seconds);
            }
            else
            {
                (requests, requestSeconds) = (requests + count, requestSeconds + seconds);
            }
        }

        return new PostgresWindow(
            transfers, _atEnd.Commits - _atStart.Commits, _atEnd.WalSyncs - _atStart.WalSyncs, requests, requestSeconds, events, eventSeconds, sessions, _costs, _traced);
    }

    public void Dispose() => _stopSampling.Dispose();
}
