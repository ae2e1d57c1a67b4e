using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;

namespace Idem.Payments.ChaosTests;

internal enum OperationKind
{
    Payment,
    Refund,
    Transfer,
    Hold,
    HoldCapture,
    HoldVoid,
    Batch,
}

/// <summary>A final answer (2xx or 4xx other than 409/429) to one attempt.</summary>
internal sealed record Answer(int Status, byte[] Body, bool Replayed, bool Late)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public string? Text(string property) => Json.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>A merchant tenant of the run: its client and two accounts with plenty of money in them.</summary>
internal sealed record ChaosTenant(int Index, TenantClient Client, string[] Accounts);

/// <summary>One operation: one request body under ONE idempotency key, sent until a final answer, then some more.</summary>
internal sealed class ChaosOperation(OperationKind kind, ChaosTenant tenant, string path, string json, string key, string? token = null, long amount = 0)
{
    private readonly Lock _gate = new();
    private readonly List<Answer> _finals = [];

    public OperationKind Kind { get; } = kind;

    public ChaosTenant Tenant { get; } = tenant;

    public string Path { get; } = path;

    public string Json { get; } = json;

    public string Key { get; } = key;

    /// <summary>The card token of a payment.</summary>
    public string? Token { get; } = token;

    public long Amount { get; } = amount;

    /// <summary>Every final answer in the order received; the first is the operation's answer.</summary>
    public IReadOnlyList<Answer> Finals
    {
        get
        {
            lock (_gate)
            {
                return [.. _finals];
            }
        }
    }

    public Answer? First
    {
        get
        {
            lock (_gate)
            {
                return _finals.Count > 0 ? _finals[0] : null;
            }
        }
    }

    /// <summary>Attempts cut by a SIGKILL of the node while in flight.</summary>
    public int Interrupted;

    /// <summary>Never got a final answer.</summary>
    public bool GaveUp { get; set; }

    /// <summary>Resends after the final answer that got none before their deadline.</summary>
    public int Unanswered;

    /// <summary>From the first attempt to the first final answer.</summary>
    public TimeSpan Duration { get; set; }

    public void Record(Answer answer)
    {
        lock (_gate)
        {
            _finals.Add(answer);
        }
    }
}

/// <summary>What the clients saw, summed over every attempt.</summary>
internal sealed class ChaosCounters
{
    public int Attempts;
    public int Concurrent;
    public int Late;
    public int Replays;
    public int Conflicts;
    public int Unavailable;
    public int ServerErrors;
    public int Refused;
    public int Interrupted;
    public int Timeouts;
    public int OtherErrors;
    public readonly ConcurrentDictionary<int, int> ServerErrorStatuses = new();
}

/// <summary>
/// The clients: each runs operations one after another until told to stop, each operation with one key retried (same
/// body, same key) on 409, 429, 5xx, connection errors and timeouts until it gets a final answer; some get a duplicate
/// fired while the first attempt may still be in flight, some are sent again after their answer (it must replay).
/// </summary>
internal sealed class ChaosWorkload(ChaosTopology topology, IReadOnlyList<ChaosTenant> tenants, int seed)
{
    private static readonly string[] Tokens = ["tok_visa", "tok_visa", "tok_visa", "tok_timeout", "tok_timeout", "tok_unavailable", "tok_unavailable", "tok_declined"];

    private readonly ConcurrentQueue<ChaosOperation> _operations = new();
    private volatile bool _stop;
    private long _deadlineTicks = DateTime.MaxValue.Ticks;

    public ChaosCounters Counters { get; } = new();

    public IReadOnlyCollection<ChaosOperation> Operations => _operations;

    /// <summary>
    /// No client starts a new operation after this; those under way run to their final answer, for at most
    /// <paramref name="finishWithin"/>, after which they give up (and the test says which).
    /// </summary>
    public void Stop(TimeSpan finishWithin)
    {
        Volatile.Write(ref _deadlineTicks, (DateTime.UtcNow + finishWithin).Ticks);
        _stop = true;
    }

    public Task RunAsync(int clients) => Task.WhenAll(Enumerable.Range(0, clients).Select(i => Task.Run(() => ClientAsync(i))));

