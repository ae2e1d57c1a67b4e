using Idem;
using Idem.Postgres;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the PostgreSQL store.</summary>
public static class PostgresIdempotencyBuilderExtensions
{
    /// <summary>
    /// Keeps records in a PostgreSQL table that any number of nodes share (created on first use unless
    /// <see cref="PostgresStoreOptions.CreateSchema"/> is off). The store serves both standalone endpoints and
    /// transactional ones, whose handlers write through the injected <see cref="IIdempotencyTransaction"/>. Times come
    /// from the database clock. The settings are validated at start: invalid ones fail the host's start (or the first
    /// resolution of the store) with an <see cref="OptionsValidationException"/>.
    /// </summary>
    /// <param name="builder">The builder returned by <c>AddIdempotency</c>.</param>
    /// <param name="connectionString">An Npgsql connection string. The store builds its own data source from it and disposes it.</param>
    /// <param name="configure">Changes further settings (schema, table name, lock timeout).</param>
    public static IIdempotencyBuilder AddPostgresStore(this IIdempotencyBuilder builder, string connectionString, Action<PostgresStoreOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);

        // Parse now: a malformed connection string fails at registration, not on the first request.
        var dataSourceBuilder = new NpgsqlDataSourceBuilder(connectionString);
        return Register(builder, configure, sp =>
        {
            if (sp.GetService<ILoggerFactory>() is { } loggerFactory)
            {
                dataSourceBuilder.UseLoggerFactory(loggerFactory);
            }

            return (dataSourceBuilder.Build(), true);
        });
    }

    /// <summary>
    /// Keeps records in a PostgreSQL table reached through <paramref name="dataSource"/>, which the application owns and
    /// disposes. See <see cref="AddPostgresStore(IIdempotencyBuilder, string, Action{PostgresStoreOptions}?)"/>.
    /// </summary>
    /// <param name="builder">The builder returned by <c>AddIdempotency</c>.</param>
    /// <param name="dataSource">The data source to take connections from.</param>
    /// <param name="configure">Changes further settings (schema, table name, lock timeout).</param>
    public static IIdempotencyBuilder AddPostgresStore(this IIdempotencyBuilder builder, NpgsqlDataSource dataSource, Action<PostgresStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        return Register(builder, configure, _ => (dataSource, false));
    }

    /// <summary>
    /// Keeps records in a PostgreSQL table reached through the <see cref="NpgsqlDataSource"/> registered in the service
    /// collection (for example by <c>AddNpgsqlDataSource</c>). See
    /// <see cref="AddPostgresStore(IIdempotencyBuilder, string, Action{PostgresStoreOptions}?)"/>.
    /// </summary>
    /// <param name="builder">The builder returned by <c>AddIdempotency</c>.</param>
    /// <param name="configure">Changes further settings (schema, table name, lock timeout).</param>
    public static IIdempotencyBuilder AddPostgresStore(this IIdempotencyBuilder builder, Action<PostgresStoreOptions>? configure = null)
        => Register(builder, configure, sp => (sp.GetRequiredService<NpgsqlDataSource>(), false));

    private static IIdempotencyBuilder Register(IIdempotencyBuilder builder, Action<PostgresStoreOptions>? configure, Func<IServiceProvider, (NpgsqlDataSource DataSource, bool Owned)> dataSource)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<PostgresStoreOptions>().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PostgresStoreOptions>, PostgresStoreOptionsValidator>());
        services.RemoveAll<IIdempotencyStore>();
        services.RemoveAll<ITransactionalIdempotencyStore>();
        services.AddSingleton(sp =>
        {
            var (source, owned) = dataSource(sp);
            return new PostgresIdempotencyStore(
                source,
                owned,
                sp.GetRequiredService<IOptions<PostgresStoreOptions>>().Value,
                sp.GetService<ILogger<PostgresIdempotencyStore>>() ?? NullLogger<PostgresIdempotencyStore>.Instance);
        });
        services.AddSingleton<IIdempotencyStore>(sp => sp.GetRequiredService<PostgresIdempotencyStore>());
        services.AddSingleton<ITransactionalIdempotencyStore>(sp => sp.GetRequiredService<PostgresIdempotencyStore>());
        return builder;
    }
}
