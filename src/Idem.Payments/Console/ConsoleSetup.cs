using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.WebUtilities;

namespace Idem.Payments.Console;

/// <summary>
/// The operator console at <c>/console</c>: Razor Pages rendered on the server, signed in with the tenant's API key.
/// The cookie holds the tenant id (a hash of the key), never the key; it is HttpOnly, SameSite=Strict, Secure whenever
/// the request came over TLS, and scoped to <c>/console</c>. Every form carries an antiforgery token, which Razor Pages
/// checks on every POST (400 without it).
/// </summary>
internal static class ConsoleSetup
{
    public const string Scheme = "Console";
    public const string Policy = "Console";
    public const string PathBase = "/console";

    // No script at all; styles inline in the layout; forms post only here; never framed.
    private const string ContentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static void AddConsole(this IServiceCollection services, AuthenticationBuilder authentication)
    {
        authentication.AddCookie(Scheme, options =>
        {
            options.LoginPath = PathBase + "/sign-in";
            options.LogoutPath = PathBase + "/sign-out";
            options.AccessDeniedPath = PathBase + "/sign-in";
            options.ExpireTimeSpan = TimeSpan.FromHours(8);
            options.SlidingExpiration = true;
            options.Cookie.Name = "idem-console";
            options.Cookie.Path = PathBase;
            options.Cookie.HttpOnly = true;
            options.Cookie.SameSite = SameSiteMode.Strict;
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        services.AddAuthorizationBuilder()
            .AddPolicy(Policy, policy => policy.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser().RequireClaim(ClaimTypes.NameIdentifier));
        services.AddAntiforgery(options =>
        {
            options.Cookie.Name = "idem-console-csrf";
            options.Cookie.Path = PathBase;
            options.Cookie.HttpOnly = true;
            options.Cookie.SameSite = SameSiteMode.Strict;
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        services.AddRazorPages(options =>
        {
            options.RootDirectory = "/Console/Pages";
            options.Conventions.AuthorizeFolder("/", Policy);
            options.Conventions.AllowAnonymousToPage("/SignIn");
        });
        services.AddSingleton<TenantOutcomes>();
    }

    /// <summary>The console's response headers; runs before authentication, so its redirects carry them too.</summary>
    public static void UseConsoleHeaders(this WebApplication app) => app.Use((context, next) =>
    {
        if (context.Request.Path.StartsWithSegments(PathBase))
        {
            context.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
            context.Response.Headers.XContentTypeOptions = "nosniff";
            context.Response.Headers.CacheControl = "no-store";
            context.Response.Headers["Referrer-Policy"] = "same-origin";
        }

        return next(context);
    });

    /// <summary>Starts counting outcomes per tenant; runs after authentication and before Idem's middleware.</summary>
    public static void UseTenantOutcomes(this WebApplication app)
    {
        app.Services.GetRequiredService<TenantOutcomes>();
        app.Use(TenantOutcomes.Middleware);
    }

    /// <summary>The console's page for a bodiless error: what happened, in words, and the way back.</summary>
    public static Task WriteStatusPageAsync(HttpContext context)
    {
        var status = context.Response.StatusCode;
        var message = status switch
        {
            StatusCodes.Status400BadRequest => "The form could not be accepted: it has expired or did not come from this console. Go back, reload the page and try again.",
            StatusCodes.Status404NotFound => "There is nothing of yours here.",
            StatusCodes.Status405MethodNotAllowed => "This page does not take that kind of request.",
            _ => "The request could not be served.",
        };
        context.Response.ContentType = "text/html; charset=utf-8";
        return context.Response.WriteAsync(string.Create(CultureInfo.InvariantCulture,
            $"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status} · Idem payments console</title></head><body><h1>{status} {ReasonPhrases.GetReasonPhrase(status)}</h1><p id=\"error\">{message}</p><p><a href=\"{PathBase}\">Back to the console</a></p></body></html>"));
    }
}
