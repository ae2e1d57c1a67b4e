using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Idem.Payments.Accounts;

/// <summary>
/// The hash chain of an account's entries: each entry's hash covers its content, the request it comes from and the hash
/// of the account's previous entry, so a changed byte in any entry, or an entry taken out of the chain, shows at that
/// entry when the audit recomputes the chain (<c>GET /v1/ledger/audit</c>). Each field is written with its length, so no
/// two different entries hash the same text.
/// </summary>
internal static class EntryHash
{
    private const string Version = "idem-ledger-entry-v1";

    /// <summary>The lowercase hex SHA-256 of <paramref name="entry"/> chained to <paramref name="prevHash"/>.</summary>
    public static string Compute(LedgerEntry entry, string? prevHash)
    {
        var text = new StringBuilder(320).Append(Version);
        Field(text, entry.Id);
        Field(text, entry.TenantId);
        Field(text, entry.AccountId);
        Field(text, entry.Amount.ToString(CultureInfo.InvariantCulture));
        Field(text, entry.Currency);
        Field(text, entry.BalanceAfter.ToString(CultureInfo.InvariantCulture));
        Field(text, MovementTypes.Name(entry.MovementType));
        Field(text, entry.MovementId);
        Field(text, entry.CreatedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
        Field(text, entry.Origin.Key);
        Field(text, entry.Origin.Fingerprint);
        Field(text, prevHash);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static void Field(StringBuilder text, string? value)
    {
        if (value is null)
        {
            text.Append("|-");
            return;
        }

        text.Append('|').Append(value.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(value);
    }
}
