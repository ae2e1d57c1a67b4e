namespace Idem.Check;

/// <summary>Prints each request instead of sending it, and answers an empty 200.</summary>
internal sealed class DryRunHandler(TextWriter output) : HttpMessageHandler
{
    private readonly Lock _gate = new();

    /// <summary>Prints a request the kit writes on a socket of its own, as it goes on the wire.</summary>
    public void Print(byte[] request, string note)
    {
        var lines = System.Text.Encoding.UTF8.GetString(request).Split("\r\n");
        lock (_gate)
        {
            output.WriteLine($"{lines[0]} ({note})");
            foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
            {
                output.WriteLine($"  {line}");
            }
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            output.WriteLine($"{request.Method} {request.RequestUri}");
            foreach (var header in request.Headers.NonValidated.Concat(request.Content?.Headers.NonValidated ?? default))
            {
                output.WriteLine($"  {header.Key}: {string.Join(", ", header.Value)}");
            }

            if (body is not null)
            {
                output.WriteLine($"  {body}");
            }
        }

        return new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new ByteArrayContent([]), RequestMessage = request };
    }
}
