using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Idem.Payments.Ledger;

namespace Idem.Payments.Api;

/// <summary>Collects what is wrong with a request, member by member, before anything is touched.</summary>
internal sealed class RequestErrors
{
    private readonly Dictionary<string, string[]> _errors = new(StringComparer.Ordinal);

    public bool Any => _errors.Count > 0;

    public Dictionary<string, string[]> ToDictionary() => _errors;

    public void Add(string member, string message)
        => _errors[member] = _errors.TryGetValue(member, out var existing) ? [.. existing, message] : [message];

    /// <summary>An amount must be a whole number of minor units, above zero and at most <see cref="Money.MaxAmount"/>.</summary>
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

        if (!Ledger.Currency.TryFind(code, out currency))
        {
            Add(member, $"Unknown or unsupported currency '{code}'; use an ISO 4217 code such as \"USD\" or \"EUR\".");
            return false;
        }

        return true;
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
}
