namespace Idem.Payments;

/// <summary>The service's log messages, source-generated, with stable event ids.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Applied schema migration {Version} ({Name}).")]
    public static partial void MigrationApplied(ILogger logger, int version, string name);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Schema up to date: {Applied} of {Total} migrations applied now.")]
    public static partial void SchemaReady(ILogger logger, int applied, int total);
}
