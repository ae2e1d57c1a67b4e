using System.Data;
using System.Data.Common;
using Idem.Messaging.Data;
using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Idem.Messaging.Inbox;

/// <summary>
/// The idempotent consumer. Each delivery runs in one database transaction: the inbox claim of (consumer, message id)
/// first, then the handler's own writes, then the commit; the transport acknowledges only after that.
/// </summary>
/// <remarks>
/// A redelivery of a handled message finds the claim taken and is skipped. A crash before the commit leaves nothing (the
/// redelivery runs afresh); a crash after the commit and before the acknowledgement leaves a handled record (the
/// redelivery is skipped). A handler failure (or a failed commit) rolls its writes and the claim back; the failure is then counted in a
/// transaction of its own, and the last allowed one marks the message dead-lettered with its reason, for good.
/// </remarks>
internal sealed class MessageDispatcher : IMessageDispatcher
{
    private const int MaxReasonLength = 2000;

    private readonly Dictionary<string, Consumer> _consumers;
    private readonly MessagingDatabase _database;
    private readonly IServiceScopeFactory _scopes;
    private readonly IMessagingObserver? _observer;
    private readonly ILogger _logger;

    public MessageDispatcher(
        IEnumerable<ConsumerRegistration> consumers,
        IOptionsMonitor<ConsumerOptions> consumerOptions,
        MessagingDatabase database,
        IServiceScopeFactory scopes,
        ILogger<MessageDispatcher> logger,
        IMessagingObserver? observer = null)
    {
        _consumers = consumers.ToDictionary(c => c.Name, c => new Consumer(consumerOptions.Get(c.Name), c.CreateHandler), StringComparer.Ordinal);
        Consumers = [.. _consumers.Values.Select(c => c.Options)];
        _database = database;
        _scopes = scopes;
        _observer = observer;
        _logger = logger;
    }

    public IReadOnlyList<ConsumerOptions> Consumers { get; }

    public async ValueTask<DeliveryResult> DispatchAsync(string consumer, Message message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!_consumers.TryGetValue(consumer, out var registration))
        {
            throw new InvalidOperationException($"No consumer named '{consumer}' is registered.");
        }

        // Once the message is claimed, a failure (the handler's, or the commit's: a deferred constraint its writes broke)
        // counts against it; before that, the database is at fault and nothing is counted.
        var claimed = false;
        try
        {
            var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    var failuresSoFar = await ClaimAsync(connection, transaction, consumer, message.Id, cancellationToken).ConfigureAwait(false);
                    if (failuresSoFar is null)
                    {
                        var (state, reason) = await ReadAsync(connection, transaction, consumer, message.Id, cancellationToken).ConfigureAwait(false);
                        await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                        _observer?.Skipped(consumer, message);
                        if (state == MessagingSql.DeadLettered)
                        {
                            return new DeliveryResult(DeliveryOutcome.DeadLetter, reason);
                        }

                        Log.DuplicateSkipped(_logger, consumer, message.Id);
                        MessagingTelemetry.Duplicates.Add(1, MessagingTelemetry.Consumer(consumer));
                        return new DeliveryResult(DeliveryOutcome.Duplicate);
                    }

                    claimed = true;
                    var scope = _scopes.CreateAsyncScope();
                    await using (scope.ConfigureAwait(false))
                    {
                        var handler = registration.CreateHandler(scope.ServiceProvider);
                        var context = new MessageContext(consumer, message, failuresSoFar.Value + 1, connection, transaction, scope.ServiceProvider);
                        await handler.HandleAsync(context, cancellationToken).ConfigureAwait(false);
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested)
        {
            // The host is stopping: whatever ran rolled back, and this attempt does not count.
            Log.DispatchCancelled(_logger, consumer, message.Id, ex);
            return new DeliveryResult(DeliveryOutcome.Retry, "The consumer stopped.");
        }
        catch (Exception ex) when (!claimed)
        {
            // The database, not the message: nothing is counted against it.
            Log.InboxUnavailable(_logger, consumer, message.Id, ex);
            await DelayAsync(registration.Options.RetryDelay, cancellationToken).ConfigureAwait(false);
            return new DeliveryResult(DeliveryOutcome.Retry, Reason(ex));
        }
        catch (Exception ex)
        {
            return await RecordFailureAsync(registration.Options, message, ex, cancellationToken).ConfigureAwait(false);
        }

        MessagingTelemetry.Handled.Add(1, MessagingTelemetry.Consumer(consumer));
        _observer?.Committed(consumer, message);
        return new DeliveryResult(DeliveryOutcome.Handled);
    }

