using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using Idem.Payments.Auth;
using Idem.Payments.Data;
using Idem.Payments.Web;
using Idem.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace Idem.Payments.Accounts;

/// <summary>Accounts, their deposits and their ledger entries.</summary>
internal static class AccountEndpoints
{
    private const int DefaultPageSize = 20;
    private const int MaxPageSize = 100;
    private const int MaxNicknameLength = 100;

    public static IEndpointRouteBuilder MapAccounts(this IEndpointRouteBuilder app)
    {
        var accounts = app.MapGroup("/v1/accounts");
        accounts.MapPost("", CreateAsync).RequireIdempotency(p => p.Transactional());
        accounts.MapGet("/{id}", GetAsync)
            .WithSummary("Reads an account: its posted, pending and available balances and its limits; with as_of, its posted balance at that time.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        accounts.MapPatch("/{id}", UpdateAsync)
            .Accepts<UpdateAccountRequest>("application/json")
            .WithSummary("Sets the account's nickname and/or metadata. Needs If-Match with the account's ETag; members left out are left alone.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status412PreconditionFailed)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status428PreconditionRequired).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        accounts.MapPost("/{id}/deposits", DepositAsync).RequireLedgerIdempotency(app);
        accounts.MapGet("/{id}/entries", ListEntriesAsync)
            .WithSummary("Lists the account's entries, newest first, optionally those made from 'from' until 'to'; page with starting_after=next_cursor.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<Results<Created<AccountResponse>, ProblemHttpResult>> CreateAsync(
        CreateAccountRequest request, ClaimsPrincipal user, IIdempotencyTransaction transaction, IPaymentsDatabase database, LedgerService ledger,
        HttpResponse response, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        errors.Currency(request.Currency, out var currency);
        var overdraftLimit = errors.Limit(request.OverdraftLimit, "overdraft_limit", 0, "how far below zero the account may go");
        var maxBalance = errors.Limit(request.MaxBalance, "max_balance", Money.MaxBalance, "the most the account may hold");
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var account = await ledger.OpenAccountAsync(database.Join(transaction), Tenants.Of(user), currency!, overdraftLimit, maxBalance, cancellationToken)
            .ConfigureAwait(false);
        response.Headers.ETag = ETagOf(account);
        return TypedResults.Created($"/v1/accounts/{account.Id}", AccountResponse.From(account));
    }

    private static async Task<Results<Ok<AccountResponse>, Ok<AccountBalanceAtResponse>, StatusCodeHttpResult, ProblemHttpResult>> GetAsync(
        string id, ClaimsPrincipal user, IPaymentsDatabase database, HttpRequest request, HttpResponse response, [FromQuery(Name = "as_of")] string? asOf,
        CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        var at = errors.Timestamp(asOf, "as_of");
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var repository = new LedgerRepository(work);
            var account = await repository.FindAccountAsync(Tenants.Of(user), id, cancellationToken).ConfigureAwait(false);
            if (account is null)
            {
                return Problems.AccountNotFound(id);
            }

            if (at is { } time)
            {
                var (balance, lastEntry) = await repository.BalanceAtAsync(account.Id, time, cancellationToken).ConfigureAwait(false);
                return TypedResults.Ok(new AccountBalanceAtResponse(account.Id, account.Currency, time.UtcDateTime, balance, lastEntry));
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

    // Optimistic concurrency: the client sends back the ETag it read, and the change applies only if the account is still
    // at that version (one conditional UPDATE); otherwise 412 and nothing changes. Not keyed: a retry after a lost 200 gets
    // 412, and a GET shows whether the change is there.
    private static async Task<Results<Ok<AccountResponse>, ProblemHttpResult>> UpdateAsync(
        string id, JsonPatchBody body, ClaimsPrincipal user, IPaymentsDatabase database, HttpRequest request, HttpResponse response,
        CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        if (!errors.Id(id))
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        if (request.Headers.IfMatch.Count == 0)
        {
            return Problems.Create(StatusCodes.Status428PreconditionRequired, PaymentsProblemTypes.PreconditionRequired, "If-Match required",
                "Send 'If-Match' with the ETag from GET /v1/accounts/{id}, so a change made meanwhile is not overwritten. Nothing was changed.");
        }

        if (!EntityTagHeaderValue.TryParseStrictList(request.Headers.IfMatch, out var tags) || tags.Count != 1 || tags[0].Equals(EntityTagHeaderValue.Any))
        {
            errors.Add("If-Match", "Must be exactly one entity tag, the ETag from GET /v1/accounts/{id}, such as \"3\".");
            return Problems.Invalid(errors.ToDictionary());
        }

        var (nickname, metadata) = ReadAccountChanges(body.Root, errors);
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var repository = new LedgerRepository(work);
            var tenant = Tenants.Of(user);

            // A weak tag never matches (If-Match compares strongly), nor does one that is no version of ours.
            if (VersionOf(tags[0]) is { } expected
                && await repository.UpdateAccountDetailsAsync(tenant, id, expected, nickname, metadata, cancellationToken).ConfigureAwait(false) is { } updated)
            {
                response.Headers.ETag = ETagOf(updated);
                return TypedResults.Ok(AccountResponse.From(updated));
            }

            var current = await repository.FindAccountAsync(tenant, id, cancellationToken).ConfigureAwait(false);
            if (current is null)
            {
                return Problems.AccountNotFound(id);
            }

            response.Headers.ETag = ETagOf(current);
            return Problems.Create(StatusCodes.Status412PreconditionFailed, PaymentsProblemTypes.PreconditionFailed, "Precondition failed",
                $"Account {id} has changed since {tags[0]}; its ETag is now {ETagOf(current)}. Nothing was changed: read it again and resend your change with the new ETag.");
        }
    }

    private static async Task<Results<Created<DepositResponse>, ProblemHttpResult>> DepositAsync(
        string id, CreateDepositRequest request, ClaimsPrincipal user, IIdempotencyContext idem, IIdempotencyTransaction transaction, IPaymentsDatabase database, LedgerService ledger,
        CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        var amount = errors.Amount(request.Amount);
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var result = await ledger.DepositAsync(database.Join(transaction), Tenants.Of(user), id, amount, Origin.Of(idem), cancellationToken).ConfigureAwait(false);
        if (result.Error is { } error)
        {
            return Problems.From(error);
        }

        // No Location: a deposit is read through the account's entries.
        return TypedResults.Created((string?)null, DepositResponse.From(result.Value!));
    }

    private static async Task<Results<Ok<EntryListResponse>, ProblemHttpResult>> ListEntriesAsync(
        string id, ClaimsPrincipal user, IPaymentsDatabase database, int? limit, [FromQuery(Name = "starting_after")] string? startingAfter,
        [FromQuery(Name = "from")] string? fromTime, [FromQuery(Name = "to")] string? toTime, CancellationToken cancellationToken)
    {
        var pageSize = limit ?? DefaultPageSize;
        var queryErrors = new RequestErrors();
        if (pageSize is < 1 or > MaxPageSize)
        {
            queryErrors.Add("limit", string.Create(CultureInfo.InvariantCulture, $"Must be between 1 and {MaxPageSize}."));
        }

        var from = queryErrors.Timestamp(fromTime, "from");
        var to = queryErrors.Timestamp(toTime, "to");
        if (from is { } start && to is { } end && end <= start)
        {
            queryErrors.Add("to", "Must be later than 'from': the entries made from 'from' (included) until 'to' (excluded).");
        }

        if (queryErrors.Any)
        {
            return Problems.Invalid(queryErrors.ToDictionary());
        }

        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var repository = new LedgerRepository(work);
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
            var entries = await repository.ListEntriesAsync(account.Id, before, from, to, pageSize + 1, cancellationToken).ConfigureAwait(false);
            var hasMore = entries.Count > pageSize;
            if (hasMore)
            {
                entries.RemoveAt(entries.Count - 1);
            }

            var data = entries.ConvertAll(EntryResponse.From);
            return TypedResults.Ok(new EntryListResponse(data, hasMore, hasMore ? data[^1].Id : null));
        }
    }

    // The members a PATCH may carry; anything else is refused, so a typo never passes for a successful no-op.
    private static (Optional<string?> Nickname, Optional<string> Metadata) ReadAccountChanges(JsonElement body, RequestErrors errors)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            errors.Add("body", "Must be a JSON object with 'nickname' and/or 'metadata'.");
            return default;
        }

        var nickname = Optional<string?>.Unset;
        var metadata = Optional<string>.Unset;
        foreach (var member in body.EnumerateObject())
        {
            switch (member.Name)
            {
                case "nickname" when member.Value.ValueKind == JsonValueKind.Null:
                    nickname = Optional<string?>.Of(null);
                    break;
                case "nickname" when member.Value.ValueKind == JsonValueKind.String:
                    nickname = Optional<string?>.Of(errors.Text(member.Value.GetString(), "nickname", MaxNicknameLength, required: true));
                    break;
                case "nickname":
                    errors.Add("nickname", "Must be a string, or null to remove the nickname.");
                    break;
                case "metadata":
                    metadata = Metadata.Canonical(member.Value, errors) is { } canonical ? Optional<string>.Of(canonical) : metadata;
                    break;
                default:
                    errors.Add(member.Name, "Unknown member; an account's 'nickname' and 'metadata' can be changed.");
                    break;
            }
        }

        if (!errors.Any && !nickname.IsSet && !metadata.IsSet)
        {
            errors.Add("body", "Nothing to change: give 'nickname' and/or 'metadata'.");
        }

        return (nickname, metadata);
    }

    private static long? VersionOf(EntityTagHeaderValue tag)
        => !tag.IsWeak && tag.Tag.Length > 2 && long.TryParse(tag.Tag.AsSpan(1, tag.Tag.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var version)
            ? version
            : null;

    // The version column is the entity tag: it changes with every balance change and every change of details.
    private static string ETagOf(Account account) => string.Create(CultureInfo.InvariantCulture, $"\"{account.Version}\"");
}
