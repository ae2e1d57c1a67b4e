using Idem.Payments.Processor;
using Idem.Payments.Tests.CardPayments;
using Microsoft.Extensions.Options;
using Xunit;

namespace Idem.Payments.Tests.Processor;

/// <summary>The simulator's settings (section <c>Processor</c>) fail the start of the service that reads them.</summary>
public sealed class ProcessorOptionsTests
{
    [Theory]
    [InlineData("--Processor:TimeoutDelay=01:00:00", nameof(ProcessorOptions.TimeoutDelay))]
    [InlineData("--Processor:UnavailableFor=-00:00:01", nameof(ProcessorOptions.UnavailableFor))]
    [InlineData("--Processor:BaseUrl=not-a-url", nameof(ProcessorOptions.BaseUrl))]
    [InlineData("--Processor:AuthorizationLifetime=00:00:00", nameof(ProcessorOptions.AuthorizationLifetime))]
    public async Task StartAsync_ProcessorOptionInvalid_FailsNamingTheOption(string argument, string option)
    {
        var error = await PaymentsOptionsTests.StartAsync(argument);

        Assert.Equal(typeof(ProcessorOptions), error.OptionsType);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_PassValidation()
        => Assert.Equal(ValidateOptionsResult.Success, new ProcessorOptionsValidator().Validate(null, new ProcessorOptions()));
}
