using System.Net;
using System.Text;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Customers;

public abstract class CustomerEndpointsTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : CustomerEndpointsTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : CustomerEndpointsTests(server);

    private const string Body = """{"name":"Ada Lovelace","email":"ada@example.com","metadata":{"tier":"gold","crm":"42"}}""";
    private const string Invalid = "urn:idem:payments:problem:invalid-request";
    private const string Malformed = "urn:idem:payments:problem:malformed-request";

    [Fact]
    public async Task Put_New_Returns201WithLocationAndTheCustomer()
    {
        var tenant = server.NewTenant();

        using var response = await PutAsync(tenant, "cus_ada", Body);

        var customer = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        Assert.Equal("/v1/customers/cus_ada", response.Headers.Location?.OriginalString);
        Assert.Equal("cus_ada", customer.GetProperty("id").GetString());
        Assert.Equal("Ada Lovelace", customer.GetProperty("name").GetString());
        Assert.Equal("ada@example.com", customer.GetProperty("email").GetString());
        Assert.Equal("""{"crm":"42","tier":"gold"}""", customer.GetProperty("metadata").GetRawText());
        Assert.Equal(1, customer.GetProperty("version").GetInt64());
        Assert.Equal(customer.GetProperty("created_at").GetString(), customer.GetProperty("updated_at").GetString());
    }

    [Fact]
    public async Task Put_SameCustomerAgain_Returns200AndChangesNothing()
    {
        var tenant = server.NewTenant();
        using var first = await PutAsync(tenant, "cus_1", Body);
        var created = await TenantClient.ReadJsonAsync(first, HttpStatusCode.Created);

        // The same meaning with members in another order: still the same customer.
        using var again = await PutAsync(tenant, "cus_1", """{"metadata":{"crm":"42","tier":"gold"},"email":"ada@example.com","name":"Ada Lovelace"}""");

        var repeated = await TenantClient.ReadJsonAsync(again, HttpStatusCode.OK);
        Assert.Equal(created.GetRawText(), repeated.GetRawText());
        Assert.Equal(1, await CountAsync(tenant));
    }

    [Fact]
    public async Task Put_DifferentCustomer_Returns200ReplacesItAndMovesVersion()
    {
        var tenant = server.NewTenant();
        using var first = await PutAsync(tenant, "cus_1", Body);
        var created = await TenantClient.ReadJsonAsync(first, HttpStatusCode.Created);

        using var replace = await PutAsync(tenant, "cus_1", """{"name":"Ada King"}""");

        var replaced = await TenantClient.ReadJsonAsync(replace, HttpStatusCode.OK);
        Assert.Equal("Ada King", replaced.GetProperty("name").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, replaced.GetProperty("email").ValueKind);
        Assert.Equal("{}", replaced.GetProperty("metadata").GetRawText());
        Assert.Equal(2, replaced.GetProperty("version").GetInt64());
        Assert.Equal(created.GetProperty("created_at").GetString(), replaced.GetProperty("created_at").GetString());
        using var read = await tenant.GetAsync("/v1/customers/cus_1");
        Assert.Equal(replaced.GetRawText(), (await TenantClient.ReadJsonAsync(read, HttpStatusCode.OK)).GetRawText());
    }

    [Fact]
    public async Task Delete_Existing_Returns204ThenEveryRepeatIs404AndTheStateStaysTheSame()
    {
        var tenant = server.NewTenant();
        using (var put = await PutAsync(tenant, "cus_gone", Body))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        using var delete = await DeleteAsync(tenant, "cus_gone");
        using var again = await DeleteAsync(tenant, "cus_gone");
        using var read = await tenant.GetAsync("/v1/customers/cus_gone");

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        await ProblemAssert.IsProblemAsync(again, HttpStatusCode.NotFound, "urn:idem:payments:problem:customer-not-found");
        await ProblemAssert.IsProblemAsync(read, HttpStatusCode.NotFound, "urn:idem:payments:problem:customer-not-found");
        Assert.Equal(0, await CountAsync(tenant));
    }

    [Fact]
    public async Task Put_AfterDelete_CreatesItAfresh()
    {
        var tenant = server.NewTenant();
        (await PutAsync(tenant, "cus_1", Body)).Dispose();
        (await DeleteAsync(tenant, "cus_1")).Dispose();

        using var put = await PutAsync(tenant, "cus_1", Body);

        var customer = await TenantClient.ReadJsonAsync(put, HttpStatusCode.Created);
        Assert.Equal(1, customer.GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task SameId_TwoTenants_EachHasItsOwnAndCannotSeeOrDeleteTheOther()
    {
        var a = server.NewTenant();
        var b = server.NewTenant();
        (await PutAsync(a, "cus_shared", Body)).Dispose();

        using var readByB = await b.GetAsync("/v1/customers/cus_shared");
        using var deleteByB = await DeleteAsync(b, "cus_shared");
        using var putByB = await PutAsync(b, "cus_shared", """{"name":"Someone else"}""");

        await ProblemAssert.IsProblemAsync(readByB, HttpStatusCode.NotFound, "urn:idem:payments:problem:customer-not-found");
        await ProblemAssert.IsProblemAsync(deleteByB, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.Created, putByB.StatusCode);
        using var readByA = await a.GetAsync("/v1/customers/cus_shared");
        var mine = await TenantClient.ReadJsonAsync(readByA, HttpStatusCode.OK);
        Assert.Equal("Ada Lovelace", mine.GetProperty("name").GetString());
        Assert.Equal(1, mine.GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task Put_TwentyIdenticalAtOnce_OneCreatesTheRestFindItUnchanged()
    {
        const int Parallel = 20;
        var tenant = server.NewTenant();
        var ready = 0;
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var statuses = await Task.WhenAll(Enumerable.Range(0, Parallel).Select(async _ =>
        {
            if (Interlocked.Increment(ref ready) == Parallel)
            {
                go.SetResult();
            }

            await go.Task;
            using var response = await PutAsync(tenant, "cus_race", Body);
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        Assert.Single(statuses, s => s.StatusCode == HttpStatusCode.Created);
        Assert.All(statuses, s => Assert.True(s.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, s.Body));
        Assert.Single(statuses.Select(s => s.Body).Distinct(StringComparer.Ordinal));
        Assert.Equal(1, await CountAsync(tenant));
    }

    public static TheoryData<string, string, string, string> BadPuts => new()
    {
        { "not JSON", "cus_1", "name=Ada", Malformed },
        { "truncated JSON", "cus_1", """{"name":""", Malformed },
        { "name is a number", "cus_1", """{"name":5}""", Malformed },
        { "unknown member", "cus_1", """{"name":"Ada","colour":"red"}""", Malformed },
        { "metadata is an array", "cus_1", """{"name":"Ada","metadata":["a"]}""", Malformed },
        { "metadata value is a number", "cus_1", """{"name":"Ada","metadata":{"a":1}}""", Malformed },
        { "missing name", "cus_1", """{"email":"ada@example.com"}""", Invalid },
        { "blank name", "cus_1", """{"name":"   "}""", Invalid },
        { "name too long", "cus_1", $$$"""{"name":"{{{new string('n', 201)}}}"}""", Invalid },
        { "bad email", "cus_1", """{"name":"Ada","email":"not-an-address"}""", Invalid },
        { "metadata null value", "cus_1", """{"name":"Ada","metadata":{"a":null}}""", Invalid },
        { "metadata too many keys", "cus_1", $$$"""{"name":"Ada","metadata":{{{{string.Join(',', Enumerable.Range(0, 21).Select(i => $"\"k{i}\":\"v\""))}}}}}""", Invalid },
        { "metadata key too long", "cus_1", $$$"""{"name":"Ada","metadata":{"{{{new string('k', 41)}}}":"v"}}""", Invalid },
        { "metadata value too long", "cus_1", $$$"""{"name":"Ada","metadata":{"k":"{{{new string('v', 501)}}}"}}""", Invalid },
        { "id too long", new string('c', 65), Body, Invalid },
        { "id with a dot", "cus.1", Body, Invalid },
        { "id with a space", "cus%201", Body, Invalid },
    };

    [Theory]
    [MemberData(nameof(BadPuts), MemberType = typeof(CustomerEndpointsTests))]
    public async Task Put_BadInput_Returns400ProblemAndWritesNothing(string scenario, string id, string body, string type)
    {
        var tenant = server.NewTenant();
        using (var put = await PutAsync(tenant, "cus_1", """{"name":"Original"}"""))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        using var response = await PutAsync(tenant, id, body);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, type);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()), scenario);
        Assert.Equal(1, await CountAsync(tenant));
        using var read = await tenant.GetAsync("/v1/customers/cus_1");
        var customer = await TenantClient.ReadJsonAsync(read, HttpStatusCode.OK);
        Assert.Equal("Original", customer.GetProperty("name").GetString());
        Assert.Equal(1, customer.GetProperty("version").GetInt64());
    }

    [Theory]
    [InlineData("cus.1")]
    [InlineData("cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc")]
    public async Task GetAndDelete_BadId_Return400Problem(string id)
    {
        var tenant = server.NewTenant();

        using var read = await tenant.GetAsync($"/v1/customers/{id}");
        using var delete = await DeleteAsync(tenant, id);

        await ProblemAssert.IsProblemAsync(read, HttpStatusCode.BadRequest, Invalid);
        await ProblemAssert.IsProblemAsync(delete, HttpStatusCode.BadRequest, Invalid);
    }

    private Task<long> CountAsync(TenantClient tenant) => server.Probe.CountAsync("SELECT COUNT(*) FROM customers WHERE tenant_id = @t", tenant.TenantId);

    private static Task<HttpResponseMessage> PutAsync(TenantClient tenant, string id, string json)
        => tenant.SendAsync(new HttpRequestMessage(HttpMethod.Put, $"/v1/customers/{id}") { Content = new StringContent(json, Encoding.UTF8, "application/json") });

    private static Task<HttpResponseMessage> DeleteAsync(TenantClient tenant, string id)
        => tenant.SendAsync(new HttpRequestMessage(HttpMethod.Delete, $"/v1/customers/{id}"));
}
