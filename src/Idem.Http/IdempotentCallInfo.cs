namespace Idem.Http;

/// <summary>What <see cref="IdempotentRetryHandler"/> did for one logical request.</summary>
/// <param name="Key">The idempotency key sent with every attempt.</param>
/// <param name="Attempts">How many attempts were sent, the first included.</param>
/// <param name="Replayed">Whether the final response carried <c>Idempotent-Replayed: true</c>: the server answered with the
/// stored result of an earlier attempt (or an earlier call with the same key) instead of running the operation again.</param>
public sealed record IdempotentCallInfo(string Key, int Attempts, bool Replayed);
