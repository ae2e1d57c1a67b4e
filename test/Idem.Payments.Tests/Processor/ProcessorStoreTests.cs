using Idem.Payments.Processor;
using Idem.Payments.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Idem.Payments.Tests.Processor;

/// <summary>
/// The simulator's own ledger, below Idem's record of each key: one key captures or cancels an authorisation once, however
/// often it is sent, and an authorisation past its expiry is refused. Its clock is the test's.
/// </summary>
public sealed class ProcessorStoreTests : IDisposable
{
    private readonly string _path = SqlitePaymentsServer.NewDatabasePath();
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.Zero));

    public void Dispose() => SqlitePaymentsServer.DeleteDatabase(_path);

    [Fact]
    public async Task Capture_SameKeyAgain_ReturnsTheFirstResultAndNeverCapturesTwice()
    {
        using var store = CreateSut();
        var charge = await AuthorizeAsync(store, "pay_a", 1_000);

        var first = await store.ActAsync("capture-pay_a", charge.Id, ChargeActionKind.Capture, 300, CancellationToken.None);
        var again = await store.ActAsync("capture-pay_a", charge.Id, ChargeActionKind.Capture, 300, CancellationToken.None);
        var more = await store.ActAsync("capture-pay_a", charge.Id, ChargeActionKind.Capture, 1_000, CancellationToken.None);
        var otherKey = await store.ActAsync("capture-other", charge.Id, ChargeActionKind.Capture, 100, CancellationToken.None);

        Assert.Equal(ChargeActionOutcome.Done, first.Outcome);
        Assert.Equal(300, first.Charge!.Captured);
        Assert.Equal("succeeded", first.Charge.Status);
        Assert.Equal((ChargeActionOutcome.Done, 300L), (again.Outcome, again.Charge!.Captured));
        Assert.Equal((ChargeActionOutcome.Done, 300L), (more.Outcome, more.Charge!.Captured));
        Assert.Equal(ChargeActionOutcome.NotAuthorized, otherKey.Outcome);
        Assert.Equal(300, Assert.Single(await store.ListChargesAsync(CancellationToken.None)).Captured);
    }

    [Fact]
    public async Task CaptureOrCancel_AfterExpiry_IsRefusedAndTheChargeReadsExpired()
    {
        using var store = CreateSut();
        var charge = await AuthorizeAsync(store, "pay_b", 500);
        Assert.Equal(_clock.Now + TimeSpan.FromHours(1), charge.ExpiresAt);

        _clock.Now += TimeSpan.FromHours(1);
        var capture = await store.ActAsync("capture-pay_b", charge.Id, ChargeActionKind.Capture, null, CancellationToken.None);
        var cancel = await store.ActAsync("cancel-pay_b", charge.Id, ChargeActionKind.Cancel, null, CancellationToken.None);

        Assert.Equal(ChargeActionOutcome.Expired, capture.Outcome);
        Assert.Equal(ChargeActionOutcome.Expired, cancel.Outcome);
        var stored = Assert.Single(await store.ListChargesAsync(CancellationToken.None));
        Assert.Equal(("expired", 0L), (stored.Status, stored.Captured));
    }

    [Fact]
    public async Task Capture_CapturedBeforeExpiry_SameKeyAfterItStillGetsTheCapture()
    {
        using var store = CreateSut();
        var charge = await AuthorizeAsync(store, "pay_c", 700);
        await store.ActAsync("capture-pay_c", charge.Id, ChargeActionKind.Capture, null, CancellationToken.None);

        _clock.Now += TimeSpan.FromDays(1);
        var again = await store.ActAsync("capture-pay_c", charge.Id, ChargeActionKind.Capture, null, CancellationToken.None);

        Assert.Equal((ChargeActionOutcome.Done, "succeeded", 700L), (again.Outcome, again.Charge!.Status, again.Charge.Captured));
    }

    [Fact]
    public async Task Cancel_ThenCapture_CaptureRefusedAndRefundsRefused()
    {
        using var store = CreateSut();
        var charge = await AuthorizeAsync(store, "pay_d", 400);

        var cancel = await store.ActAsync("cancel-pay_d", charge.Id, ChargeActionKind.Cancel, null, CancellationToken.None);
        var capture = await store.ActAsync("capture-pay_d", charge.Id, ChargeActionKind.Capture, null, CancellationToken.None);
        var refund = await store.RefundAsync("refund-x", new RefundRequest(charge.Id, 100, "re_x"), CancellationToken.None);

        Assert.Equal((ChargeActionOutcome.Done, "canceled"), (cancel.Outcome, cancel.Charge!.Status));
        Assert.Equal(ChargeActionOutcome.NotAuthorized, capture.Outcome);
        Assert.Null(refund);
    }

    [Fact]
    public async Task Refund_PartlyCapturedCharge_RefundsOnlyWithinTheCapture()
    {
        using var store = CreateSut();
        var charge = await AuthorizeAsync(store, "pay_e", 1_000);
        await store.ActAsync("capture-pay_e", charge.Id, ChargeActionKind.Capture, 600, CancellationToken.None);

        Assert.Null(await store.RefundAsync("refund-1", new RefundRequest(charge.Id, 601, "re_1"), CancellationToken.None));
        Assert.NotNull(await store.RefundAsync("refund-2", new RefundRequest(charge.Id, 600, "re_2"), CancellationToken.None));
    }

    [Fact]
    public async Task EnsureSchema_FileFromBeforeManualCapture_KeepsEveryChargeAndRefund()
    {
        // A file as the simulator left it before manual capture: a charge partly refunded, a declined one.
        await using (var connection = new SqliteConnection($"Data Source={_path};Foreign Keys=True;Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = """
                CREATE TABLE charges (
                    id TEXT NOT NULL PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, reference TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount > 0), currency TEXT NOT NULL, source TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('succeeded', 'declined')),
                    refunded INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount), created_at INTEGER NOT NULL) STRICT;
                CREATE TABLE refunds (
                    id TEXT NOT NULL PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, charge_id TEXT NOT NULL REFERENCES charges (id),
                    reference TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0), created_at INTEGER NOT NULL) STRICT;
                INSERT INTO charges VALUES ('ch_1', 'charge-pay_1', 'pay_1', 1000, 'USD', 'tok_visa', 'succeeded', 250, 1),
                                           ('ch_2', 'charge-pay_2', 'pay_2', 50, 'USD', 'tok_declined', 'declined', 0, 2);
                INSERT INTO refunds VALUES ('re_1', 'refund-re_a', 'ch_1', 're_a', 250, 3);
                """;
            await command.ExecuteNonQueryAsync();
        }

        using var store = CreateSut();
        store.EnsureSchema();

        var charges = await store.ListChargesAsync(CancellationToken.None);
        Assert.Equal(
            ["ch_1 succeeded 1000 250", "ch_2 declined 0 0"],
            charges.Select(c => $"{c.Id} {c.Status} {c.Captured} {c.Refunded}"));
        Assert.Equal("re_1", Assert.Single(await store.ListRefundsAsync(CancellationToken.None)).Id);
        Assert.NotNull(await store.RefundAsync("refund-re_b", new RefundRequest("ch_1", 750, "re_b"), CancellationToken.None));
        Assert.Null(await store.RefundAsync("refund-re_c", new RefundRequest("ch_1", 1, "re_c"), CancellationToken.None));
    }

    private ProcessorStore CreateSut()
    {
        var store = new ProcessorStore(new SqliteConnectionStringBuilder { DataSource = _path, ForeignKeys = true, Pooling = false }.ToString(), _clock);
        store.EnsureSchema();
        return store;
    }

    private static Task<ChargeRecord> AuthorizeAsync(ProcessorStore store, string paymentId, long amount)
        => store.ChargeAsync("authorize-" + paymentId, new ChargeRequest(amount, "USD", "tok_visa", paymentId, Capture: false), "succeeded", TimeSpan.FromHours(1), CancellationToken.None);

    /// <summary>A clock the test moves.</summary>
    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
