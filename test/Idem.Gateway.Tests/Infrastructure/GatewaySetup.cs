using System.Text.Json;
using System.Text.Json.Nodes;

namespace Idem.Gateway.Tests.Infrastructure;

/// <summary>
/// One gateway's appsettings.json, as an operator would write it: the store, the engine's settings, and one YARP route
/// (<c>/orders/{**rest}</c> unless told) to one cluster, with the route's idempotency metadata.
/// </summary>
internal sealed record GatewaySetup
{
    public const string RouteId = "orders";

    public required Uri Upstream { get; init; }

    public string Path { get; init; } = "/orders/{**rest}";

    public string Store { get; init; } = "InMemory";

    public string? ConnectionString { get; init; }

    /// <summary>Redis key prefix, so tests sharing the server never see each other's records.</summary>
    public string? RedisKeyPrefix { get; init; }

    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the upstream may stay silent before the gateway gives up on it (YARP's ActivityTimeout).</summary>
    public TimeSpan ActivityTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string> { ["Idempotency.Required"] = "true" };

    public string? Scope { get; init; }

    public JsonObject ToJson()
    {
        var gateway = new JsonObject { ["Store"] = Store };
        if (ConnectionString is not null)
        {
            gateway["ConnectionString"] = ConnectionString;
        }

        if (RedisKeyPrefix is not null)
        {
            gateway["Redis"] = new JsonObject { ["KeyPrefix"] = RedisKeyPrefix };
        }

        if (Scope is not null)
        {
            gateway["Scope"] = Scope;
        }

        var metadata = new JsonObject();
        foreach (var (key, value) in Metadata)
        {
            metadata[key] = value;
        }

        // A deliberately broken gateway, to see the exactly-once tests fail: IDEM_GATEWAY_TESTS_BREAK=bypass-claim turns
        // the claim off on the route, so every request is forwarded as YARP alone would.
        if (Environment.GetEnvironmentVariable("IDEM_GATEWAY_TESTS_BREAK") == "bypass-claim")
        {
            metadata["Idempotency.Enabled"] = "false";
        }

        return new JsonObject
        {
            ["Logging"] = new JsonObject
            {
                ["LogLevel"] = new JsonObject { ["Default"] = "Warning", ["Microsoft.Hosting.Lifetime"] = "Information", ["Idem.Gateway"] = "Information" },
            },
            ["Gateway"] = gateway,
            ["Idempotency"] = new JsonObject { ["LeaseDuration"] = Lease.ToString("c") },
            ["ReverseProxy"] = new JsonObject
            {
                ["Routes"] = new JsonObject
                {
                    [RouteId] = new JsonObject
                    {
                        ["ClusterId"] = "upstream",
                        ["Match"] = new JsonObject { ["Path"] = Path },
                        ["Metadata"] = metadata,
                    },
                },
                ["Clusters"] = new JsonObject
                {
                    ["upstream"] = new JsonObject
                    {
                        ["HttpRequest"] = new JsonObject { ["ActivityTimeout"] = ActivityTimeout.ToString("c") },
                        ["Destinations"] = new JsonObject { ["one"] = new JsonObject { ["Address"] = Upstream.ToString() } },
                    },
                },
            },
        };
    }
}

/// <summary>The gateway binary as a child process, configured by an appsettings.json of its own in a temp folder.</summary>
internal sealed class GatewayNode : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private readonly string _directory;

    private GatewayNode(string directory, ServiceProcess process)
    {
        _directory = directory;
        Process = process;
    }

    public ServiceProcess Process { get; }

    public HttpClient Http => Process.Http;

    public static async Task<GatewayNode> StartAsync(GatewaySetup setup, string name = "gateway", params string[] settings)
    {
        var directory = Directory.CreateTempSubdirectory("idem-gateway-tests-").FullName;
        await WriteAsync(directory, setup.ToJson());
        try
        {
            return new GatewayNode(directory, await ServiceProcess.StartDotnetAsync("The gateway " + name, ServiceProcess.GatewayPath, directory, settings));
        }
        catch
        {
            Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    /// <summary>Starts a gateway expecting it to refuse the configuration; returns what it wrote before it exited.</summary>
    public static async Task<string> FailToStartAsync(JsonObject settings)
    {
        var directory = Directory.CreateTempSubdirectory("idem-gateway-tests-").FullName;
        await WriteAsync(directory, settings);
        try
        {
            ServiceProcess? started = null;
            try
            {
                started = await ServiceProcess.StartDotnetAsync("The gateway", ServiceProcess.GatewayPath, directory);
            }
            catch (InvalidOperationException failure)
            {
                return failure.Message;
            }

            await started.DisposeAsync();
            Assert.Fail("The gateway started with a configuration it should have refused.");
            return "";
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Rewrites the appsettings.json the running gateway reads; it reloads the routes without a restart.</summary>
    public Task ReconfigureAsync(JsonObject settings) => WriteAsync(_directory, settings);

    public Task KillAsync() => Process.KillAsync();

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static async Task WriteAsync(string directory, JsonObject settings)
    {
        // Written beside and moved in, so a reload never reads half a file.
        var path = System.IO.Path.Combine(directory, "appsettings.json");
        var temporary = path + ".tmp";
        await File.WriteAllTextAsync(temporary, settings.ToJsonString(Indented));
        File.Move(temporary, path, overwrite: true);
    }
}
