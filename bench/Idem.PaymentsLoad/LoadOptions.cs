using System.Globalization;

namespace Idem.PaymentsLoad;

/// <summary>Where the service under load runs: in this process on a database of the run's own, or elsewhere.</summary>
internal enum TargetKind
{
    Sqlite,
    Postgres,
    Url,
}

/// <summary>Command-line options, each bounded so a run always ends by itself.</summary>
internal sealed record LoadOptions
{
    public const string PostgresVariable = "IDEM_TEST_POSTGRES";

    public IReadOnlyList<TargetKind> Targets { get; init; } = [TargetKind.Sqlite];

    /// <summary>The PostgreSQL server (an Npgsql connection string); with <see cref="Url"/>, the running service's own database.</summary>
    public string? Postgres { get; init; }

    public Uri? Url { get; init; }

    public int Accounts { get; init; } = 200;

    /// <summary>Shares of transfers that go through the one hot account; each is a run of its own in every round.</summary>
    public IReadOnlyList<double> HotShares { get; init; } = [0.0];

    public int Connections { get; init; } = 32;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>An unmeasured run per database before the first round, so the JIT has compiled the request path.</summary>
    public TimeSpan JitWarmup { get; init; } = TimeSpan.FromSeconds(10);

    public int Rounds { get; init; } = 1;

    public bool Pgbench { get; init; }

    /// <summary>Whether the service's SQL commands are traced (PostgreSQL in this process): costs it some CPU per command.</summary>
    public bool TraceSql { get; init; }

    public string PgbenchPath { get; init; } = "/usr/bin/pgbench";

    public string? Output { get; init; }

    /// <summary>Settings passed to the service this process starts, such as <c>--Payments:GroupCommit=false</c>.</summary>
    public IReadOnlyList<string> ServiceArguments { get; init; } = [];

    public const string Usage = """
        Idem.PaymentsLoad: transfers/s of the payments service over loopback, and a check that each happened exactly once.
          --database LIST        sqlite, postgres or sqlite,postgres: start the service in this process on a fresh database
                                 of each, one run each per round (default sqlite; postgres when --postgres is given)
          --postgres CONNSTR     the PostgreSQL server, an Npgsql connection string (default: $IDEM_TEST_POSTGRES); every run
                                 creates a database of its own there and drops it afterwards
          --url URL              drive a service already running at URL instead; --postgres then names that service's own
                                 database, read only (transfer rows, commits, sessions)
          --accounts N           accounts of the one tenant, each funded first (3-100000, default 200)
          --hot LIST             share of transfers through one hot account, either side, 0-1; the rest go between random
                                 pairs of the others. A list (0,1) runs each share in every round (default 0)
          --connections N        concurrent clients, one keep-alive connection each (1-256, default 32)
          --duration SECONDS     measured time of each run (1-120, default 10)
          --warmup SECONDS       unmeasured load before each run (0-60, default 3)
          --jit-warmup SECONDS   an unmeasured run per database before the first round (0-120, default 10; 0: none)
          --rounds N             rounds; the report gives the median (1-10, default 1)
          --pgbench              also run pgbench in each round, on the same PostgreSQL server at the same clients and
                                 duration: one single-row INSERT ... ON CONFLICT DO NOTHING per transaction
          --pgbench-path PATH    default /usr/bin/pgbench
          --trace-sql            on PostgreSQL in this process, trace every command of the request path (Npgsql's
                                 tracing): its round trip, the service's time between round trips, how long a transfer
                                 goes on holding both accounts. Costs the service some CPU: not for throughput figures
          --output FILE          also write the Markdown report to FILE
          --service-arg ARG      a setting for the service this process starts, e.g. --service-arg --Payments:GroupCommit=false
                                 (repeatable)
        """;

    public static LoadOptions Parse(string[] args)
    {
        var options = new LoadOptions();
        string? databases = null;
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                throw new ArgumentException(Usage);
            }

            if (name == "--pgbench")
            {
                options = options with { Pgbench = true };
                continue;
            }

            if (name == "--trace-sql")
            {
                options = options with { TraceSql = true };
                continue;
            }

            if (i + 1 == args.Length)
            {
                throw new ArgumentException($"{name} needs a value.\n{Usage}");
            }

            var value = args[++i];
            if (name == "--database")
            {
                databases = value;
                continue;
            }

            options = name switch
            {
                "--postgres" => options with { Postgres = value },
                "--url" => options with { Url = Uri.TryCreate(value, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? url : throw new ArgumentException($"--url must be an http(s) URL, not '{value}'.\n{Usage}") },
                "--accounts" => options with { Accounts = Bounded(name, value, 3, 100_000) },
                "--hot" => options with { HotShares = Shares(name, value) },
                "--connections" => options with { Connections = Bounded(name, value, 1, 256) },
                "--duration" => options with { Duration = TimeSpan.FromSeconds(Bounded(name, value, 1, 120)) },
                "--warmup" => options with { Warmup = TimeSpan.FromSeconds(Bounded(name, value, 0, 60)) },
                "--jit-warmup" => options with { JitWarmup = TimeSpan.FromSeconds(Bounded(name, value, 0, 120)) },
                "--rounds" => options with { Rounds = Bounded(name, value, 1, 10) },
                "--pgbench-path" => options with { PgbenchPath = value },
                "--output" => options with { Output = value },
                "--service-arg" => options with { ServiceArguments = [.. options.ServiceArguments, value] },
                _ => throw new ArgumentException($"Unknown option {name}.\n{Usage}"),
            };
        }

        if (options.Url is not null)
        {
            if (databases is not null)
            {
                throw new ArgumentException($"--database starts the service here; --url drives one running elsewhere. Give one of them.\n{Usage}");
            }

            options = options with { Targets = [TargetKind.Url] };
        }
        else
        {
            // PostgreSQL by default only when asked for by name; the variable alone does not switch from SQLite.
            options = options with
            {
                Postgres = options.Postgres ?? (Environment.GetEnvironmentVariable(PostgresVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null),
                Targets = databases is not null ? Databases(databases) : [options.Postgres is null ? TargetKind.Sqlite : TargetKind.Postgres],
            };
        }

        if ((options.Targets.Contains(TargetKind.Postgres) || options.Pgbench) && options.Postgres is null)
        {
            throw new ArgumentException($"PostgreSQL needs a server: give --postgres \"Host=…;Username=…;Password=…;Database=…\" or set {PostgresVariable}.\n{Usage}");
        }

        return options;
    }

    private static TargetKind[] Databases(string value)
    {
        var names = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var targets = names.Select(n => n.ToUpperInvariant() switch
        {
            "SQLITE" => TargetKind.Sqlite,
            "POSTGRES" or "POSTGRESQL" => TargetKind.Postgres,
            _ => throw new ArgumentException($"--database takes sqlite and/or postgres, not '{n}'.\n{Usage}"),
        }).Distinct().ToArray();
        return targets.Length > 0 ? targets : throw new ArgumentException($"--database needs sqlite and/or postgres.\n{Usage}");
    }

    private static double[] Shares(string name, string value)
    {
        var shares = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var share) && share is >= 0 and <= 1
                ? share
                : throw new ArgumentException($"{name} takes shares from 0 to 1 (such as 0,0.5,1), not '{s}'.\n{Usage}"))
            .Distinct().ToArray();
        return shares.Length > 0 ? shares : throw new ArgumentException($"{name} needs at least one share.\n{Usage}");
    }

    private static int Bounded(string name, string value, int min, int max)
        => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max
            ? number
            : throw new ArgumentException($"{name} must be a whole number from {min} to {max}, not '{value}'.\n{Usage}");
}
