using System.Globalization;
using System.Security.Claims;
using Idem.Payments.Auth;
using Idem.Payments.Data;
using Idem.Payments.Ledger;
using Idem.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace Idem.Payments.Api;

/// <summary>Accounts, their deposits and their ledger entries.</summary>
internal static class AccountEndpoints
{
    private const int DefaultPageSize = 20;
    private const int MaxPageSize = 100;

    public static IEndpointRouteBuilder MapAccounts(this IEndpointRouteBuilder app)
    {
        var accounts = app.MapGroup("/v1/accounts");
        accounts.MapPost("", CreateAsync).RequireIdempotency(p => p.Transactional());
        accounts.MapGet("/{id}", GetAsync);
        accounts.MapPost("/{id}/deposits", DepositAsync).RequireIdempotency(p => p.Transactional());
        accounts.MapGet("/{id}/entries", ListEntriesAsync);
        return app;
    }

    private static async Task<Results<Created<AccountResponse>, ProblemHttpResult>> CreateAsync(
        CreateAccountRequest request, ClaimsPrincipal user, IIdempotencyTransaction transaction, IPaymentsDatabase database, LedgerService ledger,
        HttpResponse response, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        if (!errors.Currency(request.Currency, out var currency))
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var repository = new LedgerRepository(transaction.Connection, transaction.Transaction, database.Dialect);
        var account = await ledger.OpenAccountAsync(repository, Tenants.Of(user), currency, cancellationToken).ConfigureAwait(false);
        response.Headers.ETag = ETagOf(account);
        return TypedResults.Created($"/v1/accounts/{account.Id}", AccountResponse.From(account));
    }

    private static async Task<Results<Ok<AccountResponse>, StatusCodeHttpResult, ProblemHttpResult>> GetAsync(
        string id, ClaimsPrincipal user, IPaymentsDatabase database, HttpRequest request, HttpResponse response, CancellationToken cancellationToken)
    {
        var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var account = await new LedgerRepository(connection, null, database.Dialect).FindAccountAsync(Tenants.Of(user), id, cancellationToken).ConfigureAwait(false);
            if (account is null)
            {
                return Problems.AccountNotFound(id);
            }

            var etag = ETagOf(account);
            response.Headers.ETag = etag;
            if (request.GetTypedHeaders().IfNoneMatch is { Count: > 0 } ifNoneMatch
                && ifNoneMatch.Any(tag => tag.Equals(EntityTagHeaderValue.Any) || tag.Compare(new EntityTagHeaderValue(etag), useStrongComparison: false)))
            {
                return TypedResults.StatusCode(StatusCodes.Status304NotModified);
            }

            return TypedResults.Ok(AccountResponse.From(account));
        }
    }

    private static async Task<Results<Created<DepositResponse>, ProblemHttpResult>> DepositAsync(
        string id, CreateDepositRequest request, ClaimsPrincipal user, IIdempotencyTransaction transaction, IPaymentsDatabase database, LedgerService ledger,
        CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        var amount = errors.Amount(request.Amount);
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var repository = new LedgerRepository(transaction.Connection, transaction.Transaction, database.Dialect);
        var result = await ledger.DepositAsync(repository, Tenants.Of(user), id, amount, cancellationToken).ConfigureAwait(false);
        if (result.Error is { } error)
        {
            return Problems.From(error);
        }

        // No Location: a deposit is read through the account's entries.
        return TypedResults.Created((string?)null, DepositResponse.From(result.Value!));
    }

    private static async Task<Results<Ok<EntryListResponse>, ProblemHttpResult>> ListEntriesAsync(
        string id, ClaimsPrincipal user, IPaymentsDatabase database, int? limit, [FromQuery(Name = "starting_after")] string? startingAfter,
        CancellationToken cancellationToken)
    {
        var pageSize = limit ?? DefaultPageSize;
        if (pageSize is < 1 or > MaxPageSize)
        {
            var errors = new RequestErrors();
            errors.Add("limit", string.Create(CultureInfo.InvariantCulture, $"Must be between 1 and {MaxPageSize}."));
            return Problems.Invalid(errors.ToDictionary());
        }

        var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var repository = new LedgerRepository(connection, null, database.Dialect);
            var account = await repository.FindAccountAsync(Tenants.Of(user), id, cancellationToken).ConfigureAwait(false);
            if (account is null)
            {
                return Problems.AccountNotFound(id);
            }

            long? before = null;
            if (!string.IsNullOrEmpty(startingAfter))
            {
                before = await repository.FindEntryPositionAsync(account.Id, startingAfter, cancellationToken).ConfigureAwait(false);
                if (before is null)
                {
                    var errors = new RequestErrors();
                    errors.Add("starting_after", "Not an entry of this account; pass the next_cursor of the previous page.");
                    return Problems.Invalid(errors.ToDictionary());
                }
            }

            // One more than asked tells whether another page follows.
            var entries = await repository.ListEntriesAsync(account.Id, before, pageSize + 1, cancellationToken).ConfigureAwait(false);
            var hasMore = entries.Count > pageSize;
            if (hasMore)
            {
                entries.RemoveAt(entries.Count - 1);
            }

            var data = entries.ConvertAll(EntryResponse.From);
            return TypedResults.Ok(new EntryListResponse(data, hasMore, hasMore ? data[^1].Id : null));
        }
    }

    // The version column is the entity tag: it changes with every balance change.
    private static string ETagOf(Account account) => string.Create(CultureInfo.InvariantCulture, $"\"{account.Version}\"");
}
