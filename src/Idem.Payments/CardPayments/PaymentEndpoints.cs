using System.Security.Claims;
using Idem.AspNetCore;
using Idem.Payments.Accounts;
using Idem.Payments.Auth;
using Idem.Payments.Data;
using Idem.Payments.Processor;
using Idem.Payments.Web;
using Idem.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Idem.Payments.CardPayments;

/// <summary>
/// Card payments and refunds, each in three atomic phases with recovery points (docs/payments.md). Every POST is
/// transactional and needs an Idempotency-Key.
/// </summary>
internal static class PaymentEndpoints
{
    /// <summary>The recovery point of a payment whose pending row has committed.</summary>
    public const string PaymentCreated = "payment_created";

    /// <summary>The recovery point of a refund whose pending row and ledger entries have committed.</summary>
    public const string RefundCreated = "refund_created";

    /// <summary>The recovery point of a capture that has taken its payment out of <c>requires_capture</c> (now <c>capturing</c>).</summary>
    public const string CaptureRequested = "capture_requested";

    /// <summary>The recovery point of a cancel that has taken its payment out of <c>requires_capture</c> (now <c>canceling</c>).</summary>
    public const string CancelRequested = "cancel_requested";

    private const int MaxSourceLength = 64;

    public static IEndpointRouteBuilder MapPayments(this IEndpointRouteBuilder app)
    {
        // The handlers answer IResult (one of several shapes per phase), so what they produce is declared here for OpenAPI.
        var payments = app.MapGroup("/v1/payments");
        payments.MapPost("", CreateAsync).RequireIdempotency(p => p.Transactional())
            .WithSummary("Charges a card token into a merchant account: 201 succeeded (or, with capture false, requires_capture: authorised only), 402 declined (stored and replayed), 503 while the outcome is being settled.")
            .Produces<PaymentResponse>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status402PaymentRequired).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        payments.MapGet("/{id}", GetAsync)
            .WithSummary("Reads a payment; status pending while its outcome is being settled.")
            .Produces<PaymentResponse>().ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        payments.MapPost("/{id}/refunds", RefundAsync).RequireIdempotency(p => p.Transactional())
            .WithSummary("Refunds part or all of a succeeded payment: 201, 422 when it would exceed the payment or the account's balance or the processor refused it, 503 while the processor has not confirmed it.")
            .Produces<RefundResponse>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        payments.MapGet("/{id}/refunds", ListRefundsAsync)
            .WithSummary("Lists a payment's refunds, oldest first.")
            .Produces<RefundListResponse>().ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        payments.MapPost("/{id}/capture", CaptureAsync).RequireIdempotency(p => p.Transactional())
            .WithSummary("Captures all or part (amount) of a payment authorised with capture false, releasing the rest: 200 succeeded; 409 when it does not await capture or its authorisation expired; 503 while the processor has not confirmed it.")
            .Produces<PaymentResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        payments.MapPost("/{id}/cancel", CancelAsync).RequireIdempotency(p => p.Transactional())
            .WithSummary("Cancels a payment authorised with capture false, voiding its authorisation: 200 canceled, nothing taken; 409 when it does not await capture or its authorisation expired; 503 while the processor has not confirmed it.")
            .Produces<PaymentResponse>()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        app.MapGet("/v1/ledger/audit", (ClaimsPrincipal user, LedgerAudit audit, CancellationToken cancellationToken) => audit.RunAsync(Tenants.Of(user), cancellationToken))
            .WithSummary("Checks every invariant of the caller's ledger, and its payments against the processor's records; names what fails.")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<IResult> CreateAsync(
        CreatePaymentRequest request, ClaimsPrincipal user, IIdempotencyContext idem, IIdempotencyTransaction transaction, IPaymentsDatabase database,
        PaymentService service, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        var amount = errors.Amount(request.Amount);
        errors.Currency(request.Currency, out var currency);
        var source = Source(errors, request.Source);
        var account = errors.Required(request.Account, "account", "the id of the merchant account to credit");
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var tenant = Tenants.Of(user);
        var work = database.Join(transaction);
        Payment payment;
        if (idem.RecoveryPoint is null)
        {
            // Phase 1: everything that can refuse the payment is decided, then the pending payment commits with the point.
            var created = await service.CreateAsync(
                    work, tenant, Origin.Of(idem), account, amount, currency!, source, request.Capture == false ? CaptureMethods.Manual : CaptureMethods.Automatic, cancellationToken)
                .ConfigureAwait(false);
            if (created.Error is { } error)
            {
                return Problems.From(error);
            }

            if (created.Conflicting is { } other)
            {
                return Problems.Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.KeyReusedForOtherPayment, "Key already used",
                    $"This idempotency key made payment {other.Id}, with other details. Use a new key for a new payment.");
            }

            payment = created.Value!;
        }
        else
        {
            // An earlier attempt committed phase 1 and stopped; the payment it made is this request's payment.
            payment = await new PaymentRepository(work)
                .FindPaymentByKeyAsync(tenant, idem.Key, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Key '{idem.Key}' is at {idem.RecoveryPoint} but has no payment.");
        }

        if (payment.Status == PaymentStatus.Pending)
        {
            // Commit before calling out: no transaction (no lock) is held while the processor answers.
            await idem.CommitPhaseAsync(PaymentCreated, cancellationToken).ConfigureAwait(false);

            // Phase 2: the charge, under a key derived from the payment's own id.
            var charge = await service.ChargeAsync(payment, cancellationToken).ConfigureAwait(false);
            if (charge.Outcome == ProcessorOutcome.Unknown)
            {
                return Problems.Unavailable(PaymentsProblemTypes.PaymentOutcomePending, "Payment outcome being settled",
                    $"Payment {payment.Id} was created, but the card processor did not answer in time, so whether it was charged is not known yet. " +
                    "Retrying with the same key is safe: it resumes this payment and never charges twice.",
                    new Dictionary<string, object?> { ["payment"] = payment.Id });
            }

            // Phase 3: the outcome, its ledger entries and the stored response commit together.
            await idem.BeginPhaseAsync(cancellationToken).ConfigureAwait(false);
            payment = await service.SettleAsync(work, payment, charge, cancellationToken).ConfigureAwait(false);
        }

        return Respond(payment);
    }

