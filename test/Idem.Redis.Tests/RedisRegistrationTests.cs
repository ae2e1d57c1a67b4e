using Idem.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Idem.Redis.Tests;

/// <summary>How <c>AddRedisStore</c> registers the store and sets up its connection: no server needed.</summary>
public sealed class RedisRegistrationTests
{
    // Nothing listens on port 1: connecting fails at once.
    private const string Unreachable = "127.0.0.1:1";

    [Fact]
    public void AddRedisStore_RegistersOneSingleton()
    {
        using var provider = CreateSut().AddRedisStore(Unreachable).Services.BuildServiceProvider();

        var store = provider.GetRequiredService<IIdempotencyStore>();

        Assert.IsType<RedisIdempotencyStore>(store);
        Assert.Same(store, provider.GetRequiredService<IIdempotencyStore>());
        Assert.Null(provider.GetService<ITransactionalIdempotencyStore>());
    }

    [Fact]
    public void AddRedisStore_ReplacesAnEarlierStore()
    {
        var builder = CreateSut();
        builder.Services.AddSingleton<IIdempotencyStore>(new InMemoryIdempotencyStore());

        builder.AddRedisStore(Unreachable);

        Assert.Single(builder.Services, d => d.ServiceType == typeof(IIdempotencyStore));
        using var provider = builder.Services.BuildServiceProvider();
        Assert.IsType<RedisIdempotencyStore>(provider.GetRequiredService<IIdempotencyStore>());
    }

    [Fact]
    public void ParseConfiguration_Unsaid_FailsFastWithShortTimeouts()
    {
        var options = RedisIdempotencyBuilderExtensions.ParseConfiguration("127.0.0.1:6379,password=secret");

        Assert.False(options.AbortOnConnectFail);
        Assert.Equal(2000, options.ConnectTimeout);
        Assert.Equal(1000, options.SyncTimeout);
        Assert.Equal(1000, options.AsyncTimeout);
        Assert.Same(BacklogPolicy.FailFast, options.BacklogPolicy);
        Assert.Equal("secret", options.Password);
    }

    [Fact]
    public void ParseConfiguration_Said_KeepsWhatTheStringSays()
    {
        var options = RedisIdempotencyBuilderExtensions.ParseConfiguration("127.0.0.1:6379, abortConnect=true,connectTimeout=7000,SyncTimeout=3000,asyncTimeout=4000");

        Assert.True(options.AbortOnConnectFail);
        Assert.Equal(7000, options.ConnectTimeout);
        Assert.Equal(3000, options.SyncTimeout);
        Assert.Equal(4000, options.AsyncTimeout);
        Assert.Same(BacklogPolicy.FailFast, options.BacklogPolicy);
    }

    [Fact]
    public void AddRedisStore_Options_ReachTheStore()
    {
        using var provider = CreateSut().AddRedisStore(Unreachable, o =>
        {
            o.KeyPrefix = "billing:";
            o.ExpiryGrace = TimeSpan.Zero;
        }).Services.BuildServiceProvider();

        var store = (RedisIdempotencyStore)provider.GetRequiredService<IIdempotencyStore>();

        Assert.Equal("billing:", store.Options.KeyPrefix);
        Assert.Equal(TimeSpan.Zero, store.Options.ExpiryGrace);
    }

    [Fact]
    public void AddRedisStore_InvalidConfiguration_ThrowsAtRegistration()
    {
        Assert.ThrowsAny<ArgumentException>(() => CreateSut().AddRedisStore(" "));
        Assert.ThrowsAny<ArgumentException>(() => CreateSut().AddRedisStore("127.0.0.1:6379,abortConnect=maybe"));
    }

    [Theory]
    [InlineData("idem{x}:")]
    [InlineData("idem*")]
    public void AddRedisStore_InvalidKeyPrefix_FailsAtStartNamingTheOption(string prefix)
        => AssertFailsAtStart(o => o.KeyPrefix = prefix, nameof(RedisStoreOptions.KeyPrefix));

    [Fact]
    public void AddRedisStore_NegativeExpiryGrace_FailsAtStartNamingTheOption()
        => AssertFailsAtStart(o => o.ExpiryGrace = TimeSpan.FromSeconds(-1), nameof(RedisStoreOptions.ExpiryGrace));

    [Fact]
    public void AddRedisStore_InvalidSettings_StoreResolutionThrowsOptionsValidationException()
    {
        using var provider = CreateSut().AddRedisStore(Unreachable, o => o.KeyPrefix = "idem*").Services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IIdempotencyStore>());

        Assert.Contains(nameof(RedisStoreOptions.KeyPrefix), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_InvalidSettings_ThrowsOptionsValidationException()
    {
        var error = Assert.Throws<OptionsValidationException>(() => new RedisIdempotencyStore(
            new ConfigurationOptions(), new RedisStoreOptions { ExpiryGrace = TimeSpan.FromDays(2) }, Microsoft.Extensions.Logging.Abstractions.NullLogger<RedisIdempotencyStore>.Instance));

        Assert.Contains(nameof(RedisStoreOptions.ExpiryGrace), error.Message, StringComparison.Ordinal);
    }

    private static void AssertFailsAtStart(Action<RedisStoreOptions> configure, string option)
    {
        using var provider = CreateSut().AddRedisStore(Unreachable, configure).Services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Equal(typeof(RedisStoreOptions), error.OptionsType);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TryClaim_RedisUnreachable_ThrowsConnectionFailure()
    {
        await using var provider = CreateSut().AddRedisStore(Unreachable).Services.BuildServiceProvider();
        var store = provider.GetRequiredService<IIdempotencyStore>();
        var request = new ClaimRequest("tenant/POST//orders/k1", new string('a', 64), TimeSpan.FromMinutes(1), TimeSpan.FromHours(1));

        // What the middleware turns into 503; the connection fails fast, so nothing queues behind the outage.
        await Assert.ThrowsAsync<RedisConnectionException>(async () => await store.TryClaimAsync(request));
        await Assert.ThrowsAsync<RedisConnectionException>(async () => await store.TryClaimAsync(request));
    }

    private static TestBuilder CreateSut() => new(new ServiceCollection());
}
