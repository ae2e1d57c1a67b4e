using System.Net;
using System.Text.RegularExpressions;
using Xunit;

namespace Idem.Payments.ConsoleTests.Infrastructure;

/// <summary>The console over plain HTTP, as a browser without script would use it: its own cookies, no redirects followed.</summary>
public sealed partial class ConsoleSession(Uri baseAddress) : IDisposable
{
    private readonly HttpClient _http = new(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = baseAddress };

    public Task<HttpResponseMessage> GetAsync(string path) => _http.GetAsync(path);

    public Task<HttpResponseMessage> PostFormAsync(string path, IEnumerable<KeyValuePair<string, string>> fields) => _http.PostAsync(path, new FormUrlEncodedContent(fields));

    /// <summary>The page's HTML, asserting 200.</summary>
    public async Task<string> GetPageAsync(string path)
    {
        using var response = await GetAsync(path);
        var html = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {html}");
        return html;
    }

    /// <summary>The antiforgery token of the first form on a page.</summary>
    public async Task<string> TokenFromAsync(string path) => TokenIn(await GetPageAsync(path));

    public static string TokenIn(string html)
    {
        var match = TokenField().Match(html);
        Assert.True(match.Success, "The page has no antiforgery token: " + html);
        return match.Groups[1].Value;
    }

    /// <summary>Signs in with an API key through the sign-in form, asserting the redirect into the console.</summary>
    public async Task SignInAsync(string apiKey)
    {
        var token = await TokenFromAsync("/console/sign-in");
        using var response = await PostFormAsync("/console/sign-in", [new("ApiKey", apiKey), new("__RequestVerificationToken", token)]);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/console", response.Headers.Location?.OriginalString);
    }

    public void Dispose() => _http.Dispose();

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex TokenField();
}
