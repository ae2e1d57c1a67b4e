using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Idem.Payments.Accounts;

namespace Idem.Payments.Web;

/// <summary>Collects what is wrong with a request, member by member, before anything is touched.</summary>
internal sealed class RequestErrors
{
    private readonly Dictionary<string, string[]> _errors = new(StringComparer.Ordinal);

    public bool Any => _errors.Count > 0;

    public Dictionary<string, string[]> ToDictionary() => _errors;

    public void Add(string member, string message)
        => _errors[member] = _errors.TryGetValue(member, out var existing) ? [.. existing, message] : [message];

    /// <summary>An amount must be a whole number of minor units, above zero and at most <see cref="Money.MaxAmount"/>.</summary>
    /// <summary>An optional account limit in minor units, from zero to the ledger's largest balance; <paramref name="fallback"/> when absent.</summary>
    public long Limit(long? value, string member, long fallback, string meaning)
    {
        switch (value)
        {
            case null:
                return fallback;
            case < 0 or > Money.MaxBalance:
                Add(member, string.Create(CultureInfo.InvariantCulture, $"Must be {meaning}: an integer from 0 to {Money.MaxBalance} minor units."));
                return fallback;
            default:
                return value.Value;
        }
    }

    /// <summary>An optional point in time from a query string (RFC 3339, e.g. 2025-01-31T12:00:00Z; UTC when it names no offset).</summary>
    public DateTimeOffset? Timestamp(string? value, string member)
    {
        if (value is null)
        {
            return null;
        }

        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            return time;
        }

        Add(member, "Must be a time such as 2025-01-31T12:00:00Z (RFC 3339).");
        return null;
    }

    public long Amount(long? amount, string member = "amount")
    {
        switch (amount)
        {
            case null:
                Add(member, "Required: an integer amount in minor units (e.g. 1050 for 10.50).");
                return 0;
            case <= 0:
                Add(member, "Must be greater than zero.");
                return 0;
            case > Money.MaxAmount:
                Add(member, string.Create(CultureInfo.InvariantCulture, $"Must be at most {Money.MaxAmount} minor units."));
                return 0;
            default:
                return amount.Value;
        }
    }

    /// <summary>A currency must be one of the ISO 4217 codes the ledger knows.</summary>
    public bool Currency(string? code, [NotNullWhen(true)] out Currency? currency, string member = "currency")
    {
        if (string.IsNullOrEmpty(code))
        {
            Add(member, "Required: an ISO 4217 currency code such as \"USD\".");
            currency = null;
            return false;
        }

        if (!Accounts.Currency.TryFind(code, out currency))
        {
            Add(member, $"Unknown or unsupported currency '{code}'; use an ISO 4217 code such as \"USD\" or \"EUR\".");
            return false;
        }

        return true;
    }

    /// <summary>
    /// An id in a path (an account's, or the one a tenant gives a customer): 1-64 letters, digits, '_' or '-'. Anything
    /// else cannot name a resource, so it is a 400 rather than a 404.
    /// </summary>
    public bool Id(string id, string member = "id")
    {
        if (id.Length is 0 or > 64 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
        {
            Add(member, "Must be 1-64 characters: letters, digits, '_' or '-'.");
            return false;
        }

        return true;
    }

    /// <summary>Text a person reads (a name, a nickname): not blank, at most <paramref name="maxLength"/> characters, no control characters.</summary>
    public string? Text(string? value, string member, int maxLength, bool required)
    {
        if (value is null)
        {
            if (required)
            {
                Add(member, "Required.");
            }

            return null;
        }

        if (string.IsNullOrWhiteSpace(value) || value.Length > maxLength || value.Any(char.IsControl))
        {
            Add(member, string.Create(CultureInfo.InvariantCulture, $"Must be 1-{maxLength} characters, not blank, with no control characters."));
            return null;
        }

        return value;
    }

    /// <summary>An email address, checked only for shape (one '@' with something on each side, no spaces, at most 254 characters).</summary>
    public string? Email(string? value, string member = "email")
    {
        if (value is null)
        {
            return null;
        }

        var at = value.IndexOf('@', StringComparison.Ordinal);
        if (value.Length > 254 || at <= 0 || at != value.LastIndexOf('@') || at == value.Length - 1 || value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            Add(member, "Must be an email address such as \"ada@example.com\", or null.");
            return null;
        }

        return value;
    }

    /// <summary>An account id must be present; whether it exists is the ledger's question (404).</summary>
    public string Required(string? value, string member, string what)
    {
        if (string.IsNullOrEmpty(value))
        {
            Add(member, $"Required: {what}.");
            return "";
        }

        return value;
    }

    /// <summary>
    /// The members of one transfer by the rules of <c>POST /v1/transfers</c>: both account ids given and different, an
    /// amount, a known currency. <paramref name="prefix"/> goes before each member's name (<c>transfers[3].</c> for an
    /// item of a batch). Invalid parts come back empty.
    /// </summary>
    public (string From, string To, long Amount, Currency? Currency) Transfer(
        string? fromAccount, string? toAccount, long? amount, string? currency, string prefix = "", string movement = "transfer")
    {
        var from = Required(fromAccount, prefix + "from_account", "the id of the account to debit");
        var to = Required(toAccount, prefix + "to_account", "the id of the account to credit");
        var value = Amount(amount, prefix + "amount");
        Currency(currency, out var known, prefix + "currency");
        if (from.Length > 0 && string.Equals(from, to, StringComparison.Ordinal))
        {
            Add(prefix + "to_account", $"Must differ from from_account: a {movement} to the same account moves nothing.");
        }

        return (from, to, value, known);
    }
}
