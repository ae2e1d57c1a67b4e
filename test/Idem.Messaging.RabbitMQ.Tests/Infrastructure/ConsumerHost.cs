using Idem.Messaging.Inbox;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Idem.Messaging.RabbitMQ.Tests.Infrastructure;

/// <summary>An application host as a user builds one: messaging on a SQLite file, the RabbitMQ transport, the observer.</summary>
internal static class ConsumerHost
{
    public static async Task<IHost> StartAsync(TempDatabase database, TestBroker broker, Observer observer, Action<IIdempotentMessagingBuilder> configure, Uri? brokerUri = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IMessagingObserver>(observer);
        var messaging = builder.Services
            .AddIdempotentMessaging(o =>
            {
                o.RelayPollingInterval = TimeSpan.FromMilliseconds(100);
                o.RelayRetryDelay = TimeSpan.FromMilliseconds(100);
                o.RelayMaxRetryDelay = TimeSpan.FromSeconds(1);
            })
            .UseSqlite(database.DataSource)
            .UseRabbitMq(brokerUri ?? RabbitMqServer.Uri, broker.Configure);
        configure(messaging);
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails after <paramref name="timeout"/>. A wait, never an assertion on time.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {timeout} waiting for {what}.");
            }

            await Task.Delay(50);
        }
    }
}
