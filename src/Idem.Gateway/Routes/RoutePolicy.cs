using System.Globalization;
using Idem.AspNetCore;
using Yarp.ReverseProxy.Configuration;

namespace Idem.Gateway.Routes;

/// <summary>
/// A route's idempotency policy, read from its YARP <c>Metadata</c> (docs/gateway.md lists the keys). Every route is
/// guarded with the contract's defaults (a key required on POST and PATCH) unless its metadata says otherwise.
/// </summary>
internal sealed class RoutePolicy
{
    public const string Prefix = "Idempotency.";
    public const string Enabled = Prefix + "Enabled";
    public const string Required = Prefix + "Required";
    public const string Methods = Prefix + "Methods";
    public const string Retention = Prefix + "Retention";
    public const string Lease = Prefix + "Lease";
    public const string Fingerprint = Prefix + "Fingerprint";
    public const string Concurrent = Prefix + "Concurrent";
    public const string ConcurrentTimeout = Prefix + "ConcurrentTimeout";
    public const string ServerErrors = Prefix + "ServerErrors";
    public const string StoreFailure = Prefix + "StoreFailure";
    public const string ReplayedHeaders = Prefix + "ReplayedHeaders";
    public const string ScopeKey = Prefix + "Scope";
    public const string AnswerTimeoutKey = Prefix + "AnswerTimeout";

    private static readonly string[] Known =
        [Enabled, Required, Methods, Retention, Lease, Fingerprint, Concurrent, ConcurrentTimeout, ServerErrors, StoreFailure, ReplayedHeaders, ScopeKey, AnswerTimeoutKey];

    private RoutePolicy(string routeId, IdempotencyPolicy idempotency, Action<IdempotencyPolicyBuilder> configure, CallerScope scope, TimeSpan? answerTimeout)
    {
        RouteId = routeId;
        AnswerTimeout = answerTimeout;
        Idempotency = idempotency;
        Configure = configure;
        Scope = scope;
    }

    /// <summary>The YARP route's id: part of every scope, so two routes never share a record.</summary>
    public string RouteId { get; }

    /// <summary>The policy the idempotency middleware applies to the route's endpoint.</summary>
    public IdempotencyPolicy Idempotency { get; }

    /// <summary>Builds <see cref="Idempotency"/> on an endpoint's <c>RequireIdempotency</c> builder.</summary>
    public Action<IdempotencyPolicyBuilder> Configure { get; }

    /// <summary>Who the caller is, and so whose keys the route's records are.</summary>
    public CallerScope Scope { get; }

    /// <summary>
    /// How long the client waits for the upstream's answer before the gateway answers 504 itself and goes on waiting for
    /// it (up to the cluster's <c>ActivityTimeout</c>), to store it for the retry; null: the client waits as long as the
    /// gateway does.
    /// </summary>
    public TimeSpan? AnswerTimeout { get; }

    /// <summary>
    /// Reads <paramref name="route"/>'s policy; null when the route opts out (<c>Idempotency.Enabled</c> false). Throws
    /// <see cref="FormatException"/> naming the route and the key for a value it cannot read or a key it does not know.
    /// </summary>
    public static RoutePolicy? Read(RouteConfig route, CallerScope defaultScope)
    {
        ArgumentNullException.ThrowIfNull(route);
        var metadata = route.Metadata ?? new Dictionary<string, string>();
        string? current = null;
        string? Get(string name)
        {
            foreach (var (key, value) in metadata)
            {
                if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
                {
                    // Remembered so an error names the key whose value it could not read.
                    current = key;
                    return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
                }
            }

            return null;
        }

        foreach (var key in metadata.Keys)
        {
            if (key.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) && !Known.Contains(key, StringComparer.OrdinalIgnoreCase))
            {
                throw Invalid(route, key, $"is not a known key; the keys are {string.Join(", ", Known)}");
            }
        }

