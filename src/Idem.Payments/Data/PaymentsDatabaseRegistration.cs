using Microsoft.Data.Sqlite;
using Npgsql;

namespace Idem.Payments.Data;

/// <summary>The databases the service runs on, chosen by <c>Payments:Database</c>.</summary>
internal enum DatabaseProvider
{
    /// <summary>One embedded file (the default): zero set-up, one node.</summary>
    Sqlite,

    /// <summary>A PostgreSQL server that any number of nodes share.</summary>
    PostgreSql,
}

/// <summary>Registers the ledger's database and Idem's store on it, for the configured provider.</summary>
internal static class PaymentsDatabaseRegistration
{
    /// <summary>The provider setting: <c>Sqlite</c> (default) or <c>PostgreSql</c>.</summary>
    public const string ProviderKey = "Payments:Database";

    /// <summary>The connection string name: <c>ConnectionStrings:Payments</c>.</summary>
    public const string ConnectionStringName = "Payments";

    /// <summary>Used on SQLite when none is configured: a file in the working directory, so <c>dotnet run</c> needs no set-up.</summary>
    public const string DefaultSqliteConnectionString = "Data Source=payments.db";

    public static DatabaseProvider ProviderOf(IConfiguration configuration)
    {
        var value = configuration[ProviderKey];
        return value?.Trim().ToUpperInvariant() switch
        {
            null or "" or "SQLITE" => DatabaseProvider.Sqlite,
            "POSTGRESQL" or "POSTGRES" => DatabaseProvider.PostgreSql,
            _ => throw new InvalidOperationException($"{ProviderKey} is '{value}'; use 'Sqlite' (the default) or 'PostgreSql'."),
        };
    }

    /// <summary>
    /// The ledger and Idem's keys in one database, so a POST's key, its ledger rows and its stored response commit in one
    /// transaction, whichever the provider.
    /// </summary>
    public static void AddPaymentsDatabase(this IServiceCollection services, IConfiguration configuration)
    {
        var configured = configuration.GetConnectionString(ConnectionStringName);
        switch (ProviderOf(configuration))
        {
            case DatabaseProvider.PostgreSql:
                if (string.IsNullOrWhiteSpace(configured))
                {
                    throw new InvalidOperationException(
                        $"{ProviderKey} is PostgreSql but ConnectionStrings:{ConnectionStringName} is not set; give it an Npgsql connection string (Host=…;Database=…;Username=…;Password=…).");
                }

                // Parsed now: a malformed connection string fails at start, not on the first request.
                var dataSourceBuilder = new NpgsqlDataSourceBuilder(configured);
                services.AddSingleton(sp => dataSourceBuilder.UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>()).Build());
                services.AddSingleton<IPaymentsDatabase>(sp => new PostgresPaymentsDatabase(
                    sp.GetRequiredService<NpgsqlDataSource>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<PostgresPaymentsDatabase>>()));
                services.AddHostedService<DatabaseMigrationService>();
                services.AddIdempotency().AddPostgresStore();
                break;

            default:
                var connectionString = SqliteConnectionString(configured);
                services.AddSingleton<IPaymentsDatabase>(sp => new SqlitePaymentsDatabase(
                    connectionString, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<SqlitePaymentsDatabase>>()));
                services.AddHostedService<DatabaseMigrationService>();
                services.AddIdempotency().AddSqliteStore(connectionString);
                break;
        }
    }

    public static string SqliteConnectionString(string? configured)
    {
        var builder = new SqliteConnectionStringBuilder(string.IsNullOrWhiteSpace(configured) ? DefaultSqliteConnectionString : configured);
        builder.ForeignKeys ??= true;

        return builder.ToString();
    }
}
