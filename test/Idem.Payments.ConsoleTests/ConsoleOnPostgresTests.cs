using System.Net;
using Idem.Payments.ConsoleTests.Infrastructure;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.ConsoleTests;

/// <summary>The console's own query (the keys lists) and the pages on PostgreSQL, over plain HTTP.</summary>
[Collection(ConsolePostgresServer.Collection)]
public sealed class ConsoleOnPostgresTests(ConsolePostgresServer server)
{
    [Fact]
    public async Task Keys_AfterAProcessorFailure_ListTheKeyParkedAtItsRecoveryPoint()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var parked = TenantClient.NewKey();
        using (var payment = await tenant.PayAsync(account, 800, "tok_unavailable", parked))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, payment.StatusCode);
        }

        var completed = TenantClient.NewKey();
        using (var deposit = await tenant.PostAsync($"/v1/accounts/{account}/deposits", """{"amount":300}""", completed))
        {
            Assert.Equal(HttpStatusCode.Created, deposit.StatusCode);
        }

        // Another tenant's parked key must not show up in this tenant's lists.
        var other = server.NewTenant();
        var otherAccount = await other.CreateAccountIdAsync();
        var otherKey = TenantClient.NewKey();
        using (var payment = await other.PayAsync(otherAccount, 800, "tok_unavailable", otherKey))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, payment.StatusCode);
        }

        using var session = server.NewSession();
        await session.SignInAsync(tenant.ApiKey);
        var keys = await session.GetPageAsync("/console/keys");
        var parkedSection = keys[keys.IndexOf("Parked at a recovery point", StringComparison.Ordinal)..keys.IndexOf("In progress longer than their lease", StringComparison.Ordinal)];
        Assert.Contains(parked, parkedSection, StringComparison.Ordinal);
        Assert.Contains("payment_created", parkedSection, StringComparison.Ordinal);
        Assert.DoesNotContain(otherKey, keys, StringComparison.Ordinal);
        Assert.DoesNotContain(completed, keys, StringComparison.Ordinal);

        Assert.Contains("parked at recovery point payment_created", await session.GetPageAsync("/console/keys?key=" + parked), StringComparison.Ordinal);
        var found = await session.GetPageAsync("/console/keys?key=" + completed);
        Assert.Contains("<td id=\"key-state\">completed</td>", found, StringComparison.Ordinal);
        Assert.Contains("<td id=\"key-status\">201</td>", found, StringComparison.Ordinal);

        var overview = await session.GetPageAsync("/console");
        Assert.Contains("data-series=\"executed\" data-total=\"3\"", overview, StringComparison.Ordinal);
        Assert.Contains(account, await session.GetPageAsync("/console/accounts"), StringComparison.Ordinal);
        Assert.Contains("pending", await session.GetPageAsync("/console/payments"), StringComparison.Ordinal);
    }
}
