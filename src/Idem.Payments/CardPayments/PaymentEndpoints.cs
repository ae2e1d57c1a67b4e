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

    private const int MaxSourceLength = 64;

    public static IEndpointRouteBuilder MapPayments(this IEndpointRouteBuilder app)
    {
        // The handlers answer IResult (one of several shapes per phase), so what they produce is declared here for OpenAPI.
        var payments = app.MapGroup("/v1/payments");
        payments.MapPost("", CreateAsync).RequireIdempotency(p => p.Transactional())
            .WithSummary("Charges a card token into a merchant account: 201 succeeded, 402 declined (stored and replayed), 503 while the outcome is being settled.")
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
            var created = await service.CreateAsync(work, tenant, Origin.Of(idem), account, amount, currency!, source, cancellationToken)
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

    private static Results<Created<PaymentResponse>, ProblemHttpResult> Respond(Payment payment) => payment.Status == PaymentStatus.Succeeded
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
