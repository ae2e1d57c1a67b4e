using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Idem.AspNetCore;

/// <summary>What the capture puts in place of the response body feature and its pipe writer.</summary>
internal sealed partial class ResponseCapture
{
    private sealed class PassThroughFeature(ResponseCapture capture, IHttpResponseBodyFeature original) : IHttpResponseBodyFeature
    {
        private TeeWriter? _writer;

        public Stream Stream => capture;

        public PipeWriter Writer => _writer ??= new TeeWriter(capture, original.Writer);

        // A handler that streams, starts or ends its response itself gets it sent now.
        public void DisableBuffering()
        {
            capture.ReleaseHeld();
            original.DisableBuffering();
        }

        public Task StartAsync(CancellationToken cancellationToken = default)
        {
            capture.ReleaseHeld();
            return original.StartAsync(cancellationToken);
        }

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
            => SendFileFallback.SendFileAsync(capture, path, offset, count, cancellationToken);

        public Task CompleteAsync()
        {
            capture.ReleaseHeld();
            return original.CompleteAsync();
        }
    }

    /// <summary>
    /// While the response is held, hands out the capture's own segment; then the server's writer, keeping a copy of
    /// every span the handler advances over.
    /// </summary>
    private sealed class TeeWriter(ResponseCapture capture, PipeWriter inner) : PipeWriter
    {
        private Memory<byte> _lent;
        private bool _lentHeld;

        public override bool CanGetUnflushedBytes => capture._holding || inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => capture._holding ? capture._length : inner.UnflushedBytes;

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            var held = capture.HeldMemory(sizeHint);
            if (!held.IsEmpty)
            {
                _lentHeld = true;
                return _lent = held;
            }

            capture.ReleaseHeld();
            _lentHeld = false;
            return _lent = inner.GetMemory(sizeHint);
        }

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, _lent.Length);
            if (_lentHeld)
            {
                // Already in the capture's segment: nothing to copy.
                capture.AdvanceHeld(bytes);
            }
            else
            {
                capture.Keep(_lent.Span[..bytes]);
                inner.Advance(bytes);
            }

            _lent = default;
            _lentHeld = false;
        }

        // While held there is nothing to send yet; the middleware sends the response once the record is settled.
        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
            => capture._holding ? new(new FlushResult(isCanceled: false, isCompleted: false)) : inner.FlushAsync(cancellationToken);

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
