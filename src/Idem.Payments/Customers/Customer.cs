namespace Idem.Payments.Customers;

/// <summary>A tenant's customer, named by the tenant. <paramref name="Metadata"/> is canonical JSON.</summary>
internal sealed record Customer(string TenantId, string Id, string Name, string? Email, string Metadata, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);
