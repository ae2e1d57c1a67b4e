using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Idem.PaymentsLoad;

/// <summary>One tenant's client of the service: a fresh API key, keep-alive connections, an idempotency key on every POST.</summary>
internal sealed class PaymentsClient : IDisposable
{
    /// <summary>The one currency of the run's accounts and transfers.</summary>
    public const string Currency = "USD";

    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private readonly HttpClient _http;

    public PaymentsClient(Uri baseAddress, int connections)
    {
        ApiKey = "sk_load_" + Guid.NewGuid().ToString("N");
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = connections,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        };

        // Long enough for a request queued behind a hot account on a loaded machine; a timeout is an unknown outcome,
        // settled afterwards by sending the same key again.
        _http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
    }

    public string ApiKey { get; }

    /// <summary>The tenant the API key names, as the service derives it.</summary>
    public string TenantId => Payments.Auth.Tenants.FromApiKey(ApiKey);

    public static string NewKey() => "load-" + Guid.NewGuid().ToString("N");

    public static byte[] TransferBody(string from, string to)
        => Encoding.UTF8.GetBytes($$"""{"from_account":"{{from}}","to_account":"{{to}}","amount":1,"currency":"{{Currency}}"}""");

    /// <summary>Sends a POST and reads the whole answer. Status 0: no answer (the connection failed or the client timed out).</summary>
    public async Task<(int Status, byte[] Body)> PostAsync(string path, byte[] body, string idempotencyKey, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = Json;
        request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
            return ((int)response.StatusCode, await response.Content.ReadAsByteArrayAsync(cancellationToken));
        }
        catch (HttpRequestException)
        {
            return (0, []);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // HttpClient.Timeout.
            return (0, []);
        }
    }

    /// <summary>
    /// Sends a POST under one key until its answer is final: no answer, 409 (the key is in progress), 429 and 5xx say that
    /// sending the same key again is safe and may tell what happened, which is what a client of an idempotent API does.
    /// </summary>
    public async Task<(int Status, byte[] Body)> PostUntilFinalAsync(string path, byte[] body, string idempotencyKey, CancellationToken cancellationToken, int attempts = 50)
    {
        for (var attempt = 1; ; attempt++)
        {
            var answer = await PostAsync(path, body, idempotencyKey, cancellationToken);
            if (IsFinal(answer.Status) || attempt == attempts)
            {
                return answer;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    public static bool IsFinal(int status) => status is >= 200 and < 300 || (status is >= 400 and < 500 && status is not 409 and not 429);

    public async Task<JsonElement> GetJsonAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(path, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"GET {path} answered {(int)response.StatusCode}: {body}"));
        }

        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    /// <summary>
    /// Opens <paramref name="count"/> accounts and deposits <paramref name="funding"/> into each, <paramref name="parallelism"/>
    /// at a time, every POST under a key of its own and sent again until its answer is final.
    /// </summary>
    public async Task<string[]> OpenFundedAccountsAsync(int count, long funding, int parallelism, CancellationToken cancellationToken)
    {
        var accounts = new string[count];
        var account = Encoding.UTF8.GetBytes($$"""{"currency":"{{Currency}}"}""");
        var deposit = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $$"""{"amount":{{funding}}}"""));
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (i, token) =>
        {
            var opened = await PostUntilFinalAsync("/v1/accounts", account, NewKey(), token);
            accounts[i] = opened.Status == 201 ? IdOf(opened.Body) : throw Unexpected("opening an account", opened);
            var deposited = await PostUntilFinalAsync($"/v1/accounts/{accounts[i]}/deposits", deposit, NewKey(), token);
            if (deposited.Status != 201)
            {
                throw Unexpected("funding an account", deposited);
            }
        });
        return accounts;
    }

    /// <summary>The <c>id</c> of a created resource's JSON body, which the service writes first.</summary>
    public static string IdOf(byte[] body)
    {
        var reader = new Utf8JsonReader(body);
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                return reader.GetString() ?? throw new InvalidOperationException("The id is null.");
            }
        }

        throw new InvalidOperationException("The body has no id: " + Encoding.UTF8.GetString(body));
    }

    private static InvalidOperationException Unexpected(string what, (int Status, byte[] Body) answer)
        => new(string.Create(CultureInfo.InvariantCulture, $"The service answered {answer.Status} {what}: {Encoding.UTF8.GetString(answer.Body)}"));

    public void Dispose() => _http.Dispose();
}