    /// <summary>Sends <paramref name="operation"/> until a final answer (or the deadline); true if it got one.</summary>
    public async Task<bool> UntilFinalAsync(ChaosOperation operation, Random random, bool late, DateTime? deadline = null)
    {
        while (!await AttemptAsync(operation, late))
        {
            if (DateTime.UtcNow > (deadline ?? new DateTime(Volatile.Read(ref _deadlineTicks), DateTimeKind.Utc)))
            {
                if (operation.First is null)
                {
                    operation.GaveUp = true;
                }
                else
                {
                    // It had its answer, but asked again it gets none: as wrong as a different answer.
                    operation.Unanswered++;
                }

                return false;
            }

            await Task.Delay(random.Next(50, 400));
        }

        return true;
    }

    private async Task ClientAsync(int index)
    {
        var random = new Random(seed * 1000 + index);
        var tenant = tenants[index % tenants.Count];
        var succeeded = new List<(string Id, long Amount)>();
        var holds = new List<(string Id, long Amount)>();
        var number = 0;
        while (!_stop)
        {
            var operation = Next(random, tenant, succeeded, holds, $"chaos-{seed}-{index}-{number++}");
            _operations.Enqueue(operation);
            await RunAsync(operation, random);
            if (operation.Kind == OperationKind.Payment && operation.First is { Status: 201 } answer)
            {
                succeeded.Add((answer.Text("id")!, operation.Amount));
            }

            if (operation.Kind == OperationKind.Hold && operation.First is { Status: 201 } held)
            {
                holds.Add((held.Text("id")!, operation.Amount));
            }
        }
    }

    private static ChaosOperation Next(Random random, ChaosTenant tenant, List<(string Id, long Amount)> succeeded, List<(string Id, long Amount)> holds, string key)
    {
        var roll = random.NextDouble();

        // Holds: some expire within seconds, so the expirer races the captures and voids that come for them; each hold is
        // captured (all or part) or voided once, under a key of its own.
        if (holds.Count > 0 && roll < 0.12)
        {
            var index = random.Next(holds.Count);
            var (id, amount) = holds[index];
            holds.RemoveAt(index);
            if (random.NextDouble() < 0.25)
            {
                return new ChaosOperation(OperationKind.HoldVoid, tenant, $"/v1/holds/{id}/void", "{}", key, amount: amount);
            }

            var captured = random.Next(1, (int)amount + 1);
            return new ChaosOperation(OperationKind.HoldCapture, tenant, $"/v1/holds/{id}/capture", $$"""{"amount":{{captured}}}""", key, amount: captured);
        }

        if (roll < 0.22)
        {
            var from = random.Next(2);
            var held = random.Next(1, 1_000);
            return new ChaosOperation(OperationKind.Hold, tenant, "/v1/holds",
                $$"""{"from_account":"{{tenant.Accounts[from]}}","to_account":"{{tenant.Accounts[1 - from]}}","amount":{{held}},"currency":"USD","expires_in":{{random.Next(2, 12)}}}""",
                key, amount: held);
        }

        // Batches: two to five transfers between the tenant's accounts, all or nothing under one key.
        if (roll < 0.3)
        {
            var items = Enumerable.Range(0, random.Next(2, 6)).Select(_ =>
            {
                var side = random.Next(2);
                return TenantClient.TransferJson(tenant.Accounts[side], tenant.Accounts[1 - side], random.Next(1, 1_000));
            });
            return new ChaosOperation(OperationKind.Batch, tenant, "/v1/batches", $$"""{"transfers":[{{string.Join(',', items)}}]}""", key);
        }

        roll = random.NextDouble();
        if (succeeded.Count > 0 && roll < 0.2)
        {
            var (id, amount) = succeeded[random.Next(succeeded.Count)];
            var refund = Math.Max(1, amount / 4);
            return new ChaosOperation(OperationKind.Refund, tenant, $"/v1/payments/{id}/refunds", $$"""{"amount":{{refund}}}""", key, amount: refund);
        }

        if (roll < 0.3)
        {
            var from = random.Next(2);
            var amount = random.Next(1, 1_000);
            return new ChaosOperation(OperationKind.Transfer, tenant, "/v1/transfers", TenantClient.TransferJson(tenant.Accounts[from], tenant.Accounts[1 - from], amount), key,
                amount: amount);
        }

        var token = Tokens[random.Next(Tokens.Length)];
        var paid = random.Next(100, 10_000);
        return new ChaosOperation(OperationKind.Payment, tenant, "/v1/payments",
            $$"""{"amount":{{paid}},"currency":"USD","source":"{{token}}","account":"{{tenant.Accounts[random.Next(2)]}}"}""", key, token, paid);
    }

