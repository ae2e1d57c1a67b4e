using System.Globalization;
using BenchmarkDotNet.Running;
using Idem.Benchmarks;

// `-- --redis-cpu [workers] [seconds] [rounds]` runs the Redis CPU probe (RedisCpuProbe); anything else goes to
// BenchmarkDotNet. A filter picks what runs, e.g. `-- --filter '*Fingerprint*' --job short`; with no arguments the switcher asks.
if (args is ["--redis-cpu", .. var rest])
{
    return await RedisCpuProbe.RunAsync(rest);
}

// `-- --redis-durability [workers] [seconds] [rounds]`: single server against cluster, with and without WAIT (RedisDurabilityProbe).
if (args is ["--redis-durability", .. var durability])
{
    return await RedisDurabilityProbe.RunAsync(durability);
}

// `-- --drive MODE N`: a plain loop for instruction counting (see Driver).
if (args is ["--drive", var mode, var count, ..])
{
    return await Driver.RunAsync(mode, int.Parse(count, CultureInfo.InvariantCulture), args.Contains("--pause"), args.Contains("--alloc-types"));
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
