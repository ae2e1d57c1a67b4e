using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Idem.Payments.Processor;

/// <summary>
/// A card processor to pay against: its own web application (own port, own SQLite file, own Idem store), reached over
/// real HTTP, every POST protected by Idem. The payments service hosts it beside itself by default; tests and the chaos
/// run start it as a process of its own (<c>Idem.Payments --processor</c>) so it outlives a killed payments node.
/// </summary>
/// <remarks>
/// Tokens: <c>tok_visa</c> succeeds; <c>tok_declined</c> is declined (402, stored and replayed); <c>tok_timeout</c> charges
/// and then answers its first attempt only after <see cref="ProcessorOptions.TimeoutDelay"/>, past any sane client
/// timeout; <c>tok_unavailable</c> answers 503 (and charges nothing) for <see cref="ProcessorOptions.UnavailableFor"/> from
/// the first attempt of each key; <c>tok_refund_refused</c> succeeds, but its refunds are refused for good (422), the first
/// attempt of each refund key answering only after <see cref="ProcessorOptions.TimeoutDelay"/> (a refusal that arrives after
/// the caller gave up). <c>GET /v1/charges</c> and <c>GET /v1/refunds</c> list what really happened, and
/// <c>GET /v1/requests/{key}</c> how many requests arrived under one idempotency key, replays included.
/// A charge made with <c>capture: false</c> only authorises its amount, for <see cref="ProcessorOptions.AuthorizationLifetime"/>;
/// <c>POST /v1/charges/{id}/capture</c> captures part or all of it (the rest is released) and
/// <c>POST /v1/charges/{id}/cancel</c> voids it, each once per idempotency key. <c>tok_capture_timeout</c> authorises at
/// once, but the first attempt of each capture or cancel key does its work and answers only after
/// <see cref="ProcessorOptions.TimeoutDelay"/>.
/// </remarks>
internal static class ProcessorSimulator
{
    public const string SectionName = "Processor";

    /// <summary>A card that charges, and whose refunds the network refuses.</summary>
    public const string RefundRefusedSource = "tok_refund_refused";

    /// <summary>A card that authorises, and whose captures and cancels answer their first attempt late.</summary>
    public const string CaptureTimeoutSource = "tok_capture_timeout";

