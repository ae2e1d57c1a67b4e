namespace Idem.Gateway.Forwarding;

/// <summary>
/// Ahead of the idempotency middleware: a request on a route with <c>Idempotency.AnswerTimeout</c> gets its
/// <see cref="LateAnswer"/>, which <see cref="UpstreamOutcomeMiddleware"/> uses when the upstream is slower than that.
/// </summary>
internal sealed class LateAnswerMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
        => context.GetEndpoint()?.Metadata.GetMetadata<Routes.RoutePolicy>()?.AnswerTimeout is { } timeout
            ? DetachableAsync(context, timeout)
            : next(context);

    private async Task DetachableAsync(HttpContext context, TimeSpan timeout)
    {
        using var answer = LateAnswer.Install(context, timeout);
        await next(context).ConfigureAwait(false);
    }
}
