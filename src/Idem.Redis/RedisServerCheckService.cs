using Microsoft.Extensions.Hosting;

namespace Idem.Redis;

/// <summary>
/// Checks the Redis servers' settings as the host starts (<see cref="RedisIdempotencyStore.CheckServersAsync"/>): warnings
/// for settings that can lose records, and a failed start when the durable mode cannot be honoured.
/// </summary>
internal sealed class RedisServerCheckService(RedisIdempotencyStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.CheckServersAsync();

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
