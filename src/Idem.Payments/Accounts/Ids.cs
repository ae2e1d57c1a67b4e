using System.Security.Cryptography;

namespace Idem.Payments.Accounts;

/// <summary>Random, URL-safe, prefixed identifiers (<c>acct_…</c>, <c>tr_…</c>): the prefix says what an id names.</summary>
internal static class Ids
{
    public const string Account = "acct";
    public const string Deposit = "dep";
    public const string Transfer = "tr";
    public const string Entry = "ent";
    public const string Payment = "pay";
    public const string Refund = "re";
    public const string Hold = "hold";

    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    // 24 characters from 62: about 143 random bits, so ids never collide and cannot be guessed.
    private const int RandomLength = 24;

    public static string New(string prefix) => string.Concat(prefix, "_", RandomNumberGenerator.GetString(Alphabet, RandomLength));
}
