namespace Idem.Payments.Customers;

// Customers on the wire (snake_case through PaymentsJsonContext).

/// <summary>The body of <c>PUT /v1/customers/{id}</c>: the whole customer (a member left out is cleared).</summary>
internal sealed record PutCustomerRequest(string? Name, string? Email, Dictionary<string, string?>? Metadata);

internal sealed record CustomerResponse(string Id, string Name, string? Email, Dictionary<string, string> Metadata, long Version, DateTime CreatedAt, DateTime UpdatedAt)
{
    public static CustomerResponse From(Customer customer)
        => new(customer.Id, customer.Name, customer.Email, Web.Metadata.Parse(customer.Metadata), customer.Version, customer.CreatedAt.UtcDateTime, customer.UpdatedAt.UtcDateTime);
}
