using System.Globalization;
using Idem.AspNetCore;
using Idem.Payments.Data;
using Idem.Payments.IdempotencyKeys;
using Idem.Storage;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace Idem.Payments.Console.Pages;

/// <summary>
/// One key's record (what <c>GET /v1/idempotency-keys/{key}</c> shows, plus its owner and age while in progress), and the
/// tenant's keys parked at a recovery point or in progress past their lease. Never a stored body: the lookup's record
/// is read for its state and status only, and the lists' query does not select the body.
/// </summary>
internal sealed class KeysModel(
    EndpointDataSource endpoints, IIdempotencyScopeResolver scopes, IIdempotencyStore store, IPaymentsDatabase database,
    IOptions<IdempotencyHttpOptions> options, TimeProvider time) : PageModel
{
    private const int ListLimit = 200;

    [BindProperty(SupportsGet = true)]
    public string? Key { get; set; }

    public string? Error { get; private set; }

    public KeyView? Found { get; private set; }

    public IReadOnlyList<KeyInProgress> Parked { get; private set; } = [];

    public IReadOnlyList<KeyInProgress> Overdue { get; private set; } = [];

    public static string Describe(TimeSpan age) => age.TotalMinutes < 1
        ? string.Create(CultureInfo.InvariantCulture, $"{age.TotalSeconds:0} s")
        : age.TotalHours < 1 ? string.Create(CultureInfo.InvariantCulture, $"{age.TotalMinutes:0} min") : string.Create(CultureInfo.InvariantCulture, $"{age.TotalHours:0.#} h");

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var repository = new IdempotencyKeyRepository(work);
            if (!string.IsNullOrEmpty(Key))
            {
                await FindAsync(repository, now, cancellationToken).ConfigureAwait(false);
            }

            var stalled = await repository.ListStalledAsync(await scopes.ResolveAsync(HttpContext).ConfigureAwait(false), now, ListLimit, cancellationToken).ConfigureAwait(false);
            Parked = stalled.Where(k => k.RecoveryPoint is not null && (k.Owner is null || k.LeaseExpiresAt <= now)).ToList();
            Overdue = stalled.Where(k => k.RecoveryPoint is null).ToList();
        }
    }

    private async Task FindAsync(IdempotencyKeyRepository repository, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (IdempotencyKey.Parse(Key.AsSpan(), options.Value.MaxKeyLength, out var parsed) != KeyError.None)
        {
            Error = $"Not an idempotency key: 1-{options.Value.MaxKeyLength} printable ASCII characters.";
            return;
        }

        if (await IdempotencyKeyLookup.FindAsync(HttpContext, endpoints, scopes, store, parsed!, cancellationToken).ConfigureAwait(false) is not { } found)
        {
            Error = "No request of yours used this key, or its record has expired.";
            return;
        }

        var record = found.Record;
        var completed = record.State == IdempotencyRecordState.Completed;
        var owner = completed ? null : await repository.OwnerOfAsync(record.StoreKey, cancellationToken).ConfigureAwait(false);
        var state = completed
            ? "completed"
            : record.RecoveryPoint is { } point && (owner is null || record.LeaseExpiresAt <= now)
                ? "parked at recovery point " + point
                : record.LeaseExpiresAt <= now ? "in progress, lease ended" : "in progress" + (record.RecoveryPoint is { } at ? " (at " + at + ")" : "");
        Found = new KeyView(found.Method, IdempotencyKeyLookup.DisplayRoute(found.Route), state, owner, completed ? null : now - record.CreatedAt,
            record.Response?.StatusCode, record.CreatedAt, record.ExpiresAt);
    }
}

/// <summary>What the page shows of one record: never its body.</summary>
internal sealed record KeyView(string Method, string Route, string State, string? Owner, TimeSpan? Age, int? Status, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);
