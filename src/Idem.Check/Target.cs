using System.Text.Json;
using System.Text.Json.Serialization;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Idem.Check;

/// <summary>The operation under test and how to reach it, read from a JSON or YAML file and/or command-line options.</summary>
internal sealed class Target
{
    public const string UniquePlaceholder = "{{unique}}";

    public string Method { get; set; } = "POST";

    public string? Url { get; set; }

    public Dictionary<string, string> Headers { get; set; } = [];

    /// <summary>The body; every <c>{{unique}}</c> becomes a fresh value for each new operation (each new key).</summary>
    public string? Body { get; set; }

    /// <summary>Another body, for the key-reuse checks when <see cref="Body"/> has no <c>{{unique}}</c> (or the target rejects unknown members).</summary>
    public string? OtherBody { get; set; }

    public string ContentType { get; set; } = "application/json";

    public string KeyHeader { get; set; } = "Idempotency-Key";

    /// <summary>Whether the target requires a key (then a request without one must be turned away with a 4xx).</summary>
    public bool RequiresKey { get; set; } = true;

    /// <summary>Longest key the target accepts; the kit sends one character more and expects a 4xx.</summary>
    public int MaxKeyLength { get; set; } = 255;

    /// <summary>Headers that authenticate caller A (also used for the effects URL).</summary>
    public Dictionary<string, string> CallerA { get; set; } = [];

    /// <summary>Headers that authenticate caller B; the scope check needs both.</summary>
    public Dictionary<string, string>? CallerB { get; set; }

    /// <summary>A GET URL that answers the number of effects so far: a JSON number, an array, or an object with <c>count</c>.</summary>
    public string? EffectsUrl { get; set; }

    /// <summary>A dotted path to the count inside the effects URL's JSON answer (<c>balances.posted</c>); null for the whole answer.</summary>
    public string? EffectsPath { get; set; }

    /// <summary>Headers that make the target answer a 5xx (a fault switch of a test environment).</summary>
    public Dictionary<string, string>? FaultHeaders { get; set; }

    /// <summary>
    /// Headers that make the target break off its answer: start it, then drop the connection (a fault switch of a test
    /// environment, standing for a crash mid-response).
    /// </summary>
    public Dictionary<string, string>? DropHeaders { get; set; }

    /// <summary>The response header that states how long a key is kept, when it is not one the kit recognises by name.</summary>
    public string? ExpiryHeader { get; set; }

    /// <summary>Parallel identical requests in the concurrency check (at most <see cref="MaxConcurrency"/>).</summary>
    public int Concurrency { get; set; } = 10;

    /// <summary>Seconds to wait before checking that a key is still honoured.</summary>
    public double PauseSeconds { get; set; } = 2;

    /// <summary>
    /// Seconds the client-hang-up check waits after sending its request before it resets the connection (sooner if the
    /// answer begins): long enough for the request to reach the target, short enough to land while it runs.
    /// </summary>
    public double HangUpSeconds { get; set; } = 0.05;

    /// <summary>Seconds any one request may take.</summary>
    public double TimeoutSeconds { get; set; } = 30;

    public const int MaxConcurrency = 20;

    /// <summary>Hard cap on requests in one run, so the kit stops by itself whatever the target does.</summary>
    public const int MaxRequests = 200;

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    private static readonly IDeserializer s_yaml = new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build();

    /// <summary>Reads a target file: YAML when its name ends in <c>.yaml</c> or <c>.yml</c>, JSON otherwise. The members are the same.</summary>
    public static Target Load(string path)
    {
        var text = File.ReadAllText(path);
        if (!path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) && !path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
        {
            return JsonSerializer.Deserialize<Target>(text, s_json) ?? throw new UsageException($"{path} holds no target.");
        }

        try
        {
            // Converted by each member's type, so `concurrency: 10` is a number and `X-Fail: 1` a header value; an
            // unknown member is an error, as in JSON.
            return s_yaml.Deserialize<Target?>(text) ?? throw new UsageException($"{path} holds no target.");
        }
        catch (YamlException e)
        {
            throw new UsageException($"{path}: {(e.InnerException ?? e).Message} (line {e.Start.Line}, column {e.Start.Column})");
        }
    }

    /// <summary>What is wrong with the description, or null.</summary>
    public string? Validate()
    {
        if (string.IsNullOrWhiteSpace(Url) || !Uri.TryCreate(Url, UriKind.Absolute, out var url) || (url.Scheme != "http" && url.Scheme != "https"))
        {
            return "a target URL (http or https) is required: --url or \"url\" in the target file";
        }

        if (EffectsUrl is not null && !Uri.TryCreate(EffectsUrl, UriKind.Absolute, out _))
        {
            return "the effects URL is not an absolute URL";
        }

        if (Concurrency is < 2 or > MaxConcurrency)
        {
            return $"concurrency must be between 2 and {MaxConcurrency}";
        }

        if (MaxKeyLength is < 1 or > 8192)
        {
            return "max key length must be between 1 and 8192";
        }

        if (HangUpSeconds is <= 0 or > 10)
        {
            return "the hang-up wait must be more than 0 and at most 10 seconds";
        }

        return PauseSeconds is < 0 or > 600 ? "pause must be between 0 and 600 seconds" : null;
    }
}

/// <summary>A mistake in how the kit was called; exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
