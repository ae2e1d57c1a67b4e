using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Idem;

/// <summary>
/// Computes a request fingerprint: a SHA-256 over named parts (method, route template, route values, sorted query,
/// content type) and the whole body. A JSON body is canonicalised first, so member order and insignificant whitespace
/// do not change it (BEHAVIOUR §3). Every part is length-prefixed, so no two different requests can hash the same input.
/// </summary>
public sealed partial class RequestFingerprint : IDisposable
{
    // Parts are gathered in a pooled buffer and hashed in one call: an IncrementalHash is a native context behind a
    // finalizable handle, which costs more than hashing a small request. Past this size the gathered bytes go into one.
    private const int MaxGathered = 64 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_canonical;

    private byte[] _gathered = ArrayPool<byte>.Shared.Rent(1024);
    private int _gatheredLength;
    private IncrementalHash? _hash;
    private bool _finished;

    /// <summary>Adds a named text part (method, route template, content type, one route value or query parameter).</summary>
    public void Add(string name, string? value)
    {
        AppendText(name);
        if (value is null)
        {
            AppendLength(-1);
        }
        else
        {
            AppendText(value);
        }
    }

    /// <summary>
    /// Adds the body. When <paramref name="isJson"/> and the bytes parse as JSON, the canonical form is hashed (and, when
    /// <paramref name="members"/> is given, only those members, each a dotted path from the root object); otherwise the
    /// raw bytes are. A JSON object also gets its <see cref="MemberDigest"/>.
    /// </summary>
    public void AddBody(ReadOnlySpan<byte> body, bool isJson, IReadOnlyList<string>? members = null)
    {
        MemberDigest = null;
        if (isJson && TryAddCanonicalJson(body, members))
        {
            return;
        }

        AppendText("body:raw");
        AppendLength(body.Length);
        Append(body);
    }

    /// <summary>
    /// Adds a raw (not JSON) body of <paramref name="length"/> bytes, read from <paramref name="body"/> in pieces: the same
    /// fingerprint <see cref="AddBody"/> gives those bytes as a raw body, without holding them whole (a large upload).
    /// </summary>
    /// <param name="body">The stream to read exactly <paramref name="length"/> bytes from.</param>
    /// <param name="length">The body's length in bytes.</param>
    /// <param name="cancellationToken">Cancels the reading.</param>
    /// <exception cref="EndOfStreamException">The stream ended before <paramref name="length"/> bytes.</exception>
    public async ValueTask AddRawBodyAsync(Stream body, long length, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, int.MaxValue);
        MemberDigest = null;
        AppendText("body:raw");
        AppendLength((int)length);
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            var remaining = length;
            while (remaining > 0)
            {
                var read = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new EndOfStreamException($"The body ended {remaining} bytes short of its length, {length}.");
                }

                Append(buffer.AsSpan(0, read));
                remaining -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The top-level members of the body added last, when it is a JSON object (only the chosen members, when the body was
    /// narrowed to some), for <see cref="IdempotentOperation.MemberDigest"/>; null for any other body.
    /// </summary>
    public MemberDigest? MemberDigest { get; private set; }

    /// <summary>Finishes the hash as 64 lowercase hex characters.</summary>
    public string Finish()
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _finished = true;
        Span<byte> digest = stackalloc byte[32];
        if (_hash is null)
        {
            HashGathered(digest);
        }
        else
        {
            _hash.GetHashAndReset(digest);
        }

        return Convert.ToHexStringLower(digest);
    }

    [ThreadStatic]
    private static IncrementalHash? t_sha256;

