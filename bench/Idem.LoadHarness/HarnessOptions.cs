using System.Globalization;

namespace Idem.LoadHarness;

/// <summary>Command-line options, each bounded so a run always ends by itself.</summary>
internal sealed record HarnessOptions
{
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(3);

    public int Concurrency { get; init; } = 32;

    public int Rounds { get; init; } = 3;

    public int ReplayKeys { get; init; } = 16;

    public TimeSpan MaxWarmup { get; init; } = TimeSpan.FromSeconds(90);

    public string? Output { get; init; }

    /// <summary>A Redis configuration string: when set, every run also serves the app on the Redis store.</summary>
    public string? Redis { get; init; }

    /// <summary>
    /// A PostgreSQL connection string: when set, every run also serves the app on the PostgreSQL store (without and with
    /// batching) and its floor; with <see cref="Gateway"/>, the gateway also runs on the PostgreSQL store there.
    /// </summary>
    public string? Postgres { get; init; }

    /// <summary>How long a batch that is not full waits for more (<see cref="BatchingOptions.MaxWait"/>) in the batched runs.</summary>
    public TimeSpan BatchMaxWait { get; init; }

    /// <summary>Whether first executions also run behind the floor middleware (see <see cref="EchoApp"/>).</summary>
    public bool Floor { get; init; }

    /// <summary>
    /// Gateway mode: the bare app served directly, behind YARP alone and behind the gateway (in-memory store; Redis and
    /// PostgreSQL too with <see cref="Redis"/> and <see cref="Postgres"/>), each a ratio to YARP alone (see <see cref="GatewayFront"/>).
    /// </summary>
    public bool Gateway { get; init; }

    public const string Usage = """
        Idem.LoadHarness: requests/s of one minimal API app, bare and with Idem, over loopback.
          --duration SECONDS     measured time of each run (1-120, default 10)
          --warmup SECONDS       unmeasured load before each run (0-60, default 3)
          --max-jit-warmup SECONDS  cap on the first warm-up, which runs until the JIT is quiet (10-600, default 90)
          --concurrency N        concurrent workers, one connection each (1-256, default 32)
          --rounds N             bare/Idem pairs per scenario (1-10, default 3)
          --replay-keys N        completed keys the replay scenario cycles through (1-1024, default 16)
          --output FILE          also write the Markdown report to FILE
          --redis CONFIG         also run the app on the Redis store at CONFIG (e.g. 127.0.0.1:6379), in the same rounds,
                                 and first executions on its floor (SET NX, then SET XX, with the raw client)
          --postgres CONNSTRING  also run the app on the PostgreSQL store (standalone, without and with batching), in the
                                 same rounds, and first executions on its floor (INSERT … ON CONFLICT, then UPDATE, raw
                                 Npgsql); with --gateway, the gateway on the PostgreSQL store too
          --batch-max-wait US    Batching.MaxWait of the batched runs, in microseconds (0-10000, default 0: a batch goes
                                 as soon as the one before it is answered)
          --floor                also run first executions behind a floor middleware (SHA-256 of the body and one
                                 dictionary entry per key, nothing else): a lower bound for any idempotency layer;
                                 with --gateway, YARP behind that floor, and behind the Redis floor with --redis
          --gateway              instead: the bare app directly, behind YARP alone and behind the idempotency gateway
                                 (in-memory store, plus --redis and --postgres when given), as ratios to YARP alone
        """;

    public static HarnessOptions Parse(string[] args)
    {
        var options = new HarnessOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                throw new ArgumentException(Usage);
            }

            if (name == "--floor")
            {
                options = options with { Floor = true };
                continue;
            }

            if (name == "--gateway")
            {
                options = options with { Gateway = true };
                continue;
            }

            if (i + 1 == args.Length)
            {
                throw new ArgumentException($"{name} needs a value.\n{Usage}");
            }

            var value = args[++i];
            options = name switch
            {
                "--duration" => options with { Duration = TimeSpan.FromSeconds(Bounded(name, value, 1, 120)) },
                "--warmup" => options with { Warmup = TimeSpan.FromSeconds(Bounded(name, value, 0, 60)) },
                "--concurrency" => options with { Concurrency = Bounded(name, value, 1, 256) },
                "--max-jit-warmup" => options with { MaxWarmup = TimeSpan.FromSeconds(Bounded(name, value, 10, 600)) },
                "--rounds" => options with { Rounds = Bounded(name, value, 1, 10) },
                "--replay-keys" => options with { ReplayKeys = Bounded(name, value, 1, 1024) },
                "--output" => options with { Output = value },
                "--redis" => options with { Redis = value },
                "--postgres" => options with { Postgres = value },
                "--batch-max-wait" => options with { BatchMaxWait = TimeSpan.FromMicroseconds(Bounded(name, value, 0, 10_000)) },
                _ => throw new ArgumentException($"Unknown option {name}.\n{Usage}"),
            };
        }

        return options;
    }

    private static int Bounded(string name, string value, int min, int max)
        => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max
            ? number
            : throw new ArgumentException($"{name} must be a whole number from {min} to {max}, not '{value}'.\n{Usage}");
}
