namespace Idem.Payments.Data;

/// <summary>Brings the schema up to date before the server starts taking requests (hosted services start first).</summary>
internal sealed class DatabaseMigrationService(IPaymentsDatabase database) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => database.MigrateAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
