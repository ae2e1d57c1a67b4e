using System.IO.Pipelines;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Features;

namespace Idem.Gateway.Forwarding;

/// <summary>The response and lifetime features a <see cref="LateAnswer"/> puts in place of the server's.</summary>
internal sealed partial class LateAnswer
{
    /// <summary>Status and headers: the server's while attached, its own once detached.</summary>
    private sealed class DetachableResponse(LateAnswer owner) : IHttpResponseFeature
    {
        private int _status = StatusCodes.Status200OK;
        private string? _reason;
        private IHeaderDictionary? _headers;

        // Detach fills the own status and headers before the owner's state says detached.
        private bool Detached => owner.IsDetached;

        public int StatusCode
        {
            get => Detached ? _status : owner._clientResponse.StatusCode;
            set
            {
                if (Detached)
                {
                    _status = value;
                }
                else
                {
                    owner._clientResponse.StatusCode = value;
                }
            }
        }

        public string? ReasonPhrase
        {
            get => Detached ? _reason : owner._clientResponse.ReasonPhrase;
            set
            {
                if (Detached)
                {
                    _reason = value;
                }
                else
                {
                    owner._clientResponse.ReasonPhrase = value;
                }
            }
        }

        public IHeaderDictionary Headers
        {
            get => Detached ? _headers! : owner._clientResponse.Headers;
            set
            {
                if (Detached)
                {
                    _headers = value;
                }
                else
                {
                    owner._clientResponse.Headers = value;
                }
            }
        }

        [Obsolete("Use IHttpResponseBodyFeature.Stream.")]
        public Stream Body
        {
            get => owner._body.Stream;
            set => throw new NotSupportedException("The response body is set through IHttpResponseBodyFeature.");
        }

        // Detached, the answer has nowhere to start: nothing of it has gone out, so an error can still set its status.
        public bool HasStarted => !Detached && owner._clientResponse.HasStarted;

        public void OnStarting(Func<object, Task> callback, object state) => owner._clientResponse.OnStarting(callback, state);

        public void OnCompleted(Func<object, Task> callback, object state) => owner._clientResponse.OnCompleted(callback, state);

        public void Detach(IHttpResponseFeature client)
        {
            _status = client.StatusCode;
            _reason = client.ReasonPhrase;
            var headers = new HeaderDictionary();
            foreach (var (name, value) in client.Headers)
            {
                headers[name] = value;
            }

            _headers = headers;
        }
    }

    /// <summary>The body: the server's while attached; once detached, written nowhere (the capture keeps its copy).</summary>
    private sealed class DetachableBody(LateAnswer owner) : IHttpResponseBodyFeature
    {
        private SwitchingStream? _stream;
        private SwitchingWriter? _writer;

        public Stream Stream => _stream ??= new SwitchingStream(owner);

        public PipeWriter Writer => _writer ??= new SwitchingWriter(owner);

        public void DisableBuffering()
        {
            if (!owner.IsDetached)
            {
                owner._clientBody.DisableBuffering();
            }
        }

        public Task StartAsync(CancellationToken cancellationToken = default)
            => owner.IsDetached ? Task.CompletedTask : owner._clientBody.StartAsync(cancellationToken);

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
            => owner.IsDetached ? Task.CompletedTask : owner._clientBody.SendFileAsync(path, offset, count, cancellationToken);

        public Task CompleteAsync() => owner.IsDetached ? Task.CompletedTask : owner._clientBody.CompleteAsync();
    }

    private sealed class SwitchingStream(LateAnswer owner) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
            if (!owner.IsDetached)
            {
                owner._clientBody.Stream.Flush();
            }
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
            => owner.IsDetached ? Task.CompletedTask : owner._clientBody.Stream.FlushAsync(cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (!owner.IsDetached)
            {
                owner._clientBody.Stream.Write(buffer);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
            => owner.IsDetached ? ValueTask.CompletedTask : owner._clientBody.Stream.WriteAsync(buffer, cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>The server's writer while attached; once detached, a scratch buffer whose bytes are dropped.</summary>
    private sealed class SwitchingWriter(LateAnswer owner) : PipeWriter
    {
        private byte[] _scratch = [];
        private bool _lentScratch;

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            if (!owner.IsDetached)
            {
                _lentScratch = false;
                return owner._clientBody.Writer.GetMemory(sizeHint);
            }

            _lentScratch = true;
            var size = Math.Max(sizeHint, 4096);
            if (_scratch.Length < size)
            {
                _scratch = new byte[size];
            }

            return _scratch;
        }

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            if (!_lentScratch)
            {
                owner._clientBody.Writer.Advance(bytes);
            }
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
            => owner.IsDetached ? new(new FlushResult(isCanceled: false, isCompleted: false)) : owner._clientBody.Writer.FlushAsync(cancellationToken);

        public override void CancelPendingFlush()
        {
            if (!owner.IsDetached)
            {
                owner._clientBody.Writer.CancelPendingFlush();
            }
        }

        // The server completes its own writer when the response ends.
        public override void Complete(Exception? exception = null)
        {
        }

        public override ValueTask CompleteAsync(Exception? exception = null) => ValueTask.CompletedTask;
    }

    /// <summary>The request's abort signal: the client's while attached; once detached, only the gateway's own.</summary>
    private sealed class Lifetime(LateAnswer owner) : IHttpRequestLifetimeFeature
    {
        public CancellationToken RequestAborted
        {
            get => owner._aborted.Token;
            set => throw new NotSupportedException("The request's abort signal belongs to the server.");
        }

        public void Abort()
        {
            if (!owner.IsDetached)
            {
                owner._clientLifetime.Abort();
            }
        }
    }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(LateAnswer.ProblemBody))]
internal sealed partial class ProblemBodyContext : JsonSerializerContext;
