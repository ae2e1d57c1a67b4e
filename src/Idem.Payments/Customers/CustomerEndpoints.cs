using System.Security.Claims;
using Idem.Payments.Auth;
using Idem.Payments.Data;
using Idem.Payments.Web;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Idem.Payments.Customers;

/// <summary>
/// Customers, named by the tenant: <c>PUT</c> creates or replaces, <c>DELETE</c> removes. Both are idempotent by their
/// meaning (repeating one leaves the same state), so neither takes an idempotency key.
/// </summary>
internal static class CustomerEndpoints
{
    private const int MaxNameLength = 200;

    public static IEndpointRouteBuilder MapCustomers(this IEndpointRouteBuilder app)
    {
        var customers = app.MapGroup("/v1/customers");
        customers.MapPut("/{id}", PutAsync)
            .WithSummary("Creates the customer (201) or replaces it (200); repeating the same PUT changes nothing.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        customers.MapGet("/{id}", GetAsync)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        customers.MapDelete("/{id}", DeleteAsync)
            .WithSummary("Deletes the customer (204); once it is gone, 404, and the state stays the same.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<Results<Created<CustomerResponse>, Ok<CustomerResponse>, ProblemHttpResult>> PutAsync(
        string id, PutCustomerRequest request, ClaimsPrincipal user, IPaymentsDatabase database, TimeProvider time, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        errors.Id(id);
        var name = errors.Text(request.Name, "name", MaxNameLength, required: true);
        var email = errors.Email(request.Email);
        var metadata = Metadata.Canonical(request.Metadata, errors);
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var (customer, created) = await new CustomerRepository(work)
                .UpsertAsync(Tenants.Of(user), id, name!, email, metadata!, time.NowToTheMillisecond(), cancellationToken).ConfigureAwait(false);
            var body = CustomerResponse.From(customer);
            return created ? TypedResults.Created($"/v1/customers/{id}", body) : TypedResults.Ok(body);
        }
    }

    private static async Task<Results<Ok<CustomerResponse>, ProblemHttpResult>> GetAsync(
        string id, ClaimsPrincipal user, IPaymentsDatabase database, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        if (!errors.Id(id))
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var customer = await new CustomerRepository(work).FindAsync(Tenants.Of(user), id, cancellationToken).ConfigureAwait(false);
            return customer is null ? NotFound(id) : TypedResults.Ok(CustomerResponse.From(customer));
        }
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string id, ClaimsPrincipal user, IPaymentsDatabase database, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        if (!errors.Id(id))
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            return await new CustomerRepository(work).DeleteAsync(Tenants.Of(user), id, cancellationToken).ConfigureAwait(false)
                ? TypedResults.NoContent()
                : NotFound(id);
        }
    }

    private static ProblemHttpResult NotFound(string id)
        => Problems.Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.CustomerNotFound, "Customer not found", $"No customer {id} exists.");
}
