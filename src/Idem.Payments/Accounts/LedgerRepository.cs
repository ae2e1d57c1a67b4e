using System.Data.Common;
using Idem.Payments.Data;

namespace Idem.Payments.Accounts;

/// <summary>
/// The ledger's SQL, in the unit of work it is given: the request's transaction for writes (never one it opens itself),
/// a read connection for reads. Portable SQL; what differs per database comes from the <see cref="ISqlDialect"/>.
/// </summary>
internal sealed class LedgerRepository(UnitOfWork work) : Repository(work)
{
    private const string AccountColumns =
        "id, tenant_id, kind, currency, balance, version, created_at, nickname, metadata, overdraft_limit, max_balance, pending_debits, pending_credits";

    private const string InsertAccountSql = """
        INSERT INTO accounts (id, tenant_id, kind, currency, balance, version, created_at, overdraft_limit, max_balance)
        VALUES (@id, @tenant_id, @kind, @currency, @balance, @version, @created_at, @overdraft_limit, @max_balance);
        """;

    // Concurrent first deposits of one tenant and currency may race to create the funding account: one row wins. Its
    // limits are the ledger's own: down to -10^18, never above zero.
    private const string InsertFundingAccountSql = """
        INSERT INTO accounts (id, tenant_id, kind, currency, balance, version, created_at, overdraft_limit, max_balance)
        VALUES (@id, @tenant_id, 'funding', @currency, 0, 1, @created_at, 1000000000000000000, 0)
        ON CONFLICT DO NOTHING;
        """;

    private const string FindCustomerAccountSql = $"SELECT {AccountColumns} FROM accounts WHERE id = @id AND tenant_id = @tenant_id AND kind = 'customer'";

    private const string FindFundingAccountSql = $"SELECT {AccountColumns} FROM accounts WHERE tenant_id = @tenant_id AND currency = @currency AND kind = 'funding'";

    // The conditions are the account's limits themselves: a debit that would spend more than the account may (held money
    // and its overdraft counted), or a credit that would take it past its cap (promised money counted), changes nothing and
    // returns no row. Each returns the account's head hash, which the movement's entry chains to.
    private const string DebitSql = """
        UPDATE accounts SET balance = balance - @amount, version = version + 1
        WHERE id = @id AND balance - pending_debits + overdraft_limit >= @amount
        RETURNING balance, head_hash;
        """;

    private const string CreditSql = """
        UPDATE accounts SET balance = balance + @amount, version = version + 1
        WHERE id = @id AND balance + pending_credits + @amount <= max_balance
        RETURNING balance, head_hash;
        """;

    private const string InsertDepositSql = """
        INSERT INTO deposits (id, tenant_id, account_id, amount, currency, balance_after, created_at)
        VALUES (@id, @tenant_id, @account_id, @amount, @currency, @balance_after, @created_at);
        """;

    // The entry and the account's new head hash in one round trip; the account row is locked by the movement's balance
    // change, so no other entry of the account can come in between.
    private const string InsertEntrySql = """
        INSERT INTO ledger_entries (id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at, idempotency_key, fingerprint, prev_hash, hash)
        VALUES (@id, @tenant_id, @account_id, @amount, @currency, @balance_after, @movement_type, @movement_id, @created_at, @idempotency_key, @fingerprint, @prev_hash, @hash);
        UPDATE accounts SET head_hash = @hash WHERE id = @account_id;
        """;

    internal const string EntryColumns =
        "id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at, idempotency_key, fingerprint, prev_hash, hash";

    private const string FindEntrySeqSql = "SELECT seq FROM ledger_entries WHERE id = @id AND account_id = @account_id;";

    private const string BalanceAtSql = """
        SELECT balance_after, id FROM ledger_entries WHERE account_id = @account_id AND created_at <= @as_of ORDER BY seq DESC LIMIT 1;
        """;

    public async Task InsertAccountAsync(Account account, CancellationToken cancellationToken)
    {
        using var command = Command(InsertAccountSql);
        Add(command, "@id", account.Id);
        Add(command, "@tenant_id", account.TenantId);
        Add(command, "@kind", KindName(account.Kind));
        Add(command, "@currency", account.Currency);
        Add(command, "@balance", account.Balance);
        Add(command, "@version", account.Version);
        Add(command, "@created_at", account.CreatedAt);
        Add(command, "@overdraft_limit", account.OverdraftLimit);
        Add(command, "@max_balance", account.MaxBalance);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads a tenant's customer account without locking it.</summary>
    public Task<Account?> FindAccountAsync(string tenantId, string id, CancellationToken cancellationToken)
        => ReadAccountAsync(FindCustomerAccountSql + ";", cancellationToken, ("@id", id), ("@tenant_id", tenantId));

    /// <summary>The tenant's accounts, customer and funding, oldest first, at most <paramref name="limit"/> (the console's list).</summary>
    public async Task<List<Account>> ListAccountsAsync(string tenantId, int limit, CancellationToken cancellationToken)
    {
        using var command = Command($"SELECT {AccountColumns} FROM accounts WHERE tenant_id = @tenant_id ORDER BY created_at, id LIMIT @limit;");
        Add(command, "@tenant_id", tenantId);
        Add(command, "@limit", limit);
        var accounts = new List<Account>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                accounts.Add(ReadAccount(reader));
            }
        }

