using Microsoft.Extensions.Options;

namespace Idem;

/// <summary>
/// Applies an options class's validators to an instance that did not come through DI (a store or handler built
/// directly), so it meets the same rules, and fails with the same <see cref="OptionsValidationException"/>, as options
/// validated at start. Shared source: each package compiles its own internal copy.
/// </summary>
internal static class OptionsValidation
{
    public static void ThrowIfInvalid<TOptions>(TOptions options, params ReadOnlySpan<IValidateOptions<TOptions>> validators)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(options);
        List<string>? failures = null;
        foreach (var validator in validators)
        {
            var result = validator.Validate(Options.DefaultName, options);
            if (result.Failed)
            {
                (failures ??= []).AddRange(result.Failures);
            }
        }

        if (failures is not null)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(TOptions), failures);
        }
    }
}
