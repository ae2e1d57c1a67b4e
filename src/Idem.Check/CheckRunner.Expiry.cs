using System.Globalization;

namespace Idem.Check;

/// <summary>expiry-stated: what the answers say about how long their key is kept.</summary>
internal sealed partial class CheckRunner
{
    /// <summary>The header on the first answer and on its replay that says how long the key is kept, read as a span of time.</summary>
    private void JudgeExpiry(Reply first, Reply retry)
    {
        if (!_selected(CheckCatalog.ExpiryStated))
        {
            return;
        }

        var stated = new[] { ("first answer", first), ("replay", retry) }.Select(a => (Where: a.Item1, Header: StatedExpiry(a.Item2))).ToList();
        var missing = stated.Where(s => s.Header is null).Select(s => s.Where).ToList();
        if (missing.Count > 0)
        {
            var lookedFor = _target.ExpiryHeader ?? "a header naming idempotency and expiry, retention or TTL";
            Record(CheckCatalog.ExpiryStated, Outcome.Fail, $"no header on the {string.Join(" or the ", missing)} says how long the key is kept " +
                $"(looked for {lookedFor}); the draft asks the server to publish its expiry policy");
            return;
        }

        var bad = stated.Where(s => s.Header!.Value.Lifetime is not { } lifetime || lifetime <= TimeSpan.Zero).ToList();
        var shown = string.Join("; ", stated.Select(s => $"{s.Where}: {s.Header!.Value.Name}: {s.Header.Value.Value}" +
            (s.Header.Value.Lifetime is { } t ? $" ({t.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s)" : "")));
        Judge(CheckCatalog.ExpiryStated, bad.Count == 0,
            bad.Count == 0 ? shown : $"{shown}: not seconds or a date still to come");
    }

    /// <summary>The header that says how long the key is kept (one that reads as a time first), or null.</summary>
    private (string Name, string Value, TimeSpan? Lifetime)? StatedExpiry(Reply reply)
    {
        (string Name, string Value, TimeSpan? Lifetime)? unreadable = null;
        foreach (var (name, value) in reply.Headers ?? new Dictionary<string, string>())
        {
            if (!(_target.ExpiryHeader is { } expected ? name.Equals(expected, StringComparison.OrdinalIgnoreCase) : NamesExpiry(name)))
            {
                continue;
            }

            // Seconds (as Retry-After and max-age), or a date, measured from the answer's own Date when it has one.
            if (long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            {
                return (name, value, TimeSpan.FromSeconds(seconds));
            }

            if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
            {
                var now = reply.Headers!.TryGetValue("Date", out var date) && DateTimeOffset.TryParse(date, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var sent) ? sent : _time.GetUtcNow();
                return (name, value, at - now);
            }

            unreadable ??= (name, value, null);
        }

        return unreadable;
    }

    // Idempotency-Retention, Idempotency-Expires, X-Idempotency-Key-TTL: a word of idempotency and a word of expiry.
    private static bool NamesExpiry(string name)
    {
        var words = name.ToLowerInvariant().Split('-', '_');
        return words.Any(w => w.StartsWith("idempoten", StringComparison.Ordinal))
            && words.Any(w => w.StartsWith("expir", StringComparison.Ordinal) || w is "retention" or "ttl");
    }
}
