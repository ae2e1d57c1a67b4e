using System.Globalization;
using BenchmarkDotNet.Running;
using Idem.Benchmarks;

// `-- --drive MODE N`: a plain loop for instruction counting (see Driver).
if (args is ["--drive", var mode, var count, ..])
{
    return await Driver.RunAsync(mode, int.Parse(count, CultureInfo.InvariantCulture), args.Contains("--pause"), args.Contains("--alloc-types"));
}

// A filter picks what runs, e.g. `-- --filter '*Fingerprint*' --job short`; with no arguments the switcher asks.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
