using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Idem.Gateway.Tests.Infrastructure;

/// <summary>A response read whole: status, body bytes and the headers the tests compare.</summary>
internal sealed record Reply(int Status, byte[] Body, string? ContentType, string? Location, bool Replayed, string? RetryAfter)
{
    public string Text => Encoding.UTF8.GetString(Body);

    /// <summary>The problem's <c>type</c>, for problem+json answers.</summary>
    public string? ProblemType => ContentType == "application/problem+json" ? JsonDocument.Parse(Body).RootElement.GetProperty("type").GetString() : null;

    public override string ToString() => $"{Status} {Text}";
}

internal static class Requests
{
    public static string NewKey() => "key-" + Guid.NewGuid().ToString("N");

    /// <summary>POSTs <paramref name="json"/> with <paramref name="key"/> (none when null), as <paramref name="caller"/> (an Authorization value) when given.</summary>
    public static Task<Reply> PostAsync(this HttpClient http, string path, string? key, string json = """{"amount":100}""", string? caller = null,
        Action<HttpRequestMessage>? configure = null, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        }

        if (caller is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", caller);
        }

        configure?.Invoke(request);
        return http.SendReadAsync(request, cancellationToken);
    }

    public static async Task<Reply> SendReadAsync(this HttpClient http, HttpRequestMessage request, CancellationToken cancellationToken = default)
    {
        using (request)
        using (var response = await http.SendAsync(request, cancellationToken))
        {
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            return new Reply(
                (int)response.StatusCode,
                body,
                response.Content.Headers.ContentType?.ToString(),
                response.Headers.Location?.OriginalString,
                response.Headers.TryGetValues("Idempotent-Replayed", out var replayed) && replayed.Contains("true"),
                response.Headers.TryGetValues("Retry-After", out var after) ? after.First() : null);
        }
    }

    /// <summary>
    /// POSTs with <paramref name="key"/> every 250 ms while the key is held (409), failing after twice
    /// <paramref name="lease"/>; returns the first other answer and how many 409s came before it.
    /// </summary>
    public static async Task<(Reply Reply, int Held)> PostWhileHeldAsync(this HttpClient http, string path, string key, TimeSpan lease)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var held = 0;
        while (true)
        {
            var reply = await http.PostAsync(path, key);
            if (reply.Status != 409)
            {
                return (reply, held);
            }

            held++;
            Assert.True(clock.Elapsed < lease * 2, "the key was still held long after its lease");
            await Task.Delay(250);
        }
    }

    /// <summary>Adds a request header.</summary>
    public static Action<HttpRequestMessage> Header(string name, string value) => r => r.Headers.TryAddWithoutValidation(name, value);

    /// <summary>Sends <paramref name="count"/> requests at once: each is built and waiting before the last one releases them all.</summary>
    public static Task<T[]> BurstAsync<T>(int count, Func<int, Task<T>> send)
    {
        var ready = 0;
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Task.WhenAll(Enumerable.Range(0, count).Select(i => Task.Run(async () =>
        {
            if (Interlocked.Increment(ref ready) == count)
            {
                go.SetResult();
            }

            await go.Task;
            return await send(i);
        })));
    }
}

/// <summary>The gateway's process tests run one at a time: they hold ports, processes and timing-sensitive holds.</summary>
[CollectionDefinition(Name)]
public sealed class ProcessTests
{
    public const string Name = "Gateway processes";
}
