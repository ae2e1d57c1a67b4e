using Idem.Storage;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore;

/// <summary>Per-request state: whether the handler started.</summary>
internal sealed class IdempotencyFeature
{
    public bool HandlerRan { get; set; }

    public static void MarkHandlerRan(HttpContext context)
    {
        if (context.Features.Get<IdempotencyFeature>() is { } feature)
        {
            feature.HandlerRan = true;
        }
    }
}

/// <summary>Scoped: the transaction of the current transactional request, which <see cref="IIdempotencyTransaction"/> resolves to.</summary>
internal sealed class IdempotencyTransactionAccessor
{
    public IIdempotencyTransaction? Current { get; set; }
}
