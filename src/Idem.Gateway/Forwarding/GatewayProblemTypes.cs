namespace Idem.Gateway.Forwarding;

/// <summary>The <c>type</c> of the problems the gateway adds to Idem's own (docs/problems.md, docs/gateway.md).</summary>
internal static class GatewayProblemTypes
{
    /// <summary>503: the upstream could not be reached and nothing was sent. A retry with the same key is safe at once.</summary>
    public const string UpstreamUnavailable = "urn:idem:problem:upstream-unavailable";

    /// <summary>
    /// 503 or 504: the request was sent but no complete answer came back (a timeout, a dropped connection). The upstream
    /// may have done the work; the key stays held until its lease ends, then a retry with it is forwarded again.
    /// </summary>
    public const string UpstreamOutcomeUnknown = "urn:idem:problem:upstream-outcome-unknown";
}
