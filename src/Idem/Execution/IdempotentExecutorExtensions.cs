using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Idem.Storage;

namespace Idem;

/// <summary>The typed form of <see cref="IIdempotentExecutor"/>, for operations that are not HTTP requests.</summary>
public static class IdempotentExecutorExtensions
{
    private const int ValueStatus = 200;
    private static readonly KeyValuePair<string, string>[] JsonHeaders = [new("Content-Type", "application/json")];

    /// <summary>
    /// Runs <paramref name="run"/> exactly once under <paramref name="operation"/>'s key and stores its value as JSON: a
    /// retry gets the stored value back (<see cref="IdempotentOutcome.Replayed"/>) without running anything. An exception
    /// releases the key and is rethrown, so a retry runs again; to keep a failure as the answer, return it as a value.
    /// </summary>
    /// <param name="executor">The executor.</param>
    /// <param name="operation">The key, fingerprint and settings (<see cref="IdempotentOperation.Create(string, string)"/>).</param>
    /// <param name="run">The operation.</param>
    /// <param name="typeInfo">How to serialise the value (source-generated metadata); reflection with web defaults when null.</param>
    /// <param name="cancellationToken">Cancels waiting and the operation, never the storing of its value.</param>
    public static async ValueTask<IdempotentResult<T>> RunAsync<T>(
        this IIdempotentExecutor executor,
        IdempotentOperation operation,
        Func<IIdempotencyContext, CancellationToken, ValueTask<T>> run,
        JsonTypeInfo<T>? typeInfo = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(run);
        T? value = default;
        var execution = await executor.ExecuteAsync(operation, (run, typeInfo), async (context, state, ct) =>
        {
            value = await state.run(context, ct).ConfigureAwait(false);
            var body = state.typeInfo is null
                ? JsonSerializer.SerializeToUtf8Bytes(value, JsonSerializerOptions.Web)
                : JsonSerializer.SerializeToUtf8Bytes(value, state.typeInfo);
            return OperationResult.Complete(new IdempotencyResponse(ValueStatus, JsonHeaders, body));
        }, cancellationToken).ConfigureAwait(false);

        return execution.Outcome switch
        {
            IdempotentOutcome.Executed => new IdempotentResult<T>(execution, value),
            IdempotentOutcome.Replayed => new IdempotentResult<T>(execution, Deserialize(execution.Response!, typeInfo)),
            _ => new IdempotentResult<T>(execution, default),
        };
    }

    private static T? Deserialize<T>(IdempotencyResponse stored, JsonTypeInfo<T>? typeInfo)
    {
        if (stored.BodyTruncated || stored.StatusCode != ValueStatus)
        {
            throw new InvalidOperationException("The key's stored result is not a value stored by RunAsync: the same key was used by another kind of operation.");
        }

        return typeInfo is null
            ? JsonSerializer.Deserialize<T>(stored.Body.Span, JsonSerializerOptions.Web)
            : JsonSerializer.Deserialize(stored.Body.Span, typeInfo);
    }
}
