using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace Idem.Gateway.Forwarding;

/// <summary>
/// The response body as YARP's forwarder sees it, minus <see cref="DisableBuffering"/>, which YARP calls on every
/// response. Idem holds a small response (up to 16 KiB) back until its record is stored, so a client that has its
/// answer and retries at once gets the replay rather than a 409; a disabled buffer would send it first. A larger answer
/// still streams as it comes.
/// </summary>
internal sealed class HeldResponseBodyFeature(IHttpResponseBodyFeature inner) : IHttpResponseBodyFeature
{
    public Stream Stream => inner.Stream;

    public PipeWriter Writer => inner.Writer;

    public void DisableBuffering()
    {
    }

    public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) => inner.SendFileAsync(path, offset, count, cancellationToken);

    public Task CompleteAsync() => inner.CompleteAsync();
}