    private static Results<Created<PaymentResponse>, ProblemHttpResult> Respond(Payment payment) => payment.Status != PaymentStatus.Declined
        ? TypedResults.Created($"/v1/payments/{payment.Id}", PaymentResponse.From(payment))
        : Problems.Create(StatusCodes.Status402PaymentRequired, PaymentsProblemTypes.CardDeclined, "Card declined",
            $"The card was declined ({payment.DeclineCode}); nothing was charged. Payment {payment.Id} records the attempt.",
            new Dictionary<string, object?> { ["payment"] = payment.Id, ["decline_code"] = payment.DeclineCode });

    private static async Task<IResult> RefundAsync(
        string id, CreateRefundRequest request, ClaimsPrincipal user, IIdempotencyContext idem, IIdempotencyTransaction transaction, IPaymentsDatabase database,
        PaymentService service, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        var amount = errors.Amount(request.Amount);
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var tenant = Tenants.Of(user);
        var work = database.Join(transaction);
        var payments = new PaymentRepository(work);
        Refund refund;
        if (idem.RecoveryPoint is null)
        {
            var created = await service.CreateRefundAsync(work, tenant, Origin.Of(idem), id, amount, cancellationToken)
                .ConfigureAwait(false);
            if (created.Error is { } error)
            {
                return RefundProblem(error, created.Detail!, id, amount);
            }

            refund = created.Value!;
        }
        else
        {
            refund = await payments.FindRefundByKeyAsync(tenant, idem.Key, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Key '{idem.Key}' is at {idem.RecoveryPoint} but has no refund.");
        }

        if (refund.Status == RefundStatus.Pending)
        {
            var payment = await payments.FindPaymentAsync(tenant, refund.PaymentId, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"Refund {refund.Id} has no payment.");
            await idem.CommitPhaseAsync(RefundCreated, cancellationToken).ConfigureAwait(false);
            var result = await service.RefundAsync(refund, payment.ChargeId!, cancellationToken).ConfigureAwait(false);
            if (result.Outcome == ProcessorOutcome.Refused)
            {
                // Final: the refund fails and its money goes back, in phase three's transaction with the 422 below.
                await idem.BeginPhaseAsync(cancellationToken).ConfigureAwait(false);
                refund = await service.FailRefundAsync(work, refund, cancellationToken).ConfigureAwait(false);
            }
            else if (result.Outcome != ProcessorOutcome.Succeeded)
            {
                return Problems.Unavailable(PaymentsProblemTypes.RefundOutcomePending, "Refund outcome being settled",
                    $"Refund {refund.Id} was created and its amount taken from the account, but the card processor has not confirmed it yet. " +
                    "Retrying with the same key is safe: it resumes this refund and never refunds twice.",
                    new Dictionary<string, object?> { ["refund"] = refund.Id });
            }
            else
            {
                await idem.BeginPhaseAsync(cancellationToken).ConfigureAwait(false);
                refund = await service.SettleRefundAsync(work, refund, result.Id!, cancellationToken).ConfigureAwait(false);
            }
        }

        if (refund.Status == RefundStatus.Failed)
        {
            // Refused now, or earlier (the completer, or a request whose key record has since expired): the same answer.
            return Problems.Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.RefundRefused, "Refund refused",
                $"The card processor refused refund {refund.Id} for good. Its amount is back in the account; nothing was refunded.",
                new Dictionary<string, object?> { ["refund"] = refund.Id });
        }

        return TypedResults.Created($"/v1/payments/{refund.PaymentId}/refunds/{refund.Id}", RefundResponse.From(refund));
    }

