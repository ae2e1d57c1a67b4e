using System.Globalization;
using System.Net;
using BenchmarkDotNet.Attributes;
using Grpc.Core;
using Grpc.Net.Client;
using Idem.Benchmarks.Grpc;
using Idem.Grpc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Idem.Benchmarks;

/// <summary>
/// One unary gRPC call over loopback HTTP/2 (h2c), end to end: to a server without Idem (baseline), and to the same
/// service behind Idem's interceptor on the in-memory store, with a new key (claim, run, store the response bytes) and
/// with a completed key (replay). Every call carries a fresh or fixed key, so only Idem's own work differs.
/// </summary>
[MemoryDiagnoser]
public class GrpcBenchmarks
{
    private static readonly EchoCreateRequest Request = new() { Id = 42, Amount = 1250, Currency = "EUR", To = "acct_7Hq2" };

    private WebApplication _bareServer = null!;
    private WebApplication _idemServer = null!;
    private GrpcChannel _bareChannel = null!;
    private GrpcChannel _idemChannel = null!;
    private Echo.EchoClient _bare = null!;
    private Echo.EchoClient _idem = null!;
    private long _sequence;

    [GlobalSetup]
    public async Task Setup()
    {
        (_bareServer, _bareChannel) = await StartAsync(idempotent: false).ConfigureAwait(false);
        (_idemServer, _idemChannel) = await StartAsync(idempotent: true).ConfigureAwait(false);
        _bare = new Echo.EchoClient(_bareChannel);
        _idem = new Echo.EchoClient(_idemChannel);
        await _idem.CreateAsync(Request, Key("replayed")).ConfigureAwait(false);

        // One process serves and calls every case (with --inProcess): warm all three paths until the JIT has tiered them
        // up, or whichever case runs first pays for the shared Kestrel and gRPC code.
        for (var i = 0; i < 5000; i++)
        {
            await Bare().ConfigureAwait(false);
            await FirstExecution().ConfigureAwait(false);
            await Replay().ConfigureAwait(false);
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        _bareChannel.Dispose();
        _idemChannel.Dispose();
        await _bareServer.DisposeAsync().ConfigureAwait(false);
        await _idemServer.DisposeAsync().ConfigureAwait(false);
    }

    [Benchmark(Baseline = true, Description = "unary call, no interceptor")]
    public async Task<EchoCreated> Bare() => await _bare.CreateAsync(Request, Key(NextKey())).ConfigureAwait(false);

    [Benchmark(Description = "unary call, Idem, first execution")]
    public async Task<EchoCreated> FirstExecution() => await _idem.CreateAsync(Request, Key(NextKey())).ConfigureAwait(false);

    [Benchmark(Description = "unary call, Idem, replay")]
    public async Task<EchoCreated> Replay() => await _idem.CreateAsync(Request, Key("replayed")).ConfigureAwait(false);

    private string NextKey() => "key-" + (++_sequence).ToString(CultureInfo.InvariantCulture);

    private static Metadata Key(string key) => new() { { IdempotencyMetadataKeys.Key, key } };

    private static async Task<(WebApplication, GrpcChannel)> StartAsync(bool idempotent)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        var grpc = builder.Services.AddGrpc();
        if (idempotent)
        {
            builder.Services.AddIdempotency().AddInMemoryStore();
            grpc.AddIdempotency();
        }

        var app = builder.Build();
        app.MapGrpcService<EchoService>();
        await app.StartAsync().ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return (app, GrpcChannel.ForAddress(address));
    }

    private sealed class EchoService : Echo.EchoBase
    {
        [IdempotentRpc]
        public override Task<EchoCreated> Create(EchoCreateRequest request, ServerCallContext context)
            => Task.FromResult(new EchoCreated { Id = request.Id, Amount = request.Amount, Currency = request.Currency, Status = "accepted" });
    }
}
