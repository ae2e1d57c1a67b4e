using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace Idem.Payments.Accounts;

/// <summary>An ISO 4217 currency the ledger accepts, with the number of digits after the decimal point of its minor unit.</summary>
internal sealed record Currency(string Code, int MinorUnits)
{
    // A fixed list on purpose: an unknown code is refused rather than guessed at. Minor units per ISO 4217.
    private static readonly FrozenDictionary<string, Currency> Known = new Currency[]
    {
        new("AED", 2), new("AUD", 2), new("BHD", 3), new("BRL", 2), new("CAD", 2), new("CHF", 2), new("CLP", 0),
        new("CNY", 2), new("CZK", 2), new("DKK", 2), new("EUR", 2), new("GBP", 2), new("HKD", 2), new("HUF", 2),
        new("IDR", 2), new("ILS", 2), new("INR", 2), new("ISK", 0), new("JOD", 3), new("JPY", 0), new("KRW", 0),
        new("KWD", 3), new("MXN", 2), new("MYR", 2), new("NOK", 2), new("NZD", 2), new("OMR", 3), new("PHP", 2),
        new("PLN", 2), new("RON", 2), new("SAR", 2), new("SEK", 2), new("SGD", 2), new("THB", 2), new("TND", 3),
        new("TRY", 2), new("TWD", 2), new("USD", 2), new("VND", 0), new("ZAR", 2),
    }.ToFrozenDictionary(c => c.Code, StringComparer.OrdinalIgnoreCase);

    /// <summary>Finds a known currency by its code, in any letter case.</summary>
    public static bool TryFind(string? code, [NotNullWhen(true)] out Currency? currency)
    {
        currency = null;
        return code is { Length: 3 } && Known.TryGetValue(code, out currency);
    }
}
