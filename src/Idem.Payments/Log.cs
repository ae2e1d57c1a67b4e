namespace Idem.Payments;

/// <summary>The service's log messages, source-generated, with stable event ids.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Applied schema migration {Version} ({Name}).")]
    public static partial void MigrationApplied(ILogger logger, int version, string name);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Schema up to date: {Applied} of {Total} migrations applied now.")]
    public static partial void SchemaReady(ILogger logger, int applied, int total);

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Console: an operator signed in as tenant {Tenant}.")]
    public static partial void ConsoleSignedIn(ILogger logger, string tenant);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "Console: tenant {Tenant} ran the completer for payment {Payment}: {Result}.")]
    public static partial void ConsoleCompletedPayment(ILogger logger, string tenant, string payment, CardPayments.CompleteNowResult result);
}
