using System.Text;

namespace Idem.Http.Tests.Infrastructure;

internal static class Client
{
    public static readonly Uri BaseAddress = new("http://idem.test/");

    /// <summary>An HttpClient whose handler chain is the handler under test over <paramref name="inner"/>. Jitter is 0 unless set.</summary>
    public static HttpClient Create(HttpMessageHandler inner, Action<IdempotentClientOptions>? configure = null, TimeProvider? time = null)
    {
        var options = new IdempotentClientOptions { Random = () => 0 };
        configure?.Invoke(options);
        var handler = new IdempotentRetryHandler(options, time) { InnerHandler = inner };
        return new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = Signal.Timeout };
    }

    public static HttpRequestMessage Json(HttpMethod method, string path, string json = """{"amount":100}""")
        => new(method, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    public static HttpRequestMessage Post(string path = "/payments", string json = """{"amount":100}""") => Json(HttpMethod.Post, path, json);
}
