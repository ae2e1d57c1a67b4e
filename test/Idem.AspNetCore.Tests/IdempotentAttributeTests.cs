using System.ComponentModel.DataAnnotations;
using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.AspNetCore.Tests;

/// <summary>MVC: <see cref="IdempotentAttribute"/> on controller actions.</summary>
public sealed class IdempotentAttributeTests
{
    private readonly CallCounter _calls = new();
    private readonly RecordingStore _store = new(new InMemoryIdempotencyStore());

    private Task<TestApp> CreateSut()
        => TestApp.StartAsync(
            app => app.MapControllers(),
            services: s =>
            {
                s.AddSingleton(_calls);
                s.AddControllers().AddApplicationPart(typeof(IdempotentAttributeTests).Assembly);
            },
            store: b => b.UseStore(_store));

    [Fact]
    public async Task Post_IdempotentAction_ReplaysSameKey()
    {
        await using var sut = await CreateSut();

        var first = await sut.Client.PostAsync("/mvc/payments", "k-1", """{"amount":10,"currency":"EUR"}""");
        var retry = await sut.Client.PostAsync("/mvc/payments", "k-1", """{"currency":"EUR","amount":10}""");

        Assert.Equal(201, first.Status);
        Assert.Equal("/mvc/payments/1", first.Header("Location"));
        Assert.Equal(201, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal("/mvc/payments/1", retry.Header("Location"));
        Assert.Equal(first.Body, retry.Body);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_IdempotentActionWithoutKey_Returns400KeyMissing()
    {
        await using var sut = await CreateSut();

        var reply = await sut.Client.PostAsync("/mvc/payments", key: null, """{"amount":10,"currency":"EUR"}""");

        Assert.Equal(400, reply.Status);
        Assert.Equal(IdempotencyProblemTypes.KeyMissing, reply.Problem().Type);
        Assert.Equal(0, _calls.Count);
    }

    [Fact]
    public async Task Post_IdempotentActionDifferentBody_Returns422()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/mvc/payments", "k-1", """{"amount":10,"currency":"EUR"}""");
        var reply = await sut.Client.PostAsync("/mvc/payments", "k-1", """{"amount":11,"currency":"EUR"}""");

        Assert.Equal(422, reply.Status);
        Assert.Equal(IdempotencyProblemTypes.KeyMismatch, reply.Problem().Type);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_ModelValidationFails_StoresNothingAndFixedRetryRuns()
    {
        await using var sut = await CreateSut();

        var invalid = await sut.Client.PostAsync("/mvc/payments", "k-1", """{"amount":0,"currency":"EUR"}""");
        var fixedRetry = await sut.Client.PostAsync("/mvc/payments", "k-1", """{"amount":10,"currency":"EUR"}""");

        Assert.Equal(400, invalid.Status);
        Assert.NotEqual(IdempotencyProblemTypes.KeyInvalid, invalid.Text);
        Assert.Contains("Amount", invalid.Text, StringComparison.Ordinal);
        Assert.Equal(201, fixedRetry.Status);
        Assert.False(fixedRetry.IsReplayed);
        Assert.Equal(1, _calls.Count);
        Assert.Single(_store.Completed);
    }

    [Fact]
    public async Task Post_MalformedJsonToController_StoresNothing()
    {
        await using var sut = await CreateSut();

        var invalid = await sut.Client.PostAsync("/mvc/payments", "k-1", """{"amount":""");
        var fixedRetry = await sut.Client.PostAsync("/mvc/payments", "k-1", """{"amount":10,"currency":"EUR"}""");

        Assert.Equal(400, invalid.Status);
        Assert.Equal(201, fixedRetry.Status);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_ControllersWithConventionPolicy_ReplayAndValidationFailureStoresNothing()
    {
        await using var sut = await TestApp.StartAsync(
            app => app.MapControllers().RequireIdempotency(),
            services: s =>
            {
                s.AddSingleton(_calls);
                s.AddControllers().AddApplicationPart(typeof(IdempotentAttributeTests).Assembly);
            },
            store: b => b.UseStore(_store));

        var missing = await sut.Client.PostAsync("/mvc/payments/notes", key: null);
        var note = await sut.Client.PostAsync("/mvc/payments/notes", "k-1");
        var noteReplay = await sut.Client.PostAsync("/mvc/payments/notes", "k-1");
        var invalid = await sut.Client.PostAsync("/mvc/payments", "k-2", """{"amount":0,"currency":"EUR"}""");
        var fixedRetry = await sut.Client.PostAsync("/mvc/payments", "k-2", """{"amount":10,"currency":"EUR"}""");

        Assert.Equal(IdempotencyProblemTypes.KeyMissing, missing.Problem().Type);
        Assert.Equal(200, note.Status);
        Assert.True(noteReplay.IsReplayed);
        Assert.Equal(note.Body, noteReplay.Body);
        Assert.Equal(400, invalid.Status);
        Assert.Equal(201, fixedRetry.Status);
        Assert.False(fixedRetry.IsReplayed);
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task Post_ActionWithoutAttribute_IsUntouched()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/mvc/payments/notes", "k-1");
        var again = await sut.Client.PostAsync("/mvc/payments/notes", "k-1");

        Assert.Equal(200, again.Status);
        Assert.False(again.Has("Idempotent-Replayed"));
        Assert.Equal(2, _calls.Count);
    }
}

public sealed class PaymentRequest
{
    [Range(1, 1_000_000)]
    public int Amount { get; set; }

    [Required]
    public string? Currency { get; set; }
}

[ApiController]
[Route("mvc/payments")]
public sealed class PaymentsController(CallCounter calls) : ControllerBase
{
    [HttpPost]
    [Idempotent]
    public IActionResult Create(PaymentRequest request)
    {
        var call = calls.Increment();
        return Created($"/mvc/payments/{call}", new { call, request.Amount, request.Currency });
    }

    [HttpPost("notes")]
    public IActionResult Note() => Ok(new { call = calls.Increment() });
}
