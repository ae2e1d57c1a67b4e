using System.Globalization;
using System.Security.Claims;
using Idem.Payments.Accounts;
using Idem.Payments.Auth;
using Idem.Payments.Data;
using Idem.Payments.Web;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Idem.Payments.Statements;

/// <summary>
/// An account's monthly statement, read from the statements consumer's table. Built from the events after they commit,
/// so a movement appears on it a moment after its request returned.
/// </summary>
internal static class StatementEndpoints
{
    public static IEndpointRouteBuilder MapStatements(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/accounts/{id}/statements/{month}", GetAsync)
            .WithSummary("The account's statement for a month (yyyy-MM, UTC): one line per succeeded payment, refund or transfer, signed, and their total.");
        return app;
    }

    private static async Task<Results<Ok<StatementResponse>, ProblemHttpResult>> GetAsync(
        string id, string month, ClaimsPrincipal user, IPaymentsDatabase database, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        errors.Id(id);
        if (!DateTime.TryParseExact(month, "yyyy-MM", CultureInfo.InvariantCulture, DateTimeStyles.None, out _) || month.Length != 7)
        {
            errors.Add("month", "Must be a month as yyyy-MM, such as 2026-11.");
        }

        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var tenant = Tenants.Of(user);
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var account = await new LedgerRepository(work).FindAccountAsync(tenant, id, cancellationToken).ConfigureAwait(false);
            if (account is null)
            {
                return Problems.AccountNotFound(id);
            }

            var lines = await new StatementRepository(work).ListAsync(tenant, account.Id, month, cancellationToken).ConfigureAwait(false);
            return TypedResults.Ok(new StatementResponse(
                account.Id, month, account.Currency, lines.Sum(l => l.Amount),
                [.. lines.Select(l => new StatementLineResponse(l.EventId, l.Type, l.Amount, l.Currency, l.OccurredAt.UtcDateTime))]));
        }
    }
}

/// <summary>A month of an account: its lines, oldest first, and their sum (minor units).</summary>
internal sealed record StatementResponse(string Account, string Month, string Currency, long Total, List<StatementLineResponse> Lines);

/// <summary>One event on a statement: the payment, refund or transfer id, its type and the signed amount for this account.</summary>
internal sealed record StatementLineResponse(string Id, string Type, long Amount, string Currency, DateTime OccurredAt);
