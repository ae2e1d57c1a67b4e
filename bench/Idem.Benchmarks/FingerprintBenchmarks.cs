using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Idem.AspNetCore;
using Microsoft.AspNetCore.Http;

namespace Idem.Benchmarks;

/// <summary>
/// <see cref="RequestFingerprint"/> on a small and a 64 KiB JSON body, against hashing the same bytes with SHA-256 and
/// nothing else. The difference is the price of canonicalising JSON (BEHAVIOUR §3) and of the named parts.
/// </summary>
[MemoryDiagnoser]
public class FingerprintBenchmarks
{
    private byte[] _body = [];
    private DefaultHttpContext _context = null!;

    [Params(JsonBodies.Small, JsonBodies.Large)]
    public string Body { get; set; } = JsonBodies.Small;

    [GlobalSetup]
    public void Setup()
    {
        _body = JsonBodies.Get(Body);
        _context = new DefaultHttpContext();
        _context.Request.Method = HttpMethods.Post;
        _context.Request.ContentType = "application/json; charset=utf-8";
    }

    [Benchmark(Baseline = true, Description = "SHA256.HashData (no Idem)")]
    public byte[] Sha256() => SHA256.HashData(_body);

    [Benchmark(Description = "RequestFingerprint, JSON canonicalised")]
    public string FingerprintJson()
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.Add("method", "POST");
        fingerprint.Add("route", "/v1/transfers");
        fingerprint.Add("content-type", "application/json");
        fingerprint.AddBody(_body, isJson: true);
        return fingerprint.Finish();
    }

    [Benchmark(Description = "RequestFingerprint, raw bytes")]
    public string FingerprintRaw()
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.Add("method", "POST");
        fingerprint.Add("route", "/v1/transfers");
        fingerprint.Add("content-type", "application/json");
        fingerprint.AddBody(_body, isJson: false);
        return fingerprint.Finish();
    }

    // What the middleware runs per request: the above plus route values, query and content-type parsing.
    [Benchmark(Description = "middleware ComputeFingerprint")]
    public string MiddlewareFingerprint() => HttpRequestFingerprint.Compute(_context, "POST", "/v1/transfers", _body, null);
}
