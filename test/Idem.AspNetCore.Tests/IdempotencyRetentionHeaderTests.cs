using Idem.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore.Tests;

/// <summary>
/// BEHAVIOUR §6 retention, said on the wire: the answers whose result is kept carry <c>Idempotency-Retention</c> (seconds),
/// the answers that keep nothing do not.
/// </summary>
public sealed class IdempotencyRetentionHeaderTests
{
    private const string Header = "Idempotency-Retention";

    private readonly CallCounter _calls = new();
    private readonly Signal _started = new();
    private readonly Signal _release = new();

    private Task<TestApp> CreateSut()
        => TestApp.StartAsync(
            app =>
            {
                app.MapPost("/orders", () => Results.Created($"/orders/{_calls.Increment()}", new { ok = true })).RequireIdempotency();
                app.MapPost("/declined", () => Results.Problem(statusCode: 402, title: "declined")).RequireIdempotency();
                app.MapPost("/short", () => Results.Ok(new { call = _calls.Increment() })).RequireIdempotency(p => p.Retention(TimeSpan.FromMinutes(10)));
                app.MapPost("/failing", () => Results.Problem(statusCode: 500, title: "broken")).RequireIdempotency();
                app.MapPost("/slow", async () =>
                {
                    _started.Set();
                    await _release.WaitAsync();
                    return Results.Ok(new { call = _calls.Increment() });
                }).RequireIdempotency();
            },
            options: o => o.Retention = TimeSpan.FromHours(24));

    [Fact]
    public async Task Post_KeptAnswers_FirstAndReplaysSayTheRetentionInSeconds()
    {
        await using var sut = await CreateSut();

        var first = await sut.Client.PostAsync("/orders", "k-1");
        var replay = await sut.Client.PostAsync("/orders", "k-1");
        var declined = await sut.Client.PostAsync("/declined", "k-2");
        var declinedReplay = await sut.Client.PostAsync("/declined", "k-2");
        var shortFirst = await sut.Client.PostAsync("/short", "k-3");
        var shortReplay = await sut.Client.PostAsync("/short", "k-3");

        Assert.Equal(201, first.Status);
        Assert.True(replay.IsReplayed);
        Assert.Equal("86400", first.Header(Header));
        Assert.Equal("86400", replay.Header(Header));
        Assert.Equal("86400", declined.Header(Header));
        Assert.Equal("86400", declinedReplay.Header(Header));
        Assert.Equal("600", shortFirst.Header(Header));
        Assert.Equal("600", shortReplay.Header(Header));
    }

    [Fact]
    public async Task Post_AnswersThatKeepNothing_DoNotSayARetention()
    {
        await using var sut = await CreateSut();
        await sut.Client.PostAsync("/orders", "k-1");

        var missing = await sut.Client.PostAsync("/orders", key: null);
        var invalid = await sut.Client.PostAsync("/orders", "");
        var mismatch = await sut.Client.PostAsync("/orders", "k-1", """{"other":true}""");
        var serverError = await sut.Client.PostAsync("/failing", "k-2");
        var slow = sut.Client.PostAsync("/slow", "k-3");
        await _started.WaitAsync();
        var inProgress = await sut.Client.PostAsync("/slow", "k-3");
        _release.Set();
        var slowFirst = await slow;

        Assert.Equal([400, 400, 422, 500, 409], new[] { missing.Status, invalid.Status, mismatch.Status, serverError.Status, inProgress.Status });
        foreach (var reply in new[] { missing, invalid, mismatch, serverError, inProgress })
        {
            Assert.False(reply.Has(Header), $"{reply.Status} says a retention");
        }

        Assert.Equal("86400", slowFirst.Header(Header));
    }
}