    /// <summary>The <c>code</c> of a capture or cancel refused because the authorisation expired.</summary>
    public const string ExpiredCode = "authorization_expired";

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ApplicationName = typeof(ProcessorSimulator).Assembly.GetName().Name });
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        AddOptions(builder.Services);
        // The databases are composed now, from the same section; the whole section is validated at start.
        var options = builder.Configuration.GetSection(SectionName).Get<ProcessorOptions>() ?? new ProcessorOptions();
        var connectionString = new SqliteConnectionStringBuilder(options.ConnectionString) { ForeignKeys = true }.ToString();
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            // The context's snake_case applies only to its own options; the web defaults (camelCase) would otherwise name
            // idempotency_key "idempotencyKey" on the wire, and the service, reading with the context, would miss it.
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ProcessorJsonContext.Default);
        });
        builder.Services.AddSingleton(new ProcessorStore(connectionString, TimeProvider.System));
        builder.Services.AddSingleton<ProcessorFaults>();
        builder.Services.AddSingleton<ProcessorTraffic>();
        builder.Services.AddProblemDetails();
        builder.Services.AddIdempotency().AddSqliteStore(connectionString);

        var app = builder.Build();
        app.UseStatusCodePages();

        // Counted before Idem answers: a replay is a request the caller made too.
        var traffic = app.Services.GetRequiredService<ProcessorTraffic>();
        app.Use((context, next) =>
        {
            if (HttpMethods.IsPost(context.Request.Method))
            {
                traffic.Count(context.Request.Headers["Idempotency-Key"].ToString());
            }

            return next(context);
        });
        app.UseIdempotency();
        app.MapPost("/v1/charges", ChargeAsync).RequireIdempotency();
        app.MapPost("/v1/refunds", RefundAsync).RequireIdempotency();
        app.MapPost("/v1/charges/{id}/capture", (string id, CaptureRequest? request, HttpContext context, ProcessorStore store, ProcessorFaults faults, IOptions<ProcessorOptions> settings)
            => ActAsync(id, ChargeActionKind.Capture, request?.Amount, context, store, faults, settings)).RequireIdempotency();
        app.MapPost("/v1/charges/{id}/cancel", (string id, HttpContext context, ProcessorStore store, ProcessorFaults faults, IOptions<ProcessorOptions> settings)
            => ActAsync(id, ChargeActionKind.Cancel, null, context, store, faults, settings)).RequireIdempotency();
        app.MapGet("/v1/charges", async (ProcessorStore store, CancellationToken ct) => TypedResults.Ok(await store.ListChargesAsync(ct).ConfigureAwait(false)));
        app.MapGet("/v1/refunds", async (ProcessorStore store, CancellationToken ct) => TypedResults.Ok(await store.ListRefundsAsync(ct).ConfigureAwait(false)));
        app.MapGet("/v1/requests/{key}", (string key) => TypedResults.Ok(new KeyRequests(key, traffic.Of(key))));
        app.MapGet("/healthz", () => TypedResults.Ok());
        app.Lifetime.ApplicationStarted.Register(() => app.Services.GetRequiredService<ProcessorStore>().EnsureSchema());
        return app;
    }

    /// <summary>
    /// Binds the <c>Processor</c> section and validates it at start: in the simulator, and in the payments service, which
    /// reads <see cref="ProcessorOptions.BaseUrl"/> and hands the rest to the simulator it hosts.
    /// </summary>
    public static void AddOptions(IServiceCollection services)
    {
        services.AddOptions<ProcessorOptions>().BindConfiguration(SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProcessorOptions>, ProcessorOptionsValidator>());
    }

    private static async Task<Results<Created<ChargeRecord>, JsonHttpResult<ChargeRecord>, ProblemHttpResult>> ChargeAsync(
        ChargeRequest request, HttpContext context, ProcessorStore store, ProcessorFaults faults, IOptions<ProcessorOptions> settings)
    {
        var options = settings.Value;
        if (request.Amount is not > 0 || string.IsNullOrWhiteSpace(request.Currency) || string.IsNullOrWhiteSpace(request.Source) || string.IsNullOrWhiteSpace(request.Reference))
        {
            return TypedResults.Problem("amount (> 0), currency, source and reference are required.", statusCode: 400, title: "Invalid charge");
        }

        var key = context.Request.Headers["Idempotency-Key"].ToString();
        if (request.Source == "tok_unavailable" && faults.StillUnavailable(key, options.UnavailableFor))
        {
            return TypedResults.Problem("The card network is unavailable; nothing was charged. Retry later.", statusCode: 503, title: "Processor unavailable");
        }

        var status = request.Source is "tok_visa" or "tok_timeout" or "tok_unavailable" or RefundRefusedSource or CaptureTimeoutSource ? "succeeded" : "declined";
        var charge = await store.ChargeAsync(key, request, status, options.AuthorizationLifetime, CancellationToken.None).ConfigureAwait(false);
        if (request.Source == "tok_timeout" && faults.FirstAttempt(key))
        {
            // Charged; the answer comes only after the caller has given up waiting. A hang-up does not cut this short.
            await Task.Delay(options.TimeoutDelay, CancellationToken.None).ConfigureAwait(false);
        }

        return charge.Status != "declined"
            ? TypedResults.Created($"/v1/charges/{charge.Id}", charge)
            : TypedResults.Json(charge, statusCode: StatusCodes.Status402PaymentRequired);
    }

    private static async Task<Results<Created<RefundRecord>, ProblemHttpResult>> RefundAsync(
        RefundRequest request, HttpContext context, ProcessorStore store, ProcessorFaults faults, IOptions<ProcessorOptions> settings)
    {
        var options = settings.Value;
        if (request.Amount is not > 0 || string.IsNullOrWhiteSpace(request.Charge) || string.IsNullOrWhiteSpace(request.Reference))
        {
            return TypedResults.Problem("charge, amount (> 0) and reference are required.", statusCode: 400, title: "Invalid refund");
        }

        var key = context.Request.Headers["Idempotency-Key"].ToString();
        var refund = await store.RefundAsync(key, request, CancellationToken.None).ConfigureAwait(false);
        if (refund is null && faults.FirstAttempt(key))
        {
            // The refusal comes only after the caller has given up waiting; its retries get it at once (Idem replays it).
            await Task.Delay(options.TimeoutDelay, CancellationToken.None).ConfigureAwait(false);
        }

        return refund is null
            ? TypedResults.Problem("The charge does not exist, did not succeed, or would be refunded beyond its amount.", statusCode: 422, title: "Refund refused")
            : TypedResults.Created($"/v1/refunds/{refund.Id}", refund);
    }

    // Capture and cancel: 200 with the charge, or a refusal whose 'code' says why (422; 404 for no such charge).
    private static async Task<Results<Ok<ChargeRecord>, ProblemHttpResult>> ActAsync(
        string id, ChargeActionKind kind, long? amount, HttpContext context, ProcessorStore store, ProcessorFaults faults, IOptions<ProcessorOptions> settings)
    {
        if (amount is <= 0)
        {
            return TypedResults.Problem("amount must be greater than zero.", statusCode: 400, title: "Invalid capture");
        }

        var key = context.Request.Headers["Idempotency-Key"].ToString();
        var result = await store.ActAsync(key, id, kind, amount, CancellationToken.None).ConfigureAwait(false);
        if (result.Charge?.Source == CaptureTimeoutSource && faults.FirstAttempt(key))
        {
            // Done (or refused); the answer comes only after the caller has given up waiting.
            await Task.Delay(settings.Value.TimeoutDelay, CancellationToken.None).ConfigureAwait(false);
        }

        var verb = kind == ChargeActionKind.Capture ? "captured" : "canceled";
        return result.Outcome switch
        {
            ChargeActionOutcome.Done => TypedResults.Ok(result.Charge),
            ChargeActionOutcome.NotFound => TypedResults.Problem($"No charge {id} exists.", statusCode: 404, title: "No such charge"),
            ChargeActionOutcome.AmountTooLarge => TypedResults.Problem(
                $"The charge authorised {result.Charge!.Amount}; it cannot capture {amount}.", statusCode: 400, title: "Invalid capture"),
            ChargeActionOutcome.Expired => Refusal(ExpiredCode, $"The authorisation expired at {result.Charge!.ExpiresAt:O}; nothing can be {verb}."),
            ChargeActionOutcome.KeyReused => Refusal("key_reused", "This idempotency key already captured or canceled another charge."),
            _ => Refusal(kind == ChargeActionKind.Capture ? "charge_not_capturable" : "charge_not_cancelable",
                $"The charge is {result.Charge!.Status}, not an authorisation awaiting capture; nothing was {verb}."),
        };

        static ProblemHttpResult Refusal(string code, string detail)
            => TypedResults.Problem(detail, statusCode: 422, title: "Refused", extensions: new Dictionary<string, object?> { ["code"] = code });
    }
}

