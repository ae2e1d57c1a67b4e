using Idem.Gateway.Routes;
using Microsoft.Extensions.Options;

namespace Idem.Gateway.Hosting;

/// <summary>Where the gateway keeps its records.</summary>
internal enum GatewayStore
{
    /// <summary>A SQLite file beside the gateway (the default): embedded, no set-up, survives a restart; one node.</summary>
    Sqlite,

    /// <summary>In the process's memory: the fastest, lost on restart; one node.</summary>
    InMemory,

    /// <summary>Redis (a server or a Cluster): for several gateway nodes.</summary>
    Redis,

    /// <summary>PostgreSQL: for several gateway nodes.</summary>
    Postgres,
}

/// <summary>The gateway's own settings (section <c>Gateway</c>); the routes are YARP's (<c>ReverseProxy</c>), the engine's <c>Idempotency</c>.</summary>
internal sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary>Where records are kept. Default <see cref="GatewayStore.Sqlite"/>.</summary>
    public GatewayStore Store { get; set; } = GatewayStore.Sqlite;

    /// <summary>
    /// The store's connection string (a SQLite connection string, a StackExchange.Redis configuration, an Npgsql
    /// connection string). Default for SQLite <c>Data Source=idem-gateway.db</c>; required for Redis and PostgreSQL.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>Who the caller is on routes whose metadata has no <c>Idempotency.Scope</c>. Default <c>Header:Authorization</c>.</summary>
    public string Scope { get; set; } = "Header:Authorization";

    /// <summary>
    /// On shutdown (SIGTERM, Ctrl+C), how long requests in flight may take to finish, their answers stored as usual. One
    /// still forwarded after it is cut off: its key stays held until its lease ends, as for any unknown outcome. Default 30 seconds.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The parsed <see cref="Scope"/>.</summary>
    public CallerScope DefaultScope => CallerScope.Parse(Scope);

    /// <summary>The connection string in use: the configured one, or the default for the store.</summary>
    public string? EffectiveConnectionString
        => !string.IsNullOrWhiteSpace(ConnectionString) ? ConnectionString : Store == GatewayStore.Sqlite ? "Data Source=idem-gateway.db" : null;
}

/// <summary>Fails the start on a store without a connection string or a scope the gateway cannot read.</summary>
internal sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var failures = new List<string>();
        if (!Enum.IsDefined(options.Store))
        {
            failures.Add($"Gateway:Store must be one of {string.Join(", ", Enum.GetNames<GatewayStore>())}.");
        }
        else if (options.Store != GatewayStore.InMemory && options.EffectiveConnectionString is null)
        {
            failures.Add($"Gateway:ConnectionString is required for the {options.Store} store.");
        }

        if (options.ShutdownTimeout < TimeSpan.Zero)
        {
            failures.Add("Gateway:ShutdownTimeout must not be negative.");
        }

        try
        {
            _ = options.DefaultScope;
        }
        catch (FormatException ex)
        {
            failures.Add("Gateway:Scope: " + ex.Message);
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
