using System.Globalization;

namespace Idem.Check;

/// <summary>One answer as the checks see it.</summary>
internal sealed record Reply(int Status, byte[] Body, string? ContentType, string? Location, bool Replayed, string? RetryAfter, string? Failure = null, IReadOnlyDictionary<string, string>? Headers = null)
{
    /// <summary>The status, or why there was none (the connection failed or the request timed out).</summary>
    public string Answer => Failure is null ? Status.ToString(CultureInfo.InvariantCulture) : $"no answer ({Failure})";

    public bool IsSuccess => Status is >= 200 and < 300;

    public bool IsClientError => Status is >= 400 and < 500;

    public bool SameAnswer(Reply other) => Status == other.Status && Body.AsSpan().SequenceEqual(other.Body);
}

/// <summary>The outcome of a run: every selected check's result and how many requests it took.</summary>
internal sealed record CheckReport(string Method, string Url, DateTimeOffset StartedAt, TimeSpan Duration, int Requests, IReadOnlyList<CheckResult> Results)
{
    public bool MustFailed => Results.Any(r => r.Outcome == Outcome.Fail && r.Check.Severity == Severity.Must);

    public int Count(Outcome outcome) => Results.Count(r => r.Outcome == outcome);
}
