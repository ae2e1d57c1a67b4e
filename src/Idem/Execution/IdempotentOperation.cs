using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Idem.Storage;

namespace Idem;

/// <summary>
/// One operation to run exactly once under a key: where its record is stored, what makes a retry the same operation
/// (the fingerprint), and, where they differ from <see cref="IdempotencyOptions"/>, how it is run.
/// </summary>
/// <remarks>
/// Build one with <see cref="Create(string, string)"/> (or the overload with an input) for an operation that is
/// not an HTTP request: a background job, a message handler, a scheduled task. Fronts such as the ASP.NET Core middleware
/// compose their own store key and fingerprint and use the constructor.
/// </remarks>
public sealed record IdempotentOperation
{
    /// <summary>The longest key <see cref="Create(string, string)"/> takes.</summary>
    public const int MaxKeyLength = 4096;

    /// <summary>Describes an operation whose store key and fingerprint the caller composed.</summary>
    /// <param name="storeKey">The full key the record is stored under (see <see cref="Idem.StoreKey"/>); it carries the scope.</param>
    /// <param name="fingerprint">What makes a retry the same operation: a lowercase hex SHA-256 (see <see cref="RequestFingerprint"/>).</param>
    /// <param name="key">The caller's own key, as <see cref="IIdempotencyContext.Key"/> shows it; the store key when null.</param>
    public IdempotentOperation(string storeKey, string fingerprint, string? key = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(storeKey);
        ArgumentException.ThrowIfNullOrEmpty(fingerprint);
        StoreKey = storeKey;
        Fingerprint = fingerprint;
        Key = key ?? storeKey;
    }

    /// <summary>The full key the record is stored under.</summary>
    public string StoreKey { get; }

    /// <summary>The operation's fingerprint: a retry with the same key and another fingerprint is refused as a mismatch.</summary>
    public string Fingerprint { get; }

    /// <summary>The caller's key.</summary>
    public string Key { get; }

    /// <summary>
    /// The input's top-level members, stored with the claim as names and short hashes, so that a later call with the key
    /// and another input learns which members differ (<see cref="IdempotentExecution.MismatchedFields"/>). Null when the
    /// input is not a JSON object. <see cref="Create{TInput}"/> sets it; a front takes it from
    /// <see cref="RequestFingerprint.MemberDigest"/>.
    /// </summary>
    public MemberDigest? MemberDigest { get; init; }

    /// <summary>
    /// Runs the operation in one database transaction with its claim and its stored result (BEHAVIOUR §7); the store
    /// must be a SQL store. Default false: standalone.
    /// </summary>
    public bool Transactional { get; init; }

    /// <summary>How long the claim holds the key before another caller may take it over; renewed while the operation runs. Default <see cref="IdempotencyOptions.LeaseDuration"/>.</summary>
    public TimeSpan? LeaseDuration { get; init; }

    /// <summary>
    /// Runs a transactional operation in group commit: it shares one database transaction with the operations that run
    /// beside it, in a savepoint of its own, and one commit makes them all durable (see <see cref="GroupCommitOptions"/>).
    /// Needs <see cref="Transactional"/> and a store that supports it (<see cref="Storage.IGroupCommitStore"/>); the
    /// operation cannot commit phases.
    /// </summary>
    public bool GroupCommit { get; init; }

    /// <summary>How long the result is kept. Default <see cref="IdempotencyOptions.Retention"/>.</summary>
    public TimeSpan? Retention { get; init; }

    /// <summary>What a caller gets while another runs the same key. Default <see cref="IdempotencyOptions.ConcurrentRequests"/>.</summary>
    public ConcurrentRequestHandling? ConcurrentRequests { get; init; }

    /// <summary>With <see cref="ConcurrentRequestHandling.WaitThenReplay"/>: how long to wait. Default <see cref="IdempotencyOptions.ConcurrentWaitTimeout"/>.</summary>
    public TimeSpan? ConcurrentWaitTimeout { get; init; }

    /// <summary>
    /// What happens when the store cannot be reached. Default <see cref="IdempotencyOptions.StoreFailure"/>. Failing open
    /// never applies to a transactional operation: its writes need the store's database.
    /// </summary>
    public StoreFailureHandling? StoreFailure { get; init; }

    /// <summary>
    /// An operation named <paramref name="name"/> (such as <c>invoices.send</c>) under <paramref name="key"/>, with nothing
    /// else to tell two calls apart: every call with the key is the same operation.
    /// </summary>
    /// <param name="name">The operation's name; keys of different operations never meet.</param>
    /// <param name="key">The key: printable ASCII, at most <see cref="MaxKeyLength"/>.</param>
    public static IdempotentOperation Create(string name, string key)
        => FromJson(name, key, ReadOnlySpan<byte>.Empty, scope: null);

    /// <summary>
    /// An operation named <paramref name="name"/> under <paramref name="key"/> whose input, serialised as JSON and
    /// canonicalised, is its fingerprint: a retry with the same key and a different input is refused as a mismatch.
    /// </summary>
    /// <param name="name">The operation's name; keys of different operations never meet.</param>
    /// <param name="key">The key: printable ASCII, at most <see cref="MaxKeyLength"/>.</param>
    /// <param name="input">What the operation is asked to do.</param>
    /// <param name="scope">Whose key it is (a tenant, a user); keys of different scopes never meet. Default none.</param>
    /// <param name="typeInfo">How to serialise the input (source-generated metadata); reflection with web defaults when null.</param>
    public static IdempotentOperation Create<TInput>(string name, string key, TInput input, string? scope = null, JsonTypeInfo<TInput>? typeInfo = null)
    {
        var json = typeInfo is null
            ? JsonSerializer.SerializeToUtf8Bytes(input, JsonSerializerOptions.Web)
            : JsonSerializer.SerializeToUtf8Bytes(input, typeInfo);
        return FromJson(name, key, json, scope);
    }

    private static IdempotentOperation FromJson(string name, string key, ReadOnlySpan<byte> json, string? scope)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (key.Length > MaxKeyLength || key.AsSpan().ContainsAnyExceptInRange('!', '~'))
        {
            throw new ArgumentException($"An idempotency key is 1 to {MaxKeyLength} printable ASCII characters (0x21-0x7E).", nameof(key));
        }

        using var fingerprint = new RequestFingerprint();
        fingerprint.Add("operation", name);
        fingerprint.AddBody(json, isJson: !json.IsEmpty);

        // No HTTP method is empty, so these keys never meet a request's.
        return new IdempotentOperation(Idem.StoreKey.Create(scope ?? string.Empty, string.Empty, name, key), fingerprint.Finish(), key)
        {
            MemberDigest = fingerprint.MemberDigest,
        };
    }

    internal ClaimRequest ToClaimRequest(IdempotencyOptions options)
        => new(StoreKey, Fingerprint, LeaseDuration ?? options.LeaseDuration, Retention ?? options.Retention) { Members = MemberDigest };

    /// <summary>For a mismatch: the members that differ from the stored digest, and whether they could be compared at all.</summary>
    internal bool TryCompareMembers(ReadOnlyMemory<byte> stored, out string[] fields)
        => Idem.MemberDigest.TryCompare(stored.Span, MemberDigest is { } members ? members.Encode(StoreKey).Span : default, out fields);
}
