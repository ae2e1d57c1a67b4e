using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Primitives;

namespace Idem.Benchmarks;

/// <summary>
/// <see cref="IdempotencyKey.Parse(ReadOnlySpan{char}, int, out string?)"/> on the two forms clients send, against what
/// an endpoint without Idem does with the header at most: check it is there and not too long, and copy it.
/// </summary>
[MemoryDiagnoser]
public class KeyParsingBenchmarks
{
    private const int MaxLength = IdempotencyKey.DefaultMaxLength;

    // A UUID, what most clients send.
    private readonly string _bare = "5f0c6a52-8d4e-4b8e-9a57-2f1f3c9d7e21";
    private readonly string _quoted = "\"5f0c6a52-8d4e-4b8e-9a57-2f1f3c9d7e21\"";
    private StringValues _headerValues;

    [GlobalSetup]
    public void Setup() => _headerValues = new StringValues(_bare);

    [Benchmark(Baseline = true, Description = "copy header (no Idem)")]
    public string? CopyHeader()
    {
        var value = _bare;
        return string.IsNullOrEmpty(value) || value.Length > MaxLength ? null : new string(value.AsSpan());
    }

    [Benchmark(Description = "Parse bare token")]
    public string? ParseBare()
    {
        IdempotencyKey.Parse(_bare.AsSpan(), MaxLength, out var key);
        return key;
    }

    [Benchmark(Description = "Parse quoted sf-string")]
    public string? ParseQuoted()
    {
        IdempotencyKey.Parse(_quoted.AsSpan(), MaxLength, out var key);
        return key;
    }

    // What the middleware calls: the header's StringValues seen as a list.
    [Benchmark(Description = "Parse header values (middleware path)")]
    public string? ParseHeaderValues()
    {
        IdempotencyKey.Parse((IReadOnlyList<string?>)_headerValues, MaxLength, out var key);
        return key;
    }
}
