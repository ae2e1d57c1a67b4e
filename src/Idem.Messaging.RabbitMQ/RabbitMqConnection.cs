using global::RabbitMQ.Client;
using global::RabbitMQ.Client.Events;
using Microsoft.Extensions.Logging;

namespace Idem.Messaging.RabbitMQ;

/// <summary>
/// The one AMQP connection of this process. It is opened on first use, retrying every
/// <see cref="RabbitMqOptions.ReconnectDelay"/> until the broker answers; once open, the client's automatic recovery
/// reconnects it and recovers its channels, declarations and consumers after the broker or the network went away.
/// </summary>
internal sealed class RabbitMqConnection(RabbitMqOptions options, TimeProvider time, ILogger<RabbitMqConnection> logger) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;

    public string Endpoint { get; } = $"{options.Uri!.Host}:{(options.Uri.IsDefaultPort ? 5672 : options.Uri.Port)}{options.Uri.AbsolutePath}";

    public async ValueTask<IConnection> GetAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _connection) is { } existing)
        {
            return existing;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (_connection is null)
            {
                try
                {
                    _connection = await CreateAsync(cancellationToken).ConfigureAwait(false);
                    Log.Connected(logger, Endpoint);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    Log.ConnectFailed(logger, Endpoint, options.ReconnectDelay, ex);
                    await Task.Delay(options.ReconnectDelay, time, cancellationToken).ConfigureAwait(false);
                }
            }

            return _connection;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _connection, null) is { } connection)
        {
            try
            {
                await connection.CloseAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Closing a connection that is already gone.
            }

            await connection.DisposeAsync().ConfigureAwait(false);
        }

        _gate.Dispose();
    }

    private async Task<IConnection> CreateAsync(CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory
        {
            Uri = options.Uri!,
            ClientProvidedName = options.ClientName,
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = options.ReconnectDelay,
            RequestedHeartbeat = TimeSpan.FromSeconds(10),
        };
        var connection = await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
        connection.ConnectionShutdownAsync += (_, e) =>
        {
            if (e.Initiator != ShutdownInitiator.Application)
            {
                Log.ConnectionLost(logger, e.ReplyText);
            }

            return Task.CompletedTask;
        };
        connection.RecoverySucceededAsync += (_, _) =>
        {
            Log.ConnectionRecovered(logger);
            return Task.CompletedTask;
        };
        return connection;
    }
}
