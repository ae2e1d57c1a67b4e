namespace Idem.Payments;

internal static class TimeProviderExtensions
{
    /// <summary>Now, to the millisecond: what clients see and what every database keeps alike.</summary>
    public static DateTimeOffset NowToTheMillisecond(this TimeProvider time)
    {
        var now = time.GetUtcNow();
        return new DateTimeOffset(now.Ticks - (now.Ticks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
    }
}
