using System.Data.Common;
using Idem.Payments.Data;
using Idem.Payments.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Npgsql;
using Xunit;

namespace Idem.Payments.Tests.Data;

/// <summary>
/// Migration 8 (manual capture) on a database that migration 7 left with payments in it: every row is kept, every
/// existing payment is automatic, a succeeded one has captured its amount, and the widened CHECKs still refuse what
/// breaks the rules.
/// </summary>
public sealed class ManualCaptureMigrationTests
{
    private const string Now = "2026-11-01 10:00:00+00:00";

    // A succeeded payment partly refunded, a declined one and a pending one; a refund; the entries: written straight in SQL.
    private const string Rows = $"""
        INSERT INTO accounts (id, tenant_id, kind, currency, balance, version, created_at, overdraft_limit, max_balance) VALUES
            ('acct_m', 't_m', 'customer', 'USD', 700, 3, '{Now}', 0, 1000000000000000000),
            ('acct_f', 't_m', 'funding', 'USD', -700, 3, '{Now}', 1000000000000000000, 0);
        INSERT INTO payments (id, tenant_id, account_id, amount, currency, source, status, idempotency_key, charge_id, decline_code, refunded, created_at, updated_at, fingerprint) VALUES
            ('pay_s', 't_m', 'acct_m', 1000, 'USD', 'tok_visa', 'succeeded', 'k1', 'ch_s', NULL, 300, '{Now}', '{Now}', 'f1'),
            ('pay_d', 't_m', 'acct_m', 50, 'USD', 'tok_declined', 'declined', 'k2', NULL, 'card_declined', 0, '{Now}', '{Now}', 'f2'),
            ('pay_p', 't_m', 'acct_m', 70, 'USD', 'tok_visa', 'pending', 'k3', NULL, NULL, 0, '{Now}', '{Now}', NULL);
        INSERT INTO refunds (id, tenant_id, payment_id, amount, currency, status, idempotency_key, processor_refund_id, created_at, updated_at)
            VALUES ('re_m', 't_m', 'pay_s', 300, 'USD', 'succeeded', 'k4', 'pre_m', '{Now}', '{Now}');
        INSERT INTO ledger_entries (id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at) VALUES
            ('le_1', 't_m', 'acct_f', -1000, 'USD', -1000, 'payment', 'pay_s', '{Now}'),
            ('le_2', 't_m', 'acct_m', 1000, 'USD', 1000, 'payment', 'pay_s', '{Now}'),
            ('le_3', 't_m', 'acct_m', -300, 'USD', 700, 'refund', 're_m', '{Now}'),
            ('le_4', 't_m', 'acct_f', 300, 'USD', -700, 'refund', 're_m', '{Now}');
        """;

    private const string Kept = """
        SELECT id || ',' || status || ',' || amount || ',' || refunded || ',' || idempotency_key || ',' || COALESCE(charge_id, '-') || ',' || COALESCE(decline_code, '-')
               || ',' || COALESCE(fingerprint, '-') FROM payments ORDER BY id
        """;

    private const string Added = "SELECT id || ',' || capture_method || ',' || amount_captured || ',' || COALESCE(capture_key, '-') FROM payments ORDER BY id";

