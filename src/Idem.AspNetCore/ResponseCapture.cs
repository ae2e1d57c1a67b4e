using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Idem.AspNetCore;

/// <summary>
/// Tees the response body into pooled buffers while it goes to the client (pass-through), or holds all of it until the
/// transaction commits (buffered). Past the capture limit it stops keeping bytes for the record; in buffered mode it
/// still keeps them for the client.
/// </summary>
/// <remarks>
/// Pass-through mode holds a small response back (up to one 16 KiB segment, and never past the capture limit): the
/// handler's flushes wait, and the middleware sends the whole body, with a Content-Length, after the record is
/// completed, exactly as a replay is sent. The client gets the response in one piece instead of the body and then,
/// once the record is written, the chunked terminator; and a client that has its response and retries at once finds
/// the record completed. A response that outgrows the segment, or whose handler starts it, completes it or disables
/// buffering (a stream), is released and passes through from then on.
/// </remarks>
internal sealed partial class ResponseCapture : Stream
{
    private const int SegmentSize = 16 * 1024;

    private readonly Stream? _inner;
    private readonly int _limit;
    private readonly List<byte[]> _segments = [];
    private readonly HttpContext _context;
    private readonly IHttpResponseBodyFeature _original;
    private readonly IHttpResponseBodyFeature _feature;
    private readonly int _holdLimit;
    private bool _holding;
    private int _lastSegmentUsed = SegmentSize;
    private long _length;
    private long _captured;

    private ResponseCapture(HttpContext context, int limit, bool buffered)
    {
        _context = context;
        _original = context.Features.Get<IHttpResponseBodyFeature>()!;
        _inner = buffered ? null : _original.Stream;
        _limit = limit;
        _holding = !buffered;
        _holdLimit = Math.Min(SegmentSize, limit);
        // Pass-through: writes through the server's own PipeWriter, teeing each advanced span, with no stream adapter or
        // extra buffer in between. Buffered: everything goes to this stream and waits for the commit.
        _feature = buffered ? new StreamResponseBodyFeature(this, _original) : new PassThroughFeature(this, _original);
        context.Features.Set(_feature);
    }

    /// <summary>True when the body was larger than the limit, so only its status and headers can be stored.</summary>
    public bool OverLimit => _length > _limit;

    public override bool CanRead => false;

    // Seekable only while held, and only so HttpResponse.Clear() (which truncates a seekable body) can throw away what
    // was held: an error handler inside Idem may clear a response that has not been sent and write another.
    public override bool CanSeek => _holding;

    public override bool CanWrite => true;

    public override long Length => _length;

    public override long Position
    {
        get => _length;
        set => throw new NotSupportedException();
    }

    public static ResponseCapture PassThrough(HttpContext context, int limit) => new(context, limit, buffered: false);

    public static ResponseCapture Buffered(HttpContext context, int limit) => new(context, limit, buffered: true);

    /// <summary>Flushes what the handler left in the response writer and puts the server's body feature back.</summary>
    public async Task DetachAsync()
    {
        if (ReferenceEquals(_context.Features.Get<IHttpResponseBodyFeature>(), _feature))
        {
            // Pass-through bytes are already in the server's writer; completing it is the server's job.
            if (_feature is StreamResponseBodyFeature buffered)
            {
                await buffered.CompleteAsync().ConfigureAwait(false);
            }

            _context.Features.Set(_original);
        }
    }

    /// <summary>
    /// Puts the server's body feature back without completing this one. After an exception: completing would start the
    /// response (a 200 with no body) and turn the server's 500 into a connection torn down mid-response.
    /// </summary>
    public void Restore()
    {
        if (ReferenceEquals(_context.Features.Get<IHttpResponseBodyFeature>(), _feature))
        {
            _context.Features.Set(_original);
        }
    }

    /// <summary>The captured body as one array (empty when over the limit in pass-through mode).</summary>
    public byte[] ToArray()
    {
        var result = new byte[_captured];
        var offset = 0;
        for (var i = 0; i < _segments.Count; i++)
        {
            var count = i == _segments.Count - 1 ? _lastSegmentUsed : SegmentSize;
            _segments[i].AsSpan(0, count).CopyTo(result.AsSpan(offset));
            offset += count;
        }

        return result;
    }