/// <summary>Settings of the processor simulator (section <c>Processor</c>).</summary>
internal sealed class ProcessorOptions
{
    /// <summary>Where the payments service reaches a processor of its own (an absolute http or https URL); empty: it hosts the simulator itself.</summary>
    [Url]
    public string? BaseUrl { get; set; }

    /// <summary>The simulator's own database file.</summary>
    [Required]
    public string ConnectionString { get; set; } = "Data Source=processor.db";

    /// <summary>How long <c>tok_timeout</c>'s first attempt, and the first attempt of a refund <c>tok_refund_refused</c> refuses, take to answer.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan TimeoutDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long <c>tok_unavailable</c> answers 503 from each key's first attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan UnavailableFor { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How long an authorisation (a charge made with <c>capture: false</c>) can be captured. Default 7 days; 1 second to 31 days.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "31.00:00:00")]
    public TimeSpan AuthorizationLifetime { get; set; } = TimeSpan.FromDays(7);
}

/// <summary>Checks the annotations of <see cref="ProcessorOptions"/> (source-generated, no reflection).</summary>
[OptionsValidator]
internal sealed partial class ProcessorOptionsValidator : IValidateOptions<ProcessorOptions>;

/// <summary>The simulator's injected faults, per idempotency key, in memory.</summary>
internal sealed class ProcessorFaults
{
    private readonly ConcurrentDictionary<string, long> _firstSeen = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _attempted = new(StringComparer.Ordinal);