        return accounts;
    }

    /// <summary>Reads a tenant's customer account and holds it until the transaction ends.</summary>
    public Task<Account?> LockAccountAsync(string tenantId, string id, CancellationToken cancellationToken)
        => ReadAccountAsync(FindCustomerAccountSql + Dialect.LockRowsSuffix + ";", cancellationToken, ("@id", id), ("@tenant_id", tenantId));

    /// <summary>Reads the tenant's funding account for a currency, if it exists, and holds it until the transaction ends.</summary>
    public Task<Account?> LockFundingAccountAsync(string tenantId, string currency, CancellationToken cancellationToken)
        => ReadAccountAsync(FindFundingAccountSql + Dialect.LockRowsSuffix + ";", cancellationToken, ("@tenant_id", tenantId), ("@currency", currency));

    /// <summary>Creates the tenant's funding account for a currency unless it exists, then locks and returns it.</summary>
    public async Task<Account> CreateFundingAccountAsync(string tenantId, string currency, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using (var command = Command(InsertFundingAccountSql))
        {
            Add(command, "@id", Ids.New(Ids.Account));
            Add(command, "@tenant_id", tenantId);
            Add(command, "@currency", currency);
            Add(command, "@created_at", now);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return await LockFundingAccountAsync(tenantId, currency, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The funding account was neither created nor found.");
    }

    /// <summary>
    /// Sets the nickname and/or metadata of a tenant's customer account if its version is still
    /// <paramref name="expectedVersion"/>, moving the version on. Null when the account is missing or has moved on.
    /// </summary>
    public Task<Account?> UpdateAccountDetailsAsync(
        string tenantId, string id, long expectedVersion, Optional<string?> nickname, Optional<string> metadata, CancellationToken cancellationToken)
    {
        var sets = new List<string>(2);
        var parameters = new List<(string, object?)> { ("@id", id), ("@tenant_id", tenantId), ("@expected_version", expectedVersion) };
        if (nickname.IsSet)
        {
            sets.Add("nickname = @nickname");
            parameters.Add(("@nickname", nickname.Value));
        }

        if (metadata.IsSet)
        {
            sets.Add("metadata = @metadata");
            parameters.Add(("@metadata", metadata.Value!));
        }

        if (sets.Count == 0)
        {
            throw new ArgumentException("Nothing to change.", nameof(nickname));
        }

        // Optimistic concurrency in one statement: the change applies only to the version the client read; otherwise
        // nothing changes and no row comes back. The SET list is built from column names only.
        var sql = $"""
            UPDATE accounts SET {string.Join(", ", sets)}, version = version + 1
            WHERE id = @id AND tenant_id = @tenant_id AND kind = 'customer' AND version = @expected_version
            RETURNING {AccountColumns};
            """;
        return ReadAccountAsync(sql, cancellationToken, [.. parameters]);
    }

    /// <summary>Takes <paramref name="amount"/> from an account unless it may not spend that much. Null when refused.</summary>
    public Task<BalanceChange?> DebitAsync(string accountId, long amount, CancellationToken cancellationToken)
        => ChangeBalanceAsync(DebitSql, cancellationToken, ("@id", accountId), ("@amount", amount));

    /// <summary>Adds <paramref name="amount"/> to an account unless that would take it past its cap. Null when refused.</summary>
    public Task<BalanceChange?> CreditAsync(string accountId, long amount, CancellationToken cancellationToken)
        => ChangeBalanceAsync(CreditSql, cancellationToken, ("@id", accountId), ("@amount", amount));

    public async Task InsertDepositAsync(Deposit deposit, CancellationToken cancellationToken)
    {
        using var command = Command(InsertDepositSql);
        Add(command, "@id", deposit.Id);
        Add(command, "@tenant_id", deposit.TenantId);
        Add(command, "@account_id", deposit.AccountId);
        Add(command, "@amount", deposit.Amount);
        Add(command, "@currency", deposit.Currency);
        Add(command, "@balance_after", deposit.BalanceAfter);
        Add(command, "@created_at", deposit.CreatedAt);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes an entry chained to <paramref name="prevHash"/> (the account's head hash) and makes it the account's head.</summary>
    public async Task InsertEntryAsync(LedgerEntry entry, string? prevHash, CancellationToken cancellationToken)
    {
        using var command = Command(InsertEntrySql);
        Add(command, "@id", entry.Id);
        Add(command, "@tenant_id", entry.TenantId);
        Add(command, "@account_id", entry.AccountId);
        Add(command, "@amount", entry.Amount);
        Add(command, "@currency", entry.Currency);
        Add(command, "@balance_after", entry.BalanceAfter);
        Add(command, "@movement_type", MovementTypes.Name(entry.MovementType));
        Add(command, "@movement_id", entry.MovementId);
        Add(command, "@created_at", entry.CreatedAt);
        Add(command, "@idempotency_key", entry.Origin.Key);
        Add(command, "@fingerprint", entry.Origin.Fingerprint);
        Add(command, "@prev_hash", prevHash);
        Add(command, "@hash", EntryHash.Compute(entry, prevHash));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The position of an entry of the account, for paging; null when the account has no such entry.</summary>
    public async Task<long?> FindEntryPositionAsync(string accountId, string entryId, CancellationToken cancellationToken)
    {
        using var command = Command(FindEntrySeqSql);
        Add(command, "@id", entryId);
        Add(command, "@account_id", accountId);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is null or DBNull ? null : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The account's entries, newest first: strictly older than <paramref name="beforePosition"/> when given, and made in
    /// [<paramref name="from"/>, <paramref name="to"/>) when given. Paging by position is stable under concurrent writes: an
    /// account's entries are written while its row is locked, so they commit in the order of their positions, and a new
    /// entry is always newer than every page already read.
    /// </summary>
    public async Task<List<LedgerEntry>> ListEntriesAsync(
        string accountId, long? beforePosition, DateTimeOffset? from, DateTimeOffset? to, int limit, CancellationToken cancellationToken)
    {
        var sql = new System.Text.StringBuilder($"SELECT {EntryColumns} FROM ledger_entries WHERE account_id = @account_id");
        using var command = Command("");
        Add(command, "@account_id", accountId);
        Add(command, "@limit", limit);
        if (beforePosition is { } before)
        {
            sql.Append(" AND seq < @before");
            Add(command, "@before", before);
        }

        if (from is { } start)
        {
            sql.Append(" AND created_at >= @from");
            Add(command, "@from", start.ToUniversalTime());
        }

        if (to is { } end)
        {
            sql.Append(" AND created_at < @to");
            Add(command, "@to", end.ToUniversalTime());
        }

        command.CommandText = sql.Append(" ORDER BY seq DESC LIMIT @limit;").ToString();
        var entries = new List<LedgerEntry>(limit);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                entries.Add(ReadEntry(reader));
            }
        }

        return entries;
    }

    /// <summary>
    /// The account's posted balance at <paramref name="asOf"/>: the balance after its newest entry made by then, and that
    /// entry's id; zero and null when it had none.
    /// </summary>
    public async Task<(long Balance, string? LastEntry)> BalanceAtAsync(string accountId, DateTimeOffset asOf, CancellationToken cancellationToken)
    {
        using var command = Command(BalanceAtSql);
        Add(command, "@account_id", accountId);
        Add(command, "@as_of", asOf.ToUniversalTime());
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? (reader.GetInt64(0), reader.GetString(1)) : (0, null);
        }
    }

    /// <summary>An entry read with <see cref="EntryColumns"/>, in their order.</summary>
    internal static LedgerEntry ReadEntry(DbDataReader reader)
        => new(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetString(4),
            reader.GetInt64(5), MovementTypes.Parse(reader.GetString(6)), reader.GetString(7), reader.GetFieldValue<DateTimeOffset>(8),
            new Origin(NullableString(reader, 9), NullableString(reader, 10)), NullableString(reader, 11), NullableString(reader, 12));

    /// <summary>Runs a statement that changes one account and returns its balance and head hash; null when no row changed.</summary>
    internal async Task<BalanceChange?> ChangeBalanceAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql);
        foreach (var (name, value) in parameters)
        {
            Add(command, name, value);
        }

        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
                ? new BalanceChange(reader.GetInt64(0), NullableString(reader, 1))
                : null;
        }
    }

    private static string? NullableString(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private async Task<Account?> ReadAccountAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql);
        foreach (var (name, value) in parameters)
        {
            Add(command, name, value);
        }

        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadAccount(reader) : null;
        }
    }

    /// <summary>An account read with <see cref="AccountColumns"/>, in their order.</summary>
    private static Account ReadAccount(DbDataReader reader)
        => new(
            reader.GetString(0), reader.GetString(1), ParseKind(reader.GetString(2)), reader.GetString(3), reader.GetInt64(4),
            reader.GetInt64(5), reader.GetFieldValue<DateTimeOffset>(6), NullableString(reader, 7), reader.GetString(8),
            reader.GetInt64(9), reader.GetInt64(10), reader.GetInt64(11), reader.GetInt64(12));

    private static string KindName(AccountKind kind) => kind == AccountKind.Funding ? "funding" : "customer";

    private static AccountKind ParseKind(string value) => value == "funding" ? AccountKind.Funding : AccountKind.Customer;

    // Many accounts at once, for batches (Batches/BatchService.cs): locked in one statement, their entries and final
    // balances written in a few.

    // Rows per multi-row statement: 1,300 parameters for entries, far below either provider's limit; a batch of 1,000
    // transfers writes its 2,000 entries in 20 round trips.
    private const int RowsPerStatement = 100;

    /// <summary><see cref="EntryColumns"/>, one by one, for multi-row inserts of entries.</summary>
    internal static readonly string[] EntryInsertColumns = EntryColumns.Split(", ");

    /// <summary>An entry's values in the order of <see cref="EntryInsertColumns"/>.</summary>
    internal static object?[] EntryValues(LedgerEntry entry) =>
    [
        entry.Id, entry.TenantId, entry.AccountId, entry.Amount, entry.Currency, entry.BalanceAfter, MovementTypes.Name(entry.MovementType),
        entry.MovementId, entry.CreatedAt, entry.Origin.Key, entry.Origin.Fingerprint, entry.PrevHash, entry.Hash,
    ];

    /// <summary>
    /// Locks the tenant's customer accounts among <paramref name="ids"/> in one statement and reads them, each with its
    /// head hash (the <c>prev_hash</c> of its next entry). Rows are locked in ordinal order of id, the order in which
    /// every movement takes accounts, so a batch and a transfer never wait on each other in a cycle. Ids of no such
    /// account are left out of the answer.
    /// </summary>
    public async Task<Dictionary<string, (Account Account, string? HeadHash)>> LockAccountsAsync(
        string tenantId, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        using var command = Command("");
        Add(command, "@tenant_id", tenantId);
        var names = new string[ids.Count];
        for (var i = 0; i < ids.Count; i++)
        {
            names[i] = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"@id{i}");
            Add(command, names[i], ids[i]);
        }

        // Built from parameter names only.
        command.CommandText = $"""
            SELECT {AccountColumns}, head_hash FROM accounts
            WHERE tenant_id = @tenant_id AND kind = 'customer' AND id IN ({string.Join(", ", names)})
            ORDER BY id{Dialect.OrdinalCollation}{Dialect.LockRowsSuffix};
            """;
        var accounts = new Dictionary<string, (Account, string?)>(ids.Count, StringComparer.Ordinal);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var account = ReadAccount(reader);
                accounts[account.Id] = (account, NullableString(reader, 13));
            }
        }

        return accounts;
    }

    /// <summary>
    /// Writes entries whose <see cref="LedgerEntry.PrevHash"/> and <see cref="LedgerEntry.Hash"/> the caller chained (see
    /// <see cref="EntryHash"/>), in the order given, which is each account's chain order. The accounts' heads are the
    /// caller's to move (<see cref="SetAccountStatesAsync"/>).
    /// </summary>
    public async Task InsertEntriesAsync(IReadOnlyList<LedgerEntry> entries, CancellationToken cancellationToken)
    {
        foreach (var chunk in entries.Chunk(RowsPerStatement))
        {
            using var command = InsertRows("ledger_entries", EntryInsertColumns, chunk, EntryValues);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sets each account's balance, version and head hash to its state after a batch, where the account is still at the
    /// version it was locked at; throws (rolling the request back) when one is not.
    /// </summary>
    public async Task SetAccountStatesAsync(IReadOnlyList<(Account Read, Account Final, string HeadHash)> states, CancellationToken cancellationToken)
    {
        foreach (var chunk in states.Chunk(RowsPerStatement))
        {
            using var command = Command("");
            var rows = Rows(command, 5, chunk, state => [state.Read.Id, state.Read.Version, state.Final.Balance, state.Final.Version, state.HeadHash]);

            // Each account once, to its final state. The version it was locked at is a condition, so a row that changed
            // since (a broken lock) is not overwritten but counted.
            command.CommandText = $"""
                WITH changes (id, read_version, balance, version, head_hash) AS (VALUES {rows})
                UPDATE accounts SET balance = changes.balance, version = changes.version, head_hash = changes.head_hash
                FROM changes
                WHERE accounts.id = changes.id AND accounts.version = changes.read_version;
                """;
            var changed = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            if (changed != chunk.Length)
            {
                throw new InvalidOperationException(
                    $"{chunk.Length - changed} of the batch's accounts changed while they were locked; nothing was written.");
            }
        }
    }
}
