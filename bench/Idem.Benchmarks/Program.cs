using BenchmarkDotNet.Running;

// A filter picks what runs, e.g. `-- --filter '*Fingerprint*' --job short`; with no arguments the switcher asks.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
