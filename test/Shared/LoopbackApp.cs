using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Testing;

/// <summary>Starts a test app bound to a loopback port the OS chose, and tells its address. Linked as source.</summary>
internal static class LoopbackApp
{
    /// <summary>Starts <paramref name="app"/> (disposing it if the start fails) and returns the address it listens on.</summary>
    public static async Task<Uri> StartAsync(WebApplication app)
    {
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
    }
}