    [Fact]
    public async Task Start_SqliteDatabaseAtVersion7WithPayments_RebuildsPaymentsKeepingEveryRow()
    {
        var path = SqlitePaymentsServer.NewDatabasePath();
        var connectionString = $"Data Source={path};Foreign Keys=False;Pooling=False";
        await using (var connection = new SqliteConnection(connectionString))
        {
            await connection.OpenAsync();
            await ExecuteAsync(connection, SqliteSchema.CreateMigrationsTable);
            foreach (var migration in SqliteSchema.Migrations.Where(m => m.Version <= 7))
            {
                await ExecuteAsync(connection, migration.Sql);
                await ExecuteAsync(connection, $"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({migration.Version}, '{migration.Name}', '{Now}')");
            }

            await ExecuteAsync(connection, Rows);
        }

        var probe = LedgerProbe.Sqlite(path);
        var before = await RowsAsync(probe, Kept);
        // The completer never runs by itself here: the pending payment stays as it was left.
        var server = new SqliteIdleCompleterServer { DatabasePath = path };
        try
        {
            await server.InitializeAsync();

            await AssertMigratedAsync(probe, before, SqliteSchema.Migrations.Count);
            await using var connection = new SqliteConnection($"Data Source={path};Foreign Keys=True;Pooling=False");
            await connection.OpenAsync();
            await AssertChecksAsync(connection);
            Assert.Equal(0, await probe.CountAsync("SELECT COUNT(*) FROM pragma_foreign_key_check"));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Start_PostgresDatabaseAtVersion7WithPayments_ChangesTheChecksInPlaceKeepingEveryRow()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        await using (var connection = new NpgsqlConnection(database.ConnectionString(1)))
        {
            await connection.OpenAsync();
            await ExecuteAsync(connection, PostgresSchema.CreateMigrationsTable);
            foreach (var migration in PostgresSchema.Migrations.Where(m => m.Version <= 7))
            {
                await ExecuteAsync(connection, migration.Sql);
                await ExecuteAsync(connection, $"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({migration.Version}, '{migration.Name}', '{Now}')");
            }

            await ExecuteAsync(connection, Rows);
        }

        var probe = LedgerProbe.Postgres(database.ConnectionString(1));
        var before = await RowsAsync(probe, Kept);
        await using var app = PaymentsServer.BuildApp([.. PostgresPaymentsServer.Arguments(database.ConnectionString(4)), .. PaymentsServer.IdleCompleterArguments]);
        await app.StartAsync();
        try
        {
            await AssertMigratedAsync(probe, before, PostgresSchema.Migrations.Count);
            await using var connection = new NpgsqlConnection(database.ConnectionString(1));
            await connection.OpenAsync();
            await AssertChecksAsync(connection);
        }
        finally
        {
            await app.StopAsync();
        }
    }

    private static async Task AssertMigratedAsync(LedgerProbe probe, List<string?> before, int migrations)
    {
        Assert.Equal(migrations, await probe.CountAsync("SELECT COUNT(*) FROM schema_migrations"));
        Assert.Equal(before, await RowsAsync(probe, Kept));
        Assert.Equal(["pay_d,automatic,0,-", "pay_p,automatic,0,-", "pay_s,automatic,1000,-"], await RowsAsync(probe, Added));
        Assert.Equal(1, await probe.CountAsync("SELECT COUNT(*) FROM refunds WHERE payment_id = 'pay_s'"));
    }

    // The new states are taken; the rules still refuse what breaks them (each refused statement runs, and fails, on its own).
    private static async Task AssertChecksAsync(DbConnection connection)
    {
        await ExecuteAsync(connection, """
            INSERT INTO payments (id, tenant_id, account_id, amount, currency, source, status, idempotency_key, refunded, created_at, updated_at,
                                  capture_method, authorization_expires_at)
            VALUES ('pay_new', 't_m', 'acct_m', 500, 'USD', 'tok_visa', 'requires_capture', 'k5', 0, '2026-11-01 10:00:00+00:00', '2026-11-01 10:00:00+00:00',
                    'manual', '2026-11-08 10:00:00+00:00')
            """);
        await ExecuteAsync(connection, "UPDATE payments SET status = 'capturing', capture_amount = 200, capture_key = 'k6' WHERE id = 'pay_new'");
        await ExecuteAsync(connection, "UPDATE payments SET status = 'succeeded', amount_captured = 200 WHERE id = 'pay_new'");
        await ExecuteAsync(connection, "UPDATE payments SET refunded = 200 WHERE id = 'pay_new'");

        string[] refused =
        [
            "UPDATE payments SET refunded = 201 WHERE id = 'pay_new'",                                 // beyond what was captured
            "UPDATE payments SET status = 'lost' WHERE id = 'pay_d'",                                  // no such status
            "UPDATE payments SET status = 'requires_capture' WHERE id = 'pay_p'",                      // an automatic payment is never authorised only
            "UPDATE payments SET amount_captured = 0 WHERE id = 'pay_s'",                              // succeeded means something was captured
            "UPDATE payments SET amount_captured = 1001 WHERE id = 'pay_s'",                           // never more than the payment
            "UPDATE payments SET amount_captured = 300 WHERE id = 'pay_new'",                          // a capture takes what it asked for
            "UPDATE payments SET capture_method = 'later' WHERE id = 'pay_d'",                         // no such method
        ];
        foreach (var sql in refused)
        {
            await Assert.ThrowsAnyAsync<DbException>(() => ExecuteAsync(connection, sql));
        }
    }

    private static async Task<List<string?>> RowsAsync(LedgerProbe probe, string sql) => [.. (await probe.RowsAsync(sql)).Select(r => r[0])];

    private static async Task ExecuteAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
