using System.Security.Claims;
using System.Text.Encodings.Web;
using Idem.Payments.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Idem.Payments.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;api key&gt;</c>. Any non-empty key authenticates as its tenant: the principal's
/// name identifier is the tenant id, which Idem's default scope resolver uses, so idempotency keys are per tenant.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    private const string BearerPrefix = "Bearer ";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var values = Request.Headers.Authorization;
        if (values.Count == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (values.Count > 1)
        {
            return Task.FromResult(AuthenticateResult.Fail("Send exactly one Authorization header."));
        }

        var value = values.ToString().Trim();
        if (string.Equals(value, BearerPrefix.TrimEnd(), StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.Fail("The API key after 'Bearer' is empty."));
        }

        if (!value.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.Fail("Use the Bearer scheme: 'Authorization: Bearer <api key>'."));
        }

        var key = value[BearerPrefix.Length..].Trim();
        if (key.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.Fail("The API key after 'Bearer' is empty."));
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, Tenants.FromApiKey(key))], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false);
        var reason = result.Failure?.Message ?? "This request needs an API key: 'Authorization: Bearer <api key>'.";
        Response.Headers.WWWAuthenticate = "Bearer";
        await Problems.Create(StatusCodes.Status401Unauthorized, PaymentsProblemTypes.Unauthenticated, "Authentication required", reason)
            .ExecuteAsync(Context).ConfigureAwait(false);
    }
}
