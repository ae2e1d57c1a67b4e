using Idem;
using Idem.AspNetCore;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Describes the Idempotency-Key contract in the OpenAPI document.</summary>
public static class IdempotencyOpenApiExtensions
{
    /// <summary>
    /// For every operation that uses idempotency keys, documents the key header and the 400, 409, 422 and 503 problem
    /// responses: <c>services.AddOpenApi(o => o.AddIdempotencyKeys())</c>.
    /// </summary>
    public static OpenApiOptions AddIdempotencyKeys(this OpenApiOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.AddOperationTransformer((operation, context, _) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata.OfType<IIdempotencyMetadata>().LastOrDefault();
            var method = context.Description.HttpMethod ?? "";
            if (metadata is null || !metadata.Policy.AppliesTo(method))
            {
                return Task.CompletedTask;
            }

            var settings = context.ApplicationServices.GetService<IOptions<IdempotencyHttpOptions>>()?.Value ?? new IdempotencyHttpOptions();
            var headerName = settings.HeaderName;
            var maxKeyLength = settings.MaxKeyLength;
            var retention = (long)(metadata.Policy.Retention ?? context.ApplicationServices.GetService<IOptions<IdempotencyOptions>>()?.Value.Retention ?? new IdempotencyOptions().Retention).TotalSeconds;
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = headerName,
                In = ParameterLocation.Header,
                Required = metadata.Policy.KeyRequired,
                Description = "A unique key for this operation (1-" + maxKeyLength + " printable ASCII characters; a bare token or a quoted string). " +
                    "Send the same key with every retry of the same request: the first result is replayed with `Idempotent-Replayed: true`. " +
                    "It is kept for " + retention + " seconds (the `Idempotency-Retention` response header says so); a retry after that runs again.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = maxKeyLength },
            });

            operation.Responses ??= [];
            foreach (var (status, response) in operation.Responses)
            {
                if (status.StartsWith('2') && response is OpenApiResponse documented)
                {
                    documented.Headers ??= new Dictionary<string, IOpenApiHeader>();
                    documented.Headers[RetentionHeaderName] = new OpenApiHeader
                    {
                        Description = "How long, in seconds, this result is kept for retries with the same key.",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
                    };
                }
            }

            AddProblem(operation, "400", "The idempotency key is missing or invalid (" + IdempotencyProblemTypes.KeyMissing + ", " + IdempotencyProblemTypes.KeyInvalid + "). Nothing ran.");
            AddProblem(operation, "409", "The first request with this key is still running (" + IdempotencyProblemTypes.RequestInProgress + "). Retry with the same key after Retry-After.");
            AddProblem(operation, "422", "The key was used for a different request (" + IdempotencyProblemTypes.KeyMismatch + "). Do not retry with this key. " +
                "When both requests' bodies are JSON objects, `fields` names the top-level members that differ; an empty list means the body is the same and the route values, query or content type differ.",
                MismatchSchema());
            AddProblem(operation, "503", "The idempotency store is unavailable (" + IdempotencyProblemTypes.StoreUnavailable + "). Nothing ran; retry with the same key.");
            return Task.CompletedTask;
        });
    }

    private const string RetentionHeaderName = "Idempotency-Retention";

    // The mismatch problem's own member: the names of the body members that differ, when known.
    private static OpenApiSchema MismatchSchema() => new()
    {
        Type = JsonSchemaType.Object,
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["fields"] = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
        },
    };

    private static void AddProblem(OpenApiOperation operation, string status, string description, OpenApiSchema? schema = null)
    {
        if (operation.Responses!.TryGetValue(status, out var existing))
        {
            if (existing is OpenApiResponse response)
            {
                response.Description = string.IsNullOrEmpty(response.Description) ? description : response.Description + " " + description;
            }

            return;
        }

        operation.Responses[status] = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/problem+json"] = new() { Schema = schema ?? new OpenApiSchema { Type = JsonSchemaType.Object } },
            },
        };
    }
}
