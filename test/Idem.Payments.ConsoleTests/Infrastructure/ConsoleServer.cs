using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.ConsoleTests.Infrastructure;

/// <summary>
/// The service in-process on a SQLite file of its own, its completer idle (tests run it themselves, through the
/// console's action). Tests share it and use tenants of their own, so none sees another's data or counts.
/// </summary>
public sealed class ConsoleServer : SqlitePaymentsServer
{
    public new const string Collection = "Console server";

    protected override string[] ExtraArguments() => IdleCompleterArguments;

    /// <summary>An HttpClient of its own (its own cookies), not signed in.</summary>
    public ConsoleSession NewSession() => new(BaseAddress);
}

[CollectionDefinition(ConsoleServer.Collection)]
public sealed class ConsoleServerCollection : ICollectionFixture<ConsoleServer>, ICollectionFixture<BrowserFixture>;

/// <summary>The same on a fresh PostgreSQL database of its own: Idem's table there has other column types (uuid owners, timestamptz).</summary>
public sealed class ConsolePostgresServer : PostgresPaymentsServer
{
    public new const string Collection = "Console server on PostgreSQL";

    protected override string[] ExtraArguments() => IdleCompleterArguments;

    public ConsoleSession NewSession() => new(BaseAddress);
}

[CollectionDefinition(ConsolePostgresServer.Collection)]
public sealed class ConsolePostgresServerCollection : ICollectionFixture<ConsolePostgresServer>;
