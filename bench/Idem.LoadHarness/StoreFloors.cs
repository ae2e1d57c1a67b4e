using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Npgsql;
using StackExchange.Redis;

namespace Idem.LoadHarness;

/// <summary>
/// The floors of the shared stores: the same round trips a first execution makes on a store, with its raw client and
/// nothing else. Each reads the whole body and hashes it (as <see cref="EchoApp"/>'s in-memory floor does), claims the
/// request's key in one round trip (a repeated key answers 409), lets the handler answer, then stores a response of the
/// size Idem stores for this endpoint in a second round trip. No lease, no owner token, no canonical fingerprint, no
/// response captured or held back: lower bounds for Idem on that store, not something to deploy.
/// </summary>
internal static class StoreFloors
{
    /// <summary>
    /// What Idem keeps of the echo endpoint's answer (status, <c>Location</c>, content type, the 60-byte body, and the
    /// record's own fields), rounded up: the second round trip writes this many bytes.
    /// </summary>
    private static readonly byte[] Response = new byte[192];

    /// <summary>Redis: <c>SET key digest NX PX</c>, then <c>SET key response XX KEEPTTL</c>.</summary>
    public static void UseRedisFloor(WebApplication app, IConnectionMultiplexer redis, string prefix)
    {
        var database = redis.GetDatabase();
        var retention = TimeSpan.FromMinutes(5);
        app.Use(async (context, next) =>
        {
            var key = (RedisKey)(prefix + context.Request.Headers["Idempotency-Key"].ToString());
            var digest = await HashBodyAsync(context.Request.BodyReader);
            if (!await database.StringSetAsync(key, digest, retention, When.NotExists))
            {
                context.Response.StatusCode = StatusCodes.Status409Conflict;
                return;
            }

            await next(context);
            await database.StringSetAsync(key, Response, expiry: null, keepTtl: true, When.Exists);
        });
    }

    /// <summary>
    /// PostgreSQL, on a data source of the same pool settings as Idem's store: <c>INSERT … ON CONFLICT DO NOTHING</c>, then
    /// the <c>UPDATE</c> that stores the response.
    /// </summary>
    public static void UsePostgresFloor(WebApplication app, NpgsqlDataSource dataSource, string table)
    {
        var claim = $"INSERT INTO {table} (key, fingerprint, expires_at) VALUES ($1, $2, clock_timestamp() + interval '5 minutes') ON CONFLICT (key) DO NOTHING";
        var complete = $"UPDATE {table} SET status = 201, body = $2 WHERE key = $1";
        app.Use(async (context, next) =>
        {
            var key = context.Request.Headers["Idempotency-Key"].ToString();
            var digest = await HashBodyAsync(context.Request.BodyReader);
            if (await ExecuteAsync(dataSource, claim, key, digest) == 0)
            {
                context.Response.StatusCode = StatusCodes.Status409Conflict;
                return;
            }

            await next(context);
            await ExecuteAsync(dataSource, complete, key, Response);
        });
    }

    // A pooled connection per statement and a prepared statement, as Idem's store runs each of its steps.
    private static async Task<int> ExecuteAsync(NpgsqlDataSource dataSource, string sql, string key, byte[] value)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = key });
        command.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = value });
        await command.PrepareAsync();
        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>The floor's table: a key, its digest, an expiry and a response, as Idem's record has.</summary>
    public static async Task CreatePostgresTableAsync(NpgsqlDataSource dataSource, string table)
    {
        await using var command = dataSource.CreateCommand(
            $"CREATE TABLE {table} (key text COLLATE \"C\" NOT NULL PRIMARY KEY, fingerprint bytea NOT NULL, expires_at timestamptz NOT NULL, status integer NULL, body bytea NULL)");
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Reads the whole body, leaving it in the pipe for the handler, and returns its SHA-256.</summary>
    public static async ValueTask<byte[]> HashBodyAsync(PipeReader reader)
    {
        var read = await reader.ReadAsync();
        while (!read.IsCompleted)
        {
            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            read = await reader.ReadAsync();
        }

        var body = read.Buffer;
        var digest = body.IsSingleSegment ? SHA256.HashData(body.FirstSpan) : SHA256.HashData(body.ToArray());
        reader.AdvanceTo(body.Start, body.End);
        return digest;
    }
}
