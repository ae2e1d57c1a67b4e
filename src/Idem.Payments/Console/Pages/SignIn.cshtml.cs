using System.Security.Claims;
using Idem.Payments.Auth;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Idem.Payments.Console.Pages;

/// <summary>Signs an operator in with a tenant's API key: the cookie carries the tenant id (the key's hash), never the key.</summary>
internal sealed class SignInModel(ILogger<SignInModel> logger) : PageModel
{
    [BindProperty]
    public string? ApiKey { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public string? Error { get; private set; }

    public async Task<IActionResult> OnPostAsync()
    {
        var key = ApiKey?.Trim();
        if (string.IsNullOrEmpty(key))
        {
            Error = "Enter your API key.";
            return Page();
        }

        var tenant = Tenants.FromApiKey(key);
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, tenant)], ConsoleSetup.Scheme);
        await HttpContext.SignInAsync(ConsoleSetup.Scheme, new ClaimsPrincipal(identity)).ConfigureAwait(false);
        Log.ConsoleSignedIn(logger, tenant);

        // Only back into the console: an open redirect would let a link sign someone in and send them elsewhere.
        return LocalRedirect(ReturnUrl is { } url && Url.IsLocalUrl(url) && url.StartsWith(ConsoleSetup.PathBase, StringComparison.Ordinal) ? url : ConsoleSetup.PathBase);
    }
}
