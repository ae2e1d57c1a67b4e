using System.Diagnostics;

namespace Idem.Packaging.Tests;

/// <summary>
/// The library packages, packed once for the test class with <c>dotnet pack</c> (Release) into a folder of their own, as
/// a release would pack them: the solution filter eng/libraries.slnf, so the family is packed in one build.
/// </summary>
public sealed class PackedFamily : IAsyncLifetime
{
    /// <summary>Every library that ships as a package.</summary>
    public static readonly string[] Libraries =
    [
        "Idem", "Idem.AspNetCore", "Idem.Grpc", "Idem.Http", "Idem.Sqlite", "Idem.Postgres", "Idem.Redis", "Idem.Messaging", "Idem.Messaging.RabbitMQ",
        "Idem.EntityFrameworkCore",
    ];

    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(10);

    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "idem-packages-" + Guid.NewGuid().ToString("N"));

    public static string RepositoryRoot
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "Idem.slnx")))
                {
                    return directory.FullName;
                }
            }

            throw new InvalidOperationException($"No Idem.slnx above {AppContext.BaseDirectory}.");
        }
    }

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Folder);

        // The libraries' solution filter, which the test command packs for the samples too.
        var filter = Path.Combine(RepositoryRoot, "eng", "libraries.slnf");
        var start = new ProcessStartInfo("dotnet", ["pack", filter, "-c", "Release", "-o", Folder, "-nodeReuse:false", "-p:UseSharedCompilation=false"])
        {
            WorkingDirectory = RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var pack = Process.Start(start)!;
        var output = pack.StandardOutput.ReadToEndAsync();
        var errors = pack.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(PackTimeout);
        await pack.WaitForExitAsync(timeout.Token);
        Assert.True(pack.ExitCode == 0, $"dotnet pack failed ({pack.ExitCode}):\n{await output}\n{await errors}");
    }

    public Task DisposeAsync()
    {
        Directory.Delete(Folder, recursive: true);
        return Task.CompletedTask;
    }
}
