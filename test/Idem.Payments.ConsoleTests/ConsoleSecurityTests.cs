using System.Net;
using System.Text;
using Idem.Payments.ConsoleTests.Infrastructure;
using Idem.Payments.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Idem.Payments.ConsoleTests;

/// <summary>The console's guards over plain HTTP: signing in, tenant isolation, antiforgery, and no stored body in any page.</summary>
[Collection(ConsoleServer.Collection)]
public sealed class ConsoleSecurityTests(ConsoleServer server)
{
    private static readonly string[] Pages =
        ["/console", "/console/keys", "/console/keys?key=k", "/console/accounts", "/console/accounts/acct_x", "/console/payments", "/console/payments/pay_x", "/console/payments/pay_x/complete", "/console/audit"];

    [Fact]
    public async Task EveryPageAndAction_NotSignedIn_RedirectsToSignIn()
    {
        using var session = server.NewSession();
        foreach (var path in Pages)
        {
            using var response = await session.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"GET {path}: {(int)response.StatusCode}");
            Assert.StartsWith("/console/sign-in", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
        }

        // With a valid antiforgery token from the sign-in page, the actions still want a signed-in operator.
        var token = await session.TokenFromAsync("/console/sign-in");
        foreach (var path in new[] { "/console/payments/pay_x/complete", "/console/sign-out" })
        {
            using var response = await session.PostFormAsync(path, [new("__RequestVerificationToken", token)]);
            Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"POST {path}: {(int)response.StatusCode}");
            Assert.StartsWith("/console/sign-in", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task SignIn_EmptyKey_ShowsAFormError()
    {
        using var session = server.NewSession();
        var token = await session.TokenFromAsync("/console/sign-in");
        using var response = await session.PostFormAsync("/console/sign-in", [new("ApiKey", "  "), new("__RequestVerificationToken", token)]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Enter your API key.", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignIn_Cookie_IsHttpOnlySameSiteStrictAndScopedToTheConsole()
    {
        using var session = server.NewSession();
        var token = await session.TokenFromAsync("/console/sign-in");
        using var response = await session.PostFormAsync("/console/sign-in", [new("ApiKey", "sk_test_" + Guid.NewGuid().ToString("N")), new("__RequestVerificationToken", token)]);
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("idem-console=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/console", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("sk_test_", cookie, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignIn_ReturnUrlOutsideTheConsole_GoesToTheConsole()
    {
        using var session = server.NewSession();
        var token = await session.TokenFromAsync("/console/sign-in");
        using var response = await session.PostFormAsync("/console/sign-in",
            [new("ApiKey", "sk_test_" + Guid.NewGuid().ToString("N")), new("ReturnUrl", "//evil.example/console"), new("__RequestVerificationToken", token)]);
        Assert.Equal("/console", response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task AnotherTenantsIds_Answer404()
    {
        var owner = server.NewTenant();
        var account = await owner.CreateAccountIdAsync();
        using var paid = await owner.PayAsync(account, 250);
        var payment = (await TenantClient.ReadJsonAsync(paid, HttpStatusCode.Created)).GetProperty("id").GetString()!;

        using var session = server.NewSession();
        await session.SignInAsync("sk_test_" + Guid.NewGuid().ToString("N"));
        foreach (var path in new[] { $"/console/accounts/{account}", $"/console/payments/{payment}", $"/console/payments/{payment}/complete" })
        {
            using var response = await session.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"GET {path}: {(int)response.StatusCode}");
            Assert.Contains("There is nothing of yours here.", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var token = await session.TokenFromAsync("/console/keys");
        using var action = await session.PostFormAsync($"/console/payments/{payment}/complete", [new("__RequestVerificationToken", token)]);
        Assert.Equal(HttpStatusCode.NotFound, action.StatusCode);

        // The owner still sees its own.
        using var own = server.NewSession();
        await own.SignInAsync(owner.ApiKey);
        Assert.Contains(payment, await own.GetPageAsync($"/console/payments/{payment}"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Forms_WithoutAntiforgeryToken_Answer400()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        using var paid = await tenant.PayAsync(account, 250);
        var payment = (await TenantClient.ReadJsonAsync(paid, HttpStatusCode.Created)).GetProperty("id").GetString()!;

        using var anonymous = server.NewSession();
        using (var signIn = await anonymous.PostFormAsync("/console/sign-in", [new("ApiKey", tenant.ApiKey)]))
        {
            Assert.Equal(HttpStatusCode.BadRequest, signIn.StatusCode);
        }

        using var session = server.NewSession();
        await session.SignInAsync(tenant.ApiKey);
        foreach (var path in new[] { $"/console/payments/{payment}/complete", "/console/sign-out" })
        {
            using var missing = await session.PostFormAsync(path, []);
            Assert.True(missing.StatusCode == HttpStatusCode.BadRequest, $"POST {path} without a token: {(int)missing.StatusCode}");
            Assert.Contains("The form could not be accepted", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            using var forged = await session.PostFormAsync(path, [new("__RequestVerificationToken", "forged")]);
            Assert.True(forged.StatusCode == HttpStatusCode.BadRequest, $"POST {path} with a forged token: {(int)forged.StatusCode}");
        }

        // Still signed in: the refused sign-out did nothing.
        await session.GetPageAsync("/console");
    }

    [Fact]
    public async Task Pages_NeverShowAStoredResponseBody()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();
        using (var deposit = await tenant.PostAsync($"/v1/accounts/{account}/deposits", """{"amount":400}""", key))
        {
            Assert.Equal(HttpStatusCode.Created, deposit.StatusCode);
        }

        // A distinctive string in the stored body of the key's record, written where Idem keeps it.
        var marker = "stored-body-marker-" + Guid.NewGuid().ToString("N");
        await using (var connection = new SqliteConnection("Data Source=" + server.DatabasePath))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "UPDATE idem_keys SET body = @body WHERE key LIKE @key";
            command.Parameters.AddWithValue("@body", Encoding.UTF8.GetBytes($$"""{"secret":"{{marker}}"}"""));
            command.Parameters.AddWithValue("@key", "%|" + key);
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }

        // The API's replay now carries it, so it is really the stored body.
        using (var replay = await tenant.PostAsync($"/v1/accounts/{account}/deposits", """{"amount":400}""", key))
        {
            Assert.Contains(marker, await replay.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var session = server.NewSession();
        await session.SignInAsync(tenant.ApiKey);
        var keyPage = await session.GetPageAsync("/console/keys?key=" + Uri.EscapeDataString(key));
        Assert.Contains("completed", keyPage, StringComparison.Ordinal);
        foreach (var path in new[] { "/console", "/console/keys", "/console/accounts", $"/console/accounts/{account}", "/console/payments", "/console/audit" })
        {
            Assert.DoesNotContain(marker, await session.GetPageAsync(path), StringComparison.Ordinal);
        }

        Assert.DoesNotContain(marker, keyPage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_InvalidKey_ShowsAFormErrorNotAServerError()
    {
        using var session = server.NewSession();
        await session.SignInAsync("sk_test_" + Guid.NewGuid().ToString("N"));
        var page = await session.GetPageAsync("/console/keys?key=" + Uri.EscapeDataString("bad key\u00e9"));
        Assert.Contains("Not an idempotency key", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Account_UnknownPagingCursor_ShowsAFormError()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        using var session = server.NewSession();
        await session.SignInAsync(tenant.ApiKey);
        var page = await session.GetPageAsync($"/console/accounts/{account}?after=ent_nope");
        Assert.Contains("not one of this account", page, StringComparison.Ordinal);
    }
}
