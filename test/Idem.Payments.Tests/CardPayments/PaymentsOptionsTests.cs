using Idem.Payments.CardPayments;
using Idem.Payments.Tests.Infrastructure;
using Microsoft.Extensions.Options;
using Xunit;

namespace Idem.Payments.Tests.CardPayments;

/// <summary>The service's own settings (section <c>Payments</c>) fail its start when out of range: no database is opened.</summary>
public sealed class PaymentsOptionsTests
{
    [Theory]
    [InlineData("--Payments:CompleterInterval=00:00:00", nameof(PaymentsOptions.CompleterInterval))]
    [InlineData("--Payments:AbandonedAfter=00:00:00", nameof(PaymentsOptions.AbandonedAfter))]
    [InlineData("--Payments:ProcessorDeadline=01:00:00", nameof(PaymentsOptions.ProcessorDeadline))]
    [InlineData("--Payments:ProcessorAttemptTimeout=00:00:00", nameof(PaymentsOptions.ProcessorAttemptTimeout))]
    public async Task StartAsync_PaymentsOptionOutOfRange_FailsNamingTheOption(string argument, string option)
    {
        var error = await StartAsync(argument);

        Assert.Equal(typeof(PaymentsOptions), error.OptionsType);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_AttemptTimeoutLongerThanDeadline_FailsNamingBoth()
    {
        // ProcessorArguments set the deadline to 3 s; a later argument wins.
        var error = await StartAsync("--Payments:ProcessorAttemptTimeout=00:00:04");

        Assert.Contains(nameof(PaymentsOptions.ProcessorAttemptTimeout), error.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(PaymentsOptions.ProcessorDeadline), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_PassValidation()
    {
        var options = new PaymentsOptions();

        Assert.Equal(ValidateOptionsResult.Success, new PaymentsOptionsValidator().Validate(null, options));
        Assert.Equal(ValidateOptionsResult.Success, new PaymentsProcessorTimeoutsValidator().Validate(null, options));
    }

    internal static async Task<OptionsValidationException> StartAsync(string argument)
    {
        var path = SqlitePaymentsServer.NewDatabasePath();
        try
        {
            await using var app = PaymentsServer.BuildApp([.. SqlitePaymentsServer.Arguments(path), argument]);
            return await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        }
        finally
        {
            SqlitePaymentsServer.DeleteDatabase(path);
        }
    }
}
