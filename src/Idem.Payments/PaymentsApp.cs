using System.Text;
using Idem.Hosting;
using Idem.Http;
using Idem.Payments.Accounts;
using Idem.Payments.Auth;
using Idem.Payments.Batches;
using Idem.Payments.Console;
using Idem.Payments.CardPayments;
using Idem.Payments.Customers;
using Idem.Payments.Data;
using Idem.Payments.Events;
using Idem.Payments.Holds;
using Idem.Payments.IdempotencyKeys;
using Idem.Payments.Processor;
using Idem.Payments.Statements;
using Idem.Payments.Telemetry;
using Idem.Payments.Transfers;
using Idem.Payments.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Scalar.AspNetCore;

namespace Idem.Payments;

/// <summary>
/// Builds the payments service. <c>Program</c> runs it; tests start the same app on Kestrel with
/// <c>--urls http://127.0.0.1:0</c> and a database of their own.
/// <c>Payments:Database</c> (<c>Sqlite</c> or <c>PostgreSql</c>) and <c>ConnectionStrings:Payments</c> say where the ledger lives.
/// </summary>
internal static class PaymentsApp
{
    // Payment requests are small; refusing big bodies early bounds what Idem buffers for fingerprints.
    private const long MaxRequestBodyBytes = 64 * 1024;

    // Idem's default header name (IdempotencyHttpOptions.HeaderName), unless Idempotency:HeaderName names another.
    private const string IdempotencyKeyHeader = "Idempotency-Key";

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ApplicationName = typeof(PaymentsApp).Assembly.GetName().Name,
        });
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxRequestBodyBytes;

            // Kestrel refuses a header value with a byte past ASCII (legal in HTTP) with a bare 400 and no body. Decoding the
            // key's header as Latin-1 lets such a value reach Idem, which answers 400 problem+json idempotency-key-invalid
            // (only 0x21-0x7E is valid); every other header keeps Kestrel's default.
            var keyHeader = context.Configuration["Idempotency:HeaderName"] is { Length: > 0 } name ? name : IdempotencyKeyHeader;
            kestrel.RequestHeaderEncodingSelector = header => string.Equals(header, keyHeader, StringComparison.OrdinalIgnoreCase) ? Encoding.Latin1 : null;
        });

        var services = builder.Services;

        services.ConfigureHttpJsonOptions(options => PaymentsJsonContext.Configure(options.SerializerOptions));

        // Requests the framework cannot bind throw before the handler starts, so they are answered as problem+json by
        // BadRequestExceptionHandler and Idem stores nothing for them.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        services.AddProblemDetails();
        services.AddExceptionHandler<BadRequestExceptionHandler>();
        services.AddExceptionHandler<DatabaseUnavailableExceptionHandler>();

        var authentication = services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, configureOptions: null);
        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser().Build());
        // The OpenAPI document at /openapi/v1.json, with the Idempotency-Key header and its problems on every POST.
        services.AddOpenApi(options => options.AddIdempotencyKeys());
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database");

        // The operator console at /console (Razor Pages, its own cookie scheme) and the per-tenant outcome counts it charts.
        services.AddConsole(authentication);

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<LedgerService>();
        services.AddSingleton<TransferService>();
        services.AddSingleton<HoldService>();

        // Payments:Database picks SQLite (default) or PostgreSQL. Either way Idem's keys live in the ledger's database, so
        // a POST's key, its ledger rows and its response commit in one transaction; the schema migration is registered
        // before Idem's hosted services, so it runs before anything else touches the database.
        services.AddPaymentsDatabase(builder.Configuration);

        // Succeeded payments, refunds and transfers are enqueued in the outbox in the transaction that made them final;
        // the statements consumer reads them through its inbox (docs/payments.md#events).
        services.AddPaymentEvents(builder.Configuration);

        // Card payments: the processor (the simulator beside the service unless Processor:BaseUrl names one) is called
        // through Idem.Http, one derived key per operation, retried within a deadline below the endpoints' lease.
        services.AddOptions<PaymentsOptions>().BindConfiguration(PaymentsOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PaymentsOptions>, PaymentsOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PaymentsOptions>, PaymentsProcessorTimeoutsValidator>());
        ProcessorSimulator.AddOptions(services);
        services.AddSingleton<ProcessorHost>();
        services.AddHostedService(sp => sp.GetRequiredService<ProcessorHost>());
        services.AddHttpClient(ProcessorClient.HttpClientName, (sp, client) =>
            {
                client.BaseAddress = sp.GetRequiredService<ProcessorHost>().BaseAddress;
                client.Timeout = Timeout.InfiniteTimeSpan;
            })
            .AddIdempotency(options =>
            {
                options.MaxAttempts = 4;
                options.BaseDelay = TimeSpan.FromMilliseconds(100);
                options.MaxDelay = TimeSpan.FromSeconds(1);
            });
        services.AddOptions<IdempotentClientOptions>(ProcessorClient.HttpClientName)
            .Configure<IOptions<PaymentsOptions>>((options, payments) =>
            {
                options.OverallDeadline = payments.Value.ProcessorDeadline;
                options.PerAttemptTimeout = payments.Value.ProcessorAttemptTimeout;
            });
        services.AddSingleton<PaymentService>();
        services.AddSingleton<LedgerAudit>();
        services.AddSingleton<PaymentCompleter>();
        services.AddHostedService(sp => sp.GetRequiredService<PaymentCompleter>());
        services.AddSingleton<HoldExpirer>();
        services.AddHostedService(sp => sp.GetRequiredService<HoldExpirer>());
        services.AddSingleton<BatchService>();

        // Metrics and traces over OTLP and/or a Prometheus scrape endpoint, when configured (docs/observability.md).
        PaymentsTelemetry.Add(services, builder.Configuration);

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages(StatusCodeProblems.WriteAsync);
        app.UseRouting();
        app.UseConsoleHeaders();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseTenantOutcomes();
        app.UseIdempotency();

        // The default writer's plain status, with Retry-After when it is a 503 (every 503 says when to come back).
        app.MapHealthChecks("/healthz", new HealthCheckOptions
        {
            ResponseWriter = (context, report) =>
            {
                Problems.AddRetryAfter(context.Response);
                context.Response.ContentType = "text/plain";
                return context.Response.WriteAsync(report.Status.ToString());
            },
        }).AllowAnonymous();
        app.MapOpenApi().AllowAnonymous();
        // A browsable reference of /openapi/v1.json at /scalar. Its scripts (scalar.js, scalar.aspnetcore.js) are embedded
        // in the package and served from here; without the default fonts (fonts.scalar.com) it needs no internet at all.
        app.MapScalarApiReference(options => options.DisableDefaultFonts()).AllowAnonymous();
        app.MapAccounts();
        app.MapTransfers();
        app.MapHolds();
        app.MapCustomers();
        app.MapIdempotencyKeys();
        app.MapPayments();
        app.MapStatements();
        app.MapBatches();
        app.MapRazorPages();
        ServiceTelemetry.MapPrometheus(app);
        return app;
    }
}