    private async ValueTask<DeliveryResult> RecordFailureAsync(ConsumerOptions options, Message message, Exception failure, CancellationToken cancellationToken)
    {
        var reason = Reason(failure);
        MessagingTelemetry.HandlerFailures.Add(1, MessagingTelemetry.Consumer(options.Name));
        try
        {
            var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                using var command = Db.Command(connection, null, _database.Sql.RecordInboxFailure);
                Db.AddText(command, "@consumer", options.Name);
                Db.AddText(command, "@message_id", message.Id);
                Db.AddInt(command, "@max_attempts", options.MaxAttempts);
                Db.AddText(command, "@error", reason);
                _database.AddNow(command);
                using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    // A concurrent duplicate handled it meanwhile.
                    return new DeliveryResult(DeliveryOutcome.Duplicate);
                }

                var state = Convert.ToInt32(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture);
                var attempts = Convert.ToInt32(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture);
                if (state == MessagingSql.DeadLettered)
                {
                    Log.DeadLettered(_logger, options.Name, message.Id, attempts, failure);
                    MessagingTelemetry.DeadLettered.Add(1, MessagingTelemetry.Consumer(options.Name));
                    return new DeliveryResult(DeliveryOutcome.DeadLetter, reason);
                }

                Log.HandlerFailed(_logger, options.Name, message.Id, attempts, options.MaxAttempts, failure);
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            Log.InboxUnavailable(_logger, options.Name, message.Id, ex);
        }

        await DelayAsync(options.RetryDelay, cancellationToken).ConfigureAwait(false);
        return new DeliveryResult(DeliveryOutcome.Retry, reason);
    }

    private async ValueTask<int?> ClaimAsync(DbConnection connection, DbTransaction transaction, string consumer, string messageId, CancellationToken cancellationToken)
    {
        using var command = Db.Command(connection, transaction, _database.Sql.ClaimInbox);
        Db.AddText(command, "@consumer", consumer);
        Db.AddText(command, "@message_id", messageId);
        _database.AddNow(command);
        var attempts = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return attempts is null or DBNull ? null : Convert.ToInt32(attempts, System.Globalization.CultureInfo.InvariantCulture);
    }

    private async ValueTask<(int State, string? Reason)> ReadAsync(DbConnection connection, DbTransaction transaction, string consumer, string messageId, CancellationToken cancellationToken)
    {
        using var command = Db.Command(connection, transaction, _database.Sql.ReadInbox);
        Db.AddText(command, "@consumer", consumer);
        Db.AddText(command, "@message_id", messageId);
        using var reader = await command.ExecuteReaderAsync(CommandBehavior.SingleRow, cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? (Convert.ToInt32(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), reader.IsDBNull(1) ? null : reader.GetString(1))
            : (MessagingSql.Handled, null);
    }

    private async ValueTask DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            await Task.Delay(delay, _database.Time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static string Reason(Exception exception)
    {
        var reason = $"{exception.GetType().FullName}: {exception.Message}";
        return reason.Length <= MaxReasonLength ? reason : reason[..MaxReasonLength];
    }

    private sealed record Consumer(ConsumerOptions Options, Func<IServiceProvider, IMessageHandler> CreateHandler);
}
