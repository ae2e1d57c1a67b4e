using System.Net;
using Idem.Payments.ConsoleTests.Infrastructure;
using Idem.Payments.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit;

namespace Idem.Payments.ConsoleTests;

/// <summary>
/// The console in a real browser (Debian's Chromium through Playwright): each test makes API requests as a tenant of
/// its own, signs in with that tenant's key and reads what the pages show. A screenshot of each page goes to
/// artifacts/test-results/screenshots.
/// </summary>
[Collection(ConsoleServer.Collection)]
public sealed class ConsoleBrowserTests(ConsoleServer server, BrowserFixture browser)
{
    [BrowserFact]
    public async Task Overview_AfterTheTenantsRequests_ChartsTheirOutcomes()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();
        using (var first = await tenant.PostAsync($"/v1/accounts/{account}/deposits", """{"amount":500}""", key))
        {
            Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        }

        using (var replay = await tenant.PostAsync($"/v1/accounts/{account}/deposits", """{"amount":500}""", key))
        {
            Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        }

        using (var reused = await tenant.PostAsync($"/v1/accounts/{account}/deposits", """{"amount":501}""", key))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);
        }

        var page = await SignInAsync(tenant.ApiKey);

        // Two executed (the account, the deposit), one replay, one reused key; nothing else.
        await Assertions.Expect(page.Locator("#outcomes")).ToBeVisibleAsync();
        Assert.Equal("2", await SeriesTotalAsync(page, "executed"));
        Assert.Equal("1", await SeriesTotalAsync(page, "replayed"));
        Assert.Equal("1", await SeriesTotalAsync(page, "422"));
        Assert.Equal("0", await SeriesTotalAsync(page, "409"));
        Assert.Equal("0", await SeriesTotalAsync(page, "503"));
        // Drawn, not only counted: the current minute's column holds the executed and replayed requests.
        await Assertions.Expect(page.Locator("g[data-series=executed] rect")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("g[data-series=replayed] rect")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("g[data-series='409'] rect")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#store-health")).ToContainTextAsync("Healthy");
        await Assertions.Expect(page.Locator("#audit-verdict")).ToContainTextAsync("Every check holds");
        await BrowserFixture.ScreenshotAsync(page, "overview");
    }

    [BrowserFact]
    public async Task Keys_SearchForAKey_ShowsItsStateRouteAndStatus()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();
        using (var deposit = await tenant.PostAsync($"/v1/accounts/{account}/deposits", """{"amount":700}""", key))
        {
            Assert.Equal(HttpStatusCode.Created, deposit.StatusCode);
        }

        var page = await SignInAsync(tenant.ApiKey);
        await page.ClickAsync("text=Keys");
        await page.FillAsync("#key", key);
        await page.ClickAsync("button:has-text('Find')");

        await Assertions.Expect(page.Locator("#key-state")).ToHaveTextAsync("completed");
        await Assertions.Expect(page.Locator("#key-status")).ToHaveTextAsync("201");
        await Assertions.Expect(page.Locator("#key-result")).ToContainTextAsync("POST /v1/accounts/{id}/deposits");
        await BrowserFixture.ScreenshotAsync(page, "keys-search");

        await page.FillAsync("#key", "no-such-" + key);
        await page.ClickAsync("button:has-text('Find')");
        await Assertions.Expect(page.Locator("p.error")).ToContainTextAsync("No request of yours used this key");
    }

    [BrowserFact]
    public async Task Keys_AfterAProcessorFailure_ShowTheKeyParkedAtItsRecoveryPoint_AndTheCompleterSettlesIt()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();

        // tok_unavailable: the processor answers 503 for 5 s per key, past the service's 3 s deadline.
        using (var payment = await tenant.PayAsync(account, 1_200, "tok_unavailable", key))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, payment.StatusCode);
        }

        var page = await SignInAsync(tenant.ApiKey);
        await page.GotoAsync("/console/keys");
        var parked = page.Locator("section:has(h2:text('Parked at a recovery point')) table");
        await Assertions.Expect(parked).ToContainTextAsync(key);
        await Assertions.Expect(parked).ToContainTextAsync("payment_created");
        await page.ClickAsync($"a:text('{key}')");
        await Assertions.Expect(page.Locator("#key-state")).ToHaveTextAsync("parked at recovery point payment_created");
        await BrowserFixture.ScreenshotAsync(page, "keys-parked");

        await page.GotoAsync("/console/payments");
        await Assertions.Expect(page.Locator("#backlog")).ToContainTextAsync("pending");
        await BrowserFixture.ScreenshotAsync(page, "payments");
        await page.Locator("#backlog a").First.ClickAsync();
        await Assertions.Expect(page.Locator("#payment-state")).ToHaveTextAsync("pending");

        // Once the processor is back, the action settles the payment: confirm, then the result.
        await Task.Delay(TimeSpan.FromSeconds(5));
        await page.ClickAsync("#complete-now");
        await BrowserFixture.ScreenshotAsync(page, "complete-confirm");
        await page.ClickAsync("#confirm");
        await Assertions.Expect(page.Locator("#action-result")).ToContainTextAsync("settled");
        await Assertions.Expect(page.Locator("#payment-state")).ToHaveTextAsync("succeeded");
        await BrowserFixture.ScreenshotAsync(page, "payment");

        // The client's retry now resumes at the point and finds it settled.
        using var retry = await tenant.PayAsync(account, 1_200, "tok_unavailable", key);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        await tenant.AssertAuditCleanAsync();
    }

    [BrowserFact]
    public async Task Account_WithMoreEntriesThanAPage_PagesThroughThemAll()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        const int Deposits = 25;
        for (var i = 1; i <= Deposits; i++)
        {
            await tenant.DepositAsync(account, i);
        }

        var page = await SignInAsync(tenant.ApiKey);
        await page.ClickAsync("text=Accounts");
        await Assertions.Expect(page.Locator("#accounts")).ToContainTextAsync(account);
        await BrowserFixture.ScreenshotAsync(page, "accounts");
        await page.ClickAsync($"a:text('{account}')");

        var seen = new List<string>();
        await Assertions.Expect(page.Locator("tr.entry")).ToHaveCountAsync(20);
        seen.AddRange(await page.Locator("tr.entry td:nth-child(4)").AllInnerTextsAsync());
        await BrowserFixture.ScreenshotAsync(page, "account-entries");
        await page.ClickAsync("#next-page");
        await Assertions.Expect(page.Locator("tr.entry")).ToHaveCountAsync(5);
        seen.AddRange(await page.Locator("tr.entry td:nth-child(4)").AllInnerTextsAsync());
        await Assertions.Expect(page.Locator("#next-page")).ToHaveCountAsync(0);

        // Every deposit once, newest first: 25, 24, … 1.
        Assert.Equal(Enumerable.Range(1, Deposits).Reverse().Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), seen);
    }

    [BrowserFact]
    public async Task SecondTenant_SignedIn_SeesNoneOfTheFirstTenantsData()
    {
        var first = server.NewTenant();
        var account = await first.CreateAccountIdAsync();
        await first.DepositAsync(account, 900);
        var key = TenantClient.NewKey();
        using (var payment = await first.PayAsync(account, 300, "tok_visa", key))
        {
            Assert.Equal(HttpStatusCode.Created, payment.StatusCode);
        }

        var second = server.NewTenant();
        var page = await SignInAsync(second.ApiKey);
        Assert.Equal("0", await SeriesTotalAsync(page, "executed"));
        await Assertions.Expect(page.Locator("#tenant")).ToHaveTextAsync(second.TenantId);
        await BrowserFixture.ScreenshotAsync(page, "second-tenant-overview");

        await page.GotoAsync("/console/accounts");
        await Assertions.Expect(page.Locator("main")).ToContainTextAsync("No accounts yet");
        await page.GotoAsync("/console/payments");
        await Assertions.Expect(page.Locator("main")).ToContainTextAsync("No payments yet");
        await page.GotoAsync("/console/keys?key=" + key);
        await Assertions.Expect(page.Locator("p.error")).ToContainTextAsync("No request of yours used this key");
        var response = await page.GotoAsync($"/console/accounts/{account}");
        Assert.Equal((int)HttpStatusCode.NotFound, response!.Status);
        foreach (var path in new[] { "/console", "/console/accounts", "/console/payments", "/console/keys" })
        {
            await page.GotoAsync(path);
            Assert.DoesNotContain(account, await page.ContentAsync(), StringComparison.Ordinal);
            Assert.DoesNotContain(first.TenantId, await page.ContentAsync(), StringComparison.Ordinal);
        }
    }

    private static async Task<string?> SeriesTotalAsync(IPage page, string series)
        => await page.Locator($"g[data-series='{series}']").GetAttributeAsync("data-total");

    private async Task<IPage> SignInAsync(string apiKey)
    {
        var page = await browser.NewPageAsync(server.BaseAddress);
        await page.GotoAsync("/console");
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/sign-in"));
        await page.FillAsync("#api-key", apiKey);
        await page.ClickAsync("button:has-text('Sign in')");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Overview");
        return page;
    }
}
