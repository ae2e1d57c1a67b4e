using System.Text;
using Idem.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore.Tests;

/// <summary>
/// However a handler writes its body (the PipeWriter with partial advances and flushes, the Stream, both mixed), the
/// client gets exactly those bytes and the replay gets the same ones.
/// </summary>
public sealed class IdempotencyResponseCaptureTests
{
    private readonly CallCounter _calls = new();

    private Task<TestApp> CreateSut() => TestApp.StartAsync(app =>
    {
        app.MapPost("/mixed", async (HttpContext context) =>
        {
            var call = _calls.Increment();
            context.Response.ContentType = "text/plain";
            var writer = context.Response.BodyWriter;
            for (var i = 0; i < 200; i++)
            {
                // Ask for more than is used, as serializers do; write a little of it.
                var span = writer.GetSpan(4096);
                var text = Encoding.ASCII.GetBytes($"line {i} of call {call};");
                text.CopyTo(span);
                writer.Advance(text.Length);
                if (i % 50 == 0)
                {
                    await writer.FlushAsync();
                }
            }

            await context.Response.Body.WriteAsync(Encoding.ASCII.GetBytes("[stream]"));
            var memory = writer.GetMemory(10);
            Encoding.ASCII.GetBytes("[end]").CopyTo(memory);
            writer.Advance(5);
            await writer.FlushAsync();
        }).RequireIdempotency();
    });

    [Fact]
    public async Task Post_HandlerWritesThroughWriterAndStream_ClientAndReplayGetSameBytes()
    {
        await using var sut = await CreateSut();
        var expected = new StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            expected.Append($"line {i} of call 1;");
        }

        expected.Append("[stream][end]");

        var first = await sut.Client.PostAsync("/mixed", "k-1");
        var replay = await sut.Client.PostAsync("/mixed", "k-1");

        Assert.Equal(expected.ToString(), first.Text);
        Assert.True(replay.IsReplayed);
        Assert.Equal(first.Body, replay.Body);
        Assert.Equal(1, _calls.Count);
    }
}
