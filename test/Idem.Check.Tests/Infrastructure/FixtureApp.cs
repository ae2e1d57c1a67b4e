using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.Check.Tests.Infrastructure;

/// <summary>The one rule a fixture app breaks.</summary>
public enum Flaw
{
    None,
    /// <summary>Looks the key up, runs the handler, and only then inserts the record: parallel duplicates all run.</summary>
    CheckThenInsert,
    /// <summary>The stored key is the client's string alone, not per caller.</summary>
    NoScope,
    /// <summary>Replays drop the Location header.</summary>
    ReplayWithoutLocation,
    /// <summary>A request without a key crashes into a 500.</summary>
    MissingKey500,
    /// <summary>Errors are text/plain, not problem+json.</summary>
    PlainTextErrors,
    /// <summary>A 5xx is stored and replayed like any answer.</summary>
    Stored5xx,
    /// <summary>An answer broken off mid-response (the connection dropped) is stored, and its retry replays the broken answer.</summary>
    StoredDrop,
    /// <summary>A request whose client hung up stores "499 client closed request" as its answer.</summary>
    StoredHangUp,
    /// <summary>A request whose client hung up releases its key although its effect happened: the retry runs it again.</summary>
    HangUpReleased,
    /// <summary>Two key header lines are accepted: the first one is used.</summary>
    TwoKeyHeaders,
    /// <summary>Answers do not say when their key expires.</summary>
    NoExpiry,
}

/// <summary>
/// A hand-written Idempotency-Key implementation that keeps the contract except for one <see cref="Flaw"/>. It does not
/// use Idem: it stands for any team's own attempt.
/// </summary>
internal sealed class FixtureApp : IAsyncDisposable
{
    private readonly Flaw _flaw;
    private readonly int _raceWidth;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Record> _records = [];
    private readonly Dictionary<string, (int Arrived, TaskCompletionSource Full)> _races = [];
    private int _effects;
    private int _racers;