    /// <summary>
    /// Pass-through mode, once the record is settled: sends a response that is still held back, framed with a
    /// Content-Length as its replays will be, and flushes it, as the handler's own flush would have (a middleware
    /// outside Idem may have put a buffering body feature in place and rely on that flush).
    /// </summary>
    public async ValueTask SendHeldAsync()
    {
        if (!_holding)
        {
            return;
        }

        if (_captured > 0 && !_context.Response.HasStarted)
        {
            _context.Response.ContentLength ??= _captured;
        }

        ReleaseHeld();
        if (ClientGone)
        {
            return;
        }

        try
        {
            await _original.Writer.FlushAsync(_context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception) when (ClientGone)
        {
        }
    }

    /// <summary>Writes held bytes into the server's writer (no flush) and passes everything through from then on.</summary>
    private void ReleaseHeld()
    {
        if (!_holding)
        {
            return;
        }

        _holding = false;
        if (_captured > 0 && !ClientGone)
        {
            // One segment at most: the hold limit is one segment.
            _original.Writer.Write(_segments[0].AsSpan(0, (int)_captured));
        }
    }

    // Room for the next write while held: within the hold limit and the one segment.
    private bool Fits(int count) => _holding && _length + count <= _holdLimit;

    private Memory<byte> HeldMemory(int sizeHint)
    {
        var room = _holdLimit - (int)_length;
        if (!_holding || room <= 0 || sizeHint > room)
        {
            return default;
        }

        if (_segments.Count == 0)
        {
            _segments.Add(ArrayPool<byte>.Shared.Rent(SegmentSize));
            _lastSegmentUsed = 0;
        }

        return _segments[0].AsMemory(_lastSegmentUsed, room);
    }

    private void AdvanceHeld(int count)
    {
        _length += count;
        _captured += count;
        _lastSegmentUsed += count;
    }

    /// <summary>Buffered mode: sends everything held to the client.</summary>
    public async Task CopyToClientAsync(CancellationToken cancellationToken)
    {
        var body = _original.Stream;
        for (var i = 0; i < _segments.Count; i++)
        {
            var count = i == _segments.Count - 1 ? _lastSegmentUsed : SegmentSize;
            await body.WriteAsync(_segments[i].AsMemory(0, count), cancellationToken).ConfigureAwait(false);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    // Once the client has hung up, writes to it are pointless and may throw; the handler's bytes still belong in the
    // record. Failing such a write would also make a PipeWriter over this stream send the same bytes again on
    // completion, and they would be kept twice.
    private bool ClientGone => _context.RequestAborted.IsCancellationRequested;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (Fits(buffer.Length))
        {
            Keep(buffer);
            return;
        }

        ReleaseHeld();
        if (_inner is not null && !ClientGone)
        {
            try
            {
                _inner.Write(buffer);
            }
            catch (Exception) when (ClientGone)
            {
            }
        }

        Keep(buffer);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (Fits(buffer.Length))
        {
            Keep(buffer.Span);
            return;
        }

        ReleaseHeld();
        if (_inner is not null && !ClientGone)
        {
            try
            {
                await _inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (ClientGone)
            {
            }
        }

        Keep(buffer.Span);
    }

    public override void Flush()
    {
        if (_inner is not null && !_holding && !ClientGone)
        {
            try
            {
                _inner.Flush();
            }
            catch (Exception) when (ClientGone)
            {
            }
        }
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_inner is not null && !_holding && !ClientGone)
        {
            try
            {
                await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (ClientGone)
            {
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value)
    {
        if (!_holding || value != 0)
        {
            throw new NotSupportedException();
        }

        _length = 0;
        _captured = 0;
        _lastSegmentUsed = _segments.Count == 0 ? SegmentSize : 0;
    }

    protected override void Dispose(bool disposing)
    {
        foreach (var segment in _segments)
        {
            ArrayPool<byte>.Shared.Return(segment);
        }

        _segments.Clear();
        base.Dispose(disposing);
    }
}