    private static ProblemHttpResult RefundProblem(RefundError error, string detail, string paymentId, long amount) => error switch
    {
        RefundError.PaymentNotFound => Problems.Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.PaymentNotFound, "Payment not found", $"No payment {paymentId} exists."),
        RefundError.NotRefundable => Problems.Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.PaymentNotRefundable, "Payment not refundable",
            $"Payment {paymentId} is {detail}; only a succeeded payment can be refunded. Nothing was refunded."),
        RefundError.ExceedsPayment => Problems.Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.RefundExceedsPayment, "Refund exceeds payment",
            $"Payment {paymentId} has {detail} minor units left to refund, less than {amount}. Nothing was refunded.",
            new Dictionary<string, object?> { ["param"] = "amount" }),
        RefundError.InsufficientFunds => Problems.Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.InsufficientFunds, "Insufficient funds",
            $"Account {detail} holds less than the {amount} minor units to refund. Nothing was refunded.", new Dictionary<string, object?> { ["param"] = "amount" }),
        _ => Problems.Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.KeyReusedForOtherPayment, "Key already used",
            $"This idempotency key made refund {detail}, with other details. Use a new key for a new refund."),
    };

    private static async Task<IResult> CaptureAsync(
        string id, CapturePaymentRequest? request, ClaimsPrincipal user, IIdempotencyContext idem, IIdempotencyTransaction transaction, IPaymentsDatabase database,
        PaymentService service, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        var amount = request?.Amount is null ? (long?)null : errors.Amount(request.Amount);
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var tenant = Tenants.Of(user);
        var work = database.Join(transaction);
        Payment payment;
        if (idem.RecoveryPoint is null)
        {
            // Phase 1: the conditional update that takes the payment out of requires_capture, for this request only.
            var requested = await service.RequestCaptureAsync(work, tenant, Origin.Of(idem), id, amount, cancellationToken).ConfigureAwait(false);
            if (requested.Error is { } error)
            {
                return ActionProblem(error, requested, id, amount, "capture");
            }

            payment = requested.Value!;
        }
        else
        {
            payment = await FindOwnAsync(work, tenant, id, idem, p => p.CaptureKey, cancellationToken).ConfigureAwait(false);
        }

        if (payment.Status == PaymentStatus.Capturing)
        {
            await idem.CommitPhaseAsync(CaptureRequested, cancellationToken).ConfigureAwait(false);

            // Phase 2: the capture, under a key derived from the payment's own id.
            var result = await service.CaptureAsync(payment, cancellationToken).ConfigureAwait(false);
            if (result.Outcome == ProcessorOutcome.Unknown)
            {
                return Problems.Unavailable(PaymentsProblemTypes.CaptureOutcomePending, "Capture outcome being settled",
                    $"Payment {payment.Id} is being captured, but the card processor did not answer in time. " +
                    "Retrying with the same key is safe: it resumes this capture and never captures twice.",
                    new Dictionary<string, object?> { ["payment"] = payment.Id });
            }

            // Phase 3: the outcome, the captured amount's ledger entries and the stored response commit together.
            await idem.BeginPhaseAsync(cancellationToken).ConfigureAwait(false);
            payment = await service.SettleCaptureAsync(work, payment, result, cancellationToken).ConfigureAwait(false);
        }

        // Expired now, or earlier (the processor refused this capture as too late): the same answer.
        return payment.Status == PaymentStatus.Expired ? ExpiredProblem(payment, "captured") : TypedResults.Ok(PaymentResponse.From(payment));
    }

    // The body is bound only so that one with members is refused (400) before anything runs; a cancel has no parameters.
    private static async Task<IResult> CancelAsync(
        string id, CancelPaymentRequest? request, ClaimsPrincipal user, IIdempotencyContext idem, IIdempotencyTransaction transaction, IPaymentsDatabase database,
        PaymentService service, CancellationToken cancellationToken)
    {
        var tenant = Tenants.Of(user);
        var work = database.Join(transaction);
        Payment payment;
        if (idem.RecoveryPoint is null)
        {
            var requested = await service.RequestCancelAsync(work, tenant, Origin.Of(idem), id, cancellationToken).ConfigureAwait(false);
            if (requested.Error is { } error)
            {
                return ActionProblem(error, requested, id, null, "cancel");
            }

            payment = requested.Value!;
        }
        else
        {
            payment = await FindOwnAsync(work, tenant, id, idem, p => p.CancelKey, cancellationToken).ConfigureAwait(false);
        }

        if (payment.Status == PaymentStatus.Canceling)
        {
            await idem.CommitPhaseAsync(CancelRequested, cancellationToken).ConfigureAwait(false);
            var result = await service.CancelAsync(payment, cancellationToken).ConfigureAwait(false);
            if (result.Outcome == ProcessorOutcome.Unknown)
            {
                return Problems.Unavailable(PaymentsProblemTypes.CancelOutcomePending, "Cancel outcome being settled",
                    $"Payment {payment.Id} is being canceled, but the card processor did not answer in time. Nothing was or will be captured. " +
                    "Retrying with the same key is safe: it resumes this cancel.",
                    new Dictionary<string, object?> { ["payment"] = payment.Id });
            }

            await idem.BeginPhaseAsync(cancellationToken).ConfigureAwait(false);
            payment = await service.SettleCancelAsync(work, payment, result, cancellationToken).ConfigureAwait(false);
        }

        return TypedResults.Ok(PaymentResponse.From(payment));
    }

    // A capture or cancel resumed at its recovery point: the payment is the one its first attempt moved, under this key.
    private static async Task<Payment> FindOwnAsync(
        UnitOfWork work, string tenant, string id, IIdempotencyContext idem, Func<Payment, string?> keyOf, CancellationToken cancellationToken)
    {
        var payment = await new PaymentRepository(work).FindPaymentAsync(tenant, id, cancellationToken).ConfigureAwait(false);
        return payment is not null && keyOf(payment) == idem.Key
            ? payment
            : throw new InvalidOperationException($"Key '{idem.Key}' is at {idem.RecoveryPoint} but payment {id} is not its own.");
    }

    private static ProblemHttpResult ActionProblem(PaymentActionError error, PaymentActionResult result, string id, long? amount, string verb)
    {
        var payment = result.Current;
        return error switch
        {
            PaymentActionError.PaymentNotFound => Problems.Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.PaymentNotFound, "Payment not found", $"No payment {id} exists."),
            PaymentActionError.Expired => ExpiredProblem(payment!, verb == "capture" ? "captured" : "canceled"),
            PaymentActionError.ExceedsAuthorization => Problems.Create(StatusCodes.Status400BadRequest, PaymentsProblemTypes.CaptureExceedsAuthorization, "Capture exceeds authorisation",
                $"Payment {id} authorised {payment!.Amount} minor units, less than the {amount} to capture. Nothing was captured.",
                new Dictionary<string, object?> { ["param"] = "amount", ["amount_authorized"] = payment.Amount }),
            PaymentActionError.BalanceLimit => Problems.From(result.LedgerError!),
            PaymentActionError.KeyReused => Problems.Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.KeyReusedForOtherPayment, "Key already used",
                $"This idempotency key already captured payment {id}, with another amount. Use a new key for a new request."),
            _ => verb == "capture"
                ? Problems.Create(StatusCodes.Status409Conflict, PaymentsProblemTypes.PaymentNotCapturable, "Payment not capturable",
                    $"Payment {id} is {Describe(payment!)}; only a payment in requires_capture can be captured. Nothing was captured.",
                    new Dictionary<string, object?> { ["payment"] = id, ["payment_status"] = payment!.Status })
                : Problems.Create(StatusCodes.Status409Conflict, PaymentsProblemTypes.PaymentNotCancelable, "Payment not cancelable",
                    $"Payment {id} is {Describe(payment!)}; only a payment in requires_capture can be canceled. Nothing was changed.",
                    new Dictionary<string, object?> { ["payment"] = id, ["payment_status"] = payment!.Status }),
        };

        static string Describe(Payment payment) => payment.IsManual ? payment.Status : $"{payment.Status}, made with capture true, so it never awaits capture";
    }

    private static ProblemHttpResult ExpiredProblem(Payment payment, string verb)
    {
        var expiresAt = payment.AuthorizationExpiresAt!.Value.UtcDateTime;
        return Problems.Create(StatusCodes.Status409Conflict, PaymentsProblemTypes.AuthorizationExpired, "Authorization expired",
            string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"The authorisation of payment {payment.Id} expired at {expiresAt:yyyy-MM-ddTHH:mm:ss.fffZ}; it can no longer be {verb}, and nothing was captured."),
            new Dictionary<string, object?> { ["payment"] = payment.Id, ["authorization_expires_at"] = expiresAt });
    }

    private static async Task<IResult> GetAsync(string id, ClaimsPrincipal user, IPaymentsDatabase database, CancellationToken cancellationToken)
    {
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var payment = await new PaymentRepository(work).FindPaymentAsync(Tenants.Of(user), id, cancellationToken).ConfigureAwait(false);
            return payment is null
                ? Problems.Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.PaymentNotFound, "Payment not found", $"No payment {id} exists.")
                : TypedResults.Ok(PaymentResponse.From(payment));
        }
    }

    private static async Task<IResult> ListRefundsAsync(string id, ClaimsPrincipal user, IPaymentsDatabase database, CancellationToken cancellationToken)
    {
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var repository = new PaymentRepository(work);
            var tenant = Tenants.Of(user);
            if (await repository.FindPaymentAsync(tenant, id, cancellationToken).ConfigureAwait(false) is null)
            {
                return Problems.Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.PaymentNotFound, "Payment not found", $"No payment {id} exists.");
            }

            var refunds = await repository.ListRefundsAsync(tenant, id, cancellationToken).ConfigureAwait(false);
            return TypedResults.Ok(new RefundListResponse([.. refunds.Select(RefundResponse.From)]));
        }
    }

    // A card token as the processor issues it: "tok_" and lowercase letters, digits or underscores.
    private static string Source(RequestErrors errors, string? source)
    {
        if (string.IsNullOrEmpty(source))
        {
            errors.Add("source", "Required: a card token such as tok_visa.");
            return "";
        }

        if (source.Length > MaxSourceLength || !source.StartsWith("tok_", StringComparison.Ordinal) || !source.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
        {
            errors.Add("source", $"Must be a card token: 'tok_' then lowercase letters, digits or underscores, at most {MaxSourceLength} characters.");
            return "";
        }

        return source;
    }
}
