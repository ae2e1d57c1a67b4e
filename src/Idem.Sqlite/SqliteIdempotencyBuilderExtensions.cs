using Idem;
using Idem.Sqlite;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the SQLite store.</summary>
public static class SqliteIdempotencyBuilderExtensions
{
    /// <summary>
    /// Keeps records in a SQLite database file (WAL mode; the table is created on first use). The store serves both
    /// standalone endpoints and transactional ones, whose handlers write through the injected
    /// <see cref="IIdempotencyTransaction"/>. Several processes on one machine may share the file; time comes from the
    /// registered <see cref="TimeProvider"/>. The settings are validated at start: invalid ones fail the host's start
    /// (or the first resolution of the store) with an <see cref="OptionsValidationException"/>.
    /// </summary>
    /// <param name="builder">The builder returned by <c>AddIdempotency</c>.</param>
    /// <param name="connectionString">A Microsoft.Data.Sqlite connection string naming a file, e.g. <c>Data Source=idem.db</c>.</param>
    /// <param name="configure">Changes further settings (table name, busy timeout).</param>
    public static IIdempotencyBuilder AddSqliteStore(this IIdempotencyBuilder builder, string connectionString, Action<SqliteStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);

        var services = builder.Services;
        services.AddOptions<SqliteStoreOptions>()
            .Configure(options =>
            {
                options.ConnectionString = connectionString;
                configure?.Invoke(options);
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SqliteStoreOptions>, SqliteStoreOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.RemoveAll<IIdempotencyStore>();
        services.RemoveAll<ITransactionalIdempotencyStore>();
        services.AddSingleton(sp => new SqliteIdempotencyStore(
            sp.GetRequiredService<IOptions<SqliteStoreOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILogger<SqliteIdempotencyStore>>() ?? NullLogger<SqliteIdempotencyStore>.Instance));
        services.AddSingleton<IIdempotencyStore>(sp => sp.GetRequiredService<SqliteIdempotencyStore>());
        services.AddSingleton<ITransactionalIdempotencyStore>(sp => sp.GetRequiredService<SqliteIdempotencyStore>());
        return builder;
    }
}
