using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Idem;

/// <summary>
/// Binds options from a configuration section when the host has a configuration. A bare ServiceCollection (a console
/// job, a test) has none, and binding through BindConfiguration would make resolving the options throw there. Shared
/// source: each package compiles its own internal copy.
/// </summary>
internal static class OptionsBinding
{
    public static OptionsBuilder<TOptions> BindSectionIfConfigured<TOptions>(this OptionsBuilder<TOptions> builder, string section)
        where TOptions : class
        => builder.Configure<IServiceProvider>((o, sp) => sp.GetService<IConfiguration>()?.GetSection(section).Bind(o));
}
