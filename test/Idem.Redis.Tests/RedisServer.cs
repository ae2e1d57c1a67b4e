using StackExchange.Redis;

namespace Idem.Redis.Tests;

/// <summary>
/// The real Redis these tests share, named by <c>IDEM_TEST_REDIS</c> (./test.sh provisions one and sets it). Missing or
/// unreachable, every test that needs it fails with a message that says so: it never skips. Each test keeps its records
/// under a key prefix of its own, so tests (and anyone else using this Redis) never see each other's keys.
/// </summary>
internal static class RedisServer
{
    public const string Variable = "IDEM_TEST_REDIS";

    /// <summary>Trait marking tests that talk to a real Redis, so they can be selected or left out.</summary>
    public const string Category = "Redis";

    private static readonly Lazy<Task<ConnectionMultiplexer>> Shared = new(() => ConnectAsync(Configuration));

    /// <summary>The StackExchange.Redis configuration string of the shared server.</summary>
    public static string Configuration
        => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{Variable} is not set. These tests need a real Redis: run ./test.sh (which provisions one), or " +
                $"`. artifacts/test-services.env`, or export {Variable}=127.0.0.1:6379.");

    /// <summary>One connection to the shared server for the whole test run.</summary>
    public static Task<ConnectionMultiplexer> ConnectAsync() => Shared.Value;

    /// <summary>A key prefix no other test uses.</summary>
    public static string NewPrefix() => "idemtest:" + Guid.NewGuid().ToString("N")[..16] + ":";

    /// <summary>Connects to <paramref name="configuration"/>, turning "cannot reach the server" into a clear failure.</summary>
    public static async Task<ConnectionMultiplexer> ConnectAsync(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = true;
        options.ConnectTimeout = 10_000;
        options.AllowAdmin = true;
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(options);
        }
        catch (RedisConnectionException ex)
        {
            throw new InvalidOperationException(
                $"Redis at {configuration} is unreachable: {ex.Message}. Start it with eng/provision.sh or ./test.sh.", ex);
        }
    }
}