    private FixtureApp(WebApplication app, Flaw flaw, int raceWidth)
    {
        App = app;
        _flaw = flaw;
        _raceWidth = raceWidth;
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The most requests for one key that found no record and ran the handler, in the check-then-insert fixture.</summary>
    public int Racers => Volatile.Read(ref _racers);

    public static async Task<FixtureApp> StartAsync(Flaw flaw, int raceWidth = 10)
    {
        var builder = Targets.AppBuilder();
        var app = builder.Build();
        var sut = new FixtureApp(app, flaw, raceWidth);
        app.MapPost("/orders", sut.HandleAsync);
        app.MapGet("/effects", () => Volatile.Read(ref sut._effects));
        sut.BaseAddress = await Idem.Testing.LoopbackApp.StartAsync(app);
        return sut;
    }

    private sealed class Record
    {
        public required string Fingerprint { get; init; }
        public DateTimeOffset ExpiresAt { get; } = DateTimeOffset.UtcNow.AddHours(24);
        public bool Completed { get; set; }
        public int Status { get; set; }
        public string? Location { get; set; }
        public byte[] Body { get; set; } = [];
    }

    private async Task HandleAsync(HttpContext context)
    {
        var keys = context.Request.Headers["Idempotency-Key"];
        if (keys.Count == 0)
        {
            if (_flaw == Flaw.MissingKey500)
            {
                throw new InvalidOperationException("no key");
            }

            await ErrorAsync(context, 400, "missing-key", "An Idempotency-Key header is required.");
            return;
        }

        var key = _flaw == Flaw.TwoKeyHeaders ? keys[0]! : keys.ToString();
        if ((keys.Count > 1 && _flaw != Flaw.TwoKeyHeaders) || key.Length is 0 or > 255 || key.Any(c => c is < '!' or > '~'))
        {
            await ErrorAsync(context, 400, "invalid-key", "The Idempotency-Key is not valid.");
            return;
        }

        var scope = _flaw == Flaw.NoScope ? "" : context.Request.Headers["X-Api-Key"].ToString();
        var storeKey = scope + "/" + key;
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var fingerprint = await reader.ReadToEndAsync();

        Record? existing;
        Record claimed = new() { Fingerprint = fingerprint };
        lock (_gate)
        {
            if (!_records.TryGetValue(storeKey, out existing) && _flaw != Flaw.CheckThenInsert)
            {
                _records[storeKey] = claimed;
            }
        }

        if (existing is not null)
        {
            await AnswerExistingAsync(context, existing, fingerprint);
            return;
        }

        if (_flaw == Flaw.CheckThenInsert)
        {
            // Hold every request that found no record until all the parallel duplicates of its key have found none
            // (a lone request waits a second): the race happened, whatever the scheduler did.
            TaskCompletionSource full;
            lock (_gate)
            {
                if (!_races.TryGetValue(storeKey, out var race))
                {
                    race = (0, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                }

                race.Arrived++;
                _races[storeKey] = race;
                _racers = Math.Max(_racers, race.Arrived);
                full = race.Full;
                if (race.Arrived >= _raceWidth)
                {
                    full.TrySetResult();
                }
            }

            await Task.WhenAny(full.Task, Task.Delay(TimeSpan.FromSeconds(1)));
        }

        if (context.Request.Headers.ContainsKey(Targets.DropHeader))
        {
            await DropMidResponseAsync(context, storeKey, claimed);
            return;
        }

        if (context.Request.Headers.ContainsKey(Targets.FaultHeader))
        {
            claimed.Status = 500;
            claimed.Body = Encoding.UTF8.GetBytes("""{"title":"injected fault"}""");
        }
        else
        {
            var id = Interlocked.Increment(ref _effects);
            await Task.Delay(100);
            await Targets.HoldUntilHungUpAsync(context);
            claimed.Status = 201;
            claimed.Location = $"/orders/{id}";
            claimed.Body = Encoding.UTF8.GetBytes($$"""{"id":{{id}}}""");
        }

        if (context.RequestAborted.IsCancellationRequested && _flaw == Flaw.StoredHangUp)
        {
            claimed.Status = 499;
            claimed.Location = null;
            claimed.Body = [];
        }

        lock (_gate)
        {
            if ((claimed.Status >= 500 && _flaw != Flaw.Stored5xx) || (context.RequestAborted.IsCancellationRequested && _flaw == Flaw.HangUpReleased))
            {
                _records.Remove(storeKey);
            }
            else
            {
                claimed.Completed = true;
                _records[storeKey] = claimed;
            }
        }

        await WriteAsync(context, claimed, replayed: false);
    }

    // The effect happens, the answer begins (its length promised), and the connection drops half-way: a crash mid-response.
    private async Task DropMidResponseAsync(HttpContext context, string storeKey, Record claimed)
    {
        var id = Interlocked.Increment(ref _effects);
        var body = Encoding.UTF8.GetBytes($$"""{"id":{{id}},"note":"the whole answer, of which the client gets half"}""");
        context.Response.StatusCode = 201;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        await context.Response.StartAsync();
        await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2));
        await context.Response.Body.FlushAsync();
        lock (_gate)
        {
            if (_flaw == Flaw.StoredDrop)
            {
                claimed.Status = 201;
                claimed.Body = body[..(body.Length / 2)];
                claimed.Completed = true;
                _records[storeKey] = claimed;
            }
            else
            {
                _records.Remove(storeKey);
            }
        }

        context.Abort();
    }

    private async Task AnswerExistingAsync(HttpContext context, Record record, string fingerprint)
    {
        bool completed;
        lock (_gate)
        {
            completed = record.Completed;
        }

        if (!completed)
        {
            context.Response.Headers.RetryAfter = "1";
            await ErrorAsync(context, 409, "in-progress", "The first request with this key is still running; retry later.");
        }
        else if (record.Fingerprint != fingerprint)
        {
            await ErrorAsync(context, 422, "key-reused", "This key was used with another request.");
        }
        else
        {
            await WriteAsync(context, record, replayed: true);
        }
    }

    private async Task WriteAsync(HttpContext context, Record record, bool replayed)
    {
        context.Response.StatusCode = record.Status;
        context.Response.ContentType = "application/json";
        if (record.Location is not null && !(replayed && _flaw == Flaw.ReplayWithoutLocation))
        {
            context.Response.Headers.Location = record.Location;
        }

        if (replayed)
        {
            context.Response.Headers["Idempotent-Replayed"] = "true";
        }

        if (_flaw != Flaw.NoExpiry)
        {
            // Another form than Idem's seconds: the date the key expires.
            context.Response.Headers["Idempotency-Expires"] = record.ExpiresAt.ToString("r", System.Globalization.CultureInfo.InvariantCulture);
        }

        await context.Response.Body.WriteAsync(record.Body);
    }

    private Task ErrorAsync(HttpContext context, int status, string type, string detail)
    {
        context.Response.StatusCode = status;
        if (_flaw == Flaw.PlainTextErrors)
        {
            context.Response.ContentType = "text/plain";
            return context.Response.WriteAsync(detail);
        }

        context.Response.ContentType = "application/problem+json";
        return context.Response.WriteAsync($$"""{"type":"https://fixture.example/problems/{{type}}","title":"{{detail}}","status":{{status}}}""");
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
