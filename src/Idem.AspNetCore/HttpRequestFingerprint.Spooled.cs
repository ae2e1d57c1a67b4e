using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Idem.AspNetCore;

/// <summary>Bodies too large to stay in the server's pipe, or of unknown length: spooled, and hashed as they go by.</summary>
internal static partial class HttpRequestFingerprint
{
    // The spool keeps this much in memory; past it, the body goes to a temporary file.
    private const int SpoolMemoryLimit = 64 * 1024;

    /// <summary>
    /// Reads the body through a spool that keeps its first 64 KiB in memory and the rest in a temporary file, which the
    /// handler (or a proxy forwarding it) then reads from the start. A raw body is hashed as it is read (its length known
    /// first: from Content-Length, or from the spool once a chunked body is in), so a large upload is never held in memory
    /// whole; a JSON body is, since it is canonicalised whole.
    /// </summary>
    private static async ValueTask<(string Fingerprint, MemberDigest? Members)> ComputeSpooledAsync(HttpContext context, string method, string route, IReadOnlyList<string>? members)
    {
        var request = context.Request;
        var aborted = context.RequestAborted;
        using var fingerprint = Start(context, method, route, out var isJson);
        var spool = new FileBufferingReadStream(request.Body, SpoolMemoryLimit, bufferLimit: null, TempDirectory);
        context.Response.RegisterForDisposeAsync(spool);
        if (isJson)
        {
            var json = new ArrayBufferWriter<byte>();
            int read;
            while ((read = await spool.ReadAsync(json.GetMemory(16 * 1024), aborted).ConfigureAwait(false)) > 0)
            {
                json.Advance(read);
            }

            fingerprint.AddBody(json.WrittenSpan, isJson: true, members);
        }
        else if (request.ContentLength is { } length)
        {
            await fingerprint.AddRawBodyAsync(spool, length, aborted).ConfigureAwait(false);
        }
        else
        {
            await spool.DrainAsync(aborted).ConfigureAwait(false);
            spool.Seek(0, SeekOrigin.Begin);
            await fingerprint.AddRawBodyAsync(spool, spool.Length, aborted).ConfigureAwait(false);
        }

        spool.Seek(0, SeekOrigin.Begin);
        request.Body = spool;
        return (fingerprint.Finish(), fingerprint.MemberDigest);
    }

    // Where ASP.NET Core spools request bodies too.
    private static string TempDirectory()
        => Environment.GetEnvironmentVariable("ASPNETCORE_TEMP") is { Length: > 0 } temp ? temp : Path.GetTempPath();
}
