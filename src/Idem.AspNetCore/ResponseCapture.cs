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
internal sealed class ResponseCapture : Stream
{
    private const int SegmentSize = 16 * 1024;

    private readonly Stream? _inner;
    private readonly int _limit;
    private readonly List<byte[]> _segments = [];
    private readonly HttpContext _context;
    private readonly IHttpResponseBodyFeature _original;
    private readonly IHttpResponseBodyFeature _feature;
    private int _lastSegmentUsed = SegmentSize;
    private long _length;
    private long _captured;

    private ResponseCapture(HttpContext context, int limit, bool buffered)
    {
        _context = context;
        _original = context.Features.Get<IHttpResponseBodyFeature>()!;
        _inner = buffered ? null : _original.Stream;
        _limit = limit;
        // Pass-through: writes through the server's own PipeWriter, teeing each advanced span, with no stream adapter or
        // extra buffer in between. Buffered: everything goes to this stream and waits for the commit.
        _feature = buffered ? new StreamResponseBodyFeature(this, _original) : new PassThroughFeature(this, _original);
        context.Features.Set(_feature);
    }

    /// <summary>True when the body was larger than the limit, so only its status and headers can be stored.</summary>
    public bool OverLimit => _length > _limit;

    public override bool CanRead => false;

    public override bool CanSeek => false;

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
        if (_inner is not null && !ClientGone)
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
        if (_inner is not null && !ClientGone)
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

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        foreach (var segment in _segments)
        {
            ArrayPool<byte>.Shared.Return(segment);
        }

        _segments.Clear();
        base.Dispose(disposing);
    }

    private sealed class PassThroughFeature(ResponseCapture capture, IHttpResponseBodyFeature original) : IHttpResponseBodyFeature
    {
        private TeeWriter? _writer;

        public Stream Stream => capture;

        public PipeWriter Writer => _writer ??= new TeeWriter(capture, original.Writer);

        public void DisableBuffering() => original.DisableBuffering();

        public Task StartAsync(CancellationToken cancellationToken = default) => original.StartAsync(cancellationToken);

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
            => SendFileFallback.SendFileAsync(capture, path, offset, count, cancellationToken);

        public Task CompleteAsync() => original.CompleteAsync();
    }

    /// <summary>The server's writer, keeping a copy of every span the handler advances over.</summary>
    private sealed class TeeWriter(ResponseCapture capture, PipeWriter inner) : PipeWriter
    {
        private Memory<byte> _lent;

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override Memory<byte> GetMemory(int sizeHint = 0) => _lent = inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => (_lent = inner.GetMemory(sizeHint)).Span;

        public override void Advance(int bytes)
        {
            capture.Keep(_lent.Span[..bytes]);
            _lent = default;
            inner.Advance(bytes);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        // The server completes its own writer when the response ends.
        public override void Complete(Exception? exception = null)
        {
        }

        public override ValueTask CompleteAsync(Exception? exception = null) => ValueTask.CompletedTask;
    }

    private void Keep(ReadOnlySpan<byte> data)
    {
        _length += data.Length;
        if (_inner is not null && _length > _limit)
        {
            // Pass-through and over the limit: the client has the bytes; the record will say the body was not kept.
            ReturnSegments();
            return;
        }

        while (!data.IsEmpty)
        {
            if (_lastSegmentUsed == SegmentSize)
            {
                _segments.Add(ArrayPool<byte>.Shared.Rent(SegmentSize));
                _lastSegmentUsed = 0;
            }

            var count = Math.Min(data.Length, SegmentSize - _lastSegmentUsed);
            data[..count].CopyTo(_segments[^1].AsSpan(_lastSegmentUsed));
            _lastSegmentUsed += count;
            _captured += count;
            data = data[count..];
        }
    }

    private void ReturnSegments()
    {
        if (_segments.Count == 0)
        {
            return;
        }

        foreach (var segment in _segments)
        {
            ArrayPool<byte>.Shared.Return(segment);
        }

        _segments.Clear();
        _lastSegmentUsed = SegmentSize;
        _captured = 0;
    }
}