    // One SHA-256 context per thread, reset after each digest: the one-shot call sets up and frees a native context per
    // call. Dropped if a call fails, so no half-hashed state can reach the next fingerprint.
    private void HashGathered(Span<byte> digest)
    {
        var sha256 = t_sha256 ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        t_sha256 = null;
        sha256.AppendData(_gathered.AsSpan(0, _gatheredLength));
        sha256.GetHashAndReset(digest);
        t_sha256 = sha256;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _hash?.Dispose();
        if (_gathered.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_gathered);
            _gathered = [];
        }
    }

    private bool TryAddCanonicalJson(ReadOnlySpan<byte> body, IReadOnlyList<string>? members)
    {
        var generalPathOnly = false;
        if (members is null || members.Count == 0)
        {
            switch (TryAddWholeJsonDirectly(body))
            {
                case FastPath.Written:
                    return true;
                case FastPath.Invalid:
                    return false;
                case FastPath.NeedsSorting:
                    generalPathOnly = true;
                    break;
            }
        }

        // One canonical buffer per thread, reused: the canonical form is hashed before anything else runs on the thread.
        var buffer = t_canonical ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        try
        {
            return members is null || members.Count == 0 ? TryAddWholeJson(body, buffer, generalPathOnly) : TryAddJsonMembers(body, members, buffer);
        }
        finally
        {
            ReleaseCanonicalBuffer(buffer);
        }
    }

    // "body:json" as AppendText writes it (its length, then its bytes), then the canonical form's length.
    private const int BodyJsonHeader = 4 + 9 + 4;

    /// <summary>
    /// The fast path written straight into the gathered parts, behind the header that goes in front of it once its
    /// length is known: no canonical buffer to copy from. <see cref="FastPath.NeedsRoom"/> when the parts are hashed
    /// incrementally already or the form would take them past <see cref="MaxGathered"/>.
    /// </summary>
    private FastPath TryAddWholeJsonDirectly(ReadOnlySpan<byte> body)
    {
        // As in TryCanonicalizeWithoutDocument: the body's length is enough unless escapes are added.
        var outcome = TryCanonicalizeIntoGathered(body, body.Length);
        if (outcome == FastPath.NeedsRoom && body.Length <= MaxGathered / MaxEscapeExpansion)
        {
            outcome = TryCanonicalizeIntoGathered(body, body.Length * MaxEscapeExpansion);
        }

        return outcome;
    }

    private FastPath TryCanonicalizeIntoGathered(ReadOnlySpan<byte> body, int room)
    {
        if (_hash is not null || room > MaxGathered - BodyJsonHeader - _gatheredLength)
        {
            return FastPath.NeedsRoom;
        }

        EnsureGathered(_gatheredLength + BodyJsonHeader + room);
        var part = _gathered.AsSpan(_gatheredLength);
        var outcome = TryCanonicalizeInto(body, part.Slice(BodyJsonHeader, room), out var written);
        if (outcome == FastPath.Written)
        {
            CaptureMembers(part.Slice(BodyJsonHeader, written));
            BinaryPrimitives.WriteInt32LittleEndian(part, BodyJson.Length);
            BodyJson.CopyTo(part[4..]);
            BinaryPrimitives.WriteInt32LittleEndian(part[(4 + BodyJson.Length)..], written);
            _gatheredLength += BodyJsonHeader + written;
        }

        return outcome;
    }

    private static ReadOnlySpan<byte> BodyJson => "body:json"u8;

    private bool TryAddWholeJson(ReadOnlySpan<byte> body, ArrayBufferWriter<byte> buffer, bool generalPathOnly)
    {
        if (!(generalPathOnly ? TryCanonicalizeSorted(body, buffer) : TryCanonicalize(body, buffer)))
        {
            return false;
        }

        CaptureMembers(buffer.WrittenSpan);
        AppendText("body:json");
        AppendLength(buffer.WrittenCount);
        Append(buffer.WrittenSpan);
        return true;
    }

    // Only a copy of the canonical object here: its members are hashed if a store ever needs them (see MemberDigest).
    private void CaptureMembers(ReadOnlySpan<byte> canonical)
    {
        if (canonical.Length > 0 && canonical[0] == (byte)'{')
        {
            MemberDigest = Idem.MemberDigest.FromCanonicalObject(canonical);
        }
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_hash is not null)
        {
            _hash.AppendData(data);
            return;
        }

        var needed = _gatheredLength + data.Length;
        if (needed > MaxGathered)
        {
            _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            _hash.AppendData(_gathered.AsSpan(0, _gatheredLength));
            _hash.AppendData(data);
            return;
        }

        EnsureGathered(needed);
        data.CopyTo(_gathered.AsSpan(_gatheredLength));
        _gatheredLength = needed;
    }

    private void EnsureGathered(int needed)
    {
        if (needed > _gathered.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _gathered.Length * 2));
            _gathered.AsSpan(0, _gatheredLength).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_gathered);
            _gathered = larger;
        }
    }

    private static void ReleaseCanonicalBuffer(ArrayBufferWriter<byte> buffer)
    {
        // Keep the thread's buffer for the next request unless one huge body grew it.
        if (buffer.Capacity > 1024 * 1024)
        {
            t_canonical = null;
        }
    }

    private void AppendText(string text)
    {
        // Transcoded once, straight into the gathered parts behind its length, when the longest it can be fits: a UTF-16
        // unit is at most three bytes of UTF-8 (a pair is four for two; a lone surrogate, U+FFFD, is three).
        if (_hash is null && text.Length <= (MaxGathered - 4 - _gatheredLength) / 3)
        {
            EnsureGathered(_gatheredLength + 4 + (text.Length * 3));
            // ASCII, the common case, is narrowed without the encoder; anything else is transcoded from the start again.
            var target = _gathered.AsSpan(_gatheredLength + 4);
            var byteCount = Ascii.FromUtf16(text, target, out var narrowed) == OperationStatus.Done ? narrowed : Encoding.UTF8.GetBytes(text, target);
            BinaryPrimitives.WriteInt32LittleEndian(_gathered.AsSpan(_gatheredLength), byteCount);
            _gatheredLength += 4 + byteCount;
            return;
        }

        AppendLength(Encoding.UTF8.GetByteCount(text));
        Append(Encoding.UTF8.GetBytes(text));
    }

    private void AppendLength(int length)
    {
        Span<byte> prefix = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(prefix, length);
        Append(prefix);
    }
}