    private async Task RunAsync(ChaosOperation operation, Random random)
    {
        // Sometimes a duplicate with the same key, fired soon after the first: often while it is in flight (409 or a wait),
        // sometimes after it finished (a replay).
        Task? duplicate = null;
        if (random.NextDouble() < 0.3)
        {
            var delay = random.Next(0, 400);
            var duplicateRandom = new Random(random.Next());
            duplicate = Task.Run(async () =>
            {
                await Task.Delay(delay);
                Interlocked.Increment(ref Counters.Concurrent);
                await UntilFinalAsync(operation, duplicateRandom, late: false);
            });
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await UntilFinalAsync(operation, random, late: false);
        operation.Duration = clock.Elapsed;
        if (duplicate is not null)
        {
            await duplicate;
        }

        // Sometimes the client asks again a while after it had its answer: it must be replayed, byte for byte.
        if (!operation.GaveUp && random.NextDouble() < 0.35)
        {
            await Task.Delay(random.Next(0, 1_500));
            Interlocked.Increment(ref Counters.Late);
            await UntilFinalAsync(operation, random, late: true);
        }
    }

    // A 409 about the resource (a hold no longer pending) is the operation's answer; a 409 about the key (the first
    // request still running) is not.
    private static bool IsFinalConflict(byte[] body) => System.Text.Encoding.UTF8.GetString(body).Contains("hold-not-pending", StringComparison.Ordinal);

    private async Task<bool> AttemptAsync(ChaosOperation operation, bool late)
    {
        var life = topology.Life;
        Interlocked.Increment(ref Counters.Attempts);
        try
        {
            using var response = await operation.Tenant.Client.PostAsync(operation.Path, operation.Json, operation.Key);
            var body = await response.Content.ReadAsByteArrayAsync();
            var status = (int)response.StatusCode;
            var replayed = response.Headers.Contains("Idempotent-Replayed");
            if (replayed)
            {
                Interlocked.Increment(ref Counters.Replays);
            }

            switch (status)
            {
                case 409 when IsFinalConflict(body):
                    operation.Record(new Answer(status, body, replayed, late));
                    return true;
                case 409 or 429:
                    Interlocked.Increment(ref Counters.Conflicts);
                    return false;
                case 503:
                    Interlocked.Increment(ref Counters.Unavailable);
                    return false;
                case >= 500:
                    Interlocked.Increment(ref Counters.ServerErrors);
                    Counters.ServerErrorStatuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                    return false;
                default:
                    operation.Record(new Answer(status, body, replayed, late));
                    return true;
            }
        }
        catch (HttpRequestException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            // The node is down (between a kill and its restart): the client keeps trying with the same key.
            Interlocked.Increment(ref Counters.Refused);
            return false;
        }
        catch (TaskCanceledException) when (!life.Killed)
        {
            Interlocked.Increment(ref Counters.Timeouts);
            return false;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException)
        {
            if (life.Killed)
            {
                // In flight when the node was killed: the answer, if any, is lost; the retry must find out what happened.
                Interlocked.Increment(ref operation.Interrupted);
                Interlocked.Increment(ref Counters.Interrupted);
            }
            else
            {
                Interlocked.Increment(ref Counters.OtherErrors);
            }

            return false;
        }
    }
}

/// <summary>Sets up a tenant with two funded accounts.</summary>
internal static class ChaosSetup
{
    public const long Funding = 1_000_000_000;

    public static async Task<ChaosTenant> TenantAsync(HttpClient http, int index)
    {
        var client = new TenantClient(http, "sk_test_chaos" + Guid.NewGuid().ToString("N"));
        var accounts = new string[2];
        for (var i = 0; i < accounts.Length; i++)
        {
            accounts[i] = await client.CreateAccountIdAsync();
            await client.DepositAsync(accounts[i], Funding);
        }

        return new ChaosTenant(index, client, accounts);
    }

    public static bool IsExpected(HttpStatusCode status, OperationKind kind) => kind switch
    {
        OperationKind.Payment => status is HttpStatusCode.Created or HttpStatusCode.PaymentRequired,
        OperationKind.Refund => status is HttpStatusCode.Created or HttpStatusCode.UnprocessableEntity,
        OperationKind.Hold or OperationKind.Batch => status is HttpStatusCode.Created,
        OperationKind.HoldCapture or OperationKind.HoldVoid => status is HttpStatusCode.OK or HttpStatusCode.Conflict,
        _ => status is HttpStatusCode.Created,
    };
}
