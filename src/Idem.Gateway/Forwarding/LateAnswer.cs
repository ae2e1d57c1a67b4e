using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace Idem.Gateway.Forwarding;

/// <summary>
/// One request on a route with <c>Idempotency.AnswerTimeout</c>: the client gets an answer within that time, while the
/// gateway keeps waiting for the upstream's (up to the cluster's <c>ActivityTimeout</c>) and stores it when it comes, so
/// the client's retry is replayed instead of forwarded again.
/// </summary>
/// <remarks>
/// Installed before the idempotency middleware, it stands between everything after it and the server's response: while
/// attached, every status, header, body byte and the request's abort signal pass straight through. <see cref="TryDetach"/>
/// cuts the client loose: what the forwarder writes afterwards goes to a response the client never sees (the idempotency
/// middleware still captures and stores it), and the client, answered by <see cref="AnswerClientAsync"/>, hanging up no
/// longer cancels the upstream call. Detaching can only happen before the upstream's answer arrived
/// (<see cref="AnswerArrived"/>, called by <see cref="AnswerArrivalHandler"/> the moment its headers are in), so the
/// forwarder has never written to the client when it does.
/// </remarks>
internal sealed partial class LateAnswer : IDisposable
{
    private static readonly AsyncLocal<LateAnswer?> CurrentRequest = new();

    private readonly Lock _gate = new();
    private readonly HttpContext _context;
    private readonly IHttpResponseFeature _clientResponse;
    private readonly IHttpResponseBodyFeature _clientBody;
    private readonly IHttpRequestLifetimeFeature _clientLifetime;
    private readonly CancellationTokenSource _aborted = new();
    private readonly CancellationTokenRegistration _clientAborted;
    private readonly DetachableResponse _response;
    private readonly DetachableBody _body;
    private readonly Lifetime _lifetime;
    // Changed only under _gate, and only forward (Waiting to Arrived or Detached): a plain read sees a state that holds.
    private volatile State _state;

    private LateAnswer(HttpContext context, TimeSpan answerTimeout)
    {
        AnswerTimeout = answerTimeout;
        _context = context;
        _clientResponse = context.Features.GetRequiredFeature<IHttpResponseFeature>();
        _clientBody = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        _clientLifetime = context.Features.GetRequiredFeature<IHttpRequestLifetimeFeature>();
        _response = new DetachableResponse(this);
        _body = new DetachableBody(this);
        _lifetime = new Lifetime(this);

        // The client hanging up while the gateway still waits detaches: the answer is still stored when it comes.
        _clientAborted = _clientLifetime.RequestAborted.Register(static state => ((LateAnswer)state!).ClientGone(), this);
    }

    private enum State
    {
        Waiting,
        Arrived,
        Detached,
    }

    /// <summary>The request being forwarded on this async flow, if its route has an answer timeout.</summary>
    public static LateAnswer? Current => CurrentRequest.Value;

    /// <summary>How long the client waits for the upstream's answer before it is answered on the gateway's own.</summary>
    public TimeSpan AnswerTimeout { get; }

    /// <summary>True once the client was cut loose: nothing more reaches it. Read on every write of the answer.</summary>
    public bool IsDetached => _state == State.Detached;

    /// <summary>Puts the request's response and lifetime behind a <see cref="LateAnswer"/>; <see cref="Dispose"/> undoes it.</summary>
    public static LateAnswer Install(HttpContext context, TimeSpan answerTimeout)
    {
        var answer = new LateAnswer(context, answerTimeout);
        context.Features.Set<IHttpResponseFeature>(answer._response);
        context.Features.Set<IHttpResponseBodyFeature>(answer._body);
        context.Features.Set<IHttpRequestLifetimeFeature>(answer._lifetime);
        CurrentRequest.Value = answer;
        return answer;
    }

    /// <summary>Gives the request its server's features back.</summary>
    public void Dispose()
    {
        CurrentRequest.Value = null;
        _clientAborted.Dispose();
        _context.Features.Set(_clientResponse);
        _context.Features.Set(_clientBody);
        _context.Features.Set(_clientLifetime);
        _aborted.Dispose();
    }

    /// <summary>The upstream's answer has arrived: from now on the client gets it, whatever the time.</summary>
    public void AnswerArrived()
    {
        lock (_gate)
        {
            if (_state == State.Waiting)
            {
                _state = State.Arrived;
            }
        }
    }

    /// <summary>Cuts the client loose, unless the upstream's answer has arrived; true when it did.</summary>
    public bool TryDetach()
    {
        lock (_gate)
        {
            if (_state != State.Waiting)
            {
                return false;
            }

            // Headers set before now (by middleware ahead of the forwarder) belong to the answer the client never sees too.
            _response.Detach(_clientResponse);
            _state = State.Detached;
            return true;
        }
    }

    /// <summary>Answers the detached client with a problem, straight on the server's response, and ends it.</summary>
    public async Task AnswerClientAsync(int status, string type, string title, string detail, TimeSpan retryAfter, bool http1)
    {
        if (_clientLifetime.RequestAborted.IsCancellationRequested || _clientResponse.HasStarted)
        {
            return;
        }

        _clientResponse.StatusCode = status;
        var headers = _clientResponse.Headers;
        headers.ContentType = "application/problem+json";
        headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (http1)
        {
            // This connection stays busy until the upstream answers: the client must not send its retry on it.
            headers.Connection = "close";
        }

        var body = JsonSerializer.SerializeToUtf8Bytes(new ProblemBody(type, title, status, detail), ProblemBodyContext.Default.ProblemBody);
        headers.ContentLength = body.Length;
        try
        {
            await _clientBody.Writer.WriteAsync(body).ConfigureAwait(false);
            await _clientBody.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The client went away meanwhile: nothing to tell it.
        }
    }

    private void ClientGone()
    {
        if (TryDetach() || IsDetached)
        {
            return;
        }

        // The answer had arrived and was on its way to the client: the forwarder stops, as it would without this.
        try
        {
            _aborted.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    internal sealed record ProblemBody(string Type, string Title, int Status, string Detail);
}