        try
        {
            if (Get(Enabled) is { } enabled && !ReadBool(enabled))
            {
                return null;
            }

            // Steps kept to be replayed on each endpoint's own builder (RequireIdempotency), each tried at once here so that
            // a bad value fails while the configuration loads, naming its key.
            var steps = new List<Action<IdempotencyPolicyBuilder>>();
            var built = new IdempotencyPolicyBuilder();
            void Step(Action<IdempotencyPolicyBuilder> step)
            {
                step(built);
                steps.Add(step);
            }

            if (Get(Required) is { } required && !ReadBool(required))
            {
                Step(b => b.Optional());
            }

            if (Get(Methods) is { } methodsText)
            {
                var methods = List(methodsText);
                Step(b => b.Methods(methods));
            }

            if (Get(Retention) is { } retentionText)
            {
                var retention = ReadTime(retentionText);
                Step(b => b.Retention(retention));
            }

            if (Get(Lease) is { } leaseText)
            {
                var lease = ReadTime(leaseText);
                Step(b => b.Lease(lease));
            }

            if (Get(Fingerprint) is { } membersText)
            {
                var members = List(membersText);
                Step(b => b.Fingerprint(members));
            }

            var timeout = Get(ConcurrentTimeout) is { } wait ? ReadTime(wait) : (TimeSpan?)null;
            switch (Get(Concurrent) is { } concurrent ? ReadEnum<ConcurrentRequestHandling>(concurrent) : (ConcurrentRequestHandling?)null)
            {
                case ConcurrentRequestHandling.WaitThenReplay:
                    Step(b => b.WaitForConcurrent(timeout));
                    break;
                case ConcurrentRequestHandling.Conflict:
                    Step(b => b.ConflictOnConcurrent());
                    break;
            }

            if (Get(ServerErrors) is { } serverErrors && ReadEnum<ServerErrorHandling>(serverErrors) == ServerErrorHandling.Store)
            {
                Step(b => b.StoreServerErrors());
            }

            if (Get(StoreFailure) is { } storeFailure && ReadEnum<StoreFailureHandling>(storeFailure) == StoreFailureHandling.FailOpen)
            {
                Step(b => b.FailOpen());
            }

            if (Get(ReplayedHeaders) is { } headersText)
            {
                var headers = List(headersText);
                Step(b => b.ReplayHeaders(headers));
            }

            var scope = Get(ScopeKey) is { } scopeText ? CallerScope.Parse(scopeText) : defaultScope;
            var answerTimeout = Get(AnswerTimeoutKey) is { } answerText ? ReadTime(answerText) : (TimeSpan?)null;
            void Configure(IdempotencyPolicyBuilder builder)
            {
                foreach (var step in steps)
                {
                    step(builder);
                }
            }

            return new RoutePolicy(route.RouteId, built.Build(), Configure, scope, answerTimeout);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
        {
            throw new FormatException($"Route '{route.RouteId}': metadata '{current}': {ex.Message}", ex);
        }
    }

    /// <summary>The policy in a few words, for the log.</summary>
    public override string ToString()
    {
        var p = Idempotency;
        return $"key {(p.KeyRequired ? "required" : "optional")} on {string.Join(",", p.Methods)}, scope {Scope.Source}"
            + (Scope.HeaderName is { } header ? ":" + header : "")
            + (p.LeaseDuration is { } lease ? $", lease {lease}" : "")
            + (p.Retention is { } retention ? $", retention {retention}" : "")
            + (p.ConcurrentRequests is { } concurrent ? $", concurrent {concurrent}" : "")
            + (AnswerTimeout is { } answer ? $", answer timeout {answer}" : "");
    }

    private static FormatException Invalid(RouteConfig route, string key, string problem) => new($"Route '{route.RouteId}': metadata '{key}' {problem}.");

    private static bool ReadBool(string value)
        => bool.TryParse(value, out var result) ? result : throw new FormatException($"'{value}' is not true or false.");

    // The configuration binder's TimeSpan form: [d.]hh:mm:ss[.fffffff], e.g. 00:00:30 or 1.00:00:00.
    private static TimeSpan ReadTime(string value)
        => TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out var result) && result > TimeSpan.Zero
            ? result
            : throw new FormatException($"'{value}' is not a positive time span such as 00:00:30 or 1.00:00:00.");

    // Names only: Enum.TryParse would also take any number.
    private static T ReadEnum<T>(string value)
        where T : struct, Enum
        => !char.IsAsciiDigit(value[0]) && value[0] != '-' && Enum.TryParse<T>(value, ignoreCase: true, out var result) && Enum.IsDefined(result)
            ? result
            : throw new FormatException($"'{value}' is not one of {string.Join(", ", Enum.GetNames<T>())}.");

    private static string[] List(string value)
        => value.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
