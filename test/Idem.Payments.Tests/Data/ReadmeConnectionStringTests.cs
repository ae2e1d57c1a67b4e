using System.Net;
using System.Text.RegularExpressions;
using Idem.Payments.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Idem.Payments.Tests.Data;

/// <summary>
/// The PostgreSQL connection string README.md tells operators to write, and every connection-string keyword the READMEs
/// name, are ones Npgsql accepts, and the service starts with that string as written (host and credentials swapped for
/// the test server's): an operator who copies it gets a running service, not an abort at start.
/// </summary>
public sealed partial class ReadmeConnectionStringTests
{
    private static readonly string[] Readmes = ["README.md", "src/Idem.Postgres/README.md"];

    [Fact]
    public void Readmes_NameOnlyPoolKeywordsNpgsqlAccepts()
    {
        var named = Readmes.SelectMany(readme => PoolKeyword().Matches(File.ReadAllText(Path.Combine(RepositoryRoot, readme)))
            .Select(match => (readme, keyword: match.Groups["keyword"].Value))).ToList();

        Assert.NotEmpty(named);
        Assert.All(named, pair =>
        {
            var builder = new NpgsqlConnectionStringBuilder();
            var accepted = Record.Exception(() => builder[pair.keyword] = "10");
            Assert.True(accepted is null, $"{pair.readme} names `{pair.keyword}`, which Npgsql refuses: {accepted?.Message}");
        });
    }

    [Fact]
    public async Task ReadmeExample_AsWritten_IsAcceptedAndTheServiceStartsWithIt()
    {
        var example = ReadmeExample();
        var written = new NpgsqlConnectionStringBuilder(example); // throws on a keyword Npgsql does not know
        Assert.True(written.MaxPoolSize != new NpgsqlConnectionStringBuilder().MaxPoolSize, $"The README's example does not size the pool: {example}");

        await using var database = await PostgresDatabase.CreateAsync();
        var server = new NpgsqlConnectionStringBuilder(PostgresDatabase.ServerConnectionString);
        var connectionString = example;
        foreach (var (keyword, value) in new[]
                 {
                     ("Host", server.Host), ("Port", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                     ("Username", server.Username), ("Password", server.Password), ("Database", database.Name),
                 })
        {
            connectionString = Substitute(connectionString, keyword, value!);
        }

        await using var app = PaymentsServer.BuildApp(PostgresPaymentsServer.Arguments(connectionString));
        await app.StartAsync();
        try
        {
            using var http = PaymentsServer.NewHttpClient(PaymentsServer.AddressOf(app));
            var tenant = new TenantClient(http, "sk_test_" + Guid.NewGuid().ToString("N"));
            using var health = await http.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.StartsWith("acct_", await tenant.CreateAccountIdAsync(), StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync();
        }
    }

    /// <summary>The value of <c>--ConnectionStrings:Payments='…'</c> in README.md's PostgreSQL example.</summary>
    private static string ReadmeExample()
    {
        var match = ExampleConnectionString().Match(File.ReadAllText(Path.Combine(RepositoryRoot, "README.md")));
        Assert.True(match.Success, "README.md has no `--ConnectionStrings:Payments='…'` example.");
        return match.Groups["value"].Value;
    }

    // Replaces the value of an existing keyword (the README writes it), or appends it; the rest stays as written.
    private static string Substitute(string connectionString, string keyword, string value)
    {
        var pattern = new Regex("(?<=(^|;)\\s*" + Regex.Escape(keyword) + "\\s*=)[^;]*", RegexOptions.IgnoreCase);
        return pattern.IsMatch(connectionString)
            ? pattern.Replace(connectionString, value.Replace("$", "$$", StringComparison.Ordinal), 1)
            : connectionString.TrimEnd(';') + ";" + keyword + "=" + value;
    }

    private static string RepositoryRoot
    {
        get
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "Idem.slnx")))
                {
                    return directory.FullName;
                }
            }

            throw new InvalidOperationException("No Idem.slnx above " + AppContext.BaseDirectory);
        }
    }

    [GeneratedRegex("--ConnectionStrings:Payments='(?<value>[^']+)'")]
    private static partial Regex ExampleConnectionString();

    [GeneratedRegex("`(?<keyword>[A-Za-z ]*Pool Size)`")]
    private static partial Regex PoolKeyword();
}
