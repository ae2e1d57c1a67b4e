using System.Net;
using System.Net.Http.Json;
using Idem.Http;

namespace Idem.Payments.Processor;

/// <summary>What the processor said about one charge, refund, capture or cancel.</summary>
internal enum ProcessorOutcome
{
    /// <summary>Done: the charge succeeded (or, with capture off, was authorised), the refund was made, the authorisation captured or canceled.</summary>
    Succeeded,

    /// <summary>The card was declined; final.</summary>
    Declined,

    /// <summary>Refused for good (a refund the processor will not make).</summary>
    Refused,

    /// <summary>The authorisation expired before it was captured or canceled; final, nothing was captured.</summary>
    Expired,

    /// <summary>No answer in time, or the processor is down: the outcome is unknown and a later call with the same key settles it.</summary>
    Unknown,
}

/// <summary>The processor's answer: the charge's or refund's id, a decline's code, an authorisation's expiry.</summary>
internal sealed record ProcessorResult(ProcessorOutcome Outcome, string? Id = null, string? DeclineCode = null, DateTimeOffset? ExpiresAt = null);

/// <summary>
/// Calls the card processor through Idem.Http: one idempotency key per operation, derived from the payment's or refund's
/// own id (never the client's key), kept across every retry, so the processor charges once however often this runs. A
/// payment with manual capture is authorised, then captured or canceled, each under a key of its own derived from the
/// payment's id, so each happens once whoever asks (the request, its retries, the completer).
/// </summary>
internal sealed class ProcessorClient(HttpClient http)
{
    public const string HttpClientName = "processor";

    /// <summary>The key a payment's charge is made under.</summary>
    public static string ChargeKey(string paymentId) => "charge-" + paymentId;

    /// <summary>The key a refund is made under.</summary>
    public static string RefundKey(string refundId) => "refund-" + refundId;

    /// <summary>The key a payment with manual capture is authorised under.</summary>
    public static string AuthorizeKey(string paymentId) => "authorize-" + paymentId;

    /// <summary>The key an authorised payment is captured under.</summary>
    public static string CaptureKey(string paymentId) => "capture-" + paymentId;

    /// <summary>The key an authorised payment is canceled under.</summary>
    public static string CancelKey(string paymentId) => "cancel-" + paymentId;

    public Task<ProcessorResult> ChargeAsync(string paymentId, long amount, string currency, string source, CancellationToken cancellationToken)
        => SendAsync("v1/charges", ChargeKey(paymentId), JsonContent.Create(new ChargeRequest(amount, currency, source, paymentId), ProcessorJsonContext.Default.ChargeRequest), cancellationToken);

    /// <summary>Authorises the amount without taking it (the processor's <c>capture: false</c>); succeeded carries the authorisation's expiry.</summary>
    public Task<ProcessorResult> AuthorizeAsync(string paymentId, long amount, string currency, string source, CancellationToken cancellationToken)
        => SendAsync("v1/charges", AuthorizeKey(paymentId),
            JsonContent.Create(new ChargeRequest(amount, currency, source, paymentId, Capture: false), ProcessorJsonContext.Default.ChargeRequest), cancellationToken);

    /// <summary>Captures <paramref name="amount"/> of the authorisation <paramref name="chargeId"/>; the processor releases the rest.</summary>
    public Task<ProcessorResult> CaptureAsync(string paymentId, string chargeId, long amount, CancellationToken cancellationToken)
        => SendAsync($"v1/charges/{Uri.EscapeDataString(chargeId)}/capture", CaptureKey(paymentId),
            JsonContent.Create(new CaptureRequest(amount), ProcessorJsonContext.Default.CaptureRequest), cancellationToken);

    /// <summary>Voids the authorisation <paramref name="chargeId"/>.</summary>
    public Task<ProcessorResult> CancelAsync(string paymentId, string chargeId, CancellationToken cancellationToken)
        => SendAsync($"v1/charges/{Uri.EscapeDataString(chargeId)}/cancel", CancelKey(paymentId), null, cancellationToken);

    public Task<ProcessorResult> RefundAsync(string refundId, string chargeId, long amount, CancellationToken cancellationToken)
        => SendAsync("v1/refunds", RefundKey(refundId), JsonContent.Create(new RefundRequest(chargeId, amount, refundId), ProcessorJsonContext.Default.RefundRequest), cancellationToken);

    private async Task<ProcessorResult> SendAsync(string path, string key, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content }.SetIdempotencyKey(key);
        try
        {
            using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            switch (response.StatusCode)
            {
                case HttpStatusCode.Created or HttpStatusCode.OK:
                    var document = await response.Content.ReadFromJsonAsync(ProcessorJsonContext.Default.ProcessorDocument, cancellationToken).ConfigureAwait(false)
                        ?? throw new InvalidOperationException("The processor answered success without a body.");
                    return new ProcessorResult(ProcessorOutcome.Succeeded, document.Id, ExpiresAt: document.ExpiresAt);
                case HttpStatusCode.PaymentRequired:
                    var charge = await response.Content.ReadFromJsonAsync(ProcessorJsonContext.Default.ChargeRecord, cancellationToken).ConfigureAwait(false);
                    return new ProcessorResult(ProcessorOutcome.Declined, charge?.Id, charge?.Source == "tok_declined" ? "card_declined" : "invalid_source");
                case HttpStatusCode.UnprocessableEntity:
                    // An expired authorisation is a refusal of its own: the payment expired, rather than something being wrong.
                    var code = await ReadRefusalCodeAsync(response, cancellationToken).ConfigureAwait(false);
                    return new ProcessorResult(code == ProcessorSimulator.ExpiredCode ? ProcessorOutcome.Expired : ProcessorOutcome.Refused, DeclineCode: code);
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

    // A refusal's reason, when its body gives one; a refusal without a readable body is still a refusal.
    private static async Task<string?> ReadRefusalCodeAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return (await response.Content.ReadFromJsonAsync(ProcessorJsonContext.Default.ProcessorRefusal, cancellationToken).ConfigureAwait(false))?.Code;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
