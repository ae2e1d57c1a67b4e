using System.Diagnostics;

namespace Samples.Tests;

/// <summary>
/// Runs a sample's own entry point in a process of its own, from the test's output folder (which holds the sample and
/// its dependencies) with the test project's runtime configuration and dependency list. Linked as source.
/// </summary>
internal static class SampleProcess
{
    public static ProcessStartInfo StartInfo(string sample, params string[] arguments)
    {
        var folder = AppContext.BaseDirectory;
        var tests = typeof(SampleProcess).Assembly.GetName().Name;
        return new ProcessStartInfo("dotnet",
        [
            "exec",
            "--runtimeconfig", Path.Combine(folder, tests + ".runtimeconfig.json"),
            "--depsfile", Path.Combine(folder, tests + ".deps.json"),
            Path.Combine(folder, sample + ".dll"),
            .. arguments,
        ])
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
    }
}
