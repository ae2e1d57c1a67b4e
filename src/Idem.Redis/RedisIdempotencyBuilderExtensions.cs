using Idem;
using Idem.Redis;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Redis store.</summary>
public static class RedisIdempotencyBuilderExtensions
{
    // What the store's own connection uses unless the configuration string says otherwise: a request while Redis is
    // unreachable fails in about a second at most (503) instead of the client library's 5 s.
    internal const int DefaultConnectTimeoutMilliseconds = 2000;
    internal const int DefaultTimeoutMilliseconds = 1000;

    /// <summary>
    /// Keeps records in Redis, shared by any number of nodes (standalone records; no transactional mode). Times come from
    /// the Redis clock. The store connects on first use and closes the connection when the container is disposed. The
    /// settings are validated at start: invalid ones fail the host's start (or the first resolution of the store) with an
    /// <see cref="OptionsValidationException"/>. As the host starts, the store reads each Redis primary's settings where
    /// it may (<c>CONFIG GET</c>): it logs a warning for an evicting <c>maxmemory-policy</c> or persistence turned off, and
    /// with <see cref="RedisDurability.Replicated"/> fails the start when a primary has fewer replicas online than asked.
    /// </summary>
    /// <remarks>
    /// Unless <paramref name="configuration"/> sets them, the connection uses <c>abortConnect=false</c> (the application
    /// starts and keeps reconnecting while Redis is down), <c>connectTimeout=2000</c>, <c>syncTimeout=1000</c> and
    /// <c>asyncTimeout=1000</c>; it always fails fast (<see cref="BacklogPolicy.FailFast"/>): while no connection is up,
    /// calls throw at once instead of queueing, so requests get 503 at once.
    /// </remarks>
    /// <param name="builder">The builder returned by <c>AddIdempotency</c>.</param>
    /// <param name="configuration">A StackExchange.Redis configuration string, e.g. <c>redis-1:6379,redis-2:6379,password=…</c>.</param>
    /// <param name="configure">Changes further settings (key prefix, expiry grace).</param>
    public static IIdempotencyBuilder AddRedisStore(this IIdempotencyBuilder builder, string configuration, Action<RedisStoreOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);

        // Parse now: a malformed configuration fails at registration, not on the first request.
        var connection = ParseConfiguration(configuration);
        return Register(builder, configure, (sp, options, logger) =>
        {
            var own = connection.Clone();
            own.LoggerFactory ??= sp.GetService<ILoggerFactory>();
            return new RedisIdempotencyStore(own, options, logger);
        });
    }

    /// <summary>
    /// Keeps records in Redis through <paramref name="connection"/>, which the application owns and disposes (its
    /// timeouts and backlog policy are the application's). See
    /// <see cref="AddRedisStore(IIdempotencyBuilder, string, Action{RedisStoreOptions}?)"/>.
    /// </summary>
    /// <param name="builder">The builder returned by <c>AddIdempotency</c>.</param>
    /// <param name="connection">The connection to run the scripts on (its default database).</param>
    /// <param name="configure">Changes further settings (key prefix, expiry grace).</param>
    public static IIdempotencyBuilder AddRedisStore(this IIdempotencyBuilder builder, IConnectionMultiplexer connection, Action<RedisStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return Register(builder, configure, (_, options, logger) => new RedisIdempotencyStore(connection, options, logger));
    }

    /// <summary>
    /// Keeps records in Redis through the <see cref="IConnectionMultiplexer"/> registered in the service collection. See
    /// <see cref="AddRedisStore(IIdempotencyBuilder, IConnectionMultiplexer, Action{RedisStoreOptions}?)"/>.
    /// </summary>
    /// <param name="builder">The builder returned by <c>AddIdempotency</c>.</param>
    /// <param name="configure">Changes further settings (key prefix, expiry grace).</param>
    public static IIdempotencyBuilder AddRedisStore(this IIdempotencyBuilder builder, Action<RedisStoreOptions>? configure = null)
        => Register(builder, configure, (sp, options, logger) => new RedisIdempotencyStore(sp.GetRequiredService<IConnectionMultiplexer>(), options, logger));

    /// <summary>The configuration with the store's defaults for what the string leaves unsaid.</summary>
    internal static ConfigurationOptions ParseConfiguration(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        var named = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in configuration.Split(','))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                named.Add(part[..equals].Trim());
            }
        }

        if (!named.Contains("abortConnect"))
        {
            options.AbortOnConnectFail = false;
        }

        if (!named.Contains("connectTimeout"))
        {
            options.ConnectTimeout = DefaultConnectTimeoutMilliseconds;
        }

        if (!named.Contains("syncTimeout"))
        {
            options.SyncTimeout = DefaultTimeoutMilliseconds;
        }

        if (!named.Contains("asyncTimeout"))
        {
            options.AsyncTimeout = DefaultTimeoutMilliseconds;
        }

        options.BacklogPolicy = BacklogPolicy.FailFast;
        return options;
    }

    private static IIdempotencyBuilder Register(IIdempotencyBuilder builder, Action<RedisStoreOptions>? configure, Func<IServiceProvider, RedisStoreOptions, ILogger<RedisIdempotencyStore>, RedisIdempotencyStore> create)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<RedisStoreOptions>().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisStoreOptions>, RedisStoreOptionsValidator>());
        services.RemoveAll<IIdempotencyStore>();
        services.RemoveAll<ITransactionalIdempotencyStore>();
        services.AddSingleton(sp => create(sp, sp.GetRequiredService<IOptions<RedisStoreOptions>>().Value, sp.GetService<ILogger<RedisIdempotencyStore>>() ?? NullLogger<RedisIdempotencyStore>.Instance));
        services.AddSingleton<IIdempotencyStore>(sp => sp.GetRequiredService<RedisIdempotencyStore>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RedisServerCheckService>());
        return builder;
    }
}
