using Microsoft.Playwright;
using Xunit;

namespace Idem.Payments.ConsoleTests.Infrastructure;

/// <summary>
/// One headless Debian Chromium for the collection, driven by Playwright through its executable path (Playwright's own
/// browser download is never used). Without Chromium the browser tests are skipped, except under CI (<c>CI=true</c>),
/// where they fail: see <see cref="BrowserFactAttribute"/>.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    /// <summary>Debian's Chromium, or the browser <c>IDEM_TEST_CHROMIUM</c> names.</summary>
    public static string ChromiumExecutable => Environment.GetEnvironmentVariable("IDEM_TEST_CHROMIUM") is { Length: > 0 } path ? path : ChromiumPath;

    public static bool ChromiumInstalled => File.Exists(ChromiumExecutable);

    public IBrowser Browser => _browser ?? throw new InvalidOperationException(
        $"Chromium is not installed at {ChromiumExecutable} (eng/provision.sh installs it as root: apt-get install -y chromium).");

    /// <summary>Where screenshots go: artifacts/test-results/screenshots under the repository, beside the TRX files test.sh collects.</summary>
    public static string ScreenshotDirectory { get; } = FindScreenshotDirectory();

    public async Task InitializeAsync()
    {
        if (!ChromiumInstalled)
        {
            return;
        }

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumExecutable,
            Headless = true,
            // As root (a CI container) Chromium refuses to start with its sandbox; /dev/shm is small in containers.
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    /// <summary>A fresh context (its own cookies) and page on <paramref name="baseAddress"/>.</summary>
    public async Task<IPage> NewPageAsync(Uri baseAddress)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = baseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1100, Height = 800 } });
        return await context.NewPageAsync();
    }

    public static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ScreenshotDirectory);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name + ".png"), FullPage = true });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }

    private static string FindScreenshotDirectory()
    {
        if (Environment.GetEnvironmentVariable("IDEM_TEST_SCREENSHOTS") is { Length: > 0 } configured)
        {
            return configured;
        }

        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Idem.slnx")))
            {
                return Path.Combine(directory.FullName, "artifacts", "test-results", "screenshots");
            }
        }

        return Path.Combine(AppContext.BaseDirectory, "screenshots");
    }
}

/// <summary>A browser test: skipped when Chromium is missing, unless <c>CI</c> is set (true), where it runs and fails.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        var ci = Environment.GetEnvironmentVariable("CI");
        var underCi = !string.IsNullOrEmpty(ci) && !string.Equals(ci, "false", StringComparison.OrdinalIgnoreCase) && ci != "0";
        if (!BrowserFixture.ChromiumInstalled && !underCi)
        {
            Skip = $"Chromium is not installed at {BrowserFixture.ChromiumExecutable}; eng/provision.sh installs it (as root). Under CI=true this test fails instead.";
        }
    }
}
