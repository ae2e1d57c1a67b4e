namespace Idem.Payments.Processor;

/// <summary>
/// Where the payments service reaches its card processor: <c>Processor:BaseUrl</c> when configured, otherwise the
/// simulator, which this hosted service starts beside the service on a loopback port of its own (<c>Processor:Urls</c>,
/// default any free port) and stops with it.
/// </summary>
internal sealed class ProcessorHost(IConfiguration configuration) : IHostedService, IAsyncDisposable
{
    private readonly TaskCompletionSource<Uri> _address = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebApplication? _simulator;

    /// <summary>The processor's base address; known once the service has started.</summary>
    public Uri BaseAddress => _address.Task.IsCompletedSuccessfully
        ? _address.Task.Result
        : throw new InvalidOperationException("The card processor's address is known only once the service has started.");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var configured = configuration[$"{ProcessorSimulator.SectionName}:BaseUrl"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            _address.TrySetResult(new Uri(configured.EndsWith('/') ? configured : configured + "/"));
            return;
        }

        var urls = configuration[$"{ProcessorSimulator.SectionName}:Urls"] ?? "http://127.0.0.1:0";
        // Quiet beside the service: its log is the service's, and "Now listening on" must name the service's own port.
        var args = new List<string> { "--urls", urls, "--Logging:LogLevel:Default=Warning" };
        foreach (var (key, value) in configuration.GetSection(ProcessorSimulator.SectionName).AsEnumerable(makePathsRelative: false))
        {
            if (value is not null && !key.EndsWith(":Urls", StringComparison.Ordinal))
            {
                args.Add($"--{key}={value}");
            }
        }

        _simulator = ProcessorSimulator.Build([.. args]);
        await _simulator.StartAsync(cancellationToken).ConfigureAwait(false);
        _address.TrySetResult(new Uri(_simulator.Urls.First() + "/"));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_simulator is not null)
        {
            await _simulator.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_simulator is not null)
        {
            await _simulator.DisposeAsync().ConfigureAwait(false);
        }
    }
}