    public bool StillUnavailable(string key, TimeSpan window)
    {
        var first = _firstSeen.GetOrAdd(key, _ => Environment.TickCount64);
        return Environment.TickCount64 - first < (long)window.TotalMilliseconds;
    }

    public bool FirstAttempt(string key) => _attempted.TryAdd(key, 0);
}

/// <summary>How many charge and refund requests the simulator has received, per idempotency key, in memory.</summary>
internal sealed class ProcessorTraffic
{
    private readonly ConcurrentDictionary<string, int> _requests = new(StringComparer.Ordinal);

    public void Count(string key) => _requests.AddOrUpdate(key, 1, (_, count) => count + 1);

    public int Of(string key) => _requests.TryGetValue(key, out var count) ? count : 0;
}

internal sealed record KeyRequests(string Key, int Requests);

/// <summary>A charge to make; <paramref name="Capture"/> <c>false</c> only authorises the amount (null or <c>true</c>: charged at once).</summary>
internal sealed record ChargeRequest(long? Amount, string? Currency, string? Source, string? Reference, bool? Capture = null);

/// <summary>A capture of an authorisation: <paramref name="Amount"/> of it, or all of it when null.</summary>
internal sealed record CaptureRequest(long? Amount);

internal sealed record RefundRequest(string? Charge, long? Amount, string? Reference);

/// <summary>
/// A charge as the processor keeps it. <paramref name="Status"/> is <c>succeeded</c> (money taken: <paramref name="Captured"/>
/// of <paramref name="Amount"/>), <c>declined</c>, or for an authorisation <c>requires_capture</c> (until
/// <paramref name="ExpiresAt"/>), <c>canceled</c> or <c>expired</c>.
/// </summary>
internal sealed record ChargeRecord(
    string Id, string Reference, long Amount, string Currency, string Source, string Status, long Refunded, string IdempotencyKey, long Captured = 0,
    DateTimeOffset? ExpiresAt = null);

/// <summary>The part of a charge or refund the payments service reads back: its id, and an authorisation's expiry.</summary>
internal sealed record ProcessorDocument(string Id, DateTimeOffset? ExpiresAt = null);

/// <summary>What the payments service reads from a refusal: why (<see cref="ProcessorSimulator.ExpiredCode"/>, …).</summary>
internal sealed record ProcessorRefusal(string? Code);

internal enum ChargeActionKind
{
    Capture,
    Cancel,
}

internal enum ChargeActionOutcome
{
    Done,
    NotFound,
    NotAuthorized,
    Expired,
    AmountTooLarge,
    KeyReused,
}

/// <summary>What a capture or cancel did, with the charge as it now stands (null when there is none).</summary>
internal readonly record struct ChargeActionResult(ChargeActionOutcome Outcome, ChargeRecord? Charge);

/// <summary>A refund as the processor keeps it.</summary>
internal sealed record RefundRecord(string Id, string Charge, string Reference, long Amount, string IdempotencyKey);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ChargeRequest))]
[JsonSerializable(typeof(RefundRequest))]
[JsonSerializable(typeof(CaptureRequest))]
[JsonSerializable(typeof(ProcessorRefusal))]
[JsonSerializable(typeof(ChargeRecord))]
[JsonSerializable(typeof(RefundRecord))]
[JsonSerializable(typeof(List<ChargeRecord>))]
[JsonSerializable(typeof(List<RefundRecord>))]
[JsonSerializable(typeof(ProcessorDocument))]
[JsonSerializable(typeof(KeyRequests))]
internal sealed partial class ProcessorJsonContext : JsonSerializerContext;
