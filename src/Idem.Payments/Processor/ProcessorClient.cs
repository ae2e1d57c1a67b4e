using System.Net;
using System.Net.Http.Json;
using Idem.Http;

namespace Idem.Payments.Processor;

/// <summary>What the processor said about one charge or refund.</summary>
internal enum ProcessorOutcome
{
    /// <summary>Done: the charge succeeded or the refund was made.</summary>
    Succeeded,

    /// <summary>The card was declined; final.</summary>
    Declined,

    /// <summary>Refused for good (a refund the processor will not make).</summary>
    Refused,

    /// <summary>No answer in time, or the processor is down: the outcome is unknown and a later call with the same key settles it.</summary>
    Unknown,
}

internal sealed record ProcessorResult(ProcessorOutcome Outcome, string? Id = null, string? DeclineCode = null);

/// <summary>
/// Calls the card processor through Idem.Http: one idempotency key per operation, derived from the payment's or refund's
/// own id (never the client's key), kept across every retry, so the processor charges once however often this runs.
/// </summary>
internal sealed class ProcessorClient(HttpClient http)
{
    public const string HttpClientName = "processor";

    /// <summary>The key a payment's charge is made under.</summary>
    public static string ChargeKey(string paymentId) => "charge-" + paymentId;

    /// <summary>The key a refund is made under.</summary>
    public static string RefundKey(string refundId) => "refund-" + refundId;

    public Task<ProcessorResult> ChargeAsync(string paymentId, long amount, string currency, string source, CancellationToken cancellationToken)
        => SendAsync("v1/charges", ChargeKey(paymentId), JsonContent.Create(new ChargeRequest(amount, currency, source, paymentId), ProcessorJsonContext.Default.ChargeRequest), cancellationToken);

    public Task<ProcessorResult> RefundAsync(string refundId, string chargeId, long amount, CancellationToken cancellationToken)
        => SendAsync("v1/refunds", RefundKey(refundId), JsonContent.Create(new RefundRequest(chargeId, amount, refundId), ProcessorJsonContext.Default.RefundRequest), cancellationToken);

    private async Task<ProcessorResult> SendAsync(string path, string key, HttpContent content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content }.SetIdempotencyKey(key);
        try
        {
            using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            switch (response.StatusCode)
            {
                case HttpStatusCode.Created:
                    return new ProcessorResult(ProcessorOutcome.Succeeded, await ReadIdAsync(response, cancellationToken).ConfigureAwait(false));
                case HttpStatusCode.PaymentRequired:
                    var charge = await response.Content.ReadFromJsonAsync(ProcessorJsonContext.Default.ChargeRecord, cancellationToken).ConfigureAwait(false);
                    return new ProcessorResult(ProcessorOutcome.Declined, charge?.Id, charge?.Source == "tok_declined" ? "card_declined" : "invalid_source");
                case HttpStatusCode.UnprocessableEntity:
                    return new ProcessorResult(ProcessorOutcome.Refused);
                default:
                    // 5xx after the handler's retries, a 409 that outlasted them, anything unexpected: unknown.
                    return new ProcessorResult(ProcessorOutcome.Unknown);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // The deadline passed or the processor cannot be reached; whether it charged is not known yet.
            return new ProcessorResult(ProcessorOutcome.Unknown);
        }
    }

    private static async Task<string> ReadIdAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var document = await response.Content.ReadFromJsonAsync(ProcessorJsonContext.Default.ProcessorDocument, cancellationToken).ConfigureAwait(false);
        return document?.Id ?? throw new InvalidOperationException("The processor answered 201 without an id.");
    }
}
