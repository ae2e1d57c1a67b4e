using System.Globalization;

namespace Idem;

/// <summary>
/// Builds the key a record is stored under: <c>scope / method / route template / client key</c>. The client's string
/// is never the key alone, so two principals sending the same key never share a record (BEHAVIOUR §2).
/// </summary>
public static class StoreKey
{
    /// <summary>
    /// Composes a store key. Scope, method and route are length-prefixed so no choice of strings can collide (a method is
    /// an HTTP token, which may itself contain <c>|</c>).
    /// </summary>
    public static string Create(string scope, string method, string routeTemplate, string key)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(routeTemplate);
        ArgumentException.ThrowIfNullOrEmpty(key);
        return string.Create(CultureInfo.InvariantCulture, $"{scope.Length}:{scope}|{method.Length}:{method.ToUpperInvariant()}|{routeTemplate.Length}:{routeTemplate}|{key}");
    }
}
