using System.Text;
using Idem.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore.Tests;

/// <summary>BEHAVIOUR §1: the key header, its accepted forms and every way it can be refused.</summary>
public sealed class IdempotencyKeyHeaderTests
{
    private readonly CallCounter _calls = new();

    public static TheoryData<string> InvalidKeys => new()
    {
        new string('k', 256),
        "a b",
        "a\tb",
        "a, b",
        "\"a\", \"b\"",
        "",
        "\"\"",
        "\"abc",
        "\"a\\x\"",
    };

    // Written byte for byte on the wire (Latin-1 of each char): a non-ASCII key as UTF-8 (é = C3 A9), a control
    // character and DEL.
    public static TheoryData<string> NonPrintableKeys => new()
    {
        "caf\u00C3\u00A9",
        "a\u0001b",
        "a\u007Fb",
    };

    private Task<TestApp> CreateSut(Action<IdempotencyHttpOptions>? options = null)
        => TestApp.StartAsync(
            app => app.MapPost("/orders", () => Results.Ok(new { call = _calls.Increment() })).RequireIdempotency(),
            http: options);

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public async Task Post_InvalidKey_Returns400KeyInvalidAndDoesNotRun(string key)
    {
        await using var sut = await CreateSut();

        var reply = await sut.Client.PostAsync("/orders", key);

        Assert.Equal(400, reply.Status);
        var problem = reply.Problem();
        Assert.Equal(IdempotencyProblemTypes.KeyInvalid, problem.Type);
        Assert.Equal(400, problem.Status);
        Assert.Contains("Nothing ran", problem.Detail, StringComparison.Ordinal);
        Assert.Equal(0, _calls.Count);
    }

    [Theory]
    [MemberData(nameof(NonPrintableKeys))]
    public async Task Post_KeyWithNonPrintableAsciiByte_Returns400KeyInvalid(string wireValue)
    {
        await using var sut = await CreateSut();

        var reply = Reply.From(await Idem.Testing.RawHttp.SendAsync(sut.BaseAddress, "POST", "/orders", [("Idempotency-Key", wireValue)]));

        Assert.Equal(400, reply.Status);
        Assert.Equal(IdempotencyProblemTypes.KeyInvalid, reply.Problem().Type);
        Assert.Equal(0, _calls.Count);
    }

    [Fact]
    public async Task Post_RepeatedKeyHeader_Returns400KeyInvalid()
    {
        await using var sut = await CreateSut();

        var reply = Reply.From(await Idem.Testing.RawHttp.SendAsync(sut.BaseAddress, "POST", "/orders", [("Idempotency-Key", "a"), ("Idempotency-Key", "a")]));

        Assert.Equal(400, reply.Status);
        var problem = reply.Problem();
        Assert.Equal(IdempotencyProblemTypes.KeyInvalid, problem.Type);
        Assert.Contains("exactly one", problem.Detail, StringComparison.Ordinal);
        Assert.Equal(0, _calls.Count);
    }

    [Fact]
    public async Task Post_MissingKey_Returns400KeyMissing()
    {
        await using var sut = await CreateSut();

        var reply = await sut.Client.PostAsync("/orders", key: null);

        Assert.Equal(400, reply.Status);
        var problem = reply.Problem();
        Assert.Equal(IdempotencyProblemTypes.KeyMissing, problem.Type);
        Assert.Contains("Idempotency-Key", problem.Detail, StringComparison.Ordinal);
        Assert.Equal(0, _calls.Count);
    }

    [Fact]
    public async Task Post_KeyOfMaximumLength_RunsHandler()
    {
        await using var sut = await CreateSut();

        var reply = await sut.Client.PostAsync("/orders", new string('k', 255));

        Assert.Equal(200, reply.Status);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_KeyLongerThanConfiguredMaximum_Returns400KeyInvalid()
    {
        await using var sut = await CreateSut(o => o.MaxKeyLength = 8);

        var accepted = await sut.Client.PostAsync("/orders", "12345678");
        var refused = await sut.Client.PostAsync("/orders", "123456789");

        Assert.Equal(200, accepted.Status);
        Assert.Equal(400, refused.Status);
        Assert.Equal(IdempotencyProblemTypes.KeyInvalid, refused.Problem().Type);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_QuotedThenBareFormOfSameKey_Replays()
    {
        await using var sut = await CreateSut();

        var quoted = await sut.Client.PostAsync("/orders", "\"abc-123\"");
        var bare = await sut.Client.PostAsync("/orders", "abc-123");

        Assert.Equal(200, quoted.Status);
        Assert.False(quoted.IsReplayed);
        Assert.Equal(200, bare.Status);
        Assert.True(bare.IsReplayed);
        Assert.Equal(quoted.Body, bare.Body);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_KeyWithSurroundingWhitespace_IsTheSameKey()
    {
        await using var sut = await CreateSut();

        var first = Reply.From(await Idem.Testing.RawHttp.SendAsync(sut.BaseAddress, "POST", "/orders", [("Idempotency-Key", "k-1")]));
        var second = Reply.From(await Idem.Testing.RawHttp.SendAsync(sut.BaseAddress, "POST", "/orders", [("Idempotency-Key", "k-1 \t")]));

        Assert.Equal(200, first.Status);
        Assert.True(second.IsReplayed);
        Assert.Equal(Encoding.UTF8.GetString(first.Body), Encoding.UTF8.GetString(second.Body));
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_ConfiguredHeaderName_IsTheOnlyHeaderRead()
    {
        await using var sut = await CreateSut(o => o.HeaderName = "X-Request-Key");

        var defaultHeader = await sut.Client.PostAsync("/orders", "k-1");
        var first = await sut.Client.PostAsync("/orders", key: null, configure: r => r.Headers.Add("X-Request-Key", "k-1"));
        var second = await sut.Client.PostAsync("/orders", key: null, configure: r => r.Headers.Add("X-Request-Key", "k-1"));

        Assert.Equal(400, defaultHeader.Status);
        var problem = defaultHeader.Problem();
        Assert.Equal(IdempotencyProblemTypes.KeyMissing, problem.Type);
        Assert.Contains("X-Request-Key", problem.Detail, StringComparison.Ordinal);
        Assert.False(first.IsReplayed);
        Assert.True(second.IsReplayed);
        Assert.Equal(first.Body, second.Body);
        Assert.Equal(1, _calls.Count);
    }
}
