namespace Idem.Payments.Accounts;

/// <summary>Limits on amounts, all in integer minor units.</summary>
internal static class Money
{
    /// <summary>The largest amount one deposit or transfer may move: 10^15 minor units (ten trillion dollars).</summary>
    public const long MaxAmount = 1_000_000_000_000_000;

    /// <summary>
    /// The largest balance a customer account may hold, and the most a system account may go below zero: far from
    /// <see cref="long.MaxValue"/>, so no sum of a balance and one amount can overflow.
    /// </summary>
    public const long MaxBalance = 1_000_000_000_000_000_000;
}
