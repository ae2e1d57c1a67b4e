using System.Text;
using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore.Tests;

/// <summary>
/// BEHAVIOUR §4 row "same key, different fingerprint": the 422 names the body's top-level members that differ
/// (<c>fields</c>), from the member digest stored beside the first request's fingerprint.
/// </summary>
public sealed class IdempotencyMismatchTests
{
    private readonly CallCounter _calls = new();
    private readonly InMemoryIdempotencyStore _store = new();

    private Task<TestApp> CreateSut(Action<IdempotencyPolicyBuilder>? policy = null)
        => TestApp.StartAsync(
            app =>
            {
                app.MapPost("/transfers", () => Results.Ok(new { call = _calls.Increment() })).RequireIdempotency(policy);
                app.MapPost("/accounts/{id}/deposits", (string id) => Results.Ok(new { call = _calls.Increment() })).RequireIdempotency(policy);
            },
            store: b => b.UseStore(_store));

    [Fact]
    public async Task Post_SameKeyOtherAmount_422NamesAmountInFieldsAndDetail()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/transfers", "k-1", """{"from":"acc_1","to":"acc_2","amount":300,"currency":"USD"}""");
        var reply = await sut.Client.PostAsync("/transfers", "k-1", """{"currency":"USD","amount":301,"to":"acc_2","from":"acc_1"}""");

        Assert.Equal(422, reply.Status);
        var problem = reply.Problem();
        Assert.Equal(IdempotencyProblemTypes.KeyMismatch, problem.Type);
        Assert.Equal(["amount"], FieldsOf(problem));
        Assert.Contains("'amount'", problem.Detail, StringComparison.Ordinal);
        Assert.Contains("Do not retry with this key", problem.Detail, StringComparison.Ordinal);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_MembersChangedAddedAndRemoved_422NamesAllSortedOrdinal()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/transfers", "k-1", """{"to":"acc_2","amount":1,"note":"first","Memo":"m"}""");
        var reply = await sut.Client.PostAsync("/transfers", "k-1", """{"to":"acc_3","amount":1,"reference":"r","Memo":"n"}""");

        Assert.Equal(["Memo", "note", "reference", "to"], FieldsOf(reply.Problem()));
    }

    [Fact]
    public async Task Post_SameBodyOtherQuery_422WithNoFieldsSaysTheDifferenceIsOutsideTheBody()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/transfers?currency=EUR", "k-1", """{"amount":1}""");
        var reply = await sut.Client.PostAsync("/transfers?currency=USD", "k-1", """{"amount":1}""");

        var problem = reply.Problem();
        Assert.Equal(422, problem.Status);
        Assert.Empty(FieldsOf(problem));
        Assert.Contains("outside its body", problem.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_SameBodyOtherRouteValue_422WithNoFields()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/accounts/acc_1/deposits", "k-1", """{"amount":5}""");
        var reply = await sut.Client.PostAsync("/accounts/acc_2/deposits", "k-1", """{"amount":5}""");

        Assert.Equal(422, reply.Status);
        Assert.Empty(FieldsOf(reply.Problem()));
    }

    [Theory]
    [InlineData("""[1,2]""", """[1,3]""", "application/json")]
    [InlineData("""{"amount":1}""", """[1]""", "application/json")]
    [InlineData("""[1]""", """{"amount":1}""", "application/json")]
    [InlineData("amount=1", "amount=2", "application/x-www-form-urlencoded")]
    [InlineData("""{"amount":1}""", """{"amount":2""", "application/json")]
    public async Task Post_BodyThatIsNotAJsonObject_PlainProblemWithoutFields(string first, string second, string contentType)
    {
        await using var sut = await CreateSut();

        await sut.Client.SendAsync(HttpMethod.Post, "/transfers", "k-1", first, contentType);
        var reply = await sut.Client.SendAsync(HttpMethod.Post, "/transfers", "k-1", second, contentType);

        Assert.Equal(422, reply.Status);
        var problem = reply.Problem();
        Assert.Null(problem.Fields);
        Assert.DoesNotContain("\"fields\"", reply.Text, StringComparison.Ordinal);
        Assert.Contains("Do not retry with this key", problem.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_RecordStoredWithoutADigest_PlainProblemWithoutFields()
    {
        // A record written before member digests existed: the first request's fingerprint, nothing beside it.
        await using var sut = await CreateSut();
        var storeKey = StoreKey.Create("anonymous", "POST", "/transfers", "k-1");
        var context = new DefaultHttpContext();
        context.Request.ContentType = "application/json";
        var fingerprint = HttpRequestFingerprint.Compute(context, "POST", "/transfers", """{"amount":1}"""u8, null);
        var lease = (await _store.TryClaimAsync(new ClaimRequest(storeKey, fingerprint, TimeSpan.FromMinutes(1), TimeSpan.FromHours(1)))).Lease!;
        await _store.CompleteAsync(lease, new IdempotencyResponse(200, [], """{"call":0}"""u8.ToArray()));

        var same = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":1}""");
        var other = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":2}""");

        Assert.True(same.IsReplayed);
        Assert.Equal(422, other.Status);
        Assert.Null(other.Problem().Fields);
    }

    [Fact]
    public async Task Post_FingerprintNarrowedToMembers_FieldsNameOnlyTheChosenPaths()
    {
        await using var sut = await CreateSut(p => p.Fingerprint("amount", "to.id"));

        await sut.Client.PostAsync("/transfers", "k-1", """{"amount":5,"to":{"id":"a","note":"x"},"traceId":"1"}""");
        var reply = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":5,"to":{"id":"b","note":"y"},"traceId":"2"}""");

        Assert.Equal(["to.id"], FieldsOf(reply.Problem()));
    }

    [Fact]
    public async Task Post_StoredRecord_HoldsMemberNamesButNoRequestValue()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/transfers", "k-1", """{"amount":731904,"card_holder":"Zebediah Quarterman","to":"acc_2"}""");

        var record = await _store.GetAsync(StoreKey.Create("anonymous", "POST", "/transfers", "k-1"));
        Assert.NotNull(record);
        var stored = Encoding.Latin1.GetString(record.MemberDigest.Span);
        Assert.Contains("card_holder", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("Zebediah", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("Quarterman", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("731904", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("acc_2", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_ManyDifferingMembers_DetailNamesTenAndFieldsHasAll()
    {
        await using var sut = await CreateSut();
        static string Body(int value) => "{" + string.Join(",", Enumerable.Range(0, 12).Select(i => $"\"m{i:00}\":{value}")) + "}";

        await sut.Client.PostAsync("/transfers", "k-1", Body(1));
        var problem = (await sut.Client.PostAsync("/transfers", "k-1", Body(2))).Problem();

        Assert.Equal(12, FieldsOf(problem).Length);
        Assert.Contains("'m09' and 2 more", problem.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("'m10'", problem.Detail, StringComparison.Ordinal);
    }

    private static string[] FieldsOf(Problem problem)
    {
        Assert.NotNull(problem.Fields);
        return problem.Fields;
    }
}
